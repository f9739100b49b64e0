#!/usr/bin/env python3
"""Combines several `ssmtl select` files (e.g. the same synthetic anomalies scored by the models of several
seeds): per candidate setting, the mean micro / macro AUC over the files; the choice is the best mean micro AUC
(ties: the earlier row). Still label-free: only synthetic labels are read.
Usage: combine_selections.py OUT SELECTION [SELECTION ...]
Writes OUT atomically (format_version, the inputs and their seeds, the choice, the table with each file's micro
AUC) and prints the best rows and, per constant, the mean micro AUC of each value over the rest of the grid."""
import os
import sys

KEYS = ("normalize", "checkpoint_set", "cell_rel", "cell_px", "min_height_rel", "min_height_px", "filter", "sigma")


def read(path):
    head, rows, in_table = {}, [], False
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# table"):
                in_table = True
                continue
            if not line or line.startswith("#"):
                continue
            if in_table:
                p = line.split()
                if head.get("format_version") == "1":   # (no minimum height then: every object)
                    p = p[:4] + ["0.00", "0"] + p[4:]
                rows.append((tuple(p[:8]), float(p[8]), float(p[9])))
            elif " = " in line:
                k, v = line.split(" = ", 1)
                head[k] = v
    if head.get("format_version") not in ("1", "2"):
        sys.exit(f"{path}: missing or unknown format_version (expected 1 or 2)")
    if not rows:
        sys.exit(f"{path}: no table rows")
    return head, rows


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, paths = sys.argv[1], sys.argv[2:]
    files = [read(p) for p in paths]
    keys = [r[0] for r in files[0][1]]
    for p, (_, rows) in zip(paths, files):
        if [r[0] for r in rows] != keys:
            sys.exit(f"{p}: its candidate settings differ from {paths[0]}'s")
    # (files of ssmtl select before --window-ends scored with clamped windows)
    ends = [h.get("window_ends", "clamp") for h, _ in files]
    if len(set(ends)) > 1:
        sys.exit("the files scored with different --window-ends: " + ", ".join(f"{p}: {e}" for p, e in zip(paths, ends)))
    n = len(files)
    mean = [(sum(f[1][i][1] for f in files) / n, sum(f[1][i][2] for f in files) / n) for i in range(len(keys))]
    best = max(range(len(keys)), key=lambda i: (mean[i][0], -i))
    lines = ["# combine_selections.py: mean over several `ssmtl select` files of each candidate's synthetic AUC",
             "format_version = 2"]
    for i, (p, (h, _)) in enumerate(zip(paths, files)):
        lines.append(f"input_{i} = {p} (seed {h.get('seed')}, checkpoints {h.get('checkpoints')})")
    lines.append(f"window_ends = {ends[0]}")
    lines.append("# the choice")
    for k, v in zip(KEYS, keys[best]):
        lines.append(f"{k} = {v}")
    lines += [f"micro_auc = {mean[best][0]:.6f}", f"macro_auc = {mean[best][1]:.6f}",
              "# table: " + " ".join(KEYS) + " mean_micro mean_macro " + " ".join(f"micro_{i}" for i in range(n))]
    for i, k in enumerate(keys):
        lines.append(" ".join(k) + f" {mean[i][0]:.6f} {mean[i][1]:.6f} " +
                     " ".join(f"{f[1][i][1]:.6f}" for f in files))
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, out)
    order = sorted(range(len(keys)), key=lambda i: (-mean[i][0], i))
    print(f"{len(keys)} candidates, {n} files; best 5 ({' '.join(KEYS)} mean_micro mean_macro):")
    for i in order[:5]:
        print("  " + " ".join(keys[i]) + f" {mean[i][0]:.4f} {mean[i][1]:.4f}")
    print("mean micro AUC of each value over the rest of the grid:")
    for j, name in enumerate(KEYS):
        if name in ("cell_rel", "min_height_rel"):
            continue
        vals = {}
        for i, k in enumerate(keys):
            vals.setdefault(k[j], []).append(mean[i][0])
        print(f"  {name}: " + ", ".join(f"{v} {sum(a) / len(a):.4f}" for v, a in vals.items()))
    print(f"choice written to {out}")


if __name__ == "__main__":
    main()
