"""PyTorch reference values for autograd/norm's batch_norm_relu_pool (max_pool3d(relu(batch_norm(x)), (1,2,2)) fused).

Run with any PyTorch (made with 2.15 from the index, in a virtual environment):
    cd tests/reference && ~/.cache/ssmtl/pyenv-torch/bin/python gen_norm_relu_pool.py
Inputs are float32; the reference is the composition of torch ops in float64 from those same values. x has a
per-channel offset so that some channels are mostly positive and some mostly cut by the ReLU; one case has odd H
and W (torch's floor: the last row and column are not pooled). Every case stores its inputs, the projection r
(loss = sum(out * r)), the output, every gradient and the running statistics after the call.
"""
import torch
import torch.nn.functional as F

from refio import write

torch.manual_seed(0)
out = {}


def case(name, shape, training, affine, momentum=0.1, eps=1e-5):
    C = shape[1]
    x = (torch.randn(*shape) * 1.5 + torch.randn(C).view(1, C, 1, 1, 1)).float()
    pooled = list(shape[:3]) + [shape[3] // 2, shape[4] // 2]
    r = torch.randn(*pooled).float()
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
    p = F.max_pool3d(y, (1, 2, 2), (1, 2, 2))
    (p * r.double()).sum().backward()
    out[name + "/y"] = p
    out[name + "/rm_out"], out[name + "/rv_out"] = rmd, rvd
    out[name + "/grad_x"] = xd.grad
    if affine:
        out[name + "/grad_gamma"], out[name + "/grad_beta"] = g.grad, b.grad


case("train", (3, 4, 2, 6, 8), training=True, affine=True)
case("train_odd", (2, 3, 2, 5, 7), training=True, affine=False, momentum=0.3, eps=1e-3)
case("train_wide", (2, 2, 1, 4, 40), training=True, affine=True)   # 20 windows a row: one vector of 16 + 4
case("eval", (3, 4, 2, 6, 8), training=False, affine=True)
write("norm_relu_pool", out)
