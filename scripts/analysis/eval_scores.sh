#!/usr/bin/env bash
# Evaluates one folder of `ssmtl score` output on Ped2 as the demo does (sigma 3, RBDC/TBDC on the derived
# tracks) and prints one line: micro macro rbdc tbdc (%).  usage: eval_scores.sh SCORES [SIGMA] [build] [gt]
set -euo pipefail
scores=$1; sigma=${2:-3}; build=${3:-build}; gt=${4:-../shared/data/ped2/testing}
labels=$(mktemp -d)
for f in "$scores"/frame_scores/*.txt; do cp "$gt/gt_frame/$(basename "$f")" "$labels/"; done
"$build/ssmtl" evaluate --scores "$scores/frame_scores" --labels "$labels" --regions "$scores/regions" \
  --tracks "$gt/gt_tracks_derived" --smooth-sigma "$sigma" --json "$scores/metrics_sigma$sigma.json" >/dev/null 2>&1
rm -rf "$labels"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('%s micro %.2f macro %.2f rbdc %.2f tbdc %.2f' % (sys.argv[2], 100*d['micro_auc'], 100*d['macro_auc'], 100*d['rbdc'], 100*d['tbdc']))" "$scores/metrics_sigma$sigma.json" "$scores"
