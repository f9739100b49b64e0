"""Golden data for the Yolo-Fastest detector (tests/test_detector.cpp), from OpenCV's darknet importer.

Run: cd tests/reference && /usr/bin/python3 gen_detector.py   (writes tests/data/detector_<model>.bin)

Input: Ped2 frames from ../shared/data (read-only; never copied into the repository), decoded with the
same stb_image the engine uses (compiled here through ctypes, so both sides see identical pixels; OpenCV's
libjpeg differs by +-1 on ~0.3% of pixels), resized to 320x320 without letterbox with PyTorch's bilinear
interpolation (align_corners=False, the engine's data/video/resize.h convention), divided by 255, RGB planar.

Reference: cv2.dnn.readNetFromDarknet on that blob. OpenCV folds batch-norm with eps 1e-6 inside the
square root (the C++ test sets DetectorOptions::bn_eps = 1e-6 to match; darknet's own value is 1e-5).
Stored per model:
  input_sum[F], input_sample[F, n]:  the network input (sum, and every 997th value) per frame
  raw<h>_idx[n], raw<h>[F, n]:       every 211th value of head h's raw conv output (B, A*(5+C), gh, gw)
  boxes[F, K, 6]:                    final boxes x0, y0, x1, y1, score, class (K = max count, padded with -1)
Boxes: OpenCV's yolo-layer decoding (cx, cy, w, h, objectness * class probability), best class per cell and
anchor, score >= 0.25, class-wise cv2.dnn.NMSBoxes with IoU 0.45, then the inclusive pixel box
x0 = (cx - w/2) W, x1 = (cx + w/2) W - 1 (same for y), clipped to the frame.
"""
import ctypes
import os
import subprocess
import tempfile

import cv2
import numpy as np
import torch
import torch.nn.functional as F

import refio

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared"))
WEIGHTS = os.path.join(SHARED, "weights", "yolo-fastest")
FRAMES = ["data/ped2/testing/frames/01/000.jpg", "data/ped2/testing/frames/04/100.jpg",
          "data/ped2/training/frames/12/030.jpg"]
MODELS = ["yolo-fastest-1.1", "yolo-fastest-1.1-xl", "yolo-fastest-1.1_body"]
CONFS, NMS_IOU = (0.25, 0.3, 0.35, 0.4), 0.45   # first threshold with no borderline case is used
RAW_STEP, INPUT_STEP = 211, 997


def stb_loader():
    """Compiles a tiny stb_image wrapper (same header as the engine) and returns load(path) -> HxWx3 uint8."""
    tmp = tempfile.mkdtemp()
    src, lib = os.path.join(tmp, "stbload.c"), os.path.join(tmp, "stbload.so")
    with open(src, "w") as f:
        f.write('#define STB_IMAGE_IMPLEMENTATION\n#include <stb_image.h>\n'
                'unsigned char* load(const char* p, int* w, int* h) { int c; return stbi_load(p, w, h, &c, 3); }\n'
                'void release(unsigned char* p) { stbi_image_free(p); }\n')
    subprocess.check_call(["gcc", "-O2", "-shared", "-fPIC", "-I/usr/include/stb", src, "-o", lib, "-lm"])
    so = ctypes.CDLL(lib)
    so.load.restype = ctypes.POINTER(ctypes.c_ubyte)

    def load(path):
        w, h = ctypes.c_int(), ctypes.c_int()
        p = so.load(path.encode(), ctypes.byref(w), ctypes.byref(h))
        if not p:
            raise RuntimeError(path + ": stb cannot decode")
        img = np.ctypeslib.as_array(p, shape=(h.value, w.value, 3)).copy()
        so.release(p)
        return img

    return load


def network_input(img, size=320):
    x = torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1)[None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    return (x * np.float32(1.0 / 255.0)).numpy()[0]


def iou_margin(left, top, right, bottom, cls):
    """Smallest |IoU - NMS_IOU| over same-class candidate pairs (a decision near it could flip)."""
    m = 1.0
    for i in range(len(cls)):
        for j in range(i + 1, len(cls)):
            if cls[i] != cls[j]:
                continue
            iw = min(right[i], right[j]) - max(left[i], left[j])
            ih = min(bottom[i], bottom[j]) - max(top[i], top[j])
            inter = max(iw, 0) * max(ih, 0)
            union = (right[i] - left[i]) * (bottom[i] - top[i]) + (right[j] - left[j]) * (bottom[j] - top[j]) - inter
            m = min(m, abs(inter / union - NMS_IOU))
    return m


def final_boxes(det, width, height, conf_threshold):
    """det: OpenCV yolo rows (cx, cy, w, h, obj, obj*p_c...) of one frame -> (K, 6) array, margin."""
    scores = det[:, 5:]
    cls = scores.argmax(1)
    conf = scores.max(1)
    margin = np.abs(conf - conf_threshold).min() if len(conf) else 1.0
    keep = conf >= conf_threshold
    det, cls, conf = det[keep], cls[keep], conf[keep]
    left, top = (det[:, 0] - det[:, 2] / 2) * width, (det[:, 1] - det[:, 3] / 2) * height
    right, bottom = (det[:, 0] + det[:, 2] / 2) * width, (det[:, 1] + det[:, 3] / 2) * height
    out = []
    for c in np.unique(cls):
        idx = np.where(cls == c)[0]
        rects = [(float(left[i]), float(top[i]), float(right[i] - left[i]), float(bottom[i] - top[i])) for i in idx]
        kept = cv2.dnn.NMSBoxes(rects, [float(conf[i]) for i in idx], conf_threshold, NMS_IOU)
        for k in np.array(kept).reshape(-1):
            i = idx[k]
            x0, y0 = max(left[i], 0.0), max(top[i], 0.0)
            x1, y1 = min(right[i] - 1, width - 1.0), min(bottom[i] - 1, height - 1.0)
            if x1 >= x0 and y1 >= y0:
                out.append([x0, y0, x1, y1, conf[i], c])
    out.sort(key=lambda b: -b[4])
    margin = min(margin, iou_margin(left, top, right, bottom, cls))
    return np.array(out, dtype=np.float32).reshape(-1, 6), margin


def main():
    load = stb_loader()
    imgs = [load(os.path.join(SHARED, f)) for f in FRAMES]
    blob = np.stack([network_input(im) for im in imgs]).astype(np.float32)
    for model in MODELS:
        net = cv2.dnn.readNetFromDarknet(os.path.join(WEIGHTS, model + ".cfg"), os.path.join(WEIGHTS, model + ".weights"))
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        yolo_names = list(net.getUnconnectedOutLayersNames())
        raw_names = ["conv_%d" % (int(n.split("_")[1]) - 1) for n in yolo_names]
        net.setInput(blob)
        outs = net.forward(raw_names + yolo_names)
        raws, dets = outs[:len(raw_names)], outs[len(raw_names):]
        data = {"input_sum": blob.reshape(len(imgs), -1).sum(1, dtype=np.float64),
                "input_sample": blob.reshape(len(imgs), -1)[:, ::INPUT_STEP]}
        for h, r in enumerate(raws):
            flat = r.reshape(len(imgs), -1)
            idx = np.arange(0, flat.shape[1], RAW_STEP)
            data["raw%d_idx" % h] = idx.astype(np.float32)
            data["raw%d" % h] = flat[:, idx]
            data["raw%d_shape" % h] = np.array(r.shape, dtype=np.float32)
            print(model, "head", h, r.shape, "|raw| max %.2f" % np.abs(r).max())
        for conf in CONFS:
            per_frame, margins = [], []
            for f, im in enumerate(imgs):
                rows = np.concatenate([d[f] if d.ndim == 3 else d for d in dets], 0)
                b, m = final_boxes(rows, im.shape[1], im.shape[0], conf)
                per_frame.append(b)
                margins.append(m)
            if min(margins) > 1e-3:
                break
        assert min(margins) > 1e-3, "a score or an IoU sits on its threshold: pick other frames"
        for f, b in enumerate(per_frame):
            print("  frame", FRAMES[f], "score >= %.2f:" % conf, len(b), "boxes, classes",
                  sorted(set(b[:, 5].astype(int).tolist())), "(margin %.4f)" % margins[f])
        data["conf_threshold"] = np.array([conf], dtype=np.float32)
        kmax = max(len(b) for b in per_frame)
        boxes = -np.ones((len(imgs), kmax, 6), dtype=np.float32)
        for f, b in enumerate(per_frame):
            boxes[f, :len(b)] = b
        data["boxes"] = boxes
        refio.write("detector_" + model.replace("yolo-fastest-1.1", "yf11").replace("-", "_"), data)


if __name__ == "__main__":
    main()
