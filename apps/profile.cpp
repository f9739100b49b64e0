// ssmtl profile: where the time of a training step and of a scoring step goes, per kernel, forward, backward
// and optimizer apart, next to the arithmetic peak of this machine measured by the program (tensor/profile.h).
// Runs on synthetic batches (uniform noise: the speed of these ops does not depend on the pixel values).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "apps/args.h"
#include "apps/command.h"
#include "apps/model_step.h"
#include "kernels/precision.h"
#include "model/trainer.h"
#include "tensor/profile.h"

namespace {

const char* kUsage =
    "usage: ssmtl profile [--config FILE] [--set key=value ...] [--steps N] [--batch B] [--shapes] [--json]\n"
    "                     [--device cpu|cuda]\n"
    "  --config FILE   model configuration (configs/*.txt; default the ssmtl++v1-cpu preset)\n"
    "  --set key=value override one configuration key (repeatable), e.g. model.backbone.transformer=none;\n"
    "                  train.precision=bf16 profiles both steps with bf16 products (kernels/precision.h);\n"
    "                  scoring's attention too (SSMTL_BF16_ATTENTION=0: not), training's attention only with\n"
    "                  SSMTL_BF16_ATTENTION=1\n"
    "  --steps N       profiled training steps and scoring steps, after two warm-up steps each (default 3); the\n"
    "                  training step is the trainer's at learning rate 0, so repeated steps do the same work\n"
    "  --batch B       objects per step (default 64, the paper's batch size)\n"
    "  --shapes        one row per kernel, phase and shape (convolutions: N x Cin->Cout, output DxHxW, kernel;\n"
    "                  depthwise ones: N x C, output DxHxW, kernel;\n"
    "                  linear: rows x in->out; attention: samples x heads, query and key tokens, head width;\n"
    "                  backward rows name their products, e.g. dx+dw; memory-bound ops: their tensor's shape)\n"
    "  --json          print the result as one JSON object instead of tables (null where a column does not\n"
    "                  apply: no FLOP or bytes counted, or no peak known for the device)\n"
    "  --device D      cpu (default) or cuda (kernel times then include a synchronisation each)\n"
    "Rows: one per kernel and phase (and shape, with --shapes); ms and GFLOP are per step; share = of the step's wall time; the\n"
    "'(untimed)' row is what no kernel accounts for (graph bookkeeping, allocation, copies, other glue).\n"
    "ms per step: the mean over the timed steps, the first included.\n"
    "%peak: of the measured fp32 peak (compute-bound rows, in either precision); GB/s and %bw: the least memory traffic of the op\n"
    "(memory-bound rows: normalisations, activations, elementwise, permutes) against the measured bandwidth.\n"
    "Page faults: per timed step after the first (a steady state has next to none), and in the first apart\n"
    "(with --steps 1 both are that step's).\n";

using Clock = std::chrono::steady_clock;

struct Profile {
  double step_s = 0;                  // wall time per step
  std::vector<ssmtl::prof::Record> rows;
  double flops = 0;                   // counted per step
  double bytes = 0;                   // counted per step (memory-bound ops)
  double page_faults = 0;             // minor page faults per step after the first timed one (its own with 1 step)
  double page_faults_first = 0;       // in the first timed step: first touches of memory the OS had to map
};

// Minor page faults of this process so far (getrusage). A step that allocates fresh memory pays the OS for
// mapping and zeroing it inside whichever kernel touches it first; a steady-state step should show ~0.
long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

template <class F>
Profile profile(int steps, F step) {
  // Warm-up: first touches of fresh memory, thread pools. Two steps: after one, the next still mapped 3600-4800
  // pages, among them fresh 2 MiB pages that this VM zeroes at ~0.5 GB/s (a 0.35 ms kernel took 4.7 ms for its new
  // gradient's); after two, tens.
  step();
  step();
  ssmtl::prof::reset();
  ssmtl::prof::set_enabled(true);
  // Faults of the first timed step apart: a step that still maps memory the warm-up did not shows up there.
  const long faults0 = minor_faults();
  long faults1 = faults0;
  const auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) {
    step();
    if (i == 0) faults1 = minor_faults();
  }
  const double total = std::chrono::duration<double>(Clock::now() - t0).count();
  ssmtl::prof::set_enabled(false);
  Profile p;
  p.step_s = total / steps;
  p.page_faults_first = static_cast<double>(faults1 - faults0);
  p.page_faults = steps > 1 ? static_cast<double>(minor_faults() - faults1) / (steps - 1) : p.page_faults_first;
  p.rows = ssmtl::prof::records();
  double timed = 0;
  for (auto& r : p.rows) {
    r.seconds /= steps;
    r.flops /= steps;
    r.calls /= steps;
    r.bytes /= steps;
    timed += r.seconds;
    p.flops += r.flops;
    p.bytes += r.bytes;
  }
  ssmtl::prof::Record rest;
  rest.kernel = "(untimed)";
  rest.seconds = p.step_s - timed > 0 ? p.step_s - timed : 0;
  p.rows.push_back(rest);
  return p;
}

void print_table(const char* title, const Profile& p, int B, double peak, double bandwidth, bool shapes) {
  // peak / bandwidth 0: not known for this device (the probes measure the host CPU): no percentages.
  char of_peak[32] = "";
  if (peak > 0) std::snprintf(of_peak, sizeof of_peak, " = %.1f%% of peak", 100 * p.flops * 1e-9 / p.step_s / peak);
  std::printf("\n%s: %.1f ms per step, %.1f objects/s, %.2f GFLOP counted, %.1f GFLOP/s%s, "
              "%.0f page faults per step (%.0f in the first)\n", title, p.step_s * 1e3, B / p.step_s, p.flops * 1e-9,
              p.flops * 1e-9 / p.step_s, of_peak, p.page_faults, p.page_faults_first);
  // by shape: the shape column after the op's (as wide as the longest shape)
  int sw = 0;
  for (const auto& r : p.rows) sw = std::max(sw, static_cast<int>(r.shape.size()));
  const int shape_width = shapes ? std::max(sw, 5) + 1 : 0;
  std::printf("  %-34s %-*s%-9s %7s %10s %7s %9s %9s %7s %8s %6s\n", "op", shape_width, shapes ? "shape" : "", "phase",
              "calls", "ms", "share", "GFLOP", "GFLOP/s", "%peak", "GB/s", "%bw");
  for (const auto& r : p.rows) {
    const bool untimed = r.kernel == "(untimed)";
    std::printf("  %-34s %-*s%-9s %7lld %10.2f %6.1f%%", r.kernel.c_str(), shape_width, r.shape.c_str(),
                untimed ? "" : ssmtl::prof::phase_name(r.phase),
                static_cast<long long>(r.calls), r.seconds * 1e3, 100 * r.seconds / p.step_s);
    if (r.flops > 0 && peak > 0)
      std::printf(" %9.3f %9.1f %6.1f%%", r.flops * 1e-9, r.flops * 1e-9 / r.seconds,
                  100 * r.flops * 1e-9 / r.seconds / peak);
    else if (r.flops > 0)
      std::printf(" %9.3f %9.1f %7s", r.flops * 1e-9, r.flops * 1e-9 / r.seconds, "-");
    else
      std::printf(" %9s %9s %7s", "-", "-", "-");
    if (r.bytes > 0 && r.seconds > 0 && bandwidth <= 0)
      std::printf(" %8.1f %6s\n", r.bytes * 1e-9 / r.seconds, "-");
    else if (r.bytes > 0 && r.seconds > 0)
      std::printf(" %8.1f %5.1f%%\n", r.bytes * 1e-9 / r.seconds, 100 * r.bytes * 1e-9 / r.seconds / bandwidth);
    else
      std::printf(" %8s %6s\n", "-", "-");
  }
}

// A JSON number, or null where the quantity does not apply (no FLOP or bytes counted, no peak known).
std::string json_number(double v, bool applies, const char* format = "%.4f") {
  if (!applies) return "null";
  char b[32];
  std::snprintf(b, sizeof b, format, v);
  return b;
}

// shapes: profiled by shape ("shape" is the announced shape, "" where none; null otherwise)
std::string json_profile(const Profile& p, int B, double peak, double bandwidth, bool shapes) {
  char buf[768];
  const double step_gflops = p.flops * 1e-9 / p.step_s;
  std::snprintf(buf, sizeof buf, "{\"step_ms\": %.4f, \"objects_per_s\": %.4f, \"gflop\": %.9g, \"gflops\": %.4f, "
                "\"pct_peak\": %s, \"page_faults\": %.1f, \"page_faults_first_step\": %.1f, \"ops\": [",
                p.step_s * 1e3, B / p.step_s, p.flops * 1e-9, step_gflops,
                json_number(100 * step_gflops / peak, peak > 0).c_str(), p.page_faults, p.page_faults_first);
  std::string s = buf;
  for (size_t i = 0; i < p.rows.size(); ++i) {
    const auto& r = p.rows[i];
    const bool untimed = r.kernel == "(untimed)";
    const double gflops = r.seconds > 0 ? r.flops * 1e-9 / r.seconds : 0;
    const double gbs = r.seconds > 0 ? r.bytes * 1e-9 / r.seconds : 0;
    const bool has_flops = r.flops > 0 && r.seconds > 0, has_bytes = r.bytes > 0 && r.seconds > 0;
    std::snprintf(buf, sizeof buf,
                  "%s{\"op\": \"%s\", \"shape\": %s, \"phase\": %s, \"calls\": %lld, \"ms\": %.4f, \"share\": %.6f, "
                  "\"gflop\": %s, \"gflops\": %s, \"pct_peak\": %s, \"gbytes\": %s, \"gbs\": %s, "
                  "\"pct_bandwidth\": %s}",
                  i ? ", " : "", r.kernel.c_str(), shapes ? ("\"" + r.shape + "\"").c_str() : "null",
                  untimed ? "null" : ("\"" + std::string(ssmtl::prof::phase_name(r.phase)) + "\"").c_str(),
                  static_cast<long long>(r.calls), r.seconds * 1e3, r.seconds / p.step_s,
                  json_number(r.flops * 1e-9, r.flops > 0, "%.9g").c_str(), json_number(gflops, has_flops).c_str(),
                  json_number(100 * gflops / peak, has_flops && peak > 0).c_str(),
                  json_number(r.bytes * 1e-9, r.bytes > 0, "%.9g").c_str(), json_number(gbs, has_bytes).c_str(),
                  json_number(100 * gbs / bandwidth, has_bytes && bandwidth > 0).c_str());
    s += buf;
  }
  return s + "]}";
}

int run_profile(int argc, char** argv) {
  ssmtl::app::Args args(argc, argv, {"json", "shapes"});
  if (args.help()) { std::printf("%s", kUsage); return 0; }
  ssmtl::util::Config cfg = ssmtl::app::config_option(args);
  const int steps = args.get_int32("steps", 3, 1);
  const int B = args.get_int32("batch", 64, 1);
  const bool json = args.has("json");
  const bool shapes = args.has("shapes");
  const ssmtl::Device dev = args.has("device") ? ssmtl::app::device_option(args) : ssmtl::Device::CPU;
  args.check_used();
  ssmtl::ModelConfig mc = ssmtl::ModelConfig::from_config(cfg);
  // The file's train.* keys are valid here; of them only train.precision is used (both steps run in it).
  const ssmtl::TrainOptions topt = ssmtl::TrainOptions::from_config(cfg);
  cfg.check_used();
  const ssmtl::kernels::MatmulPrecision precision =
      ssmtl::kernels::checked_matmul_precision(topt.precision, dev != ssmtl::Device::CPU, "profile: train.precision");
  ssmtl::kernels::MatmulPrecisionScope precision_scope(precision);
  ssmtl::kernels::use_scoring_bf16_attention();   // as `ssmtl score` (training's attention: only the opt-in)
  if (dev == ssmtl::Device::CUDA) setenv("SSMTL_CUDA_SYNC", "1", 0);   // kernel time = call time
  ssmtl::prof::set_by_shape(shapes);

  // The peak is probed before and after the steps and the larger value kept: on a shared machine a probe
  // taken while another job runs understates what the cores can do (and %peak would exceed 100).
  double peak = ssmtl::prof::measure_peak_gflops_fp32();
  double peak_bf16 = ssmtl::prof::measure_peak_gflops_bf16();
  double peak_amx = ssmtl::kernels::measure_peak_gflops_amx();
  double bandwidth = ssmtl::prof::measure_bandwidth_gbs();

  ssmtl::SSMTLModel model(mc, 0);
  model.to(dev);
  const ssmtl::TaskBatch batch = ssmtl::random_batch(mc, B, 1).to(dev);
  ssmtl::app::TrainStep train(model);
  if (!json)
    std::fprintf(stderr, "profile: %s, batch %d, %d step%s each...\n", mc.name.c_str(), B, steps,
                 steps == 1 ? "" : "s");
  Profile pt = profile(steps, [&] { train(batch); });
  const ssmtl::app::ScoreInputs si = ssmtl::app::synthetic_score_inputs(mc, B, 2);
  Profile ps = profile(steps, [&] { ssmtl::app::score_step(model, si); });
  peak = std::max(peak, ssmtl::prof::measure_peak_gflops_fp32());
  peak_bf16 = std::max(peak_bf16, ssmtl::prof::measure_peak_gflops_bf16());
  peak_amx = std::max(peak_amx, ssmtl::kernels::measure_peak_gflops_amx());
  bandwidth = std::max(bandwidth, ssmtl::prof::measure_bandwidth_gbs());

  // On the GPU the probes above are the host's: the GPU's own peak is not probed, so no percentages.
  const bool host = dev == ssmtl::Device::CPU;
  // bf16 attention in training (the opt-in); the scoring step's attention is bf16 unless the mode is never
  const ssmtl::kernels::Bf16Attention attention_mode = ssmtl::kernels::bf16_attention();
  const bool width8 = mc.backbone.transformer != "none" && mc.backbone.cvt_dim == 8 * mc.backbone.cvt_heads;
  const bool bf16_heads = host && topt.precision == "bf16" && width8;   // where the bf16 attention kernels apply
  const bool bf16_attention = bf16_heads && attention_mode == ssmtl::kernels::Bf16Attention::always;
  const bool bf16_attention_scoring = bf16_heads && attention_mode != ssmtl::kernels::Bf16Attention::never;
  const double table_peak = host ? peak : 0, table_bandwidth = host ? bandwidth : 0;
  if (json) {
    std::printf("{\"config\": \"%s\", \"device\": \"%s\", \"precision\": \"%s\", \"batch\": %d, \"steps\": %d, \"peak_gflops_fp32\": %.4f, "
                "\"peak_gflops_bf16\": %.4f, \"peak_gflops_amx\": %.4f, \"amx\": %s, \"bf16_attention\": %s, \"bf16_attention_scoring\": %s, "
                "\"bandwidth_gbs\": %.4f, \"train\": %s, \"score\": %s}\n",
                mc.name.c_str(), ssmtl::device_name(dev), topt.precision.c_str(), B, steps, peak, peak_bf16, peak_amx,
                ssmtl::kernels::use_amx_products() ? "true" : "false", bf16_attention ? "true" : "false",
                bf16_attention_scoring ? "true" : "false", bandwidth,
                json_profile(pt, B, table_peak, table_bandwidth, shapes).c_str(),
                json_profile(ps, B, table_peak, table_bandwidth, shapes).c_str());
    return 0;
  }
  std::printf("%s on %s, %s products%s, batch %d, %d step%s; measured peak fp32 %.1f GFLOP/s, bf16 %s; memory bandwidth "
              "%.1f GB/s (triad)\n", mc.name.c_str(), ssmtl::device_name(dev), topt.precision.c_str(),
              bf16_attention ? " (attention too: SSMTL_BF16_ATTENTION=1)"
              : bf16_attention_scoring ? " (scoring's attention too)" : "", B, steps, steps == 1 ? "" : "s", peak,
              peak_bf16 > 0 ? (std::to_string(static_cast<int>(peak_bf16)) + " GFLOP/s").c_str()
                            : "n/a (no AVX512_BF16)", bandwidth);
  if (peak_amx > 0)
    std::printf("AMX tiles: measured peak %.0f GFLOP/s (TDPBF16PS); bf16 products %s\n", peak_amx,
                ssmtl::kernels::use_amx_products() ? "run on them (SSMTL_AMX=0: on AVX512_BF16)"
                                                   : "do not use them (fp32, or SSMTL_AMX=0)");
  if (!host) std::printf("%%peak and %%bw: not shown on %s (the probes above measure the host CPU)\n", ssmtl::device_name(dev));
  print_table("training step", pt, B, table_peak, table_bandwidth, shapes);
  print_table("scoring step", ps, B, table_peak, table_bandwidth, shapes);
  return 0;
}

ssmtl::app::Command reg{"profile", "per-op time and GFLOP/s of a training and a scoring step", run_profile};

}  // namespace
