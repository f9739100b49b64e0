#!/usr/bin/env bash
# ctest "e2e: select post-processing on synthetic anomalies": a tiny model (Ped2 training videos 01-02, one
# short epoch; 02 is the held-out validation video), synthetic anomalies in video 02 (one glide, one backward),
# `ssmtl select` over a 32-setting grid. Checks: the file's format version, seed and choice; the choice is the
# table's best micro AUC; and two rows of the table equal what `ssmtl score` + `ssmtl evaluate` give for the
# same setting on the same synthetic videos (the same numbers by another path; once with --cell-rel).
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
data=${2:-$src/../shared/data}
if [ ! -d "$data/ped2/training/frames" ]; then echo "SKIP: no Ped2 data at $data/ped2"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log="$tmp/log"
ssmtl="$build/ssmtl"
step() { "$@" >> "$log" 2>&1 || { echo "FAIL: $*"; tail -30 "$log"; exit 1; }; }
fail() { echo "FAIL: $*"; tail -30 "$log"; exit 1; }
cd "$src"
root="$data/ped2"
step "$ssmtl" detect --data "$root" --split training --method flow --videos 01,02 --out "$tmp/det"
step "$ssmtl" train --data "$root" --detections "$tmp/det" --out "$tmp/train" --config configs/ssmtl++v1-cpu.txt \
  --videos 01,02 --set train.epochs=1 --set train.max_objects_per_epoch=256 --set train.max_val_objects=64
step "$ssmtl" synth --data "$root" --detections "$tmp/det" --videos 02 --kinds glide,backward --per-kind 1 \
  --seed 3 --out "$tmp/synth"
step "$ssmtl" detect --data "$tmp/synth" --split testing --method flow --out "$tmp/sdet"
sel="$tmp/selection.txt"
step "$ssmtl" select --data "$tmp/synth" --detections "$tmp/sdet" --checkpoint "$tmp/train/best.ckpt" \
  --checkpoint "$tmp/train/last.ckpt" --normal-data "$root" --normal-detections "$tmp/det" --normal-videos 02 \
  --normalize none,log-zscore --cell-rel 0.5,1 --min-height-rel 0,0.5 --filter 1,3 --sigma 0,3 --seed 0 --out "$sel"
grep -q '^format_version = 2$' "$sel" || fail "no format version 2"
grep -q '^seed = 0$' "$sel" || fail "no seed"
grep -q '^synthetic_videos = 2$' "$sel" || fail "expected 2 synthetic videos"
rows=$(awk '/^# table/ {t = 1; next} t' "$sel")
[ "$(echo "$rows" | wc -l)" = 64 ] || fail "expected 64 candidate rows"
best=$(echo "$rows" | awk 'NR == 1 || $9 > m { m = $9 } END { printf "%.6f", m }')
chosen=$(awk '/^micro_auc = / { printf "%.6f", $3 }' "$sel")
[ "$best" = "$chosen" ] || fail "chosen micro AUC $chosen is not the table's best $best"
echo "chosen: $(sed -n 's/^\(normalize\|checkpoint_set\|cell_px\|filter\|sigma\) = /\1=/p' "$sel" | paste -sd' ')"
# The same numbers by the other path: a data root whose training split is Ped2's (for --normal-detections)
# and whose test split is the synthetic one.
mkdir -p "$tmp/root"
ln -s "$root/training" "$tmp/root/training"
ln -s "$tmp/synth/testing" "$tmp/root/testing"
check_row() {   # normalize checkpoint_set cell_rel min_height_rel filter sigma cell|cell-rel (how score gets the cell)
  local norm=$1 set=$2 rel=$3 hrel=$4 filter=$5 sigma=$6 how=$7
  local row cell minh want ck=(--checkpoint "$tmp/train/best.ckpt")
  row=$(echo "$rows" | awk -v n="$norm" -v s="$set" -v r="$rel" -v h="$hrel" -v f="$filter" -v g="$sigma" \
    '$1 == n && $2 == s && $3 + 0 == r + 0 && $5 + 0 == h + 0 && $7 == f && $8 + 0 == g + 0')
  [ -n "$row" ] || fail "no row $*"
  cell=$(echo "$row" | awk '{print $4}')
  minh=$(echo "$row" | awk '{print $6}')
  want=$(echo "$row" | awk '{print $9}')
  [ "$set" = all ] && ck+=(--checkpoint "$tmp/train/last.ckpt")
  rm -rf "$tmp/scores"
  local cellarg=(--cell "$cell")
  [ "$how" = cell-rel ] && cellarg=(--cell-rel "$rel")
  step "$ssmtl" score --data "$tmp/root" --detections "$tmp/sdet" "${ck[@]}" --out "$tmp/scores" "${cellarg[@]}" \
    --min-height-rel "$hrel" --filter "$filter" --normalize "$norm" --normal-detections "$tmp/det" --normal-videos 02
  step "$ssmtl" evaluate --scores "$tmp/scores/frame_scores" --labels "$tmp/synth/testing/gt_frame" \
    --smooth-sigma "$sigma" --json "$tmp/m.json"
  got=$(grep -o '"micro_auc": *[0-9.eE+-]*' "$tmp/m.json" | sed 's/.*: *//')
  awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; exit !(d < 2e-6 && d > -2e-6) }' ||
    fail "row '$row': ssmtl score + evaluate give micro AUC $got, the table $want"
  grep -q "^cell = $cell\$" "$tmp/scores/score_config.txt" || fail "score used another cell than $cell px"
  grep -q "^min_height = $minh\$" "$tmp/scores/score_config.txt" || fail "score used another minimum height than $minh px"
  echo "row $norm $set cell $cell ($how) min height $minh filter $filter sigma $sigma: table $want = score+evaluate $got"
}
# Bad input: clear errors naming the problem.
expect_error() {   # exit code, message fragment, command...
  local code=$1 msg=$2; shift 2
  local rc=0
  "$@" > "$tmp/err" 2>&1 || rc=$?
  [ "$rc" = "$code" ] || fail "expected exit $code from: $* (got $rc)"
  grep -qF "$msg" "$tmp/err" || fail "expected '$msg' from: $* (got: $(cat "$tmp/err"))"
}
expect_error 2 "'sideways' is not glide, backward or speed" "$ssmtl" synth --data "$root" --out "$tmp/x" --kinds sideways
expect_error 1 "$tmp/det/synthetic.txt" "$ssmtl" select --data "$tmp/det" --detections "$tmp/sdet" \
  --checkpoint "$tmp/train/best.ckpt" --normal-data "$root" --normal-detections "$tmp/det" --out "$tmp/y.txt"
sed 's/^format_version = 1$/format_version = 7/' "$tmp/synth/synthetic.txt" > "$tmp/v7" && cp "$tmp/v7" "$tmp/synth/synthetic.txt"
expect_error 1 "unknown format_version" "$ssmtl" select --data "$tmp/synth" --detections "$tmp/sdet" \
  --checkpoint "$tmp/train/best.ckpt" --normal-data "$root" --normal-detections "$tmp/det" --out "$tmp/y.txt"
expect_error 2 "give --cell or --cell-rel, not both" "$ssmtl" score --data "$tmp/root" --detections "$tmp/sdet" \
  --checkpoint "$tmp/train/best.ckpt" --out "$tmp/z" --cell 10 --cell-rel 0.5 --normal-detections "$tmp/det"
sed 's/^format_version = 7$/format_version = 1/' "$tmp/v7" > "$tmp/synth/synthetic.txt"
check_row log-zscore all 1 0.5 3 3 cell-rel
check_row none first 0.5 0 1 0 cell
check_row none first 0.5 0.5 1 0 cell
echo "OK: select post-processing on synthetic anomalies"
