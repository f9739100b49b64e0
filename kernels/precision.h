// Compute precision of the CPU's matrix products and convolutions (the engine's equivalent of PyTorch's
// torch.set_float32_matmul_precision / oneDNN's fpmath mode). Tensors, weights, gradients and the optimiser
// stay float32 in every mode; only the products' inputs change:
//   fp32 (default): float32 products, bit-reproducible for a fixed thread count.
//   bf16: the two factors of every product of the register-blocked GEMM (kernels/cpu/gemm_panel.cpp: linear
//         layers, forward and both gradients) and of the direct stride-1 convolution (kernels/cpu/conv3d_direct.cpp
//         and conv3d_direct_bf16.cpp: forward, input and weight gradients) are rounded to bfloat16 (round to nearest
//         even), multiplied exactly and accumulated in float32 with AVX512_BF16's VDPBF16PS (pairs of products
//         summed per lane), or where the CPU has AMX (cpu_has_amx_bf16()) with TDPBF16PS on 16x16 tiles
//         (kernels/cpu/amx.h). Results are still deterministic for a fixed thread count and CPU, but differ from
//         fp32 by the inputs' rounding (relative error of one product <= 2^-8 per factor), and AMX from
//         AVX512_BF16 by the order of the float32 sums.
// Paths without a bf16 kernel (OpenBLAS fallbacks, attention, depthwise convolution, CUDA) compute in fp32 in
// both modes. The setting is process-wide (an atomic): set it once before training or scoring, not per thread.
#pragma once
#include <string>

namespace ssmtl::kernels {

enum class MatmulPrecision { fp32, bf16 };

// True when this CPU executes AVX512_BF16 (checked at run time with cpuid, never assumed from the build flags).
bool cpu_has_bf16();

// True when this CPU has AMX tiles with bf16 (TDPBF16PS: a 16x32 by 32x16 bf16 block product into 16x16 float32
// sums in one instruction, Sapphire Rapids and later), the OS saves their state (XCR0 bits 17-18) and Linux
// granted this process the tile data (arch_prctl ARCH_REQ_XCOMP_PERM, asked once on the first call).
bool cpu_has_amx_bf16();

// Measured TDPBF16PS throughput on all OpenMP threads in GFLOP/s (a multiply-add counts 2; 16 x 16 x 32 of them
// per instruction), for about `seconds`; 0 without cpu_has_amx_bf16(). The AMX peak line of `ssmtl profile`.
double measure_peak_gflops_amx(double seconds = 0.2);

// Whether bf16 products may use AMX tiles where cpu_has_amx_bf16() (default: yes, unless the environment sets
// SSMTL_AMX=0). Off, they run on AVX512_BF16 as on a CPU without AMX: how tests compare the two paths and the
// benchmarks measure both. Process-wide, like the precision.
void set_amx_enabled(bool on);
bool amx_enabled();

// Where bf16 products reach the attention too (kernels/cpu/attention_tokens_bf16.cpp, heads of width 8), when the
// products are bf16 at all (use_bf16_products()); elsewhere attention computes in float32:
//   never: the library's default, so that training (its validation, precise BatchNorm and SWA passes included)
//     keeps float32 attention;
//   inference: only where no gradient is recorded. `ssmtl score` and the scoring step of `ssmtl profile` set it
//     (use_scoring_bf16_attention) unless the environment names a mode. Scoring the v1-cpu miniature with heads of
//     width 8 (trained on Ped2) in bf16 with and without it moved micro / macro AUC, RBDC and TBDC by <= 0.01 points
//     and object scores by <= 4.7e-3 (bf16 products alone: 3.8e-2), docs/RESULTS.md section 44;
//   always: training too. Not a default: bf16 attention in training has not passed the accuracy check that bf16
//     training must pass (RESULTS sections 25 and 42); it trained the paper-size v1 1.03-1.05x as fast on a CPU
//     without AMX.
// The environment's SSMTL_BF16_ATTENTION sets the mode at start: 1 / on / always, 0 / off / never, or inference
// (another value: a warning on stderr, and the default).
// Process-wide, like the precision; it must not change between an attention's forward and its backward (the
// autograd node throws std::logic_error if it does).
enum class Bf16Attention { never, inference, always };
void set_bf16_attention(Bf16Attention mode);
Bf16Attention bf16_attention();
const char* bf16_attention_name(Bf16Attention mode);   // "never", "inference", "always" (run records)
// What the scoring programs call before they score: inference, unless SSMTL_BF16_ATTENTION named a mode.
void use_scoring_bf16_attention();

// Sets the precision of later products. Throws std::invalid_argument for bf16 when !cpu_has_bf16() (the message
// says so), so that a configuration never silently runs in another precision than it names.
void set_matmul_precision(MatmulPrecision p);
MatmulPrecision matmul_precision();

// "fp32" / "bf16" <-> the enum; parse throws std::invalid_argument naming the text and the accepted values.
MatmulPrecision parse_matmul_precision(const char* text);
const char* matmul_precision_name(MatmulPrecision p);

// A setting's text checked for where it will run (train.precision, score --precision, profile): parses `text`,
// then throws std::invalid_argument naming `what` for bf16 on a CUDA device (the CUDA kernels compute fp32) or
// on a CPU without AVX512_BF16, so that every front end refuses the same cases with the same words.
MatmulPrecision checked_matmul_precision(const std::string& text, bool on_cuda, const std::string& what);

// Sets a precision for the lifetime of the object and restores the previous one (tests, the profiler).
class MatmulPrecisionScope {
 public:
  explicit MatmulPrecisionScope(MatmulPrecision p) : previous_(matmul_precision()) { set_matmul_precision(p); }
  ~MatmulPrecisionScope() { set_matmul_precision(previous_); }
  MatmulPrecisionScope(const MatmulPrecisionScope&) = delete;
  MatmulPrecisionScope& operator=(const MatmulPrecisionScope&) = delete;

 private:
  MatmulPrecision previous_;
};

// Internal to the CPU kernels: bf16 requested (and, by set_matmul_precision's check, available).
inline bool use_bf16_products() { return matmul_precision() == MatmulPrecision::bf16; }
// Internal to the CPU kernels: bf16 products on AMX tiles (use_bf16_products(), amx_enabled(), cpu_has_amx_bf16()).
inline bool use_amx_products() { return use_bf16_products() && amx_enabled() && cpu_has_amx_bf16(); }

}  // namespace ssmtl::kernels
