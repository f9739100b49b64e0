// The kernels' view of an eval-mode batch norm (kernels/conv3d.h BnRelu) for the fused inference ops of
// autograd/conv.h (conv3d_bn_relu_eval, conv3d_bn_relu_pool_eval, conv3d_depthwise_tokens_bn_eval).
// autograd-internal.
#pragma once
#include "autograd/conv.h"
#include "kernels/conv3d.h"

namespace ssmtl::detail {

// The needs_grad refusal and check_eval_batch_norm of `op` (x, w, bias and bn's affine must not be recording),
// then invstd (C) = 1 / sqrt(running_var + eps) computed into `invstd` on x's device, and the pointers of bn and
// invstd the kernels take (gamma / beta nullptr when undefined). Throws std::invalid_argument naming `op`.
kernels::BnRelu eval_bn_tables(const char* op, const Tensor& x, const Tensor& w, const Tensor& bias,
                               const EvalBatchNorm& bn, int64_t C, Tensor& invstd);

}  // namespace ssmtl::detail
