// Synchronised BatchNorm (autograd/norm.h BatchNormSync) without MPI: two "ranks" as two threads that exchange
// their sums through memory, each holding an unequal share (2 and 4 samples) of a batch of 6. Outputs, running
// statistics and input gradients must equal one batch_norm over all 6 samples, and the two ranks' gamma / beta
// gradients must add up to the full batch's (the data-parallel gradient sum adds them in the trainer).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "autograd/elementwise.h"
#include "autograd/engine.h"
#include "autograd/norm.h"
#include "autograd/shape.h"
#include "tensor/rng.h"

using namespace ssmtl;

namespace {

// Two parties; each call returns buf = rank 0's + rank 1's values, in that order.
class TwoRankSum {
 public:
  void sum(int rank, double* b, int64_t n) {
    std::unique_lock<std::mutex> lk(m_);
    cv_.wait(lk, [&] { return left_ == 0; });   // the previous round has been read by both
    buf_[rank].assign(b, b + n);
    const int gen = gen_;
    if (++arrived_ == 2) {
      arrived_ = 0;
      ++gen_;
      left_ = 2;
      cv_.notify_all();
    } else {
      cv_.wait(lk, [&] { return gen_ != gen; });
    }
    for (int64_t i = 0; i < n; ++i) b[i] = buf_[0][i] + buf_[1][i];
    if (--left_ == 0) cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<double> buf_[2];
  int arrived_ = 0, gen_ = 0, left_ = 0;
};

struct Part {
  Tensor x, gamma, beta, rm, rv, y;
};

// batch_norm in training mode on x, then loss = sum(y * w), backward.
void forward_backward(Part& p, const Tensor& w) {
  p.y = batch_norm(p.x, p.gamma, p.beta, p.rm, p.rv, true);
  autograd::backward(sum(mul(p.y, w)));
}

Part make_part(const Tensor& x, const Tensor& gamma, const Tensor& beta) {
  Part p;
  p.x = x.clone().set_requires_grad();
  p.gamma = gamma.clone().set_requires_grad();
  p.beta = beta.clone().set_requires_grad();
  p.rm = Tensor::zeros({3});
  p.rv = Tensor::ones({3});
  return p;
}

void check_close(const std::vector<float>& a, const std::vector<float>& b, double rel, const char* what) {
  REQUIRE(a.size() == b.size());
  double scale = 0, d = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
    d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
  }
  CHECK_MESSAGE(d <= rel * scale, what << ": max |difference| " << d << ", largest " << scale);
}

std::vector<float> rows(const Tensor& t, int64_t from, int64_t to) { return slice(t.detach(), 0, from, to).to_vector(); }

}  // namespace

TEST_CASE("batch_norm sync: two ranks holding 2 and 4 of 6 samples equal one batch of 6 (forward, running stats, gradients)") {
  Rng rng(5);
  const Tensor x = randn({6, 3, 5}, rng, 2.f, 3.f), w = randn({6, 3, 5}, rng);
  const Tensor gamma = randn({3}, rng, 1.f, 0.2f), beta = randn({3}, rng);
  Part full = make_part(x, gamma, beta);
  forward_backward(full, w);

  TwoRankSum exchange;
  const int64_t cut = 2;
  Part part[2] = {make_part(slice(x, 0, 0, cut), gamma, beta),
                  make_part(slice(x, 0, cut, 6), gamma, beta)};
  const Tensor wpart[2] = {slice(w, 0, 0, cut), slice(w, 0, cut, 6)};
  auto rank = [&](int r) {
    BatchNormSync sync([&, r](double* b, int64_t n) { exchange.sum(r, b, n); });
    forward_backward(part[r], wpart[r]);
  };
  std::thread t1(rank, 1);
  rank(0);
  t1.join();

  for (int r = 0; r < 2; ++r) {
    const int64_t a = r == 0 ? 0 : cut, b = r == 0 ? cut : 6;
    check_close(part[r].y.to_vector(), rows(full.y, a, b), 1e-5, "y");
    check_close(part[r].x.grad().to_vector(), rows(full.x.grad(), a, b), 1e-5, "dx");
    check_close(part[r].rm.to_vector(), full.rm.to_vector(), 1e-6, "running_mean");
    check_close(part[r].rv.to_vector(), full.rv.to_vector(), 1e-6, "running_var (unbiased with the global count)");
  }
  std::vector<float> dg(3), db(3);
  for (int c = 0; c < 3; ++c) {
    dg[c] = part[0].gamma.grad().to_vector()[c] + part[1].gamma.grad().to_vector()[c];
    db[c] = part[0].beta.grad().to_vector()[c] + part[1].beta.grad().to_vector()[c];
  }
  check_close(dg, full.gamma.grad().to_vector(), 1e-5, "dgamma summed over the ranks");
  check_close(db, full.beta.grad().to_vector(), 1e-5, "dbeta summed over the ranks");
  // Without the scope, the same call is plain per-process BatchNorm: the statistics of its own 2 samples.
  Part alone = make_part(slice(x, 0, 0, cut), gamma, beta);
  forward_backward(alone, wpart[0]);
  std::vector<float> ya = alone.y.to_vector(), ys = part[0].y.to_vector();
  double d = 0;
  for (size_t i = 0; i < ya.size(); ++i) d = std::max(d, static_cast<double>(std::fabs(ya[i] - ys[i])));
  CHECK(d > 0.01);
}
