// The op profiler (tensor/profile.h) and `ssmtl profile`: records only when on, exact FLOP counts of known
// convolutions / products / attention, byte counts of memory-bound ops, phases, nesting, the peak and
// bandwidth probes, and the program's JSON.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "autograd/activation.h"
#include "autograd/attention.h"
#include "autograd/engine.h"
#include "autograd/conv.h"
#include "autograd/elementwise.h"
#include "autograd/linear.h"
#include "autograd/norm.h"
#include "autograd/shape.h"
#include "kernels/precision.h"
#include "tensor/profile.h"
#include "tensor/rng.h"
#include "tests/run_program.h"

using namespace ssmtl;
namespace fs = std::filesystem;

namespace {

const prof::Record* find(const std::vector<prof::Record>& rs, const std::string& k, prof::Phase ph) {
  for (const auto& r : rs)
    if (r.kernel == k && r.phase == ph) return &r;
  return nullptr;
}

// Profiler on for the scope, records cleared on entry and exit.
struct Profiling {
  Profiling() { prof::reset(); prof::set_enabled(true); }
  ~Profiling() { prof::set_enabled(false); prof::reset(); }
};

int run_ssmtl(const std::string& args, std::string& out) {
  test::RunResult r = test::run_ssmtl(args, "");   // stdout only: the JSON
  out += r.output;
  return r.code;
}

}  // namespace

TEST_CASE("profile: nothing is recorded while the profiler is off") {
  prof::reset();
  Rng r(1);
  Tensor x = rand_uniform({2, 3, 4, 5, 6}, r), w = rand_uniform({4, 3, 3, 3, 3}, r);
  conv3d(x, w, Tensor(), Conv3dOptions{});
  CHECK(prof::records().empty());
}

TEST_CASE("profile: conv3d forward and backward rows with their exact FLOP counts") {
  Rng r(2);
  Tensor x = rand_uniform({2, 3, 4, 5, 6}, r), w = rand_uniform({4, 3, 3, 3, 3}, r);
  x.set_requires_grad();
  w.set_requires_grad();
  Conv3dOptions o;
  o.padding[0] = o.padding[1] = o.padding[2] = 1;
  Profiling on;
  Tensor y = conv3d(x, w, Tensor(), o);   // (2, 4, 4, 5, 6)
  autograd::backward(sum(y));
  const auto rs = prof::records();
  const double fwd = 2.0 * 2 * 4 * (4 * 5 * 6) * 3 * 27;   // N Cout (Do Ho Wo) Cin k^3 multiply-adds
  const prof::Record* f = find(rs, "conv3d_forward", prof::Phase::Forward);
  const prof::Record* b = find(rs, "conv3d_backward", prof::Phase::Backward);
  REQUIRE(f != nullptr);
  REQUIRE(b != nullptr);
  CHECK(f->calls == 1);
  CHECK(f->flops == doctest::Approx(fwd));
  CHECK(b->flops == doctest::Approx(2 * fwd));   // dx and dw
  CHECK(f->seconds > 0);
  CHECK(find(rs, "conv3d_backward", prof::Phase::Forward) == nullptr);
}

TEST_CASE("profile: depthwise conv, linear and attention FLOP counts") {
  Rng r(3);
  Profiling on;
  Conv3dOptions o;
  o.groups = 6;
  conv3d(rand_uniform({1, 6, 3, 4, 4}, r), rand_uniform({6, 1, 3, 3, 3}, r), Tensor(), o);   // out (1,6,1,2,2)
  linear(rand_uniform({5, 7}, r), rand_uniform({3, 7}, r), rand_uniform({3}, r));
  scaled_dot_product_attention(rand_uniform({2, 3, 10, 4}, r), rand_uniform({2, 3, 6, 4}, r),
                               rand_uniform({2, 3, 6, 5}, r));
  const auto rs = prof::records();
  const prof::Record* dw = find(rs, "conv3d_depthwise_forward", prof::Phase::Forward);
  const prof::Record* lin = find(rs, "linear_forward", prof::Phase::Forward);
  const prof::Record* att = find(rs, "attention_forward", prof::Phase::Forward);
  REQUIRE(dw != nullptr);
  REQUIRE(lin != nullptr);
  REQUIRE(att != nullptr);
  CHECK(dw->flops == doctest::Approx(2.0 * 6 * (1 * 2 * 2) * 27));
  CHECK(lin->flops == doctest::Approx(2.0 * 5 * 7 * 3));
  CHECK(att->flops == doctest::Approx(2.0 * 2 * 3 * 10 * 6 * (4 + 5)));
}

TEST_CASE("profile: by shape, each shape of a kernel gets its own record") {
  Rng r(5);
  auto run = [&] {
    Tensor x = rand_uniform({5, 7}, r).set_requires_grad(), w = rand_uniform({3, 7}, r).set_requires_grad();
    autograd::backward(sum(linear(x, w, Tensor())));   // 5 rows, 7 -> 3, dx and dw
    linear(rand_uniform({4, 7}, r), w.detach(), Tensor());
    linear(rand_uniform({4, 7}, r), w.detach(), Tensor());
    Conv3dOptions o;
    o.stride[1] = 2;
    conv3d(rand_uniform({2, 3, 4, 5, 6}, r), rand_uniform({4, 3, 1, 3, 3}, r), Tensor(), o);   // out (2,4,4,2,4)
    gelu(rand_uniform({5, 3}, r));   // memory-bound: its tensor's shape
  };
  Profiling on;
  prof::set_by_shape(true);
  run();
  prof::set_by_shape(false);
  auto rs = prof::records();
  auto shaped = [&](const std::string& k, prof::Phase ph, const std::string& shape) -> const prof::Record* {
    for (const auto& rec : rs)
      if (rec.kernel == k && rec.phase == ph && rec.shape == shape) return &rec;
    return nullptr;
  };
  const prof::Record* five = shaped("linear_forward", prof::Phase::Forward, "5x7->3");
  const prof::Record* four = shaped("linear_forward", prof::Phase::Forward, "4x7->3");
  const prof::Record* back = shaped("linear_backward", prof::Phase::Backward, "5x7->3 dx+dw");
  const prof::Record* conv = shaped("conv3d_forward", prof::Phase::Forward, "2x3->4 4x2x4 k1x3x3 strided");
  REQUIRE(five != nullptr);
  REQUIRE(four != nullptr);
  REQUIRE(back != nullptr);
  REQUIRE(conv != nullptr);
  CHECK(shaped("gelu_forward", prof::Phase::Forward, "[5, 3]") != nullptr);
  CHECK(five->calls == 1);
  CHECK(four->calls == 2);
  CHECK(four->flops == doctest::Approx(2 * 2.0 * 4 * 7 * 3));
  CHECK(back->flops == doctest::Approx(2 * 2.0 * 5 * 7 * 3));
  const prof::Record* sum_row = nullptr;   // a kernel that announces no shape: one record, empty shape
  for (const auto& rec : rs)
    if (rec.kernel.find("sum") != std::string::npos && rec.phase == prof::Phase::Forward) sum_row = &rec;
  REQUIRE(sum_row != nullptr);
  CHECK(sum_row->shape.empty());
  // by shape off: one record per kernel and phase, no shapes
  prof::reset();
  run();
  rs = prof::records();
  const prof::Record* all = find(rs, "linear_forward", prof::Phase::Forward);
  REQUIRE(all != nullptr);
  CHECK(all->calls == 3);
  CHECK(all->shape.empty());
}

TEST_CASE("profile: memory-bound ops count the bytes they must move, forward and backward") {
  Rng r(4);
  Tensor x = rand_uniform({2, 3, 5}, r).set_requires_grad();   // 30 floats
  Tensor gamma = rand_uniform({3}, r).set_requires_grad(), beta = rand_uniform({3}, r).set_requires_grad();
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  Profiling on;
  Tensor y = add(permute(gelu(batch_norm(x, gamma, beta, rm, rv, true, 0.1f, 1e-5f)), {0, 2, 1}),
                 Tensor::zeros({2, 5, 3}));
  autograd::backward(sum(y));
  const auto rs = prof::records();
  auto bytes = [&](const char* k, prof::Phase ph) {
    const prof::Record* rec = find(rs, k, ph);
    REQUIRE(rec != nullptr);
    CHECK(rec->flops == 0);
    return rec->bytes;
  };
  const auto F = prof::Phase::Forward, Bw = prof::Phase::Backward;
  CHECK(bytes("batch_norm_stats", F) == doctest::Approx(4.0 * 30));        // x read
  CHECK(bytes("batch_norm_forward", F) == doctest::Approx(4.0 * 2 * 30));  // x read, y written
  CHECK(bytes("gelu_forward", F) == doctest::Approx(4.0 * 2 * 30));
  CHECK(bytes("permute_forward", F) == doctest::Approx(4.0 * 2 * 30));
  CHECK(bytes("add_forward", F) == doctest::Approx(4.0 * 3 * 30));         // a, b read, out written
  // (gelu's and batch norm's input gradients are new: written, not read: autograd/engine.h grad_out)
  CHECK(bytes("gelu_backward", Bw) == doctest::Approx(4.0 * 3 * 30));      // g, x read, dx written
  // permute's new input gradient is the output gradient permuted back by the forward kernel: g read, dx written
  CHECK(bytes("permute_forward", Bw) == doctest::Approx(4.0 * 2 * 30));
  CHECK(bytes("batch_norm_backward", Bw) == doctest::Approx(4.0 * 3 * 30));
}

TEST_CASE("profile: a scope inside an open scope is booked under the outer one, with its phase") {
  Profiling on;
  {
    prof::PhaseGuard ph(prof::Phase::Optimizer);
    prof::add_flops(100);
    prof::KernelScope outer("kernels::outer_kernel");
    prof::add_flops(20);
    prof::KernelScope inner("kernels::inner_kernel");
  }
  const auto rs = prof::records();
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].kernel == "outer_kernel");
  CHECK(rs[0].phase == prof::Phase::Optimizer);
  CHECK(rs[0].calls == 1);
  CHECK(rs[0].flops == doctest::Approx(120));
}

TEST_CASE("profile: peak probes") {
  const double fp32 = prof::measure_peak_gflops_fp32(0.02);
  CHECK(fp32 > 0.1);   // any CPU of this century sustains more than 0.1 GFLOP/s
  const double bf16 = prof::measure_peak_gflops_bf16(0.02);
  if (prof::cpu_has_avx512_bf16()) CHECK(bf16 > 0.1);
  else CHECK(bf16 == 0);
  // AMX: 16 x 16 x 32 multiply-adds per instruction; a core that has the tiles does more than its FMA units.
  const double amx = kernels::measure_peak_gflops_amx(0.02);
  if (kernels::cpu_has_amx_bf16()) CHECK(amx > fp32);
  else CHECK(amx == 0);
  const double bw = prof::measure_bandwidth_gbs(0.02);
  CHECK(bw > 0.1);     // GB/s: any machine that runs these tests
  CHECK(bw < 1e5);     // and no machine reaches 100 TB/s (a unit error would)
}

TEST_CASE("profile app: --json of a tiny configuration parses and its rows add up") {
  std::string out;
  const int code = run_ssmtl("profile --set model.name=ssmtl++v1-cpu --set model.crop=16 --steps 1 --batch 2 --json "
                             "2>/dev/null | python3 -c 'import json,sys\n"
                             "d = json.load(sys.stdin)\n"
                             "for part in (\"train\", \"score\"):\n"
                             "  ops = d[part][\"ops\"]\n"
                             "  print(part, len(ops), round(sum(o[\"gflop\"] or 0 for o in ops) / d[part][\"gflop\"], 3))\n"
                             "print(\"nulls\", all(o[\"gflop\"] is None or o[\"gflop\"] > 0 for o in d[\"train\"][\"ops\"]), "
                             "any(o[\"pct_peak\"] is None for o in d[\"train\"][\"ops\"]), d[\"train\"][\"pct_peak\"] > 0)\n"
                             "names = set((o[\"op\"], o[\"phase\"]) for o in d[\"train\"][\"ops\"])\n"
                             "print(\"conv\", (\"conv3d_forward\", \"forward\") in names, (\"conv3d_backward\", \"backward\") in names, "
                             "(\"attention_tokens_backward\", \"backward\") in names, (\"adam_step\", \"optimizer\") in names)\n"
                             "print(\"peak\", d[\"peak_gflops_fp32\"] > 0, d[\"bandwidth_gbs\"] > 0)\n"
                             "print(\"faults\", d[\"train\"][\"page_faults\"] == d[\"train\"][\"page_faults_first_step\"] >= 0)\n"
                             "bn = [o for o in d[\"train\"][\"ops\"] if o[\"op\"] == \"batch_norm_forward\"]\n"
                             "print(\"bn bytes\", len(bn) == 1 and bn[0][\"gbytes\"] > 0 and bn[0][\"gbs\"] > 0)'",
                             out);
  CHECK(code == 0);
  INFO(out);
  CHECK(out.find("train ") != std::string::npos);
  CHECK(out.find(" 1.0\n") != std::string::npos);   // per-op GFLOP add up to the step's
  CHECK(out.find("conv True True True True") != std::string::npos);
  CHECK(out.find("peak True True") != std::string::npos);
  CHECK(out.find("bn bytes True") != std::string::npos);
  CHECK(out.find("nulls True True True") != std::string::npos);   // null where a column does not apply; step %peak
  CHECK(out.find("faults True") != std::string::npos);            // 1 step: its faults are the first step's
}

TEST_CASE("profile app: --shapes rows carry their shapes and still add up") {
  std::string out;
  const int code = run_ssmtl("profile --set model.name=ssmtl++v1-cpu --set model.crop=16 --steps 1 --batch 2 --shapes "
                             "--json 2>/dev/null | python3 -c 'import json,re,sys\n"
                             "d = json.load(sys.stdin)\n"
                             "ops = d[\"train\"][\"ops\"]\n"
                             "print(\"sum\", round(sum(o[\"gflop\"] or 0 for o in ops) / d[\"train\"][\"gflop\"], 3))\n"
                             "conv = [o for o in ops if o[\"op\"] == \"conv3d_backward\"]\n"
                             "fwd = r\"\\d+x\\d+->\\d+ \\d+x\\d+x\\d+ k\\d+x\\d+x\\d+( strided)?( grouped)?\"\n"
                             "bwd = fwd + r\" (dx\\+dw|dw|dx)\"\n"
                             "fc = [o for o in ops if o[\"op\"] == \"conv3d_forward\"]\n"
                             "print(\"convs\", len(conv) > 1, all(re.fullmatch(bwd, o[\"shape\"]) for o in conv), "
                             "len(fc) > 1 and all(re.fullmatch(fwd, o[\"shape\"]) for o in fc))'",
                             out);
  CHECK(code == 0);
  INFO(out);
  CHECK(out.find("sum 1.0\n") != std::string::npos);
  CHECK(out.find("convs True True True") != std::string::npos);
}

TEST_CASE("profile app: a bad option is a usage error") {
  std::string out;
  CHECK(run_ssmtl("profile --steps 0 2>&1", out) == 2);
  CHECK(out.find("--steps") != std::string::npos);
  // counts held in an int: too large is an error, not a wrapped value (2^32 ran 0 steps, 2^31 a negative count)
  CHECK(run_ssmtl("profile --steps 4294967296 2>&1", out) == 2);
  CHECK(out.find("--steps must be <= 2147483647, got 4294967296") != std::string::npos);
  CHECK(run_ssmtl("profile --batch 2147483648 2>&1", out) == 2);
  CHECK(out.find("--batch must be <= 2147483647") != std::string::npos);
  // a bare unknown option at the end: the message says it may not be an option at all
  CHECK(run_ssmtl("profile --bogusflag 2>&1", out) == 2);
  CHECK(out.find("--bogusflag needs a value, or is not an option of this command") != std::string::npos);
}
