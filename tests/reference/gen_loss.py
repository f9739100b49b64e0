"""PyTorch reference values for autograd/loss (cross_entropy, soft cross_entropy, l1, mse, per-sample l1 / mse).

Run with Debian's PyTorch: cd tests/reference && /usr/bin/python3 gen_loss.py
Inputs are float32; losses and gradients are computed in float64 from the same values. The per-sample
losses are projected with r (loss = sum(per_sample * r)) so every sample's gradient is distinct.
"""
import torch
import torch.nn.functional as F

from refio import write

torch.manual_seed(0)
out = {}

# Hard-target cross-entropy: 5 samples, 4 classes, one row with extreme logits.
logits = (torch.randn(5, 4) * 3.0).float()
logits[3] = torch.tensor([1000.0, -1000.0, 0.0, 999.0])
targets = torch.tensor([0, 3, 1, 3, 2])
ld = logits.double().requires_grad_()
ce = F.cross_entropy(ld, targets)
ce.backward()
out.update({"ce/logits": logits, "ce/targets": targets.float(), "ce/loss": ce, "ce/grad": ld.grad})

# Soft-target cross-entropy (probabilities), gradients w.r.t. both arguments.
sl = (torch.randn(3, 6) * 2.0).float()
sp = torch.softmax(torch.randn(3, 6), -1).float()
sld, spd = sl.double().requires_grad_(), sp.double().requires_grad_()
sce = F.cross_entropy(sld, spd)
sce.backward()
out.update({"sce/logits": sl, "sce/probs": sp, "sce/loss": sce, "sce/grad_logits": sld.grad, "sce/grad_probs": spd.grad})

# Distances on (3, 2, 4); a few equal entries pin the L1 subgradient 0 at a == b.
a = torch.randn(3, 2, 4).float()
b = torch.randn(3, 2, 4).float()
b[0, 0, :2] = a[0, 0, :2]
b[2, 1, 3] = a[2, 1, 3]
r = torch.randn(3).float()
out.update({"a": a, "b": b, "r": r})
for name, f in {"l1": F.l1_loss, "mse": F.mse_loss}.items():
    ad, bd = a.double().requires_grad_(), b.double().requires_grad_()
    loss = f(ad, bd)
    loss.backward()
    out.update({name + "/loss": loss, name + "/grad_a": ad.grad, name + "/grad_b": bd.grad})
    ad, bd = a.double().requires_grad_(), b.double().requires_grad_()
    per = f(ad, bd, reduction="none").flatten(1).mean(1)
    (per * r.double()).sum().backward()
    out.update({name + "_ps/loss": per, name + "_ps/grad_a": ad.grad, name + "_ps/grad_b": bd.grad})
write("loss", out)
