// The benchmarks' buffers on 64-byte boundaries, as the engine's tensors are (tensor/device.cpp). Why: a
// std::vector's floats are 16-byte aligned, so in three buffers out of four the kernels' 64-byte vector loads
// straddle two cache lines: the depthwise forward's row loop took 4.43 ms in BM_DepthwiseTokens on such buffers,
// 3.56-3.64 ms in a driver on aligned ones (docs/RESULTS.md section 47).
#pragma once
#include <vector>

#include "kernels/cpu/aligned.h"

namespace ssmtl::bench {

using Buffer = kernels::detail::avector<float>;

// An aligned copy of v (e.g. of Tensor::to_vector()).
inline Buffer aligned(const std::vector<float>& v) { return Buffer(v.begin(), v.end()); }

}  // namespace ssmtl::bench
