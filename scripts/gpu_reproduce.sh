#!/usr/bin/env bash
# Paper-size SSMTL++v1 on UCSD Ped2 on a lent GPU, in device calls of under 10 minutes each.
#
#   scripts/gpu_reproduce.sh pack   (here)  writes gpu_pack/ (ignored by git, <= 56 MiB so that it, gpu_bin/ and
#                                           the tree fit the device call's 64 MiB): Ped2 re-encoded as one H.264
#                                           file per clip (ffmpeg, crf 18: lossy, see below), the frame labels
#                                           and derived tracks, the OOD images (T5), the Yolo-Fastest files, and
#                                           the hybrid detections made HERE from the re-encoded clips (BIN=
#                                           build/ssmtl; DETECT=0: none, the device then detects)
#   scripts/gpu_reproduce.sh run    (device) unpacks the programs of gpu_bin/ when carried (scripts/gpu_bin.sh
#                                           pack), else builds with the CUDA backend (build-cuda); decodes the clips
#                                           with `ssmtl prepare --videos` (OpenCV's decoder where the machine has no
#                                           ffmpeg), then runs scripts/demo.sh with DEVICE=cuda and the paper-size
#                                           configs/ssmtl++v1.txt (20 epochs, best epoch by validation loss,
#                                           log-zscore task normalisation, sigma 3; BatchNorm statistics per
#                                           window after every epoch: the config's train.precise_bn; no swa.ckpt:
#                                           the carried state holds no epoch checkpoints) with the packed detections,
#                                           time-boxed with train.max_seconds so that the call fits BUDGET seconds
#                                           (570; RESERVE 150 s of it kept for scoring and evaluation: demo.sh's
#                                           DEADLINE), continuing the training of gpu_state/train when carried.
#                                           To $OUT/ped2-gpu: log.txt, metrics.json, times.txt, the train log and
#                                           config, plots.tar.gz, state.tar and best.tar (the training state).
#                                           Each call starts from clean run folders; its exit status is demo.sh's.
# Device calls (the paper's 20 epochs take more than one at today's 521 objects/s; each call scores what it has):
#   run(command="scripts/gpu_reproduce.sh run", carry=["gpu_pack", "gpu_bin"], timeout_s=600)
#   here: rm -rf gpu_state && mkdir gpu_state && for t in state best; do tar -xf <files_at>/ped2-gpu/$t.tar -C gpu_state; done
#   run(command="scripts/gpu_reproduce.sh run", carry=["gpu_pack", "gpu_bin", "gpu_state"], timeout_s=600) ...
# Dry run here: RUN_DEVICE=cpu QUICK=1 BUDGET=600 scripts/gpu_reproduce.sh run (the same steps, 3 videos, 1 short epoch).
# The re-encoded frames differ slightly from the JPEGs (crf 18 H.264 of gray 360x240 frames): a GPU result is
# comparable with a CPU run on the same decoded frames, not bit-identical with one on ../shared/data/ped2. Where
# the device decodes with OpenCV, its frames differ from ffmpeg's (the detections') in the rounding of the colour
# conversion and the JPEG quality.
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
  # The detections, made here on the CPU from the re-encoded clips (decoded by ffmpeg), so that no device time
  # goes into them; the object tracks without T4's class probabilities (v1 has no T4): about 1 MiB.
  local bin=${BIN:-build/ssmtl} dec="$pack.tmp/decoded"
  if [ "${DETECT:-1}" = 1 ]; then
    [ -x "$bin" ] || { echo "pack: no $bin (make, or BIN=..., or DETECT=0 to detect on the device)" >&2; exit 1; }
    for split in training testing; do
      "$bin" prepare --videos "$pack.tmp/ped2/videos/$split" --out "$dec/ped2/$split/frames" --digits 3
    done
    mkdir -p "$pack.tmp/detections"
    "$bin" detect --data "$dec/ped2" --split training --method hybrid --out "$dec/det/training" --weights "$w"
    "$bin" detect --data "$dec/ped2" --split testing --method hybrid --out "$dec/det/testing" --weights "$w" \
      --recall-gt "$src/testing/gt_tracks_derived" | tee "$pack.tmp/detections/detection_summary.txt"
    for split in training testing; do
      mkdir -p "$pack.tmp/detections/$split"
      cp "$dec/det/$split"/*.txt "$pack.tmp/detections/$split/"
    done
    rm -rf "$dec"
  fi
  local mib=$(( $(du -sb "$pack.tmp" | cut -f1) / 1048576 ))
  if [ "$mib" -gt "$limit_mib" ]; then echo "pack: $mib MiB > $limit_mib MiB" >&2; exit 1; fi
  rm -rf "$pack" && mv "$pack.tmp" "$pack"
  echo "pack: $pack/ is $mib MiB ($(ls "$pack/ped2/videos/training" | wc -l) training + $(ls "$pack/ped2/videos/testing" | wc -l) test clips, OOD images, detector)"
}

run() {
  [ -d "$pack/ped2/videos" ] || { echo "run: no $pack/ (run 'scripts/gpu_reproduce.sh pack' here and carry it)" >&2; exit 2; }
  local t0=$SECONDS budget=${BUDGET:-570} out=runs/ped2-gpu data=runs/gpu-data state=${STATE:-gpu_state} demo_rc=0
  # Each call starts from a clean run folder (an earlier call's results never come back as this one's).
  rm -rf "$out" "$data"
  command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  if [ -f gpu_bin/bin.tar.xz ]; then   # programs built here (scripts/gpu_bin.sh pack): no build there
    eval "$(scripts/gpu_bin.sh env)"
    local head; head=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    grep -q "^$head" build-cuda/COMMIT ||
      echo "run: warning: the carried programs are of commit $(head -1 build-cuda/COMMIT), the tree is at $head (scripts/gpu_bin.sh pack again)" >&2
  else
    local cap="" archs=()
    command -v nvidia-smi > /dev/null && cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')
    [[ "$cap" =~ ^[0-9]+$ ]] && archs=(-DCMAKE_CUDA_ARCHITECTURES="$cap")
    NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
    echo "run: no gpu_bin/bin.tar.xz: building build-cuda here (up to 240 s)"
    cmake -S . -B build-cuda -DSSMTL_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$NVCC" "${archs[@]}" > /dev/null
    local rc=0
    timeout 240 cmake --build build-cuda -j"$(nproc)" --target ssmtl > build-cuda/build.log 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
      tail -30 build-cuda/build.log
      [ "$rc" = 124 ] && echo "run: the build did not finish in 240 s" >&2 || echo "run: the build failed (exit $rc)" >&2
      exit 2
    fi
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
  if [ -f "$state/train/last.ckpt" ]; then   # an earlier call's training, carried back: continue it
    rm -rf "$out/train" && cp -r "$state/train" "$out/train"
    echo "state: resuming $state/train/last.ckpt"
  fi
  local dets=""; [ -d "$pack/detections/training" ] && dets="$pack/detections"
  DEVICE=${RUN_DEVICE:-cuda} CONFIG=configs/ssmtl++v1.txt RUN="$out" OOD="$pack/ood" WEIGHTS="$pack/weights" DETECTIONS="$dets" \
    PRECISE_BN=${PRECISE_BN:-0} SWA_EPOCHS=0 \
    RESUME=1 DEADLINE=$(( $(date +%s) + budget - (SECONDS - t0) )) RESERVE=${RESERVE:-150} \
    timeout $((budget - (SECONDS - t0))) scripts/demo.sh build-cuda "$data" 2>&1 | grep -v "%)" | tee "$out/log.txt" \
    || { demo_rc=$?; echo "demo: exit status $demo_rc" | tee -a "$out/log.txt"; }
  echo "total: $((SECONDS - t0)) s" | tee -a "$out/log.txt"
  if [ -n "${OUT:-}" ]; then   # (the call brings back at most 8 files)
    mkdir -p "$OUT/ped2-gpu"
    for f in log.txt metrics.json times.txt train/train_log.jsonl train/config.txt; do
      [ -f "$out/$f" ] && cp "$out/$f" "$OUT/ped2-gpu/"
    done
    [ -d "$out/plots" ] && tar -C "$out" --exclude="plots/frames" -czf "$OUT/ped2-gpu/plots.tar.gz" plots 2>/dev/null
    # The training state for the next call (extract both into gpu_state/ here and carry it): last.ckpt, the log
    # and config in state.tar, best.ckpt in best.tar (each file back <= 16 MiB).
    if [ -f "$out/train/last.ckpt" ]; then
      tar -C "$out" --exclude='train/epoch_*' --exclude='train/best.ckpt' -cf "$OUT/ped2-gpu/state.tar" train
      [ -f "$out/train/best.ckpt" ] && tar -C "$out" -cf "$OUT/ped2-gpu/best.tar" train/best.ckpt
    fi
  fi
  return "$demo_rc"
}

case "$mode" in
  pack) pack ;;
  run) run ;;
  *) echo "usage: scripts/gpu_reproduce.sh pack|run" >&2; exit 2 ;;
esac
