// Inverted dropout (Srivastava et al. 2014), as torch.nn.functional.dropout.
#pragma once
#include "tensor/rng.h"
#include "tensor/tensor.h"

namespace ssmtl {

// training: each element is kept with probability 1 - p and scaled by 1 / (1 - p), else zeroed, so the
// expected value is unchanged and eval needs no rescaling. The mask draws one rng.uniform() per element in
// memory order (element dropped when the draw is < p): a given Rng state gives the same mask on any device.
// p = 1 zeroes everything. Not training, or p = 0: returns x itself (identity, no draw from rng).
// The gradient is multiplied by the same mask. x: any shape. Throws std::invalid_argument unless 0 <= p <= 1.
Tensor dropout(const Tensor& x, float p, bool training, Rng& rng);

}  // namespace ssmtl
