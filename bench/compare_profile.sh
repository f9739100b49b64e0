#!/usr/bin/env bash
# Before/after speed of whole training and scoring steps: runs `ssmtl profile --json` of two builds in turn
# (A B A B ... so both see the same machine load) for each configuration, then prints objects/s of each, the
# ratio new/old of adjacent runs, and each run's measured fp32 peak (the machine's state at that moment).
#   bench/compare_profile.sh OLD_SSMTL NEW_SSMTL [ROUNDS] [BATCH]
# Configurations: configs/ssmtl++v1.txt, the same without its CvT, configs/ssmtl++v2.txt, the ssmtl preset
# (CONFIGS="ssmtl++v1 ssmtl" picks some). The load of a shared machine swings by 10x within minutes (see the
# peak column), so use several rounds and trust the ratios of adjacent runs more than the absolute numbers.
# OLD_ARGS / NEW_ARGS: extra profile options of each side, e.g. the same build in both precisions:
#   NEW_ARGS="--set train.precision=bf16" bench/compare_profile.sh build/ssmtl build/ssmtl 3
set -euo pipefail
old=${1:?usage: $0 OLD_SSMTL NEW_SSMTL [ROUNDS] [BATCH]}
new=${2:?usage: $0 OLD_SSMTL NEW_SSMTL [ROUNDS] [BATCH]}
rounds=${3:-2}
batch=${4:-64}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
declare -A cfg=(
  [ssmtl++v1]="--config $root/configs/ssmtl++v1.txt"
  [ssmtl++v1-no-cvt]="--config $root/configs/ssmtl++v1.txt --set model.backbone.transformer=none"
  [ssmtl++v2]="--config $root/configs/ssmtl++v2.txt"
  [ssmtl]="--set model.name=ssmtl"
)
names=${CONFIGS:-ssmtl++v1 ssmtl++v1-no-cvt ssmtl++v2 ssmtl}
for name in $names; do
  for r in $(seq 1 "$rounds"); do
    for side in old new; do
      bin=$old; extra=${OLD_ARGS:-}
      [ "$side" = new ] && bin=$new && extra=${NEW_ARGS:-}
      # shellcheck disable=SC2086
      "$bin" profile ${cfg[$name]} $extra --steps 1 --batch "$batch" --json > "$out/$name.$r.$side.json"
      echo "$name round $r $side done" >&2
    done
  done
done
python3 - "$out" "$rounds" "$names" <<'PY'
import json, sys, statistics
out, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
print(f"{'configuration':18} {'step':6} {'old obj/s':>10} {'new obj/s':>10} {'new/old':>8}   peak GFLOP/s old/new runs")
for name in names:
    for step in ["train", "score"]:
        o, n, ratios, peaks = [], [], [], []
        for r in range(1, rounds + 1):
            a = json.load(open(f"{out}/{name}.{r}.old.json"))
            b = json.load(open(f"{out}/{name}.{r}.new.json"))
            o.append(a[step]["objects_per_s"]); n.append(b[step]["objects_per_s"])
            ratios.append(n[-1] / o[-1]); peaks.append(f"{a['peak_gflops_fp32']:.0f}/{b['peak_gflops_fp32']:.0f}")
        print(f"{name:18} {step:6} {statistics.mean(o):10.2f} {statistics.mean(n):10.2f} "
              f"{statistics.geometric_mean(ratios):8.2f}   {' '.join(peaks)}   per round: "
              + " ".join(f"{x:.2f}" for x in ratios))
PY
