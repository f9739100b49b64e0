// The benchmarks' buffers on 64-byte boundaries, as the engine's tensors are (tensor/device.cpp). Why: a
// std::vector's floats are 16-byte aligned, so the kernels' 64-byte vector loads from them straddle two cache
// lines three times in four, and a benchmark on such buffers measured the channels-last depthwise backward 1.2x
// slower than the training step runs it (docs/RESULTS.md section 47).
#pragma once
#include <vector>

#include "kernels/cpu/aligned.h"

namespace ssmtl::bench {

using Buffer = kernels::detail::avector<float>;

// An aligned copy of v (e.g. of Tensor::to_vector()).
inline Buffer aligned(const std::vector<float>& v) { return Buffer(v.begin(), v.end()); }

}  // namespace ssmtl::bench
