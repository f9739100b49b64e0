#!/usr/bin/env python3
"""Object-score ensemble of several `ssmtl score` folders of the same detections (e.g. checkpoints of one run,
each normalised with its own normal statistics): mean of their 'object' columns, then anomaly map (20 px cells,
3x3x3 mean filter) and Gaussian sigma 3, as the demo.  usage: ensemble.py LABELS SCORES1 SCORES2 ..."""
import sys, os
sys.path.insert(0, os.path.dirname(__file__))
import posthoc as P
labels_dir, dirs = sys.argv[1], sys.argv[2:]
runs = [P.read_objects(d) for d in dirs]
merged = {}
for v in runs[0]:
    rows = []
    for k, r in enumerate(runs[0][v]):
        assert all(run[v][k][0] == r[0] for run in runs), "objects differ"
        rows.append((r[0], r[1], {"object": sum(run[v][k][2]["object"] for run in runs) / len(runs)}))
    merged[v] = rows
labels = P.read_labels(labels_dir, list(merged))
P.AGG = P.make_map_agg(20, 3)
for d in dirs:
    print(d, "micro %.2f macro %.2f" % tuple(100 * x for x in P.evaluate(P.read_objects(d), labels, lambda t: t["object"])))
print("ensemble micro %.2f macro %.2f" % tuple(100 * x for x in P.evaluate(merged, labels, lambda t: t["object"])))
