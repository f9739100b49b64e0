"""Reference crops for data/video/resize.h: F.interpolate(mode="bilinear", align_corners=False, antialias=False)
of a region of a small random 8-bit RGB image, scaled by 1/255 (what data/samples/sequences.h does), for an
up-scaled and a down-scaled region. Writes tests/data/data_resize.bin."""
import numpy as np
import torch
import torch.nn.functional as F

import refio

rng = np.random.default_rng(7)
img = rng.integers(0, 256, size=(37, 29, 3)).astype(np.float32)   # (H, W, C), 29 wide, 37 high


def crop_resize(x0, y0, x1, y1, out_h, out_w):
    region = torch.from_numpy(img[y0:y1 + 1, x0:x1 + 1, :]).permute(2, 0, 1)[None]   # (1, 3, h, w)
    r = F.interpolate(region, size=(out_h, out_w), mode="bilinear", align_corners=False)
    return r[0] / 255.0                                                                # (3, out_h, out_w)


refio.write("data_resize", {
    "image": img,                                        # (37, 29, 3) values 0..255
    "up_box": np.array([3, 5, 12, 9], dtype=np.float32),  # x0, y0, x1, y1 inclusive: 10 x 5 region
    "up": crop_resize(3, 5, 12, 9, 64, 64),
    "down_box": np.array([0, 0, 28, 36], dtype=np.float32),
    "down": crop_resize(0, 0, 28, 36, 16, 12),           # whole image to 12 x 16 (W x H)
})
