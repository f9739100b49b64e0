"""PyTorch reference values for conv3d_depthwise_tokens and batch norm on token rows (channels-last kernels).

Run with any Python that has torch and numpy, e.g. the venv of bench/compare_pytorch_pypi.sh:
  ~/.cache/ssmtl/pyenv-torch/bin/python tests/reference/gen_conv_tokens.py
Depthwise cases (keys "<case>/x", "/w", "/b" when the case has a bias, "/r", "/y", "/gx", "/gw", "/gb"):
x tokens (N, T*H*W, C); y = conv3d(x as (N, C, T, H, W), w, b, groups=C) as tokens (N, Do*Ho*Wo, C); gradients
of loss = sum(y * r). BatchNorm cases ("<case>/x", "/gamma", "/beta", "/r", "/y", "/gx", "/ggamma", "/gbeta",
"/rmean", "/rvar"): F.batch_norm on (rows, C) in training mode, momentum 0.1, eps 1e-5, running buffers from
zeros / ones. tests/test_conv_tokens.cpp holds the same case table.
"""
import torch
import torch.nn.functional as F

from refio import write

# name, N, (T, H, W), C, kernel, stride, padding, bias
DW = [
    ("q_3x3x3", 2, (3, 4, 5), 20, (3, 3, 3), (1, 1, 1), (1, 1, 1), False),
    ("kv_s122_bias", 2, (3, 5, 6), 19, (3, 3, 3), (1, 2, 2), (1, 1, 1), True),
    ("2d_1x3x3_s2", 3, (1, 6, 4), 5, (1, 3, 3), (1, 2, 2), (0, 1, 1), True),
]
# name, rows, C
BN = [("bn_rows_37x21", 37, 21), ("bn_rows_9x3", 9, 3)]

torch.manual_seed(0)
out = {}
for name, N, (T, H, W), C, k, s, p, has_bias in DW:
    x = torch.randn(N, T * H * W, C, requires_grad=True)
    w = torch.randn(C, 1, *k, requires_grad=True)
    b = torch.randn(C, requires_grad=True) if has_bias else None
    vol = x.reshape(N, T, H, W, C).permute(0, 4, 1, 2, 3)
    y = F.conv3d(vol, w, b, s, p, 1, C).flatten(2).transpose(1, 2)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    out.update({name + "/x": x, name + "/w": w, name + "/r": r, name + "/y": y, name + "/gx": x.grad,
                name + "/gw": w.grad})
    if has_bias:
        out.update({name + "/b": b, name + "/gb": b.grad})
for name, rows, C in BN:
    x = (torch.randn(rows, C) * 3 + 2).requires_grad_()
    gamma = torch.randn(C, requires_grad=True)
    beta = torch.randn(C, requires_grad=True)
    rmean, rvar = torch.zeros(C), torch.ones(C)
    y = F.batch_norm(x, rmean, rvar, gamma, beta, True, 0.1, 1e-5)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    out.update({name + "/x": x, name + "/gamma": gamma, name + "/beta": beta, name + "/r": r, name + "/y": y,
                name + "/gx": x.grad, name + "/ggamma": gamma.grad, name + "/gbeta": beta.grad,
                name + "/rmean": rmean, name + "/rvar": rvar})
write("conv_tokens", out)
