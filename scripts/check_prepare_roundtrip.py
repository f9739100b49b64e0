#!/usr/bin/env python3
"""Round trip of `ssmtl prepare --dataset` on real-size data: rebuilds the official distributions of UCSD Ped2 and
CUHK Avenue from ../shared/data (Ped2: .tif frames, _gt .bmp masks, UCSDped2.m from gt_frame; Avenue: the shipped
.avi files and N_label.mat files with volLabel made from gt_pixel, for the test videos present), runs the converter
and compares its gt_frame/ and gt_tracks_derived/ with the shared ones, file by file.

    python3 -m venv ~/.cache/ssmtl-fixtures && ~/.cache/ssmtl-fixtures/bin/pip install numpy scipy pillow
    ~/.cache/ssmtl-fixtures/bin/python scripts/check_prepare_roundtrip.py build/ssmtl /tmp/roundtrip
"""
import filecmp
import os
import subprocess
import sys

import numpy as np
import scipy.io
from PIL import Image

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")


def intervals(labels):
    out, start = [], None
    for i, v in enumerate(labels + [0]):
        if v and start is None:
            start = i
        if not v and start is not None:
            out.append("%d:%d" % (start + 1, i))
            start = None
    return ", ".join(out)


def make_ped2(dst):
    src = os.path.join(SHARED, "ped2")
    root = os.path.join(dst, "UCSDped2")
    lines = ["TestVideoFile = {};"]
    for split, name in (("training", "Train"), ("testing", "Test")):
        for k, v in enumerate(sorted(os.listdir(os.path.join(src, split, "frames")))):
            d = os.path.join(root, name, "%s%03d" % (name, k + 1))
            os.makedirs(d, exist_ok=True)
            frames = sorted(os.listdir(os.path.join(src, split, "frames", v)))
            for i, f in enumerate(frames):
                Image.open(os.path.join(src, split, "frames", v, f)).convert("L").save(os.path.join(d, "%03d.tif" % (i + 1)))
            if split == "testing":
                gt = d + "_gt"
                os.makedirs(gt, exist_ok=True)
                for i, f in enumerate(sorted(os.listdir(os.path.join(src, "testing", "gt_pixel", v)))):
                    Image.open(os.path.join(src, "testing", "gt_pixel", v, f)).save(os.path.join(gt, "%03d.bmp" % (i + 1)))
                labels = [int(x) for x in open(os.path.join(src, "testing", "gt_frame", v + ".txt")).read().split()]
                lines.append("TestVideoFile{end+1}.gt_frame = [%s];" % intervals(labels))
    with open(os.path.join(root, "Test", "UCSDped2.m"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return root


def make_avenue(dst):
    src = os.path.join(SHARED, "avenue")
    root = os.path.join(dst, "avenue")
    for split in ("training", "testing"):
        os.makedirs(os.path.join(root, split + "_videos"), exist_ok=True)
        for v in sorted(os.listdir(os.path.join(src, "videos", split))):
            os.symlink(os.path.abspath(os.path.join(src, "videos", split, v)), os.path.join(root, split + "_videos", v))
    lm = os.path.join(root, "ground_truth_demo", "testing_label_mask")
    os.makedirs(lm, exist_ok=True)
    for v in sorted(os.listdir(os.path.join(src, "videos", "testing"))):
        name = v[:-4]
        files = sorted(os.listdir(os.path.join(src, "testing", "gt_pixel", name)))
        vol = np.empty((1, len(files)), dtype=object)
        for i, f in enumerate(files):
            vol[0, i] = (np.array(Image.open(os.path.join(src, "testing", "gt_pixel", name, f))) > 0).astype(np.uint8)
        scipy.io.savemat(os.path.join(lm, "%d_label.mat" % int(name)), {"volLabel": vol}, do_compression=True)
    return root


def compare(out, shared, folder, videos):
    same = sum(filecmp.cmp(os.path.join(out, "testing", folder, v + ".txt"),
                           os.path.join(shared, "testing", folder, v + ".txt"), shallow=False) for v in videos)
    print("%s: %d of %d files identical to shared" % (folder, same, len(videos)))
    return same == len(videos)


def main():
    ssmtl, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    ok = True
    for name, make in (("ped2", make_ped2), ("avenue", make_avenue)):
        root = make(os.path.join(work, "dist"))
        out = os.path.join(work, "data", name)
        subprocess.run([ssmtl, "prepare", "--dataset", name, "--root", root, "--out", out], check=True)
        videos = sorted(f[:-4] for f in os.listdir(os.path.join(out, "testing", "gt_frame")))
        for folder in ("gt_frame", "gt_tracks_derived"):
            ok = compare(out, os.path.join(SHARED, name), folder, videos) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
