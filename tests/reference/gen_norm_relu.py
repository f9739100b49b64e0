"""PyTorch reference values for autograd/norm's batch_norm_relu (relu(batch_norm(x)) fused into one op).

Run with any PyTorch (made with 2.15 from the index, in a virtual environment):
    cd tests/reference && ~/.cache/ssmtl/pyenv-torch/bin/python gen_norm_relu.py
Inputs are float32; the reference is F.relu(F.batch_norm(...)) in float64 from those same values (the C++ side
accumulates statistics in double), so the tests can use tight tolerances. x has a per-channel offset so that
some channels are mostly positive and some mostly cut by the ReLU. Every case stores its inputs, the projection
r (loss = sum(y * r)), the output, every gradient and the running statistics after the call.
"""
import torch
import torch.nn.functional as F

from refio import write

torch.manual_seed(0)
out = {}


def case(name, shape, training, affine, momentum=0.1, eps=1e-5):
    C = shape[1]
    view = [1, C] + [1] * (len(shape) - 2)
    x = (torch.randn(*shape) * 1.5 + torch.randn(C).view(view)).float()
    r = torch.randn(*shape).float()
    rm, rv = torch.randn(C).float(), (torch.rand(C) + 0.5).float()
    out[name + "/x"], out[name + "/r"] = x, r
    out[name + "/rm_in"], out[name + "/rv_in"] = rm, rv
    xd = x.double().requires_grad_()
    rmd, rvd = rm.double().clone(), rv.double().clone()
    g = b = None
    if affine:
        gamma, beta = torch.randn(C).float(), (torch.randn(C) * 0.5).float()
        out[name + "/gamma"], out[name + "/beta"] = gamma, beta
        g, b = gamma.double().requires_grad_(), beta.double().requires_grad_()
    y = F.relu(F.batch_norm(xd, rmd, rvd, g, b, training=training, momentum=momentum, eps=eps))
    (y * r.double()).sum().backward()
    out[name + "/y"] = y
    out[name + "/rm_out"], out[name + "/rv_out"] = rmd, rvd
    out[name + "/grad_x"] = xd.grad
    if affine:
        out[name + "/grad_gamma"], out[name + "/grad_beta"] = g.grad, b.grad


case("bnrelu5d_train", (3, 4, 3, 5, 6), training=True, affine=True)
case("bnrelu4d_train", (2, 3, 5, 7), training=True, affine=False, momentum=0.3, eps=1e-3)
case("bnrelu_rows_train", (40, 21), training=True, affine=True)   # (N, C): the CPU's channel-block path
case("bnrelu5d_eval", (3, 4, 3, 5, 6), training=False, affine=True)
write("norm_relu", out)
