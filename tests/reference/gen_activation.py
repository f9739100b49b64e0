"""PyTorch reference values for autograd/activation (relu, leaky_relu, gelu, sigmoid, tanh, softmax, log_softmax).

Run with Debian's PyTorch: cd tests/reference && /usr/bin/python3 gen_activation.py
Inputs are float32 (x includes exact zeros, to pin PyTorch's gradient convention at kinks, and large values);
outputs and gradients of loss = sum(f(x) * r) are computed in float64 from the same values.
"""
import torch
import torch.nn.functional as F

from refio import write

torch.manual_seed(0)
x = (torch.randn(4, 9) * 3.0).float()
x[0, 0] = 0.0
x[1, 4] = 0.0
x[2, :3] = torch.tensor([-40.0, 40.0, 12.0])   # saturated sigmoid / tanh / gelu
r = torch.randn(4, 9).float()
# softmax input: (2, 3, 5), one row with extreme logits (stability)
s = (torch.randn(2, 3, 5) * 2.0).float()
s[1, 2] = torch.tensor([1000.0, -1000.0, 0.0, 999.0, -5.0])
rs = torch.randn(2, 3, 5).float()

ops = {
    "relu": F.relu,
    "leaky_relu": lambda t: F.leaky_relu(t, 0.01),
    "leaky_relu_02": lambda t: F.leaky_relu(t, 0.2),
    "gelu": F.gelu,                     # exact (erf) form is torch's default
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}
out = {"x": x, "r": r, "s": s, "rs": rs}
for name, f in ops.items():
    xd = x.double().requires_grad_()
    y = f(xd)
    (y * r.double()).sum().backward()
    out[name + "/y"], out[name + "/grad"] = y, xd.grad
for name, f in {"softmax": lambda t: F.softmax(t, -1), "log_softmax": lambda t: F.log_softmax(t, -1)}.items():
    sd = s.double().requires_grad_()
    y = f(sd)
    (y * rs.double()).sum().backward()
    out[name + "/y"], out[name + "/grad"] = y, sd.grad
write("activation", out)
