"""PyTorch reference values for autograd/elementwise (run with Debian's /usr/bin/python3 + python3-torch)."""
import torch

from refio import write

torch.manual_seed(0)
a = torch.randn(2, 3, 4, requires_grad=True)
b = torch.randn(2, 3, 4, requires_grad=True)
bias = torch.randn(3, requires_grad=True)
r = torch.randn(2, 3, 4)
y = ((a * b - a) * 0.5 + 1.0 + bias.view(1, 3, 1))
loss = (y * r).sum() + (a + b).mean()
loss.backward()
write("elementwise", {"a": a, "b": b, "bias": bias, "r": r, "y": y, "loss": loss,
                      "grad_a": a.grad, "grad_b": b.grad, "grad_bias": bias.grad})
