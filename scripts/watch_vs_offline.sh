#!/usr/bin/env bash
# ssmtl watch against the offline path on every Ped2 test video, both scoring as `make demo` scores (task scores
# standardised with log-zscore, best.ckpt and last.ckpt averaged per object, map cell 0.33 x the median object
# height of the normal videos, 3x3x3 filter; watch gets the cell in pixels that score chose): per-video AUC of the frame scores
# after the same causal smoothing (half-Gaussian, sigma 3), from
#   offline: ssmtl score --normalize $NORMALIZE --checkpoint ... (RUN's test detections) + ssmtl evaluate
#            --smooth-kind half-gaussian
#   watch:   ssmtl watch with the same checkpoints, the normalisation files that score run wrote
#            (--normalization) and RUN's detection settings (--detect-config), on the frame folder (the same pixels as
#            offline) and, with MP4=1, on the video encoded as .mp4 (H.264, made here with ffmpeg from the frames,
#            decoded by ffmpeg: lossy, so boxes move a little)
# Usage: scripts/watch_vs_offline.sh BUILD RUN OUT_DIR [DATA_ROOT]
#   RUN: a make demo run folder (RUN/train/<name>.ckpt, RUN/detections/{training,testing}), e.g.
#   scripts/watch_vs_offline.sh build runs/ped2-demo runs/watch-cmp
# Environment (scripts/demo.sh's defaults): CHECKPOINTS="best last"  NORMALIZE=log-zscore  CELL_REL=0.33  FILTER=3  MIN_HEIGHT_REL=0.5
#   MP4=0
#   VIDEOS="01 02" (a subset of the test videos; default all)
set -euo pipefail
build=$1 run=$2 out=$3 root=${4:-../shared/data/ped2}
ssmtl=$build/ssmtl
normalize=${NORMALIZE:-log-zscore}
cell_rel=${CELL_REL:-0.33}
filter=${FILTER:-3}
min_height_rel=${MIN_HEIGHT_REL:-0.5}
checkpoints=${CHECKPOINTS:-best last}
det="$run/detections/testing"
mkdir -p "$out"/watch "$out"/watch_scores "$out"/mp4 "$out"/mp4_scores
ckpt_args=() watch_args=(--detect-config "$det/detect_config.txt")
n=0
for c in $checkpoints; do
  [ -f "$run/train/$c.ckpt" ] || continue
  ckpt_args+=(--checkpoint "$run/train/$c.ckpt")
  n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "watch_vs_offline: no checkpoint ($checkpoints) in $run/train" >&2; exit 2; }
score_args=(--normalize "$normalize" --cell-rel "$cell_rel" --min-height-rel "$min_height_rel" --filter "$filter" \
            --normal-detections "$run/detections/training")
videos=${VIDEOS:-$(ls "$root/testing/frames" | sort)}
"$ssmtl" score --data "$root" --detections "$det" "${ckpt_args[@]}" --out "$out/offline" "${score_args[@]}" \
  --videos "$(echo $videos | tr ' ' ',')" 2>&1 | tail -1
cell=$(sed -n 's/^cell = //p' "$out/offline/score_config.txt")   # the pixels score chose from --cell-rel
min_height=$(sed -n 's/^min_height = //p' "$out/offline/score_config.txt")   # likewise from --min-height-rel
watch_args+=("${ckpt_args[@]}" --cell "$cell" --min-height "$min_height" --filter "$filter")
if [ "$normalize" != none ]; then
  if [ "$n" = 1 ]; then watch_args+=(--normalization "$out/offline/normalization.txt")
  else for ((i = 0; i < n; ++i)); do watch_args+=(--normalization "$out/offline/normalization_$i.txt"); done; fi
fi
echo "watch options: ${watch_args[*]}"
to_scores() {   # JSON lines -> one raw (unsmoothed) frame score per line; dropped frames would be an error here
  python3 -c '
import json, sys
out = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "frame" in r:
        assert not r.get("dropped"), "frame %d dropped" % r["frame"]
        out.append("%.9g" % r["raw_score"])
open(sys.argv[2], "w").write("\n".join(out) + "\n")' "$1" "$2"
}
for v in $videos; do
  d="$root/testing/frames/$v"
  "$ssmtl" watch "${watch_args[@]}" --input "$d" --drop none --out "$out/watch/$v.jsonl" --stats-every 1000 2>&1 | tail -1
  to_scores "$out/watch/$v.jsonl" "$out/watch_scores/$v.txt"
  if [ "${MP4:-0}" = 1 ]; then
    ffmpeg -nostdin -loglevel error -y -framerate 10 -i "$d/%03d.jpg" -c:v libx264 -pix_fmt yuv420p -crf 18 "$out/mp4/$v.mp4"
    "$ssmtl" watch "${watch_args[@]}" --input "$out/mp4/$v.mp4" --drop none --out "$out/mp4/$v.jsonl" --stats-every 1000 2>&1 | tail -1
    to_scores "$out/mp4/$v.jsonl" "$out/mp4_scores/$v.txt"
  fi
done
mkdir -p "$out/labels"
for v in $videos; do cp "$root/testing/gt_frame/$v.txt" "$out/labels/"; done
ev() { "$ssmtl" evaluate --scores "$1" --labels "$out/labels" --smooth-kind half-gaussian --smooth-sigma 3 --json "$2" >/dev/null; }
ev "$out/offline/frame_scores" "$out/offline.json"
ev "$out/watch_scores" "$out/watch.json"
[ "${MP4:-0}" = 1 ] && ev "$out/mp4_scores" "$out/mp4.json"
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
load = lambda n: json.load(open(os.path.join(out, n))) if os.path.exists(os.path.join(out, n)) else None
off, w, m = load("offline.json"), load("watch.json"), load("mp4.json")
pv = lambda j: {v["name"]: v["auc"] for v in j["per_video"]}
o, wa, ma = pv(off), pv(w), pv(m) if m else {}
print("video  offline AUC  watch (folder)  diff    " + ("watch (.mp4)  diff" if m else ""))
worst = 0
for v in sorted(o):
    if o[v] is None:
        print("%-6s single-class video (no AUC)" % v); continue
    d = 100 * (wa[v] - o[v]); worst = max(worst, abs(d))
    line = "%-6s %8.2f%%    %8.2f%%     %+6.3f" % (v, 100 * o[v], 100 * wa[v], d)
    if m: line += "   %8.2f%%   %+6.3f" % (100 * ma[v], 100 * (ma[v] - o[v]))
    print(line)
print("micro AUC: offline %.2f%%, watch %.2f%%%s" % (100 * off["micro_auc"], 100 * w["micro_auc"],
      ", watch .mp4 %.2f%%" % (100 * m["micro_auc"]) if m else ""))
print("macro AUC: offline %.2f%%, watch %.2f%%%s" % (100 * off["macro_auc"], 100 * w["macro_auc"],
      ", watch .mp4 %.2f%%" % (100 * m["macro_auc"]) if m else ""))
import glob
raw = []
for f in sorted(glob.glob(os.path.join(out, "watch_scores", "*.txt"))):
    a = [float(x) for x in open(f)]
    b = [float(x) for x in open(os.path.join(out, "offline", "frame_scores", os.path.basename(f)))]
    assert len(a) == len(b), f
    raw += [abs(x - y) for x, y in zip(a, b)]
print("raw frame scores, watch (folder) vs offline: %d frames, %d within 1e-6, max |diff| %.3g" %
      (len(raw), sum(d <= 1e-6 for d in raw), max(raw)))
print("largest per-video difference (folder): %.3f points %s" % (worst, "(within 1 point)" if worst <= 1 else "(OVER 1 point)"))
sys.exit(0 if worst <= 1 else 1)
PY
