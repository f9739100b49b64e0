#!/usr/bin/env bash
# Paper-size SSMTL++v1 on UCSD Ped2 on a lent GPU, in one device call of under 10 minutes.
#
#   scripts/gpu_reproduce.sh pack   (here)  writes gpu_pack/ (ignored by git, <= 56 MiB so that it and the
#                                           tree fit the device call's 64 MiB): Ped2 re-encoded as one H.264
#                                           file per clip (ffmpeg, crf 18: lossy, see below), the frame labels
#                                           and derived tracks, the OOD images (T5) and the Yolo-Fastest files.
#   scripts/gpu_reproduce.sh run    (device) unpacks the programs of gpu_bin/ when carried (scripts/gpu_bin.sh
#                                           pack), else builds with the CUDA backend (build-cuda); decodes the clips
#                                           with `ssmtl prepare --videos` (OpenCV's decoder where the machine has no
#                                           ffmpeg), then runs scripts/demo.sh with DEVICE=cuda and the paper-size
#                                           configs/ssmtl++v1.txt (hybrid detection, 20 epochs, best epoch by
#                                           validation loss, log-zscore task normalisation, sigma 3) time-boxed with
#                                           train.max_seconds so that the whole run fits BUDGET seconds (570; RESERVE
#                                           150 s of it kept for scoring and evaluation: demo.sh's DEADLINE), writing runs/ped2-gpu and
#                                           copying its results (metrics.json, train log, config, times, plots) to
#                                           $OUT/ped2-gpu.
# Device call:  run(command="scripts/gpu_reproduce.sh run", carry=["gpu_pack", "gpu_bin"], timeout_s=600)
# The re-encoded frames differ slightly from the JPEGs (crf 18 H.264 of gray 360x240 frames): a GPU result is
# comparable with a CPU run on the same decoded frames, not bit-identical with one on ../shared/data/ped2.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
pack=${PACK:-gpu_pack}
limit_mib=56

pack() {
  local src=${DATA:-../shared/data}/ped2 w=${WEIGHTS:-../shared/weights/yolo-fastest} ood=${OOD:-../shared/data/ood}
  rm -rf "$pack.tmp" && mkdir -p "$pack.tmp/ped2/videos" "$pack.tmp/ped2/testing" "$pack.tmp/weights"
  for split in training testing; do
    mkdir -p "$pack.tmp/ped2/videos/$split"
    for d in "$src/$split/frames"/*/; do
      v=$(basename "$d")
      first=$(ls "$d" | sort | head -1)
      stem=${first%.*}
      pattern="%0${#stem}d.${first##*.}"   # 000.jpg -> %03d.jpg
      ffmpeg -nostdin -loglevel error -y -framerate 10 -start_number "$((10#$stem))" -i "$d/$pattern" \
        -c:v libx264 -preset slow -crf 18 -pix_fmt yuv420p "$pack.tmp/ped2/videos/$split/$v.mp4"
      n_in=$(ls "$d" | wc -l)
      n_out=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 \
        "$pack.tmp/ped2/videos/$split/$v.mp4")
      [ "$n_in" = "$n_out" ] || { echo "pack: $split/$v: $n_in frames in, $n_out in the clip" >&2; exit 1; }
    done
  done
  cp -r "$src/testing/gt_frame" "$src/testing/gt_tracks_derived" "$pack.tmp/ped2/testing/"
  cp -r "$ood" "$pack.tmp/ood"
  cp "$w"/yolo-fastest-1.1-xl.cfg "$w"/yolo-fastest-1.1-xl.weights "$w"/coco.names "$pack.tmp/weights/"
  [ -f "$w/LICENSE" ] && cp "$w/LICENSE" "$pack.tmp/weights/"
  local mib=$(( $(du -sb "$pack.tmp" | cut -f1) / 1048576 ))
  if [ "$mib" -gt "$limit_mib" ]; then echo "pack: $mib MiB > $limit_mib MiB" >&2; exit 1; fi
  rm -rf "$pack" && mv "$pack.tmp" "$pack"
  echo "pack: $pack/ is $mib MiB ($(ls "$pack/ped2/videos/training" | wc -l) training + $(ls "$pack/ped2/videos/testing" | wc -l) test clips, OOD images, detector)"
}

run() {
  [ -d "$pack/ped2/videos" ] || { echo "run: no $pack/ (run 'scripts/gpu_reproduce.sh pack' here and carry it)" >&2; exit 2; }
  local t0=$SECONDS budget=${BUDGET:-570} out=runs/ped2-gpu data=runs/gpu-data
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
  if [ -f gpu_bin/bin.tar.xz ]; then   # programs built here (scripts/gpu_bin.sh pack): no build there
    eval "$(scripts/gpu_bin.sh env)"
  else
    cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
    archs=(); [[ "$cap" =~ ^[0-9]+$ ]] && archs=(-DCMAKE_CUDA_ARCHITECTURES="$cap")
    NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
    cmake -S . -B build-cuda -DSSMTL_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$NVCC" "${archs[@]}" > /dev/null
    timeout 240 cmake --build build-cuda -j"$(nproc)" --target ssmtl > build-cuda/build.log 2>&1 ||
      { tail -30 build-cuda/build.log; exit 2; }
  fi
  echo "build: $((SECONDS - t0)) s"
  mkdir -p "$data/ped2/testing"
  for split in training testing; do
    if command -v ffmpeg > /dev/null; then
      build-cuda/ssmtl prepare --videos "$pack/ped2/videos/$split" --out "$data/ped2/$split/frames" --digits 3
    else   # no ffmpeg there: OpenCV's decoder (python3 with cv2), the same layout (000.jpg ...)
      python3 - "$pack/ped2/videos/$split" "$data/ped2/$split/frames" <<'PY'
import cv2, os, sys
src, dst = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(src)):
    clip, out = os.path.join(src, name), os.path.join(dst, os.path.splitext(name)[0])
    os.makedirs(out, exist_ok=True)
    cap, k = cv2.VideoCapture(clip), 0
    while True:
        ok, frame = cap.read()
        if not ok: break
        cv2.imwrite(os.path.join(out, "%03d.jpg" % k), frame, [cv2.IMWRITE_JPEG_QUALITY, 95]); k += 1
    if k == 0: sys.exit("decode: no frame read from " + clip)
PY
    fi
  done
  cp -r "$pack/ped2/testing/gt_frame" "$pack/ped2/testing/gt_tracks_derived" "$data/ped2/testing/"
  echo "decode: $((SECONDS - t0)) s"
  # The paper's schedule, time-boxed so that scoring and evaluation still fit the call: training stops after
  # the epoch past which one more would end later than RESERVE s before the call's end (best epoch by
  # validation loss as ever; demo.sh's DEADLINE).
  mkdir -p "$out"
  DEVICE=cuda CONFIG=configs/ssmtl++v1.txt RUN="$out" OOD="$pack/ood" WEIGHTS="$pack/weights" \
    DEADLINE=$(( $(date +%s) + budget - (SECONDS - t0) )) RESERVE=${RESERVE:-150} \
    timeout $((budget - (SECONDS - t0))) scripts/demo.sh build-cuda "$data" 2>&1 | grep -v "%)" | tee "$out/log.txt" \
    || echo "demo: exit status $?" | tee -a "$out/log.txt"
  echo "total: $((SECONDS - t0)) s" | tee -a "$out/log.txt"
  if [ -n "${OUT:-}" ]; then   # (the call brings back at most 8 files)
    mkdir -p "$OUT/ped2-gpu"
    for f in log.txt metrics.json times.txt detection_summary.txt train/train_log.jsonl train/config.txt; do
      [ -f "$out/$f" ] && cp "$out/$f" "$OUT/ped2-gpu/"
    done
    [ -d "$out/plots" ] && tar -C "$out" --exclude="plots/frames" -czf "$OUT/ped2-gpu/plots.tar.gz" plots 2>/dev/null
  fi
}

case "$mode" in
  pack) pack ;;
  run) run ;;
  *) echo "usage: scripts/gpu_reproduce.sh pack|run" >&2; exit 2 ;;
esac
