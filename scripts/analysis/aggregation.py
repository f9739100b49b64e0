#!/usr/bin/env python3
"""Object -> frame aggregation and task ablation of the log-zscore object score (statistics of the held-out
validation videos): frame max vs anomaly maps of several cell / filter sizes, and leave-one-task-out.
TEST-SET SENSITIVITY: reads test labels to report each fixed variant; nothing is chosen by it.
usage: aggregation.py TEST_SCORES LABELS NORMAL_SCORES [--val 15,16]"""
import sys, os, math
sys.path.insert(0, os.path.dirname(__file__))
import posthoc as P
test_dir, labels_dir, normal_dir = sys.argv[1:4]
test = P.read_objects(test_dir); normal = P.read_objects(normal_dir)
labels = P.read_labels(labels_dir, list(test))
tasks = [t for t in next(iter(test.values()))[0][2] if t != "object"]
st = P.normal_stats(normal, ["15", "16"], tasks)
def lz(d, use=None):
    use = use or tasks
    return sum((math.log(max(d[t], 1e-12)) - st[t]["logmean"]) / st[t]["logstd"] for t in use) / len(use)
P.AGG = P.frame_max
print("frame max           micro %.2f macro %.2f" % tuple(100 * x for x in P.evaluate(test, labels, lz)))
for cell, filt in ((10, 3), (20, 1), (20, 3), (20, 5), (40, 3)):
    P.AGG = P.make_map_agg(cell, filt)
    print("map cell %2d filter %d micro %.2f macro %.2f" % ((cell, filt) + tuple(100 * x for x in P.evaluate(test, labels, lz))))
P.AGG = P.make_map_agg(20, 3)
for t in tasks:
    rest = [u for u in tasks if u != t]
    print("without %-12s micro %.2f macro %.2f" % ((t,) + tuple(100 * x for x in P.evaluate(test, labels, lambda d: lz(d, rest)))))
