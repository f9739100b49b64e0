"""PyTorch reference values for autograd/shape (run with Debian's /usr/bin/python3 + python3-torch).

Single-input cases <name> store <name>_x, the output <name>_y, a random output gradient <name>_r and
<name>_gx = d(sum(y * r))/dx. Concat cases store inputs <name>_x0.., and gradients <name>_gx0...
"""
import torch

from refio import write

torch.manual_seed(0)
out = {}


def case(name, x, fn):
    x = x.clone().requires_grad_(True)
    y = fn(x)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    out.update({name + "_x": x, name + "_y": y, name + "_r": r, name + "_gx": x.grad})


def cat_case(name, xs, dim):
    xs = [x.clone().requires_grad_(True) for x in xs]
    y = torch.cat(xs, dim)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    out.update({name + "_y": y, name + "_r": r})
    for i, x in enumerate(xs):
        out.update({"%s_x%d" % (name, i): x, "%s_gx%d" % (name, i): x.grad})


# permute: NCHW -> NHWC (a batched transpose), CvT head split (B, tokens, heads, d) -> (B, heads, tokens, d),
# a rank-6 shuffle with size-1 dimensions, and NCDHW -> N(DHW)C tokens.
case("perm_nhwc", torch.randn(2, 3, 4, 5), lambda x: x.permute(0, 2, 3, 1).contiguous())
case("perm_heads", torch.randn(2, 6, 4, 8), lambda x: x.permute(0, 2, 1, 3).contiguous())
case("perm_rank6", torch.randn(2, 1, 3, 2, 4, 3), lambda x: x.permute(5, 0, 3, 1, 4, 2).contiguous())
case("perm_tokens", torch.randn(2, 12, 3, 4, 4), lambda x: x.permute(0, 2, 3, 4, 1).contiguous())
# concat: channels (detector route), last dimension, first dimension.
cat_case("cat_ch", [torch.randn(2, 3, 4, 4), torch.randn(2, 1, 4, 4), torch.randn(2, 2, 4, 4)], 1)
cat_case("cat_last", [torch.randn(2, 3, 1), torch.randn(2, 3, 2)], -1)
cat_case("cat_first", [torch.randn(1, 3, 2), torch.randn(2, 3, 2)], 0)
# slice (copied narrow).
case("slice_mid", torch.randn(3, 5, 4), lambda x: x[:, 1:4].contiguous())
case("slice_neg", torch.randn(2, 3, 4), lambda x: x[..., -3:-1].contiguous())
case("slice_first", torch.randn(4, 3), lambda x: x[2:4].contiguous())

write("shape", out)
