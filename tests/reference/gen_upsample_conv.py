"""PyTorch reference values for autograd/upsample_conv.h (upsample2x_conv2d: nearest 2x up-sampling, then a
3x3 convolution with padding 1).

Run with any PyTorch (Debian's, or the venv of bench/compare_pytorch_pypi.sh):
  cd tests/reference && python3 gen_upsample_conv.py
Inputs are float32; outputs and the gradients of loss = sum(y * r) are computed in float64 from the same values.
"""
import torch
import torch.nn.functional as F

from refio import write

torch.manual_seed(0)
out = {}
# (name, N, Cin, H, W, Cout, bias): odd and unequal sizes, a single pixel, and the decoder's first round shape
# in miniature.
for name, n, cin, h, w, cout, bias in [("a", 2, 3, 4, 5, 4, True), ("b", 1, 2, 3, 3, 2, False),
                                       ("c", 1, 2, 1, 1, 3, True)]:
    x = torch.randn(n, cin, h, w).float()
    wt = torch.randn(cout, cin, 3, 3).float()
    b = torch.randn(cout).float()
    r = torch.randn(n, cout, 2 * h, 2 * w).float()
    xd, wd, bd = (t.double().requires_grad_() for t in (x, wt, b))
    y = F.conv2d(F.interpolate(xd, scale_factor=2, mode="nearest"), wd, bd if bias else None, padding=1)
    (y * r.double()).sum().backward()
    out.update({name + "_x": x, name + "_w": wt, name + "_r": r, name + "_y": y, name + "_gx": xd.grad,
                name + "_gw": wd.grad})
    if bias:
        out.update({name + "_b": b, name + "_gb": bd.grad})
write("upsample_conv", out)
