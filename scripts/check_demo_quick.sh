#!/usr/bin/env bash
# End-to-end test (ctest "e2e: reduced demo"): the demo on a few Ped2 videos with one short epoch, then
# checks that every output exists, each test video has exactly one frame score per frame (the label
# file's length), and the four metrics are finite numbers in [0, 1].
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
data=${2:-$src/../shared/data}
if [ ! -d "$data/ped2/testing/frames" ]; then
  echo "SKIP: no Ped2 data at $data/ped2"; exit 0
fi
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
cd "$src"
QUICK=1 RUN="$run" scripts/demo.sh "$build" "$data" > "$run.log" 2>&1 || { tail -40 "$run.log"; exit 1; }
fail() { echo "FAIL: $*"; tail -20 "$run.log"; exit 1; }
for f in train/config.txt train/best.ckpt train/last.ckpt train/train_log.jsonl scores/score_config.txt metrics.json plots; do
  [ -e "$run/$f" ] || fail "missing $f"
done
grep -q '^train.seed' "$run/train/config.txt" || fail "the seed is not recorded in config.txt"
n=0
for f in "$run"/scores/frame_scores/*.txt; do
  v=$(basename "$f" .txt)
  want=$(wc -l < "$data/ped2/testing/gt_frame/$v.txt")
  got=$(wc -l < "$f")
  [ "$want" = "$got" ] || fail "video $v: $got frame scores for $want frames"
  n=$((n + 1))
done
[ "$n" -ge 1 ] || fail "no frame score files"
for k in micro_auc macro_auc rbdc tbdc; do
  v=$(grep -o "\"$k\": *[-0-9.eE+a-z]*" "$run/metrics.json" | head -1 | sed 's/.*: *//')
  [ -n "$v" ] || fail "metrics.json lacks $k"
  awk -v x="$v" 'BEGIN { exit !(x == x + 0 && x >= 0 && x <= 1) }' || fail "$k = $v is not a number in [0, 1]"
  echo "$k = $v"
done
echo "e2e: reduced demo OK ($n test videos)"
