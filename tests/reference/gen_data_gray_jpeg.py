"""A 1-channel (greyscale) JPEG for tests/test_data_images.cpp: 16x8, value = 8 * x + 4 * y, quality 100.
Written with OpenCV (Debian python3-opencv); stb_image_write's JPEG encoder trips UBSan, so the test
program cannot make it itself. Writes tests/data/gray_16x8.jpg."""
import os

import cv2
import numpy as np

y, x = np.mgrid[0:8, 0:16]
img = (8 * x + 4 * y).astype(np.uint8)
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "gray_16x8.jpg")
assert cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, 100])
back = cv2.imread(path, cv2.IMREAD_UNCHANGED)
assert back.ndim == 2, "expected a 1-channel JPEG"
print("wrote", os.path.relpath(path), "max abs error after decoding", int(np.abs(back.astype(int) - img).max()))
