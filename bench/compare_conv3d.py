"""PyTorch CPU timings of conv3d forward and forward+backward at the SSMTL narrow backbone shapes.

Counterpart of bench/bench_conv3d.cpp (same cases and names, no bias, the first stage's input needs no
gradient as in training); bench/compare_conv3d.sh runs both and prints the ratios. Run with Debian's
/usr/bin/python3. Prints one line per case: "<case>/<forward|forward_backward> <median ms> <min ms>".
Options: --threads (default 2), --reps (timed repetitions per case, default 5), --only <substring>.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

# name, input shape (N, C, D, H, W), Cout, stride, groups, input needs a gradient; kernel 3x3x3, padding 1
CASES = [
    ("stage1_3to16_64x64", (64, 3, 7, 64, 64), 16, (1, 1, 1), 1, False),
    ("stage2_16to32_32x32", (64, 16, 7, 32, 32), 32, (1, 1, 1), 1, True),
    ("stage3_32to32_16x16", (64, 32, 7, 16, 16), 32, (1, 1, 1), 1, True),
    ("depthwise_32_7x8x8", (64, 32, 7, 8, 8), 32, (1, 1, 1), 32, True),
    ("depthwise_32_7x8x8_s122", (64, 32, 7, 8, 8), 32, (1, 2, 2), 32, True),
]


def median_ms(fn, reps):
    fn()  # warm-up (allocations, oneDNN primitive creation)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for name, xs, cout, stride, groups, input_grad in CASES:
        if args.only not in name:
            continue
        x = torch.randn(*xs)
        w = (torch.randn(cout, xs[1] // groups, 3, 3, 3) * 0.1).requires_grad_()
        xg = x.clone().requires_grad_(input_grad)

        def fwd():
            with torch.no_grad():
                F.conv3d(x, w, None, stride, 1, 1, groups)

        y = F.conv3d(xg, w, None, stride, 1, 1, groups)
        gy = torch.randn_like(y)

        def bwd():
            # forward + backward (weight gradient, and input gradient where the input needs one)
            out = F.conv3d(xg, w, None, stride, 1, 1, groups)
            out.backward(gy)
            xg.grad = None
            w.grad = None

        med, mn = median_ms(fwd, args.reps)
        print(f"{name}/forward {med:.3f} {mn:.3f}", flush=True)
        med, mn = median_ms(bwd, args.reps)
        print(f"{name}/forward_backward {med:.3f} {mn:.3f}", flush=True)


if __name__ == "__main__":
    main()
