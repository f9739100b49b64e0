"""PyTorch reference for the bf16 product precision (kernels/precision.h): a linear layer whose input, weight
and output gradient are cast to torch.bfloat16 (round to nearest even) and multiplied in float64, i.e. the
exact products of the rounded factors; the engine's bf16 kernels must match up to float32 summation.
Also values at rounding ties and denormals, with PyTorch's own bfloat16 cast of them.
Run: python tests/reference/gen_bf16.py (needs torch; writes tests/data/bf16.bin)."""
import torch

import refio

torch.manual_seed(0)
M, K, N = 37, 45, 48   # K odd (a zero pair partner), M past one 6-row tile, N one full and one half panel
x = torch.randn(M, K)
w = torch.randn(N, K)
b = torch.randn(N)
dy = torch.randn(M, N)
r = lambda t: t.to(torch.bfloat16).double()
y = r(x) @ r(w).T + b.double()
dx = r(dy) @ r(w)
dw = r(dy).T @ r(x)
# ties: 1 + 2^-8 (halfway between 1 and 1 + 2^-7: even is 1), 1 + 3 * 2^-8 (even is 1 + 2^-6), a float32
# denormal, the smallest normal, negative values
ties = torch.tensor([1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8), 3.0e-40, 1.1754944e-38, -2.5, 0.1, 1e30],
                    dtype=torch.float32)
refio.write("bf16", {"x": x, "w": w, "b": b, "dy": dy, "y": y, "dx": dx, "dw": dw,
                     "ties": ties, "ties_bf16": ties.to(torch.bfloat16).float()})
