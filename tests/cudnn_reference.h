// cuDNN's 3-D convolution as a reference for our CUDA conv3d kernels (tests/test_cuda_conv.cpp and
// bench/bench_cuda.cpp). cuDNN is loaded at run time with dlopen("libcudnn.so.9") and its functions are
// looked up by name, so no target has to link it (the build files only know cudart and cuBLAS); the
// header cudnn.h comes with the CUDA toolkit's include directory. Only in builds with CUDA.
//
// Semantics: cudnnConvolutionForward / BackwardData / BackwardFilter with cross-correlation, zero
// padding, groups, dilation 1, NCDHW float32 (the same as kernels/conv3d.h). Plain FP32 by default
// (CUDNN_FMA_MATH); allow_tf32 lets cuDNN use TF32 tensor cores (PyTorch's default for convolutions).
#pragma once
#if defined(SSMTL_WITH_CUDA) && defined(SSMTL_CUDA_EMULATED)
// The CPU emulator of the CUDA backend (emu/emu.h) has no cuDNN: CudnnApi::get().ok is false with the
// reason, so the cuDNN comparisons skip with that message; CudnnConv3d only exists to keep them compiling.
#include <stdexcept>
#include <string>

#include "kernels/conv3d.h"

namespace ssmtl::test {
struct CudnnApi {
  bool ok = false;
  std::string why = "the CUDA emulator (SSMTL_CUDA_EMULATED) cannot run cuDNN";
  static const CudnnApi& get() {
    static const CudnnApi api;
    return api;
  }
};
class CudnnConv3d {
 public:
  explicit CudnnConv3d(const kernels::Conv3dGeometry&, bool = false, bool = false) {
    throw std::runtime_error(CudnnApi::get().why);
  }
  void forward(float*, const float*, const float*) const {}
  void backward_data(float*, const float*, const float*, float = 0.f) const {}
  void backward_filter(float*, const float*, const float*, float = 0.f) const {}
  std::string algorithms() const { return ""; }
};
}  // namespace ssmtl::test
#elif defined(SSMTL_WITH_CUDA)
#include <cuda_runtime.h>
#include <cudnn.h>
#include <dlfcn.h>

#include <stdexcept>
#include <string>

#include "kernels/conv3d.h"

namespace ssmtl::test {

// The cuDNN functions we call, resolved from the shared library (each typed by its declaration in cudnn.h).
struct CudnnApi {
  bool ok = false;
  std::string why;   // why loading failed
#define SSMTL_CUDNN_FUNCTIONS(X)                                                                              \
  X(cudnnCreate) X(cudnnDestroy) X(cudnnGetErrorString) X(cudnnGetVersion) X(cudnnCreateTensorDescriptor)     \
  X(cudnnSetTensorNdDescriptor) X(cudnnDestroyTensorDescriptor) X(cudnnCreateFilterDescriptor)                \
  X(cudnnSetFilterNdDescriptor) X(cudnnDestroyFilterDescriptor) X(cudnnCreateConvolutionDescriptor)           \
  X(cudnnSetConvolutionNdDescriptor) X(cudnnSetConvolutionGroupCount) X(cudnnSetConvolutionMathType)          \
  X(cudnnDestroyConvolutionDescriptor) X(cudnnGetConvolutionForwardAlgorithm_v7)                              \
  X(cudnnFindConvolutionForwardAlgorithm) X(cudnnGetConvolutionForwardWorkspaceSize) X(cudnnConvolutionForward) \
  X(cudnnGetConvolutionBackwardDataAlgorithm_v7) X(cudnnFindConvolutionBackwardDataAlgorithm)                 \
  X(cudnnGetConvolutionBackwardDataWorkspaceSize) X(cudnnConvolutionBackwardData)                             \
  X(cudnnGetConvolutionBackwardFilterAlgorithm_v7) X(cudnnFindConvolutionBackwardFilterAlgorithm)             \
  X(cudnnGetConvolutionBackwardFilterWorkspaceSize) X(cudnnConvolutionBackwardFilter)
#define SSMTL_CUDNN_MEMBER(name) decltype(&::name) name = nullptr;
  SSMTL_CUDNN_FUNCTIONS(SSMTL_CUDNN_MEMBER)
#undef SSMTL_CUDNN_MEMBER

  static const CudnnApi& get() {
    static const CudnnApi api = load();
    return api;
  }

 private:
  static CudnnApi load() {
    CudnnApi a;
    void* lib = dlopen("libcudnn.so.9", RTLD_NOW | RTLD_LOCAL);
    if (!lib) lib = dlopen("libcudnn.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* e = dlerror();
      a.why = std::string("cannot load libcudnn.so.9: ") + (e ? e : "unknown error");
      return a;
    }
#define SSMTL_CUDNN_LOAD(name)                                                  \
  a.name = reinterpret_cast<decltype(&::name)>(dlsym(lib, #name));              \
  if (!a.name) {                                                                \
    a.why = "libcudnn.so.9 has no " #name;                                      \
    return a;                                                                   \
  }
    SSMTL_CUDNN_FUNCTIONS(SSMTL_CUDNN_LOAD)
#undef SSMTL_CUDNN_LOAD
    a.ok = true;   // the library stays loaded for the life of the process
    return a;
  }
};
#undef SSMTL_CUDNN_FUNCTIONS

// One convolution geometry with its descriptors, algorithms and workspace.
class CudnnConv3d {
 public:
  // search: time the algorithms (cudnnFind*, for benchmarks); otherwise cuDNN's heuristic first choice.
  CudnnConv3d(const kernels::Conv3dGeometry& g, bool allow_tf32 = false, bool search = false) : api_(CudnnApi::get()) {
    if (!api_.ok) throw std::runtime_error(api_.why);
    check(api_.cudnnCreate(&handle_), "cudnnCreate");
    check(api_.cudnnCreateTensorDescriptor(&x_), "create x");
    check(api_.cudnnCreateTensorDescriptor(&y_), "create y");
    check(api_.cudnnCreateFilterDescriptor(&w_), "create w");
    check(api_.cudnnCreateConvolutionDescriptor(&conv_), "create conv");
    const int xd[5] = {int(g.N), int(g.Cin), int(g.D), int(g.H), int(g.W)};
    const int yd[5] = {int(g.N), int(g.Cout), int(g.Do), int(g.Ho), int(g.Wo)};
    const int wd[5] = {int(g.Cout), int(g.Cin / g.groups), int(g.kD), int(g.kH), int(g.kW)};
    int xs[5], ys[5];
    packed_strides(xd, xs);
    packed_strides(yd, ys);
    check(api_.cudnnSetTensorNdDescriptor(x_, CUDNN_DATA_FLOAT, 5, xd, xs), "set x");
    check(api_.cudnnSetTensorNdDescriptor(y_, CUDNN_DATA_FLOAT, 5, yd, ys), "set y");
    check(api_.cudnnSetFilterNdDescriptor(w_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 5, wd), "set w");
    const int pad[3] = {int(g.pD), int(g.pH), int(g.pW)}, stride[3] = {int(g.sD), int(g.sH), int(g.sW)},
              dil[3] = {1, 1, 1};
    check(api_.cudnnSetConvolutionNdDescriptor(conv_, 3, pad, stride, dil, CUDNN_CROSS_CORRELATION,
                                               CUDNN_DATA_FLOAT), "set conv");
    check(api_.cudnnSetConvolutionGroupCount(conv_, int(g.groups)), "set groups");
    check(api_.cudnnSetConvolutionMathType(conv_, allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH), "math type");
    choose_algorithms(search);
  }
  ~CudnnConv3d() {
    if (workspace_) cudaFree(workspace_);
    api_.cudnnDestroyConvolutionDescriptor(conv_);
    api_.cudnnDestroyFilterDescriptor(w_);
    api_.cudnnDestroyTensorDescriptor(y_);
    api_.cudnnDestroyTensorDescriptor(x_);
    api_.cudnnDestroy(handle_);
  }
  CudnnConv3d(const CudnnConv3d&) = delete;
  CudnnConv3d& operator=(const CudnnConv3d&) = delete;

  // y = conv(x, w) (no bias). Device pointers.
  void forward(float* y, const float* x, const float* w) const {
    const float one = 1.f, zero = 0.f;
    check(api_.cudnnConvolutionForward(handle_, &one, x_, x, w_, w, conv_, fwd_, workspace_, workspace_bytes_, &zero,
                                       y_, y), "cudnnConvolutionForward");
  }
  // dx = beta dx + dconv/dx (dy)
  void backward_data(float* dx, const float* dy, const float* w, float beta = 0.f) const {
    const float one = 1.f;
    check(api_.cudnnConvolutionBackwardData(handle_, &one, w_, w, y_, dy, conv_, bwd_data_, workspace_,
                                            workspace_bytes_, &beta, x_, dx), "cudnnConvolutionBackwardData");
  }
  // dw = beta dw + dconv/dw (dy)
  void backward_filter(float* dw, const float* x, const float* dy, float beta = 0.f) const {
    const float one = 1.f;
    check(api_.cudnnConvolutionBackwardFilter(handle_, &one, x_, x, y_, dy, conv_, bwd_filter_, workspace_,
                                              workspace_bytes_, &beta, w_, dw), "cudnnConvolutionBackwardFilter");
  }
  // "fwd 1, data 1, filter 3": cuDNN's algorithm numbers, for reports.
  std::string algorithms() const {
    return "fwd " + std::to_string(int(fwd_)) + ", data " + std::to_string(int(bwd_data_)) + ", filter " +
           std::to_string(int(bwd_filter_));
  }

 private:
  void check(cudnnStatus_t s, const char* what) const {
    if (s != CUDNN_STATUS_SUCCESS)
      throw std::runtime_error(std::string("cuDNN ") + what + ": " + api_.cudnnGetErrorString(s));
  }
  static void packed_strides(const int* dims, int* strides) {
    strides[4] = 1;
    for (int i = 3; i >= 0; --i) strides[i] = strides[i + 1] * dims[i + 1];
  }
  // First successful result of each search (cuDNN sorts them, fastest or most promising first).
  template <class Perf, class Algo>
  void pick(const Perf* perf, int n, Algo& algo, const char* what) {
    for (int i = 0; i < n; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS) {
        algo = perf[i].algo;
        if (perf[i].memory > workspace_bytes_) workspace_bytes_ = perf[i].memory;
        return;
      }
    throw std::runtime_error(std::string("cuDNN: no usable ") + what + " algorithm");
  }
  void choose_algorithms(bool search) {
    constexpr int kMax = 16;
    int n = 0;
    cudnnConvolutionFwdAlgoPerf_t fp[kMax];
    cudnnConvolutionBwdDataAlgoPerf_t dp[kMax];
    cudnnConvolutionBwdFilterAlgoPerf_t wp[kMax];
    if (search)
      check(api_.cudnnFindConvolutionForwardAlgorithm(handle_, x_, w_, conv_, y_, kMax, &n, fp), "find fwd");
    else
      check(api_.cudnnGetConvolutionForwardAlgorithm_v7(handle_, x_, w_, conv_, y_, kMax, &n, fp), "get fwd");
    pick(fp, n, fwd_, "forward");
    if (search)
      check(api_.cudnnFindConvolutionBackwardDataAlgorithm(handle_, w_, y_, conv_, x_, kMax, &n, dp), "find data");
    else
      check(api_.cudnnGetConvolutionBackwardDataAlgorithm_v7(handle_, w_, y_, conv_, x_, kMax, &n, dp), "get data");
    pick(dp, n, bwd_data_, "backward-data");
    if (search)
      check(api_.cudnnFindConvolutionBackwardFilterAlgorithm(handle_, x_, y_, conv_, w_, kMax, &n, wp), "find filter");
    else
      check(api_.cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle_, x_, y_, conv_, w_, kMax, &n, wp), "get filter");
    pick(wp, n, bwd_filter_, "backward-filter");
    // The heuristics' memory estimates can be 0: ask for each chosen algorithm's exact need.
    size_t b = 0;
    check(api_.cudnnGetConvolutionForwardWorkspaceSize(handle_, x_, w_, conv_, y_, fwd_, &b), "fwd workspace");
    workspace_bytes_ = b > workspace_bytes_ ? b : workspace_bytes_;
    check(api_.cudnnGetConvolutionBackwardDataWorkspaceSize(handle_, w_, y_, conv_, x_, bwd_data_, &b),
          "data workspace");
    workspace_bytes_ = b > workspace_bytes_ ? b : workspace_bytes_;
    check(api_.cudnnGetConvolutionBackwardFilterWorkspaceSize(handle_, x_, y_, conv_, w_, bwd_filter_, &b),
          "filter workspace");
    workspace_bytes_ = b > workspace_bytes_ ? b : workspace_bytes_;
    if (workspace_bytes_ > 0 && cudaMalloc(&workspace_, workspace_bytes_) != cudaSuccess)
      throw std::runtime_error("cuDNN reference: cannot allocate " + std::to_string(workspace_bytes_) +
                               " bytes of workspace");
  }

  const CudnnApi& api_;
  cudnnHandle_t handle_ = nullptr;
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  cudnnConvolutionFwdAlgo_t fwd_{};
  cudnnConvolutionBwdDataAlgo_t bwd_data_{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter_{};
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

}  // namespace ssmtl::test
#endif  // SSMTL_WITH_CUDA, not emulated
