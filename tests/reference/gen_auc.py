"""Reference values for eval/: ROC AUC and ROC curve (scikit-learn), Gaussian smoothing and the 3D mean filter
(scipy.ndimage). Run with Debian's /usr/bin/python3 (python3-sklearn, python3-scipy).

Inputs are float32 (what refio stores), so C++ sees exactly the values sklearn/scipy saw, ties included.
Results are float64; each is stored as two float32 parts, hi = f32(v) and lo = f32(v - hi), so that the test can
rebuild v to ~1e-14 and check agreement far below float32 precision.
"""
import numpy as np
from scipy.ndimage import gaussian_filter1d, uniform_filter
from sklearn.metrics import roc_auc_score, roc_curve

from refio import write

rng = np.random.default_rng(2024)


def split(v):
    v = np.asarray(v, dtype=np.float64)
    hi = v.astype(np.float32)
    lo = (v - hi.astype(np.float64)).astype(np.float32)
    return hi, lo


auc = {}
cases = []
for i in range(155):
    n = int(rng.integers(2, 200)) if i < 150 else int(rng.integers(1000, 1500))
    levels = [2, 3, 5, 10, 50, 0][i % 6]          # 0 = continuous scores (ties only by chance)
    labels = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(np.int64)
    if labels.min() == labels.max():               # both classes present
        labels[rng.integers(0, n)] ^= 1
    if levels:
        scores = rng.integers(0, levels, n) / levels + 0.1 * labels * rng.integers(0, 2, n)
    else:
        scores = rng.normal(size=n) + 0.7 * labels
    scores = scores.astype(np.float32)
    value = roc_auc_score(labels, scores.astype(np.float64))
    hi, lo = split(value)
    auc["auc%d_scores" % i] = scores
    auc["auc%d_labels" % i] = labels
    auc["auc%d_hi" % i] = hi.reshape(1)
    auc["auc%d_lo" % i] = lo.reshape(1)
    cases.append(i)
auc["count"] = np.array([len(cases)], dtype=np.float32)

# One ROC curve (every threshold kept), from case 0.
fpr, tpr, _ = roc_curve(auc["auc0_labels"], auc["auc0_scores"].astype(np.float64), drop_intermediate=False)
auc["roc_fpr_hi"], auc["roc_fpr_lo"] = split(fpr)
auc["roc_tpr_hi"], auc["roc_tpr_lo"] = split(tpr)
write("eval_auc", auc)

# Gaussian smoothing: scipy.ndimage.gaussian_filter1d(x, sigma, mode='nearest', truncate=3.0).
smooth = {}
specs = [(50, 1.0), (50, 3.0), (7, 5.0), (200, 0.5), (1, 2.0), (100, 10.7), (30, 0.3), (64, 2.5)]
for k, (n, sigma) in enumerate(specs):
    sigma = float(np.float32(sigma))                # the value the test reads back
    x = rng.normal(size=n).astype(np.float32)
    if k == 2:
        x[3] = 4.0                                  # a spike near the middle of a short video
    y = gaussian_filter1d(x.astype(np.float64), sigma, mode="nearest", truncate=3.0)
    smooth["g%d_x" % k] = x
    smooth["g%d_sigma" % k] = np.array([sigma], dtype=np.float32)
    smooth["g%d_hi" % k], smooth["g%d_lo" % k] = split(y)
smooth["g_count"] = np.array([len(specs)], dtype=np.float32)

# 3D mean filter: scipy.ndimage.uniform_filter(v, size=(t, y, x), mode='nearest') for odd sizes.
filters = [(3, 3, 3), (5, 1, 3), (1, 3, 1), (7, 5, 5)]
vol = (rng.random((6, 4, 5)) * (rng.random((6, 4, 5)) < 0.3)).astype(np.float32)
smooth["u_vol"] = vol
for k, size in enumerate(filters):
    out = uniform_filter(vol.astype(np.float64), size=size, mode="nearest")
    smooth["u%d_size" % k] = np.array(size, dtype=np.float32)
    smooth["u%d_hi" % k], smooth["u%d_lo" % k] = split(out)
smooth["u_count"] = np.array([len(filters)], dtype=np.float32)
write("eval_smooth", smooth)
