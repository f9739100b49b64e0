"""PyTorch reference values for autograd/linear's linear_gelu (F.gelu(F.linear(x, w, b)), GELU's erf form).

Run with any PyTorch (made with 2.15 from the index, in a virtual environment):
    cd tests/reference && ~/.cache/ssmtl/pyenv-torch/bin/python gen_linear_gelu.py
Inputs are float32; the reference is computed in float64 from those same values, so the tests can use tight
tolerances. Each case stores its inputs, the projection r (loss = sum(y * r)), the output and every gradient.
Case "small" has 5 outputs (the CPU's plain path: OpenBLAS then GELU); case "panel" has 48 (a multiple of 16:
the AVX-512 panel path with GELU fused into its row blocks) and 50 rows (a 48-row block and a tail).
"""
import torch
import torch.nn.functional as F

from refio import write

torch.manual_seed(0)
out = {}


def case(name, x_shape, n_out, bias=True):
    x = torch.randn(*x_shape).float()
    w = (torch.randn(n_out, x_shape[-1]) / x_shape[-1] ** 0.5).float()
    b = torch.randn(n_out).float() if bias else None
    xd, wd = x.double().requires_grad_(), w.double().requires_grad_()
    bd = b.double().requires_grad_() if bias else None
    y = F.gelu(F.linear(xd, wd, bd))
    r = torch.randn(*y.shape).float()
    (y * r.double()).sum().backward()
    out[name + "/x"], out[name + "/w"], out[name + "/r"], out[name + "/y"] = x, w, r, y
    out[name + "/gx"], out[name + "/gw"] = xd.grad, wd.grad
    if bias:
        out[name + "/b"], out[name + "/gb"] = b, bd.grad


case("small", (2, 3, 4), 5)
case("panel", (50, 32), 48)
case("nobias", (7, 16), 16, bias=False)
write("linear_gelu", out)
