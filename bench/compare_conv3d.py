"""PyTorch CPU timings of conv3d forward and backward at the SSMTL narrow backbone shapes.

Counterpart of bench/bench_conv3d.cpp (same shapes, same names); bench/compare_conv3d.sh runs both and
prints the ratios. Run with Debian's /usr/bin/python3. Prints one line per case:
  <name> <median ms> <min ms>
Options: --threads (default 2), --reps (timed repetitions per case, default 7), --only <substring>.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

# name, input shape (N, C, D, H, W), Cout, kernel, stride, padding, groups
CASES = [
    ("stage1_3to16_64x64", (64, 3, 7, 64, 64), 16, (3, 3, 3), (1, 1, 1), (1, 1, 1), 1),
    ("stage2_16to32_32x32", (64, 16, 7, 32, 32), 32, (3, 3, 3), (1, 1, 1), (1, 1, 1), 1),
    ("stage3_32to32_16x16", (64, 32, 7, 16, 16), 32, (3, 3, 3), (1, 1, 1), (1, 1, 1), 1),
    ("depthwise_32_7x8x8", (64, 32, 7, 8, 8), 32, (3, 3, 3), (1, 1, 1), (1, 1, 1), 32),
    ("depthwise_32_7x8x8_s122", (64, 32, 7, 8, 8), 32, (3, 3, 3), (1, 2, 2), (1, 1, 1), 32),
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
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for name, xs, cout, k, stride, pad, groups in CASES:
        if args.only not in name:
            continue
        x = torch.randn(*xs)
        w = (torch.randn(cout, xs[1] // groups, *k) * 0.1).requires_grad_()
        b = torch.zeros(cout, requires_grad=True)
        xg = x.clone().requires_grad_()

        def fwd():
            with torch.no_grad():
                F.conv3d(x, w, b, stride, pad, 1, groups)

        y = F.conv3d(xg, w, b, stride, pad, 1, groups)
        gy = torch.randn_like(y)

        def bwd():
            # forward + backward for input, weight and bias gradients, as in a training step
            out = F.conv3d(xg, w, b, stride, pad, 1, groups)
            out.backward(gy)
            xg.grad = None
            w.grad = None
            b.grad = None

        med, mn = median_ms(fwd, args.reps)
        print(f"{name}/forward {med:.3f} {mn:.3f}", flush=True)
        med, mn = median_ms(bwd, args.reps)
        print(f"{name}/forward_backward {med:.3f} {mn:.3f}", flush=True)


if __name__ == "__main__":
    main()
