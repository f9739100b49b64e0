#!/usr/bin/env bash
# The label-free choice of the post-processing constants for a trained run (issue 12): synthetic anomalies in
# the training split's held-out normal videos (ssmtl synth) -> their objects (ssmtl detect, the run's method)
# -> every candidate setting scored on them (ssmtl select). Never reads test labels.
# Usage: scripts/select_postprocessing.sh RUN [build_dir] [data_root]
#   RUN holds detections/training/ (the run's detections of the training split) and train/best.ckpt,
#   train/last.ckpt (e.g. runs/ped2-demo of scripts/demo.sh). Writes RUN/select/: synthetic/ (frames, labels,
#   synthetic.txt), detections/, selection.txt (the choice, the table, format version and seed), select.log.
# Environment: DATASET=ped2  SEED=0  KINDS=glide,speed  PER_KIND=4  CHECKPOINTS="best last"
#   SELECT_ARGS="..." (extra options of ssmtl select, e.g. --sigma 0,3 --filter 3)
set -euo pipefail
run=${1:?usage: scripts/select_postprocessing.sh RUN [build_dir] [data_root]}
build=${2:-build}
data=${3:-../shared/data}
root="$data/${DATASET:-ped2}"
seed=${SEED:-0}
out="$run/select"
ssmtl="$build/ssmtl"
mkdir -p "$out"
method=$(sed -n 's/^method = //p' "$run/detections/training/detect_config.txt" 2>/dev/null || true)
method=${method:-hybrid}
echo "== 1/3 synthetic anomalies (${KINDS:-glide,speed}) in the held-out training videos"
"$ssmtl" synth --data "$root" --detections "$run/detections/training" --out "$out/synthetic" \
  --kinds "${KINDS:-glide,speed}" --per-kind "${PER_KIND:-4}" --seed "$seed"
echo "== 2/3 detection ($method) of the synthetic videos"
"$ssmtl" detect --data "$out/synthetic" --split testing --method "$method" --out "$out/detections"
echo "== 3/3 every candidate post-processing setting on the synthetic anomalies"
ckpt_args=()
for c in ${CHECKPOINTS:-best last}; do ckpt_args+=(--checkpoint "$run/train/$c.ckpt"); done
# shellcheck disable=SC2086
"$ssmtl" select --data "$out/synthetic" --detections "$out/detections" "${ckpt_args[@]}" \
  --normal-data "$root" --normal-detections "$run/detections/training" --seed "$seed" \
  --out "$out/selection.txt" ${SELECT_ARGS:-} 2>&1 | tee "$out/select.log"
echo "choice: $out/selection.txt"
sed -n '/^# the choice/,/^# table/p' "$out/selection.txt"
