"""PyTorch reference values for autograd/attention (run with Debian's /usr/bin/python3 + python3-torch; the
attention_heads cases were added with the virtual environment of bench/compare_pytorch_pypi.sh, torch 2.15).

softmax(q k^T / sqrt(E)) v, written out (torch 1.13 has no F.scaled_dot_product_attention) and computed
in float64 so that the float32 engine is compared with an accurate answer.
"""
import math

import torch

from refio import write


def attention(q, k, v):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return torch.softmax(scores, dim=-1) @ v


def case(prefix, shape_q, shape_k, shape_v, q_gain=1.0):
    q = (torch.randn(*shape_q, dtype=torch.float64) * q_gain).float().double().requires_grad_()
    k = torch.randn(*shape_k, dtype=torch.float64).float().double().requires_grad_()
    v = torch.randn(*shape_v, dtype=torch.float64).float().double().requires_grad_()
    out = attention(q, k, v)
    r = torch.randn(*out.shape, dtype=torch.float64).float().double()
    (out * r).sum().backward()
    return {prefix + "q": q, prefix + "k": k, prefix + "v": v, prefix + "r": r, prefix + "out": out,
            prefix + "grad_q": q.grad, prefix + "grad_k": k.grad, prefix + "grad_v": v.grad}


torch.manual_seed(0)
tensors = {}
# The gradcheck shape: B=2, H=3, Lq=5, Lk=4, E=Ev=6.
tensors.update(case("a_", (2, 3, 5, 6), (2, 3, 4, 6), (2, 3, 4, 6)))
# Value width different from the query width, more queries than keys (as in the CvT: keys strided by 2).
tensors.update(case("b_", (1, 2, 7, 4), (1, 2, 3, 4), (1, 2, 3, 5)))
# Large scores (up to ~100): a softmax without the max subtraction overflows exp() here.
tensors.update(case("c_", (1, 1, 4, 8), (1, 1, 6, 8), (1, 1, 6, 3), q_gain=30.0))
write("attention", tensors)

# Head widths of the AVX-512 kernels (8: the paper's CvT, 16), several 16-key chunks with a tail, more than one
# 32-query block with a tail; f_ with large scores (up to ~100).
torch.manual_seed(1)
heads = {}
heads.update(case("d_", (2, 3, 37, 8), (2, 3, 21, 8), (2, 3, 21, 8), q_gain=2.0))
heads.update(case("e_", (1, 2, 35, 16), (1, 2, 18, 16), (1, 2, 18, 16)))
heads.update(case("f_", (1, 2, 20, 8), (1, 2, 33, 8), (1, 2, 33, 8), q_gain=30.0))
write("attention_heads", heads)
