#!/usr/bin/env python3
"""What the detector misses: ground-truth abnormal regions (gt_tracks_derived) without a detection of IoU >= 0.1
(inclusive pixel boxes), per video and by region height; and how many abnormal frames have no matched region at
all (those frames can only be found through smoothing or another object).
usage: detection_misses.py DETECTIONS_DIR GT_TRACKS_DIR"""
import os, sys
from collections import defaultdict
def iou(a, b):
    ix = min(a[2], b[2]) - max(a[0], b[0]) + 1; iy = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if ix <= 0 or iy <= 0: return 0.0
    inter = ix * iy
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)
    return inter / (area(a) + area(b) - inter)
det_dir, gt_dir = sys.argv[1:3]
tot = hit = 0; by_h = defaultdict(lambda: [0, 0]); frames_missed = 0; frames_gt = 0
for f in sorted(os.listdir(gt_dir)):
    dets = defaultdict(list)
    for l in open(os.path.join(det_dir, f)):
        p = l.strip().split(",")
        if len(p) >= 5: dets[int(p[0])].append([float(x) for x in p[1:5]])
    gts = defaultdict(list)
    for l in open(os.path.join(gt_dir, f)):
        p = l.strip().split(",")
        if len(p) >= 6: gts[int(p[1])].append([float(x) for x in p[2:6]])
    vt = vh = 0
    for fr, boxes in gts.items():
        any_hit = False
        for g in boxes:
            ok = any(iou(g, d) >= 0.1 for d in dets[fr])
            h = g[3] - g[1] + 1; b = "<20" if h < 20 else "20-39" if h < 40 else "40-79" if h < 80 else ">=80"
            by_h[b][0] += 1; by_h[b][1] += ok; vt += 1; vh += ok; any_hit |= ok
        frames_gt += 1; frames_missed += not any_hit
    tot += vt; hit += vh
    print(f"video {f[:-4]}: {vh}/{vt} regions found ({100*vh/max(vt,1):.1f}%)")
print(f"all: {hit}/{tot} = {100*hit/tot:.2f}% of the ground-truth regions at IoU >= 0.1")
for b in ("<20", "20-39", "40-79", ">=80"):
    t, h = by_h[b]
    if t: print(f"  region height {b} px: {h}/{t} found ({100*h/t:.1f}%)")
print(f"frames with ground-truth regions: {frames_gt}, with none of them found: {frames_missed}")
