#!/usr/bin/python3
"""Accuracy and speed of our dense flow (data/detect/flow.h) against OpenCV's Farnebäck and DIS.

Frame pairs with known motion are made from real frames (Ped2 test 01 frame 000, 360x240; Avenue
testing 08 frame 20, 640x360, gray): next(y) = img(T^-1(y)) sampled with bicubic (Keys, a = -0.5)
interpolation, so the true flow at pixel x of prev is T(x) - x. The end-point error (EPE) is averaged
over the interior: pixels at least MARGIN px from the border whose true destination is too.
Two pairs without ground truth are also reported: a static pair (the frame and the frame plus Gaussian
noise of std 2, true flow 0) and two consecutive real Ped2 frames (share of pixels moving > 1 px).

Ours runs through the ssmtl_bench binary (bench/bench_flow.cpp, SSMTL_FLOW_PAIRS mode), which writes
its flow and times each pair with Google Benchmark; OpenCV is timed here (median of repeats). All on
one thread (OMP_NUM_THREADS=1, cv2.setNumThreads(1)); times are CPU times, which stay meaningful on a
busy machine. OpenCV settings: Farneback with the values of its documentation example (pyr_scale 0.5,
3 levels, window 15, 3 iterations, poly_n 5, poly_sigma 1.2; the best of the settings we tried on these
pairs), DIS with its MEDIUM preset.

usage: /usr/bin/python3 bench/compare_flow.py [--bench build/ssmtl_bench] [--shared ../shared]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

MARGIN = 16


def keys_weights(t):
    """Bicubic (Keys a = -0.5) weights of the 4 taps at offsets -1, 0, 1, 2 for fraction t."""
    t2, t3 = t * t, t * t * t
    return [(-t3 + 2 * t2 - t) / 2, (3 * t3 - 5 * t2 + 2) / 2, (-3 * t3 + 4 * t2 + t) / 2, (t3 - t2) / 2]


def sample_bicubic(img, sx, sy):
    """img sampled at float positions (sx, sy) (arrays of the output shape), borders replicated."""
    H, W = img.shape
    x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
    wx, wy = keys_weights(sx - x0), keys_weights(sy - y0)
    out = np.zeros(sx.shape, np.float64)
    for j in range(4):
        yy = np.clip(y0 + j - 1, 0, H - 1)
        for i in range(4):
            xx = np.clip(x0 + i - 1, 0, W - 1)
            out += wy[j] * wx[i] * img[yy, xx]
    return out


def make_pair(img, kind, p):
    """Returns prev, next (float32 in [0, 255]) and the true flow (2, H, W) for a similarity or a shift."""
    H, W = img.shape
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    if kind == "shift":
        dx, dy = p
        gx, gy = np.full((H, W), dx), np.full((H, W), dy)
        src_x, src_y = xs - dx, ys - dy
    else:  # rotation by p[0] degrees and zoom p[1] about the image centre
        th, s = np.deg2rad(p[0]), p[1]
        cx, cy = (W - 1) / 2, (H - 1) / 2
        c, si = np.cos(th), np.sin(th)
        tx = cx + s * (c * (xs - cx) - si * (ys - cy))
        ty = cy + s * (si * (xs - cx) + c * (ys - cy))
        gx, gy = tx - xs, ty - ys
        # inverse map of the output pixel y: c + R(-th) (y - c) / s
        src_x = cx + (c * (xs - cx) + si * (ys - cy)) / s
        src_y = cy + (-si * (xs - cx) + c * (ys - cy)) / s
    nxt = np.clip(sample_bicubic(img, src_x, src_y), 0, 255)
    return img.astype(np.float32), nxt.astype(np.float32), np.stack([gx, gy]).astype(np.float32)


def interior(gt):
    H, W = gt.shape[1:]
    ys, xs = np.mgrid[0:H, 0:W]
    m = (xs >= MARGIN) & (xs < W - MARGIN) & (ys >= MARGIN) & (ys < H - MARGIN)
    tx, ty = xs + gt[0], ys + gt[1]
    return m & (tx >= MARGIN) & (tx < W - MARGIN) & (ty >= MARGIN) & (ty < H - MARGIN)


def epe(flow, gt):
    m = interior(gt)
    return float(np.hypot(flow[0] - gt[0], flow[1] - gt[1])[m].mean())


def time_cv(fn, reps=10):
    """Median CPU time of fn in ms (CPU time: stable on a shared machine; everything runs on one thread)."""
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        ts.append(time.process_time() - t0)
    return 1e3 * float(np.median(ts))


def run_opencv(prev, nxt):
    a, b = np.round(prev).astype(np.uint8), np.round(nxt).astype(np.uint8)
    farn = lambda: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    dis_obj = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis = lambda: dis_obj.calc(a, b, None)
    out = {}
    for name, fn in (("farneback", farn), ("dis", dis)):
        f = fn()
        out[name] = (np.moveaxis(f, 2, 0), time_cv(fn))
    return out


def load_gray(path):
    img = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if img is None:
        sys.exit(f"cannot read {path}")
    return img.astype(np.float64)


def avenue_frame(shared, idx=20):
    """Frame idx of Avenue testing video 08 in gray, or None when the video is not there."""
    cap = cv2.VideoCapture(os.path.join(shared, "data/avenue/videos/testing/08.avi"))
    for _ in range(idx + 1):  # read sequentially: seeking is not exact in every codec
        ok, fr = cap.read()
        if not ok:
            return None
    return cv2.cvtColor(fr, cv2.COLOR_BGR2GRAY).astype(np.float64)


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--bench", default=os.path.join(here, "../build/ssmtl_bench"))
    ap.add_argument("--shared", default=os.path.join(here, "../../shared"))
    args = ap.parse_args()
    cv2.setNumThreads(1)
    ped = os.path.join(args.shared, "data/ped2/testing/frames/01")
    f0, f1 = load_gray(os.path.join(ped, "000.jpg")), load_gray(os.path.join(ped, "001.jpg"))

    cases = {}  # name -> prev, next, gt (None: no ground truth)
    for name, kind, p in (("shift_2_0", "shift", (2, 0)), ("shift_0_-1.5", "shift", (0, -1.5)),
                          ("shift_3.3_1.7", "shift", (3.3, 1.7)), ("shift_8_-5", "shift", (8, -5)),
                          ("rot2_zoom1.03", "simil", (2.0, 1.03))):
        cases["ped2_" + name] = make_pair(f0, kind, p)
    rng = np.random.default_rng(0)
    noisy = np.clip(f0 + rng.normal(0, 2, f0.shape), 0, 255).astype(np.float32)
    cases["ped2_static_noise2"] = (f0.astype(np.float32), noisy, np.zeros((2,) + f0.shape, np.float32))
    cases["ped2_real_000_001"] = (f0.astype(np.float32), f1.astype(np.float32), None)
    av = avenue_frame(args.shared)
    if av is not None:
        cases["avenue_shift_3.3_1.7"] = make_pair(av, "shift", (3.3, 1.7))
        cases["avenue_rot2_zoom1.03"] = make_pair(av, "simil", (2.0, 1.03))

    with tempfile.TemporaryDirectory() as d:
        for name, (a, b, _) in cases.items():
            with open(os.path.join(d, name + ".pair"), "wb") as fh:
                np.array(a.shape, np.int32).tofile(fh)
                a.astype(np.float32).tofile(fh)
                b.astype(np.float32).tofile(fh)
        env = dict(os.environ, SSMTL_FLOW_PAIRS=d, OMP_NUM_THREADS="1")
        res = subprocess.run([args.bench, "--benchmark_filter=^pair/", "--benchmark_format=json",
                              "--benchmark_min_time=0.5"], env=env, capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"{args.bench} failed:\n{res.stderr}")
        ms = {b["name"].split("/", 1)[1]: b["cpu_time"] for b in json.loads(res.stdout)["benchmarks"]}
        ours = {}
        for name, (a, _, _) in cases.items():
            ours[name] = np.fromfile(os.path.join(d, name + ".flow"), np.float32).reshape((2,) + a.shape)

    print(f"EPE in px (interior, margin {MARGIN}); CPU ms per frame pair, one thread")
    print(f"{'case':24s} {'size':>8s} | {'EPE ours':>8s} {'Farneb':>8s} {'DIS':>8s} | "
          f"{'ms ours':>8s} {'Farneb':>8s} {'DIS':>8s} | {'Farn/ours':>9s}")
    for name, (a, b, gt) in cases.items():
        cv = run_opencv(a, b)
        flows = {"ours": ours[name], "farneback": cv["farneback"][0], "dis": cv["dis"][0]}
        times = {"ours": ms[name], "farneback": cv["farneback"][1], "dis": cv["dis"][1]}
        if gt is not None:
            errs = [f"{epe(flows[k], gt):8.3f}" for k in ("ours", "farneback", "dis")]
        else:  # no ground truth: share of pixels with magnitude > 1 (what the motion detector thresholds)
            errs = [f"{100 * (np.hypot(*flows[k]) > 1).mean():7.2f}%" for k in ("ours", "farneback", "dis")]
        size = f"{a.shape[1]}x{a.shape[0]}"
        print(f"{name:24s} {size:>8s} | {' '.join(errs)} | {times['ours']:8.2f} {times['farneback']:8.2f} "
              f"{times['dis']:8.2f} | {times['farneback'] / times['ours']:9.2f}")
        if name.startswith("ped2_static"):
            print(f"{'':24s} max magnitude: ours {np.hypot(*flows['ours']).max():.3f}, "
                  f"Farneback {np.hypot(*flows['farneback']).max():.3f}, DIS {np.hypot(*flows['dis']).max():.3f}")
    print("(rows without ground truth show the share of pixels with magnitude > 1 px/frame instead of EPE)")


if __name__ == "__main__":
    main()
