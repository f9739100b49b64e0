"""The paper-size SSMTL++v1 training and scoring step: this engine vs PyTorch (CPU), same machine, same threads.

Run through bench/compare_pytorch_pypi.sh, which installs a current PyTorch into a virtual environment first.
The PyTorch model mirrors model/ (configs/ssmtl++v1.txt): 3D CNN 16/32/32 (conv3d 3x3x3 + BN + ReLU + max pool
1x2x2), conv3d embedding to 96 + LayerNorm, 3 CvT blocks (LayerNorm, depthwise conv3d 3x3x3 + BN + linear for
q/k/v, k/v with spatial stride 2, 12 heads, out projection, MLP 4x with GELU), temporal max pool, heads T1/T2
(conv2d + ReLU + max pool + linear, cross-entropy), T3 and T5 (decoder: 3x upsample + conv2d + BN + ReLU, conv2d +
sigmoid, L1). Training step = the engine's (model/train_step.cpp): one backbone pass over the T1+T2 sequences
concatenated (2B x 3 x 7 x 64 x 64), one over the T3 six frames (B x 3 x 6), backward, Adam; then the T5 ascent:
one pass over B single frames, backward, Adam on backbone (lr x -0.2) + T5 decoder. Scoring step = one
7-frame pass + one 6-frame pass, no gradients, eval-mode BN (model/scoring.cpp).
PyTorch is tried in several modes (plain, channels_last_3d, torch.compile of each) and the fastest is the reference.
A mode with "bf16" in its name (e.g. channels_last+bf16) runs the forward passes under torch.autocast("cpu",
dtype=torch.bfloat16) (oneDNN bf16 convolutions and matrix products, float32 weights and Adam): the reference for
the engine's train.precision = bf16 (--engine-precision bf16).
The engine is measured by `ssmtl profile --json` in the same script, alternating rounds with PyTorch because
the machine may be shared.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

B, S, DIM, BLOCKS, HEADS, CH, HID = 64, 64, 96, 3, 12, (16, 32, 32), 32


class ConvProjection(nn.Module):
    def __init__(self, d, stride):
        super().__init__()
        self.dw = nn.Conv3d(d, d, 3, stride=(1, stride, stride), padding=1, groups=d, bias=False)
        self.bn = nn.BatchNorm3d(d)
        self.proj = nn.Linear(d, d)

    def forward(self, vol):  # (N, D, T, H, W) -> tokens (N, L, D)
        return self.proj(self.bn(self.dw(vol)).flatten(2).transpose(1, 2))


class CvtBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v = ConvProjection(d, 1), ConvProjection(d, 2), ConvProjection(d, 2)
        self.out = nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, T, H, W):
        N, L, D = x.shape
        vol = self.ln1(x).transpose(1, 2).reshape(N, D, T, H, W)
        split = lambda t: t.reshape(N, t.shape[1], self.heads, D // self.heads).transpose(1, 2)
        a = F.scaled_dot_product_attention(split(self.q(vol)), split(self.k(vol)), split(self.v(vol)))
        h1 = x + self.out(a.transpose(1, 2).reshape(N, L, D))
        return h1 + self.fc2(F.gelu(self.fc1(self.ln2(h1))))


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        layers, cin = [], 3
        for c in CH:
            layers += [nn.Conv3d(cin, c, 3, padding=1, bias=False), nn.BatchNorm3d(c), nn.ReLU(),
                       nn.MaxPool3d((1, 2, 2))]
            cin = c
        self.cnn = nn.Sequential(*layers)
        self.embed = nn.Conv3d(cin, DIM, 3, padding=1)
        self.embed_ln = nn.LayerNorm(DIM)
        self.blocks = nn.ModuleList(CvtBlock(DIM, HEADS) for _ in range(BLOCKS))

    def forward(self, x):  # (N, 3, T, S, S) -> (N, DIM, S/8, S/8)
        e = self.embed(self.cnn(x))
        N, D, T, H, W = e.shape
        t = self.embed_ln(e.flatten(2).transpose(1, 2))
        for b in self.blocks:
            t = b(t, T, H, W)
        return t.transpose(1, 2).reshape(N, D, T, H, W).amax(dim=2)


class ClassHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(DIM, HID, 3, padding=1)
        self.fc = nn.Linear(HID * (S // 16) ** 2, 2)

    def forward(self, f):
        return self.fc(F.max_pool2d(F.relu(self.conv(f)), 2).flatten(1))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(DIM if r == 0 else HID, HID, 3, padding=1, bias=False) for r in range(3)])
        self.bns = nn.ModuleList([nn.BatchNorm2d(HID) for _ in range(3)])
        self.out = nn.Conv2d(HID, 3, 3, padding=1)

    def forward(self, f):
        h = f
        for c, bn in zip(self.convs, self.bns):
            h = F.relu(bn(c(F.interpolate(h, scale_factor=2, mode="nearest"))))
        return torch.sigmoid(self.out(h))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone, self.t1, self.t2 = Backbone(), ClassHead(), ClassHead()
        self.t3, self.t5 = Decoder(), Decoder()

    def main_loss(self, seq12, six, labels, middle):
        f = self.backbone(seq12)
        f1, f2 = f[:B], f[B:]
        return (F.cross_entropy(self.t1(f1), labels[0]) + F.cross_entropy(self.t2(f2), labels[1]) +
                F.l1_loss(self.t3(self.backbone(six)), middle))

    def pseudo_loss(self, single):
        return F.l1_loss(self.t5(self.backbone(single)), single[:, :, 0])

    def scores(self, seq, six, middle):
        f = self.backbone(seq)
        p1 = F.softmax(self.t1(f), 1)[:, 1]
        p2 = F.softmax(self.t2(f), 1)[:, 1]
        l3 = (self.t3(self.backbone(six)) - middle).abs().flatten(1).mean(1)
        return (p1 + p2 + l3) / 3


def make_step(mode):
    torch.manual_seed(0)
    m = Model()
    fmt = torch.channels_last_3d if "channels_last" in mode else torch.contiguous_format
    g = torch.Generator().manual_seed(1)
    seq12 = torch.rand(2 * B, 3, 7, S, S, generator=g).contiguous(memory_format=fmt)
    six = torch.rand(B, 3, 6, S, S, generator=g).contiguous(memory_format=fmt)
    single = torch.rand(B, 3, 1, S, S, generator=g).contiguous(memory_format=fmt)
    middle = torch.rand(B, 3, S, S, generator=g)
    labels = torch.randint(0, 2, (2, B), generator=g)
    if "channels_last" in mode:
        for mod in m.modules():   # conv weights in the matching channels-last format (heads: 2-D)
            if isinstance(mod, (nn.Conv3d, nn.Conv2d)):
                cl = torch.channels_last_3d if isinstance(mod, nn.Conv3d) else torch.channels_last
                mod.weight.data = mod.weight.data.contiguous(memory_format=cl)
        middle = middle.contiguous(memory_format=torch.channels_last)
    bb = list(m.backbone.parameters())
    main_opt = torch.optim.Adam([p for n, p in m.named_parameters() if not n.startswith("t5.")], lr=1e-3)
    asc_opt = torch.optim.Adam([{"params": bb, "lr": -0.2e-3}, {"params": list(m.t5.parameters())}], lr=1e-3)
    main_loss, pseudo_loss, scores = m.main_loss, m.pseudo_loss, m.scores
    if "bf16" in mode:   # autocast around each forward: bf16 products, float32 master weights
        def autocast(f):
            def g(*args):
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return f(*args).float()
            return g
        main_loss, pseudo_loss, scores = (autocast(f) for f in (main_loss, pseudo_loss, scores))
    if "compile" in mode:
        main_loss, pseudo_loss, scores = (torch.compile(f) for f in (main_loss, pseudo_loss, scores))
    buffers = [b for b in m.backbone.buffers()]

    def train():
        m.train()
        main_opt.zero_grad(set_to_none=True)
        main_loss(seq12, six, labels, middle).backward()
        main_opt.step()
        keep = [b.clone() for b in buffers]
        asc_opt.zero_grad(set_to_none=True)
        pseudo_loss(single).backward()
        with torch.no_grad():
            for b, k in zip(buffers, keep):
                b.copy_(k)
        asc_opt.step()

    def score():
        m.eval()
        with torch.no_grad():
            scores(seq12[:B], six, middle)
        m.train()

    return train, score


def rate(fn, min_time):
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - start
        if el >= min_time and n >= 2:
            return n * B / el


def engine_rates(build, steps, precision):
    exe = os.path.join(build, "ssmtl")
    cfg = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "ssmtl++v1.txt")
    out = subprocess.run([exe, "profile", "--config", cfg, "--steps", str(steps), "--batch", str(B), "--json",
                          "--set", "train.precision=" + precision], check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    return j["train"]["objects_per_s"], j["score"]["objects_per_s"], j["peak_gflops_fp32"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=2, help="alternating engine / PyTorch rounds")
    ap.add_argument("--steps", type=int, default=2, help="engine training and scoring steps per round")
    ap.add_argument("--min-time", type=float, default=10.0, help="PyTorch seconds per measurement")
    ap.add_argument("--modes", default="eager,channels_last,compile,compile+channels_last")
    ap.add_argument("--engine-precision", default="fp32", choices=["fp32", "bf16"],
                    help="the engine's train.precision (compare bf16 with PyTorch's +bf16 modes)")
    ap.add_argument("--json", help="also write the results to this file")
    a = ap.parse_args()
    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, {threads} threads, oneDNN {torch.backends.mkldnn.is_available()}, "
          f"batch {B}, paper-size ssmtl++v1 (64x64 crops, 16/32/32, CvT 96 x 3 blocks x 12 heads)", flush=True)

    steps = {}
    for mode in a.modes.split(","):
        t0 = time.perf_counter()
        try:
            train, score = make_step(mode)
            train(); score()   # warm-up (and compilation)
            steps[mode] = (train, score)
            print(f"  mode {mode}: ready in {time.perf_counter() - t0:.0f} s", flush=True)
        except Exception as e:  # torch.compile needs a working C++ toolchain; report and go on
            print(f"  mode {mode}: failed ({type(e).__name__}: {str(e).splitlines()[0][:160]})", flush=True)
    if not steps:
        sys.exit("no PyTorch mode ran")

    res = {m: {"train": [], "score": []} for m in steps}
    res["engine"] = {"train": [], "score": [], "peak": []}
    for r in range(a.rounds):
        et, es, pk = engine_rates(a.build, a.steps, a.engine_precision)
        res["engine"]["train"].append(et); res["engine"]["score"].append(es); res["engine"]["peak"].append(pk)
        line = f"round {r + 1}: engine train {et:.2f} score {es:.2f} obj/s (peak probe {pk:.0f} GFLOP/s)"
        for mode, (train, score) in steps.items():
            tt, ts = rate(train, a.min_time), rate(score, a.min_time / 2)
            res[mode]["train"].append(tt); res[mode]["score"].append(ts)
            line += f"; {mode} {tt:.2f}/{ts:.2f}"
        print(line, flush=True)

    mean = lambda v: sum(v) / len(v)
    best = {k: max((m for m in steps), key=lambda m: mean(res[m][k])) for k in ("train", "score")}
    print(f"\nengine precision {a.engine_precision}")
    print(f"{'step':<10}{'engine obj/s':>14}{'PyTorch obj/s':>15}  {'PyTorch mode':<24}{'engine/PyTorch':>15}")
    for k in ("train", "score"):
        e, t = mean(res["engine"][k]), mean(res[best[k]][k])
        print(f"{k:<10}{e:>14.2f}{t:>15.2f}  {best[k]:<24}{e / t:>15.2f}")
    print("(means over the rounds; every PyTorch mode per round: " +
          ", ".join(f"{m} {mean(res[m]['train']):.2f}/{mean(res[m]['score']):.2f}" for m in steps) + ")")
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump({"torch": torch.__version__, "threads": threads, "results": res, "best": best}, f, indent=1)
        os.replace(a.json + ".tmp", a.json)


if __name__ == "__main__":
    main()
