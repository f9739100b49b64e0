"""PyTorch reference values for autograd/conv (run with Debian's /usr/bin/python3 + python3-torch).

One entry per case (keys "<case>/x", "/w", "/b" when the case has a bias, "/r", "/y", "/gx", "/gw", "/gb"):
y = conv3d / conv2d(x, w, b) and the gradients of loss = sum(y * r). tests/test_conv.cpp holds the same case
table (stride, padding, groups).
"""
import torch
import torch.nn.functional as F

from refio import write

# name, x shape, w shape, stride, padding, groups, bias
CASES = [
    ("c3_basic", (2, 3, 4, 5, 5), (4, 3, 3, 3, 3), (1, 1, 1), (1, 1, 1), 1, True),
    ("c3_stride2_asym", (2, 2, 3, 6, 7), (3, 2, 1, 3, 3), (1, 2, 2), (0, 1, 1), 1, False),
    ("c3_groups2", (1, 4, 4, 5, 6), (6, 2, 2, 3, 2), (2, 1, 2), (1, 0, 1), 2, True),
    ("c3_depthwise", (2, 4, 5, 6, 6), (4, 1, 3, 3, 3), (1, 1, 1), (1, 1, 1), 4, True),
    ("c3_depthwise_s122", (2, 3, 5, 7, 7), (3, 1, 3, 3, 3), (1, 2, 2), (1, 1, 1), 3, False),
    ("c3_multiplier", (2, 2, 3, 4, 4), (4, 1, 3, 3, 3), (1, 1, 1), (1, 1, 1), 2, True),
    ("c3_pointwise", (2, 4, 2, 3, 3), (5, 4, 1, 1, 1), (1, 1, 1), (0, 0, 0), 1, True),
    ("c3_valid_2x3x3", (2, 3, 4, 6, 18), (5, 3, 2, 3, 3), (1, 1, 1), (0, 0, 0), 1, True),
    ("c3_1x3x3_same", (1, 4, 3, 5, 17), (6, 4, 1, 3, 3), (1, 1, 1), (0, 1, 1), 1, False),
    ("c2_same", (2, 3, 9, 20), (4, 3, 3, 3), (1, 1), (1, 1), 1, True),
    ("c2_stride2_groups2", (2, 4, 7, 7), (6, 2, 3, 3), (2, 2), (1, 1), 2, True),
    ("c2_depthwise_s2", (2, 3, 8, 8), (3, 1, 3, 3), (2, 2), (1, 1), 3, True),
    ("c2_pointwise", (2, 6, 4, 5), (3, 6, 1, 1), (1, 1), (0, 0), 1, False),
]

torch.manual_seed(0)
out = {}
for name, xs, ws, stride, pad, groups, has_bias in CASES:
    x = torch.randn(*xs, requires_grad=True)
    w = torch.randn(*ws, requires_grad=True)
    b = torch.randn(ws[0], requires_grad=True) if has_bias else None
    conv = F.conv3d if len(xs) == 5 else F.conv2d
    y = conv(x, w, b, stride, pad, 1, groups)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    out.update({name + "/x": x, name + "/w": w, name + "/r": r, name + "/y": y,
                name + "/gx": x.grad, name + "/gw": w.grad})
    if has_bias:
        out.update({name + "/b": b, name + "/gb": b.grad})
write("conv", out)
