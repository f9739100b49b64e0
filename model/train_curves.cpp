#include "model/train_curves.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

namespace ssmtl {

namespace {

// One chart: a series per task of `losses` (plus `total` when given), x = epoch (1-based), y = log10 loss.
plot::Chart loss_chart(const std::vector<EpochLog>& epochs, bool validation, int best) {
  plot::Chart c;
  c.title = validation ? "validation losses (sum: the loss that picks best.ckpt)" : "training losses";
  c.x_label = "epoch";
  c.y_label = "log10 loss";
  c.width = 900;
  c.height = 380;
  std::set<std::string> tasks;
  for (const EpochLog& e : epochs)
    for (auto& [k, v] : validation ? e.val : e.train) tasks.insert(k);
  auto point = [](double v) { return v > 0 && std::isfinite(v) ? std::log10(v) : std::nan(""); };
  size_t i = 0;
  for (const std::string& t : tasks) {
    plot::Series s{t, {}, {}, plot::series_color(i++), 2};
    for (const EpochLog& e : epochs) {
      const auto& m = validation ? e.val : e.train;
      const auto it = m.find(t);
      s.x.push_back(e.epoch + 1);
      s.y.push_back(it == m.end() ? std::nan("") : point(it->second));
    }
    c.series.push_back(std::move(s));
  }
  if (validation) {
    plot::Series total{"sum", {}, {}, plot::colors::black, 3};
    for (const EpochLog& e : epochs) {
      total.x.push_back(e.epoch + 1);
      total.y.push_back(point(e.val_total));
    }
    c.series.push_back(std::move(total));
  }
  if (best >= 0) {
    c.bands.push_back({best + 0.5, best + 1.5, plot::colors::light_gray});
    c.extra_legend.push_back({"best epoch " + std::to_string(best + 1), plot::colors::light_gray});
  }
  c.x_min = 0.5;
  c.x_max = epochs.back().epoch + 1.5;
  double lo = INFINITY, hi = -INFINITY;   // every point inside, with a margin (the automatic range may clip)
  for (const plot::Series& s : c.series)
    for (double v : s.y)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (lo <= hi) {
    const double pad = std::max(0.05, 0.08 * (hi - lo));
    c.y_min = lo - pad;
    c.y_max = hi + pad;
  }
  return c;
}

}  // namespace

plot::Canvas training_curves(const std::vector<EpochLog>& epochs) {
  if (epochs.empty()) throw std::invalid_argument("training_curves: no epochs");
  int best = -1;
  double best_val = INFINITY;
  for (const EpochLog& e : epochs)
    if (e.val_total < best_val) best_val = e.val_total, best = e.epoch;   // the trainer's rule: the first lowest
  const plot::Canvas top = plot::render_chart(loss_chart(epochs, false, best));
  const plot::Canvas bottom = plot::render_chart(loss_chart(epochs, true, best));
  plot::Canvas out(top.width(), top.height() + bottom.height());
  for (int y = 0; y < top.height(); ++y)
    for (int x = 0; x < top.width(); ++x) out.set(x, y, top.get(x, y));
  for (int y = 0; y < bottom.height(); ++y)
    for (int x = 0; x < bottom.width(); ++x) out.set(x, top.height() + y, bottom.get(x, y));
  return out;
}

void write_training_curves(const std::string& path, const std::vector<EpochLog>& epochs) {
  training_curves(epochs).save_png(path);
}

}  // namespace ssmtl
