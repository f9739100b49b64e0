#!/usr/bin/env python3
"""Writes the miniature data-set distributions under tests/data/datasets/, each in its official layout, for
tests/test_prepare_datasets.cpp (`ssmtl prepare --dataset`). The C++ tests read only the files written here,
so they need no Python; run this again only to change the fixtures:

    python3 -m venv ~/.cache/ssmtl-fixtures && ~/.cache/ssmtl-fixtures/bin/pip install numpy scipy h5py pillow
    ~/.cache/ssmtl-fixtures/bin/python tests/make_dataset_fixtures.py     (needs the ffmpeg program for .avi)

Every fixture is tiny (32x24 frames, 3-5 frames per clip). Frame i of a clip has grey level
(8 x + 4 y + 20 i + 10 * clip) mod 256 at pixel (x, y), so a test can check order and content. The abnormal
regions (masks) are rectangles, listed in BLOBS; the tests assert the frame labels and derived tracks they give.
"""
import os
import shutil
import subprocess
import tempfile

import h5py
import numpy as np
import scipy.io
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data", "datasets")
W, H = 32, 24

# Masks of the test clip with pixel ground truth: frame -> list of (x0, y0, x1, y1) inclusive rectangles.
# Blob A (frames 1-2) moves one pixel right and overlaps itself; blob B (frames 2-3) is elsewhere: two tracks.
BLOBS = {0: [], 1: [(3, 2, 6, 5)], 2: [(4, 2, 7, 5), (20, 10, 25, 15)], 3: [(20, 11, 25, 16)]}


def frame(i, clip):
    y, x = np.mgrid[0:H, 0:W]
    return ((8 * x + 4 * y + 20 * i + 10 * clip) % 256).astype(np.uint8)


def mask(i, blobs=BLOBS):
    m = np.zeros((H, W), np.uint8)
    for x0, y0, x1, y1 in blobs.get(i, []):
        m[y0:y1 + 1, x0:x1 + 1] = 1
    return m


def stray(folder):
    """The files a Mac or Windows copy adds; the converters must ignore them."""
    with open(os.path.join(folder, ".DS_Store"), "wb") as f:
        f.write(b"\x00\x00\x00\x01Bud1" + bytes(24))
    with open(os.path.join(folder, "._001.tif"), "wb") as f:
        f.write(b"\x00\x05\x16\x07" + bytes(28))


def write_avi(path, frames, codec=("-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj444p")):
    tmp = tempfile.mkdtemp()
    try:
        for i, f in enumerate(frames):
            Image.fromarray(np.stack([f] * 3, axis=-1)).save(os.path.join(tmp, "%03d.png" % i))
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-framerate", "25", "-i", os.path.join(tmp, "%03d.png"),
                        *codec, path], check=True)
    finally:
        shutil.rmtree(tmp)


def ucsd():
    root = os.path.join(OUT, "ucsd", "UCSDped2")
    shutil.rmtree(os.path.join(OUT, "ucsd"), ignore_errors=True)
    for clip, n in ((1, 3), (2, 2)):
        d = os.path.join(root, "Train", "Train%03d" % clip)
        os.makedirs(d)
        for i in range(n):
            Image.fromarray(frame(i, clip)).save(os.path.join(d, "%03d.tif" % (i + 1)))
    stray(os.path.join(root, "Train"))
    for clip, n in ((1, 4), (2, 3)):
        d = os.path.join(root, "Test", "Test%03d" % clip)
        os.makedirs(d)
        for i in range(n):
            Image.fromarray(frame(i, 10 + clip)).save(os.path.join(d, "%03d.tif" % (i + 1)))
    stray(os.path.join(root, "Test", "Test001"))
    gt = os.path.join(root, "Test", "Test001_gt")
    os.makedirs(gt)
    for i in range(4):   # 8-bit palette BMP, 0 / 255, as UCSD's masks
        Image.fromarray(mask(i) * 255).save(os.path.join(gt, "%03d.bmp" % (i + 1)))
    stray(gt)
    with open(os.path.join(root, "Test", "UCSDped2.m"), "w") as f:
        f.write("TestVideoFile = {};\n\n% Test001\nTestVideoFile{end+1}.gt_frame = [2:3];\n"
                "% Test002: two ranges\nTestVideoFile{end+1}.gt_frame = [1, 3:3];\n")


def shanghaitech():
    root = os.path.join(OUT, "shanghaitech")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "training", "videos"))
    write_avi(os.path.join(root, "training", "videos", "01_001.avi"), [frame(i, 1) for i in range(5)])
    write_avi(os.path.join(root, "training", "videos", "01_002.avi"), [frame(i, 2) for i in range(3)])
    stray(os.path.join(root, "training", "videos"))
    for sub in ("frames", "test_frame_mask", "test_pixel_mask"):
        os.makedirs(os.path.join(root, "testing", sub))
    # 01_0014: 4 frames, masks BLOBS, frame mask int64 (as shipped); 01_0015: 3 frames, bool pixel mask.
    for name, n, clip in (("01_0014", 4, 11), ("01_0015", 3, 12)):
        d = os.path.join(root, "testing", "frames", name)
        os.makedirs(d)
        for i in range(n):
            Image.fromarray(np.stack([frame(i, clip)] * 3, axis=-1)).save(os.path.join(d, "%03d.jpg" % i), quality=95)
        stray(d)
    np.save(os.path.join(root, "testing", "test_frame_mask", "01_0014.npy"), np.array([0, 1, 1, 1], np.int64))
    np.save(os.path.join(root, "testing", "test_pixel_mask", "01_0014.npy"), np.stack([mask(i) for i in range(4)]))
    blobs15 = {2: [(0, 0, 3, 2), (28, 21, 31, 23)]}   # 12 pixels each: regions need 10 (mask_tracks.h)
    np.save(os.path.join(root, "testing", "test_frame_mask", "01_0015.npy"), np.array([0, 0, 1], np.int64))
    np.save(os.path.join(root, "testing", "test_pixel_mask", "01_0015.npy"),
            np.stack([mask(i, blobs15) for i in range(3)]).astype(bool))


def avenue():
    root = os.path.join(OUT, "avenue")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "training_videos"))
    os.makedirs(os.path.join(root, "testing_videos"))
    write_avi(os.path.join(root, "training_videos", "01.avi"), [frame(i, 1) for i in range(4)])
    write_avi(os.path.join(root, "testing_videos", "01.avi"), [frame(i, 11) for i in range(4)])
    write_avi(os.path.join(root, "testing_videos", "02.avi"), [frame(i, 12) for i in range(3)])
    stray(os.path.join(root, "testing_videos"))
    lm = os.path.join(root, "ground_truth_demo", "testing_label_mask")
    os.makedirs(lm)
    # volLabel: 1 x frames cell of H x W masks; video 1 compressed (-v7, double), video 2 uncompressed (-v6, uint8).
    vol1 = np.empty((1, 4), dtype=object)
    for i in range(4):
        vol1[0, i] = mask(i).astype(np.float64)
    scipy.io.savemat(os.path.join(lm, "1_label.mat"), {"volLabel": vol1}, do_compression=True)
    vol2 = np.empty((1, 3), dtype=object)
    for i in range(3):
        vol2[0, i] = mask(i, {1: [(10, 5, 12, 8)]})
    scipy.io.savemat(os.path.join(lm, "2_label.mat"), {"volLabel": vol2}, do_compression=False)
    # AnoPred's frame labels (avenue.mat): gt = 1 x videos cell of 2 x K [first; last] 1-based intervals.
    gt = np.empty((1, 2), dtype=object)
    gt[0, 0] = np.array([[2], [4]], np.float64)
    gt[0, 1] = np.array([[1, 3], [1, 3]], np.float64)
    scipy.io.savemat(os.path.join(root, "avenue.mat"), {"gt": gt}, do_compression=False)
    # The same volLabel as MATLAB -v7.3 writes it (HDF5 behind a 512-byte header): must be refused clearly.
    p = os.path.join(root, "v73_label.mat")
    with h5py.File(p, "w", userblock_size=512) as f:
        f.create_dataset("volLabel", data=np.zeros((2, 4), np.float64))
    with open(p, "r+b") as f:
        header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Thu Jan  1 00:00:00 2026 HDF5 schema 1.00 ."
        f.write(header.ljust(116, b" ") + bytes(8) + b"\x00\x02IM")


def ubnormal():
    root = os.path.join(OUT, "ubnormal")
    shutil.rmtree(root, ignore_errors=True)
    mp4 = ("-c:v", "mpeg4", "-q:v", "2", "-pix_fmt", "yuv420p")
    videos = {"abnormal_scene_1_scenario_1": (1, 5), "normal_scene_1_scenario_1": (1, 3),
              "abnormal_scene_2_scenario_1": (2, 4), "normal_scene_2_scenario_2": (2, 3)}
    for k, (name, (scene, n)) in enumerate(videos.items()):
        d = os.path.join(root, "Scene%d" % scene)
        os.makedirs(d, exist_ok=True)
        write_avi(os.path.join(d, name + ".mp4"), [frame(i, 20 + k) for i in range(n)], mp4)
    stray(os.path.join(root, "Scene1"))
    # Scene1 abnormal: objects 5 (blob A, frames 1-2) and 7 (blob B, frames 2-3) are abnormal; object 3, a walking
    # person present in every frame, is not. Maps hold object ids; one map per frame (0..4).
    ann = os.path.join(root, "Scene1", "abnormal_scene_1_scenario_1_annotations")
    os.makedirs(ann)
    with open(os.path.join(ann, "abnormal_scene_1_scenario_1_tracks.txt"), "w") as f:
        f.write("5,1,2\n7,2,3\n")
    for i in range(5):
        m = np.zeros((H, W), np.uint8)
        m[18:22, 2 + i:4 + i] = 3
        for obj, (x0, y0, x1, y1) in zip((5, 7), BLOBS.get(i, []) if i != 3 else [(0, 0, -1, -1)] + BLOBS[3]):
            m[y0:y1 + 1, x0:x1 + 1] = obj
        Image.fromarray(m).save(os.path.join(ann, "abnormal_scene_1_scenario_1_%04d_gt.png" % i))
    # Scene2 abnormal: the corrected _new_tracks.txt (object 1, frames 0-1) replaces _tracks.txt; maps only for
    # the frames inside a track.
    ann = os.path.join(root, "Scene2", "abnormal_scene_2_scenario_1_annotations")
    os.makedirs(ann)
    with open(os.path.join(ann, "abnormal_scene_2_scenario_1_tracks.txt"), "w") as f:
        f.write("1,0,3\n")
    with open(os.path.join(ann, "abnormal_scene_2_scenario_1_new_tracks.txt"), "w") as f:
        f.write("1,0,1\n")
    for i in range(2):
        m = np.zeros((H, W), np.uint8)
        m[10:12, 10 + i:15 + i] = 1
        Image.fromarray(m).save(os.path.join(ann, "abnormal_scene_2_scenario_1_%04d_gt.png" % i))
    lists = {"abnormal_training": ["abnormal_scene_1_scenario_1"], "normal_training": ["normal_scene_1_scenario_1"],
             "abnormal_validation": [], "normal_validation": ["normal_scene_2_scenario_2"],
             "abnormal_test": ["abnormal_scene_2_scenario_1"], "normal_test": []}
    os.makedirs(os.path.join(root, "scripts"))
    for k, names in lists.items():
        with open(os.path.join(root, "scripts", k + "_video_names.txt"), "w") as f:
            f.write("".join(n + "\n" for n in names))


if __name__ == "__main__":
    ucsd()
    shanghaitech()
    avenue()
    ubnormal()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print("fixtures in %s: %d bytes" % (OUT, total))
