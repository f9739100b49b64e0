"""PyTorch reference values for autograd/norm (batch_norm, layer_norm).

Run with Debian's PyTorch: cd tests/reference && /usr/bin/python3 gen_norm.py
Inputs are float32; the reference is computed in float64 from those same values (the C++ side accumulates
statistics in double), so the tests can use tight tolerances. Every case stores its inputs, the projection r
(loss = sum(y * r)), the output, every gradient and, for batch norm, the running statistics after the call.
"""
import torch
import torch.nn.functional as F

from refio import write

torch.manual_seed(0)
out = {}


def f32(t):
    return t.float()


def bn_case(name, shape, training, affine, momentum=0.1, eps=1e-5, offset=0.0):
    C = shape[1]
    x = f32(torch.randn(*shape) * 2.0 + offset)
    r = f32(torch.randn(*shape))
    rm = f32(torch.randn(C))
    rv = f32(torch.rand(C) + 0.5)
    out[name + "/x"], out[name + "/r"] = x, r
    out[name + "/rm_in"], out[name + "/rv_in"] = rm, rv
    xd = x.double().requires_grad_()
    rmd, rvd = rm.double().clone(), rv.double().clone()
    g = b = None
    if affine:
        gamma, beta = f32(torch.randn(C)), f32(torch.randn(C))
        out[name + "/gamma"], out[name + "/beta"] = gamma, beta
        g, b = gamma.double().requires_grad_(), beta.double().requires_grad_()
    y = F.batch_norm(xd, rmd, rvd, g, b, training=training, momentum=momentum, eps=eps)
    (y * r.double()).sum().backward()
    out[name + "/y"] = y
    out[name + "/rm_out"], out[name + "/rv_out"] = rmd, rvd
    out[name + "/grad_x"] = xd.grad
    if affine:
        out[name + "/grad_gamma"], out[name + "/grad_beta"] = g.grad, b.grad


def ln_case(name, shape, affine, eps=1e-5):
    D = shape[-1]
    x = f32(torch.randn(*shape) * 1.5 + 0.3)
    r = f32(torch.randn(*shape))
    out[name + "/x"], out[name + "/r"] = x, r
    xd = x.double().requires_grad_()
    g = b = None
    if affine:
        gamma, beta = f32(torch.randn(D)), f32(torch.randn(D))
        out[name + "/gamma"], out[name + "/beta"] = gamma, beta
        g, b = gamma.double().requires_grad_(), beta.double().requires_grad_()
    y = F.layer_norm(xd, (D,), g, b, eps=eps)
    (y * r.double()).sum().backward()
    out[name + "/y"] = y
    out[name + "/grad_x"] = xd.grad
    if affine:
        out[name + "/grad_gamma"], out[name + "/grad_beta"] = g.grad, b.grad


bn_case("bn4d_train", (3, 4, 5, 6), training=True, affine=True)
bn_case("bn5d_train", (2, 3, 3, 4, 5), training=True, affine=False)
bn_case("bn2d_train", (6, 5), training=True, affine=True, momentum=0.3, eps=1e-3)
bn_case("bn4d_eval", (3, 4, 5, 6), training=False, affine=True)
bn_case("bn5d_eval", (2, 3, 3, 4, 5), training=False, affine=False)
bn_case("bn_offset_train", (4, 2, 8, 8), training=True, affine=True, offset=1000.0)
ln_case("ln3d", (2, 7, 12), affine=True)
ln_case("ln2d", (5, 9), affine=False)
write("norm", out)
