#!/usr/bin/env bash
# bf16 against fp32 training (train.precision, kernels/precision.h) on the same detections, configuration and
# seeds: trains each (precision, seed) pair, scores and evaluates it as `make demo` does, and prints one row
# per run (best and last validation loss, the training loss of the last 3 epochs, training objects/s, micro /
# macro AUC, RBDC, TBDC) and the
# bf16 - fp32 differences of the means. A run folder that already holds metrics.json is reused (rerun the
# script to continue after an interruption).
# Usage: scripts/bf16_vs_fp32.sh DETECTIONS_RUN [build] [data_root]
#   DETECTIONS_RUN: a demo run folder with detections/training and detections/testing (e.g. runs/ped2-demo)
#   environment: CONFIG=configs/ssmtl++v1-cpu.txt  SEEDS="0 1 2"  OUT=runs/bf16-vs-fp32  PRECISIONS="fp32 bf16"
#                EPOCHS= (empty: the configuration's)  OOD=../shared/data/ood
set -euo pipefail
det=${1:?usage: scripts/bf16_vs_fp32.sh DETECTIONS_RUN [build] [data_root]}
build=${2:-build}
data=${3:-../shared/data}
root="$data/ped2"
config=${CONFIG:-configs/ssmtl++v1-cpu.txt}
seeds=${SEEDS:-0 1 2}
out=${OUT:-runs/bf16-vs-fp32}
precisions=${PRECISIONS:-fp32 bf16}
ood=${OOD:-../shared/data/ood}
ssmtl="$build/ssmtl"
gt="$root/testing"
[ -d "$det/detections/training" ] && [ -d "$det/detections/testing" ] ||
  { echo "bf16_vs_fp32: $det has no detections/training and detections/testing (run make demo first)" >&2; exit 2; }
mkdir -p "$out"
for p in $precisions; do
  for s in $seeds; do
    run="$out/$p-seed$s"
    [ -f "$run/metrics.json" ] && { echo "== $run: done (reused)"; continue; }
    echo "== $run: training ($config, train.precision=$p, train.seed=$s)"
    extra=()
    [ -n "${EPOCHS:-}" ] && extra+=(--set "train.epochs=$EPOCHS")
    resume=()
    [ -f "$run/train/last.ckpt" ] && resume=(--resume "$run/train/last.ckpt")
    "$ssmtl" train --data "$root" --detections "$det/detections/training" --out "$run/train" --config "$config" \
      --ood "$ood" --set "train.precision=$p" --set "train.seed=$s" "${extra[@]}" "${resume[@]}"
    echo "== $run: scoring and evaluation (as make demo: best + last, log-zscore, cell 0.33, filter 3, sigma 3)"
    "$ssmtl" score --data "$root" --detections "$det/detections/testing" --checkpoint "$run/train/best.ckpt" \
      --checkpoint "$run/train/last.ckpt" --out "$run/scores" --normalize log-zscore --cell-rel 0.33 --filter 3 \
      --normal-detections "$det/detections/training"
    rm -rf "$run/labels" && mkdir -p "$run/labels"
    for f in "$run"/scores/frame_scores/*.txt; do cp "$gt/gt_frame/$(basename "$f")" "$run/labels/"; done
    "$ssmtl" evaluate --scores "$run/scores/frame_scores" --labels "$run/labels" --regions "$run/scores/regions" \
      --tracks "$gt/gt_tracks_derived" --smooth-sigma 3 --json "$run/metrics.json.tmp" >/dev/null
    mv "$run/metrics.json.tmp" "$run/metrics.json"
  done
done
python3 - "$out" $precisions -- $seeds <<'PY'
import json, statistics, sys
out = sys.argv[1]
sep = sys.argv.index("--")
precisions, seeds = sys.argv[2:sep], sys.argv[sep + 1:]
keys = ["micro_auc", "macro_auc", "rbdc", "tbdc"]
print("\n%-6s %4s %9s %9s %9s %8s %7s %7s %7s %7s" % ("prec", "seed", "best_val", "last_val", "train_l3", "obj/s",
      "micro", "macro", "RBDC", "TBDC"))
means = {}
for p in precisions:
    rows = []
    for s in seeds:
        run = "%s/%s-seed%s" % (out, p, s)
        log = [json.loads(l) for l in open(run + "/train/train_log.jsonl")]
        m = json.load(open(run + "/metrics.json"))
        r = {"best_val": min(e["val_total"] for e in log), "last_val": log[-1]["val_total"],
             "train_l3": statistics.mean(sum(e["train"].values()) for e in log[-3:]),
             "obj_s": statistics.mean(e["samples_per_s"] for e in log), **{k: 100 * m[k] for k in keys}}
        rows.append(r)
        print("%-6s %4s %9.5f %9.5f %9.5f %8.1f %7.2f %7.2f %7.2f %7.2f" % (p, s, r["best_val"], r["last_val"],
              r["train_l3"], r["obj_s"],
              *[r[k] for k in keys]))
    means[p] = {k: statistics.mean(r[k] for r in rows) for k in rows[0]}
    sd = {k: statistics.stdev(r[k] for r in rows) if len(rows) > 1 else 0 for k in rows[0]}
    print("%-6s %4s %9.5f %9.5f %9.5f %8.1f %7.2f %7.2f %7.2f %7.2f   (mean; std of micro %.2f, of best_val %.5f)"
          % (p, "mean", means[p]["best_val"], means[p]["last_val"], means[p]["train_l3"], means[p]["obj_s"],
             *[means[p][k] for k in keys], sd["micro_auc"], sd["best_val"]))
if "fp32" in means and "bf16" in means:
    a, b = means["fp32"], means["bf16"]
    print("bf16 vs fp32 (means): best validation loss %+.2f%%, training loss of the last 3 epochs %+.2f%%, micro AUC "
          "%+.2f points, macro %+.2f, training speed %.2fx"
          % (100 * (b["best_val"] / a["best_val"] - 1), 100 * (b["train_l3"] / a["train_l3"] - 1),
             b["micro_auc"] - a["micro_auc"], b["macro_auc"] - a["macro_auc"], b["obj_s"] / a["obj_s"]))
PY
