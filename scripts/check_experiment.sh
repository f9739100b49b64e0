#!/usr/bin/env bash
# ctest "e2e: experiment cache and resume": configs/experiments/tiny-ped2.txt (2 grid points x 2 seeds on
# 2+1 Ped2 videos, one short epoch). 1) --max-new-runs 1 stops early with an incomplete table; 2) a rerun
# continues (the first run is reused, not recomputed) and completes 4 runs from 1 detection folder and 2
# trained models (the two normalisations share each seed's model); 3) a third run computes nothing; 4) a new
# scoring setting (score.min_height_rel) rescores the cached models; 5) so does score.window_ends = clamp (the
# default is shift); 6) train.swa_epochs = 1 with score.checkpoint = swa trains new models (the key changed), each
# writing swa.ckpt, and scores swa.ckpt.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
data=${2:-$src/../shared/data}
if [ ! -d "$data/ped2/testing/frames" ]; then echo "SKIP: no Ped2 data at $data/ped2"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$src"
sed "s|^data = .*|data = $data/ped2|" configs/experiments/tiny-ped2.txt > "$tmp/grid.txt"
run() { "$build/ssmtl" experiment "$tmp/grid.txt" --cache "$tmp/cache" --out "$tmp/out" "$@" > "$tmp/log" 2>&1 || { tail -30 "$tmp/log"; exit 1; }; }
fail() { echo "FAIL: $*"; tail -30 "$tmp/log"; exit 1; }
run --max-new-runs 1
grep -q '"complete": false' "$tmp/out/results.json" || fail "step 1: table not marked incomplete"
[ "$(grep -c '"seed":' "$tmp/out/results.json")" = 1 ] || fail "step 1: expected 1 run"
run
grep -q '4 runs (3 computed now)' "$tmp/log" || fail "step 2: expected 4 runs, 3 computed now"
grep -q '"complete": true' "$tmp/out/results.json" || fail "step 2: table not complete"
[ "$(ls "$tmp/cache/detections" | wc -l)" = 1 ] || fail "expected 1 detection folder"
[ "$(ls "$tmp/cache/train" | wc -l)" = 2 ] || fail "expected 2 trained models (one per seed)"
[ "$(ls "$tmp/cache/scores" | wc -l)" = 4 ] || fail "expected 4 score folders"
grep -q 'score.normalize=log-zscore | 2 | [0-9.]* +- [0-9.]*' "$tmp/out/results.md" || fail "no mean +- std row"
run
grep -q '4 runs (0 computed now)' "$tmp/log" || fail "step 3: a cached run was recomputed"
# A new scoring setting rescores the cached models (no new detection or training): step, the grid line, the
# score folders expected in all, the score_config.txt line that 4 of them must hold, the option it comes from.
rescore() {
  echo "$2" >> "$tmp/grid.txt"
  run
  [ "$(ls "$tmp/cache/train" | wc -l)" = 2 ] || fail "step $1: a model was trained again"
  [ "$(ls "$tmp/cache/scores" | wc -l)" = "$3" ] || fail "step $1: expected 4 new score folders"
  [ "$(grep -l "^$4\$" "$tmp"/cache/scores/*/score_config.txt | wc -l)" = 4 ] || fail "step $1: ssmtl score was not given $5"
}
rescore 4 "score.min_height_rel = 0.5" 8 "min_height_rel = 0.5" "--min-height-rel 0.5"
[ "$(grep -l '^window_ends = shift$' "$tmp"/cache/scores/*/score_config.txt | wc -l)" = 8 ] ||
  fail "step 4: the scores were not made with shifted windows (the default)"
rescore 5 "score.window_ends = clamp" 12 "window_ends = clamp" "--window-ends clamp"
printf 'train.swa_epochs = 1\nscore.checkpoint = swa\n' >> "$tmp/grid.txt"
run
[ "$(ls "$tmp/cache/train" | wc -l)" = 4 ] || fail "step 6: expected 2 new trained models"
[ "$(ls "$tmp"/cache/train/*/swa.ckpt | wc -l)" = 2 ] || fail "step 6: expected swa.ckpt in the 2 new models"
[ "$(ls "$tmp/cache/scores" | wc -l)" = 16 ] || fail "step 6: expected 4 new score folders"
[ "$(grep -l '^checkpoint = .*/swa.ckpt$' "$tmp"/cache/scores/*/score_config.txt | wc -l)" = 4 ] ||
  fail "step 6: ssmtl score was not given swa.ckpt"
echo "OK: experiment cache and resume"
