#!/usr/bin/env bash
# Test-set metrics of the post-processing a selection file chose (ssmtl select), for REPORTING only: the
# choice was made without test labels; this reads them afterwards to say what the choice gives.
# Usage: scripts/analysis/eval_selection.sh SELECTION TRAIN_DIR DETECTIONS OUT [build] [data_root]
#   TRAIN_DIR holds best.ckpt / last.ckpt; DETECTIONS holds training/ and testing/ (the run's detections).
#   Writes OUT/scores/, OUT/metrics.json (micro/macro AUC, RBDC, TBDC) and OUT/choice.txt.
set -euo pipefail
sel=$1 train=$2 det=$3 out=$4
build=${5:-build}
data=${6:-../shared/data}
root="$data/${DATASET:-ped2}"
get() { sed -n "s/^$1 = //p" "$sel"; }
norm=$(get normalize) set=$(get checkpoint_set) cell=$(get cell_px) filter=$(get filter) sigma=$(get sigma)
hrel=$(get min_height_rel)
hrel=${hrel:-0}   # (format version 1: no minimum height)
ck=(--checkpoint "$train/best.ckpt")
[ "$set" = all ] && ck+=(--checkpoint "$train/last.ckpt")
mkdir -p "$out"
printf 'normalize = %s\ncheckpoint_set = %s\ncell_px = %s\nmin_height_rel = %s\nfilter = %s\nsigma = %s\nselection = %s\n' \
  "$norm" "$set" "$cell" "$hrel" "$filter" "$sigma" "$sel" > "$out/choice.txt"
extra=(--min-height-rel "$hrel")
[ "$norm" != none ] && extra+=(--normalize "$norm")
# (the statistics of --normalize and the median object height of --min-height-rel)
if [ "$norm" != none ] || [ "$hrel" != 0 ]; then extra+=(--normal-detections "$det/training"); fi
"$build/ssmtl" score --data "$root" --detections "$det/testing" "${ck[@]}" --out "$out/scores" --cell "$cell" \
  --filter "$filter" "${extra[@]}"
mkdir -p "$out/labels"
for f in "$out"/scores/frame_scores/*.txt; do cp "$root/testing/gt_frame/$(basename "$f")" "$out/labels/"; done
"$build/ssmtl" evaluate --scores "$out/scores/frame_scores" --labels "$out/labels" --regions "$out/scores/regions" \
  --tracks "$root/testing/gt_tracks_derived" --smooth-sigma "$sigma" --json "$out/metrics.json"
