"""PyTorch reference values for autograd/linear (run with Debian's /usr/bin/python3 + python3-torch).

Each case stores its inputs, a projection r, the output and the gradients of loss = sum(out * r).
"""
import torch
import torch.nn.functional as F

from refio import write

torch.manual_seed(0)
out = {}


def record(name, fn, tensors):
    y = fn(*tensors.values())
    r = torch.randn_like(y)
    (y * r).sum().backward()
    out[name + "/y"] = y
    out[name + "/r"] = r
    for key, t in tensors.items():
        out[name + "/" + key] = t
        out[name + "/g" + key] = t.grad


def rand(*shape):
    return torch.randn(*shape, requires_grad=True)


record("linear_bias", lambda x, w, b: F.linear(x, w, b), {"x": rand(2, 3, 4), "w": rand(5, 4), "b": rand(5)})
record("linear_nobias_1d", lambda x, w: F.linear(x, w), {"x": rand(4), "w": rand(3, 4)})
record("matmul_batched", torch.matmul, {"a": rand(2, 3, 4, 5), "b": rand(2, 3, 5, 2)})
record("matmul_shared", torch.matmul, {"a": rand(2, 3, 4, 5), "b": rand(5, 2)})
record("matmul_2d", torch.matmul, {"a": rand(3, 4), "b": rand(4, 6)})
write("linear", out)
