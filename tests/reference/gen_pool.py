"""PyTorch reference values for autograd/pool (run with Debian's /usr/bin/python3 + python3-torch).

Each case <name> stores the input <name>_x, the output <name>_y, a random output gradient <name>_r and
the input gradient <name>_gx = d(sum(y * r))/dx.
"""
import torch
import torch.nn.functional as F

from refio import write

torch.manual_seed(0)
out = {}


def case(name, x, fn):
    x = x.clone().requires_grad_(True)
    y = fn(x)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    out.update({name + "_x": x, name + "_y": y, name + "_r": r, name + "_gx": x.grad})


def ties(*shape):
    # Small integers: many equal maxima inside each window (torch picks the first in scan order).
    return torch.randint(0, 3, shape).float()


# 3-d max pooling: the backbone's (1,2,2) window (even and odd sizes), overlapping padded windows, ties.
case("mp3_backbone", torch.randn(2, 3, 4, 6, 8), lambda x: F.max_pool3d(x, (1, 2, 2), (1, 2, 2)))
case("mp3_odd", torch.randn(2, 3, 3, 7, 9), lambda x: F.max_pool3d(x, (1, 2, 2), (1, 2, 2)))
case("mp3_backbone_ties", ties(1, 2, 2, 4, 6), lambda x: F.max_pool3d(x, (1, 2, 2), (1, 2, 2)))
case("mp3_overlap", torch.randn(1, 2, 5, 6, 7), lambda x: F.max_pool3d(x, (3, 3, 2), (2, 1, 2), (1, 1, 1)))
case("mp3_ties", ties(1, 2, 4, 5, 5), lambda x: F.max_pool3d(x, (2, 3, 3), (1, 1, 1), (0, 1, 1)))
# 3-d average pooling with padding (count_include_pad=True).
case("ap3", torch.randn(2, 2, 5, 6, 7), lambda x: F.avg_pool3d(x, (2, 3, 3), (1, 2, 2), (1, 1, 1)))
case("ap3_plain", torch.randn(1, 3, 4, 4, 6), lambda x: F.avg_pool3d(x, (2, 2, 3), (2, 2, 3)))
# 2-d max pooling.
case("mp2_k3s2p1", torch.randn(2, 3, 7, 9), lambda x: F.max_pool2d(x, 3, 2, 1))
case("mp2_k2s2", torch.randn(2, 3, 6, 5), lambda x: F.max_pool2d(x, 2, 2))
case("mp2_ties", ties(1, 3, 6, 6), lambda x: F.max_pool2d(x, 3, 1, 1))
# Global temporal pooling, defined as max_pool3d / avg_pool3d with a (T,1,1) window.
case("tmax", torch.randn(2, 3, 7, 4, 5), lambda x: F.max_pool3d(x, (7, 1, 1)).squeeze(2))
case("tmax_ties", ties(2, 2, 5, 3, 3), lambda x: F.max_pool3d(x, (5, 1, 1)).squeeze(2))
case("tavg", torch.randn(2, 3, 7, 4, 5), lambda x: x.mean(dim=2))
case("gap", torch.randn(2, 3, 4, 5, 6), lambda x: F.adaptive_avg_pool3d(x, 1).flatten(1))
case("gap2d", torch.randn(3, 4, 5, 6), lambda x: F.adaptive_avg_pool2d(x, 1).flatten(1))
# Nearest up-sampling.
case("up2", torch.randn(2, 3, 4, 5), lambda x: F.interpolate(x, scale_factor=2, mode="nearest"))
case("up3", torch.randn(1, 2, 3, 2), lambda x: F.interpolate(x, scale_factor=3, mode="nearest"))

write("pool", out)
