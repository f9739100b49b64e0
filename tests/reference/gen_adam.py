"""PyTorch reference trajectories for optim/adam (run with Debian's /usr/bin/python3 + python3-torch).

Model (elementwise ops only): loss = mean((w * x + b + c * z - y)^2), a new batch (x, z, y) every step.
  "plain": groups {w, b, u} lr 0.01 and {c} lr -0.002 (gradient ascent; torch's constructor refuses a
           negative lr, so it is set afterwards). u is not used by the loss: it never has a gradient and
           is skipped. Default betas and eps.
  "wd":    one group {w, b} lr 0.05, weight_decay 0.1, betas (0.8, 0.99), eps 1e-6 (no c term).
Parameters are saved before the first step (_0) and after every step (_1 .. _10).
"""
import torch

from refio import write

STEPS = 10
SHAPE = (4, 3)


def run(prefix, make_opt, use_c):
    g = torch.Generator().manual_seed(1)
    params = {n: torch.randn(*SHAPE, generator=g).requires_grad_() for n in "wbc"}
    params["u"] = torch.randn(2, generator=g).requires_grad_()
    out = {}
    opt = make_opt(params)
    for n in "wbcu":
        out["%s%s_0" % (prefix, n)] = params[n].detach().clone()
    for t in range(1, STEPS + 1):
        x, z, y = (torch.randn(*SHAPE, generator=g) for _ in range(3))
        out["%sx_%d" % (prefix, t)], out["%sz_%d" % (prefix, t)], out["%sy_%d" % (prefix, t)] = x, z, y
        opt.zero_grad(set_to_none=True)
        pred = params["w"] * x + params["b"]
        if use_c:
            pred = pred + params["c"] * z
        loss = ((pred - y) ** 2).mean()
        loss.backward()
        opt.step()
        for n in "wbcu":
            out["%s%s_%d" % (prefix, n, t)] = params[n].detach().clone()
    return out


def plain(p):
    opt = torch.optim.Adam([{"params": [p["w"], p["b"], p["u"]], "lr": 0.01},
                            {"params": [p["c"]], "lr": 0.002}])
    opt.param_groups[1]["lr"] = -0.002
    return opt


def wd(p):
    return torch.optim.Adam([{"params": [p["w"], p["b"]]}], lr=0.05, weight_decay=0.1, betas=(0.8, 0.99), eps=1e-6)


tensors = {}
tensors.update(run("plain_", plain, True))
tensors.update(run("wd_", wd, False))
write("adam", tensors)
