#!/usr/bin/env python3
"""Post-processing analysis of saved per-object task scores (no numpy needed; pure Python).

Reads <scores>/object_scores/<video>.txt written by `ssmtl score` (frame, box, one column per task) and
evaluates frame-level micro / macro AUC for: each task alone, the plain mean, and the mean of task scores
normalised with statistics of NORMAL objects (the held-out validation videos of the training split, scored with
`ssmtl score --split training`). Test labels are read only to compute the AUC of each fixed variant; nothing is
chosen here by them.
usage: posthoc.py TEST_SCORES LABELS_DIR [NORMAL_SCORES] [--val 15,16] [--sigma 3]
"""
import math, os, sys, json

def read_objects(d):
    out = {}
    for f in sorted(os.listdir(os.path.join(d, "object_scores"))):
        v = f[:-4]
        rows, tasks = [], None
        for line in open(os.path.join(d, "object_scores", f)):
            if line.startswith("#"):
                tasks = line[1:].strip().split(",")[5:]
                continue
            p = line.strip().split(",")
            if len(p) < 5: continue
            rows.append((int(p[0]), [float(x) for x in p[1:5]], {t: float(x) for t, x in zip(tasks, p[5:])}))
        out[v] = rows
    return out

def read_labels(d, videos):
    return {v: [int(l.strip()) for l in open(os.path.join(d, v + ".txt")) if l.strip()] for v in videos}

def gauss_kernel(sigma, truncate=3.0):
    r = int(truncate * sigma + 0.5)
    w = [math.exp(-x * x / (2 * sigma * sigma)) for x in range(-r, r + 1)]
    s = sum(w)
    return [x / s for x in w], r

def smooth(x, sigma):
    if sigma <= 0: return list(x)
    k, r = gauss_kernel(sigma)
    n = len(x)
    return [sum(k[j + r] * x[min(n - 1, max(0, i + j))] for j in range(-r, r + 1)) for i in range(n)]

def auc(scores, labels):
    pairs = sorted(zip(scores, labels))
    npos = sum(labels); nneg = len(labels) - npos
    if npos == 0 or nneg == 0: return None
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]: j += 1
        r = (i + 1 + j) / 2.0
        rank_sum += r * sum(l for _, l in pairs[i:j])
        i = j
    return (rank_sum - npos * (npos + 1) / 2) / (npos * nneg)

def frame_max(rows, n, score_fn):
    f = [0.0] * n
    for fr, box, t in rows:
        f[fr] = max(f[fr], score_fn(t))
    return f

W, H = 360, 240   # frame size (Ped2)
AGG = None

def uniform1d(vol, axis, size, shape):
    # centred box filter with 'nearest' edges along one axis of a row-major 3D list volume
    r = size // 2
    d0, d1, d2 = shape
    out = vol[:]
    stride = [d1 * d2, d2, 1][axis]; n = shape[axis]
    for idx in range(len(vol)):
        i = (idx // stride) % n
        base = idx - i * stride
        out[idx] = sum(vol[base + min(n - 1, max(0, i + k)) * stride] for k in range(-r, r + 1)) / size
    return out

def make_map_agg(cell=20, filt=3):
    def agg(rows, n, score_fn):
        gw, gh = -(-W // cell), -(-H // cell)
        vol = [0.0] * (n * gh * gw)
        for fr, b, t in rows:
            s = score_fn(t)
            x0 = max(0, int(max(0, b[0]) // cell)); x1 = min(gw - 1, int(min(W - 1, b[2]) // cell))
            y0 = max(0, int(max(0, b[1]) // cell)); y1 = min(gh - 1, int(min(H - 1, b[3]) // cell))
            for y in range(y0, y1 + 1):
                for x in range(x0, x1 + 1):
                    k = (fr * gh + y) * gw + x
                    if s > vol[k]: vol[k] = s
        if filt > 1:
            for ax in range(3): vol = uniform1d(vol, ax, filt, (n, gh, gw))
        return [max(vol[f * gh * gw:(f + 1) * gh * gw]) for f in range(n)]
    return agg

def evaluate(objs, labels, score_fn, sigma=3.0, agg=None):
    agg = agg or AGG
    allS, allL, per = [], [], []
    for v in sorted(labels):
        n = len(labels[v])
        s = smooth(agg(objs.get(v, []), n, score_fn), sigma)
        allS += s; allL += labels[v]
        a = auc(s, labels[v])
        if a is not None: per.append(a)
    return auc(allS, allL), sum(per) / len(per)

def quantile(xs, q):
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo = int(math.floor(k)); hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)

def normal_stats(objs, videos, tasks):
    st = {}
    for t in tasks:
        xs = [r[2][t] for v in videos for r in objs.get(v, [])]
        m = sum(xs) / len(xs)
        sd = math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))
        st[t] = dict(mean=m, std=sd, q50=quantile(xs, 0.5), q90=quantile(xs, 0.9), q99=quantile(xs, 0.99),
                     n=len(xs), logs=[math.log(max(x, 1e-12)) for x in xs])
        lg = st[t]["logs"]; lm = sum(lg) / len(lg)
        st[t]["logmean"] = lm; st[t]["logstd"] = math.sqrt(sum((x - lm) ** 2 for x in lg) / len(lg))
        del st[t]["logs"]
    return st

def main():
    a = sys.argv[1:]
    val = "15,16"; sigma = 3.0
    if "--val" in a: i = a.index("--val"); val = a[i + 1]; del a[i:i + 2]
    agg = frame_max
    if "--map" in a: i = a.index("--map"); c, fl = a[i + 1].split("x"); agg = make_map_agg(int(c), int(fl)); del a[i:i + 2]
    global AGG
    AGG = agg
    if "--sigma" in a: i = a.index("--sigma"); sigma = float(a[i + 1]); del a[i:i + 2]
    test = read_objects(a[0])
    labels = read_labels(a[1], list(test))
    tasks = [t for t in next(iter(test.values()))[0][2] if t != "object"]
    res = {}
    for t in tasks + ["object"]:
        res["task:" + t] = evaluate(test, labels, lambda d, t=t: d[t], sigma)
    if len(a) > 2:
        normal = read_objects(a[2])
        vids = [v for v in val.split(",") if v in normal] if val != "all" else list(normal)
        st = normal_stats(normal, vids, tasks)
        res["stats"] = {t: {k: v for k, v in s.items()} for t, s in st.items()}
        res["zscore"] = evaluate(test, labels, lambda d: sum((d[t] - st[t]["mean"]) / st[t]["std"] for t in tasks) / len(tasks), sigma)
        res["div_std"] = evaluate(test, labels, lambda d: sum(d[t] / st[t]["std"] for t in tasks) / len(tasks), sigma)
        res["div_mean"] = evaluate(test, labels, lambda d: sum(d[t] / st[t]["mean"] for t in tasks) / len(tasks), sigma)
        for q in ("q50", "q90", "q99"):
            res["div_" + q] = evaluate(test, labels, lambda d, q=q: sum(d[t] / st[t][q] for t in tasks) / len(tasks), sigma)
        res["log_zscore"] = evaluate(test, labels, lambda d: sum((math.log(max(d[t], 1e-12)) - st[t]["logmean"]) / st[t]["logstd"] for t in tasks) / len(tasks), sigma)
        lz = lambda d: sum((math.log(max(d[t], 1e-12)) - st[t]["logmean"]) / st[t]["logstd"] for t in tasks) / len(tasks)
        res["log_zscore_relu"] = evaluate(test, labels, lambda d: max(0.0, lz(d)), sigma)
        res["log_zscore_plus3"] = evaluate(test, labels, lambda d: lz(d) + 3, sigma)
        if os.environ.get("POSTHOC_ALL"):
            for t in tasks:
                res["log_zscore_no_" + t] = evaluate(test, labels, lambda d, t=t: sum((math.log(max(d[u], 1e-12)) - st[u]["logmean"]) / st[u]["logstd"] for u in tasks if u != t) / (len(tasks) - 1), sigma)
        res["max_zscore"] = evaluate(test, labels, lambda d: max((d[t] - st[t]["mean"]) / st[t]["std"] for t in tasks), sigma)
    for k, v in res.items():
        if k == "stats":
            for t, s in v.items(): print(f"  stats {t}: " + ", ".join(f"{kk}={vv:.4g}" for kk, vv in s.items()))
        else:
            print(f"{k:16s} micro {100*v[0]:6.2f}  macro {100*v[1]:6.2f}")
    json.dump(res, open(os.environ.get("POSTHOC_JSON", "/dev/null"), "w"), indent=1)

if __name__ == "__main__":
    main()
