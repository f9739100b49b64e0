#!/usr/bin/env bash
# Paper-size SSMTL++v1 on UCSD Ped2 on a lent GPU, in one device call of under 10 minutes.
#
#   scripts/gpu_reproduce.sh pack   (here)  writes gpu_pack/ (ignored by git, <= 56 MiB so that it and the
#                                           tree fit the device call's 64 MiB): Ped2 re-encoded as one H.264
#                                           file per clip (ffmpeg, crf 18: lossy, see below), the frame labels
#                                           and derived tracks, the OOD images (T5) and the Yolo-Fastest files.
#   scripts/gpu_reproduce.sh run    (device) builds with the CUDA backend (build-cuda), decodes the clips with
#                                           `ssmtl prepare --videos`, then runs scripts/demo.sh with
#                                           DEVICE=cuda CONFIG=configs/ssmtl++v1.txt (hybrid detection, 20 epochs,
#                                           best epoch by validation loss, log-zscore task normalisation, sigma 3)
#                                           and copies the results (metrics.json, train log, config, times) to
#                                           $OUT/ped2-gpu (or runs/ped2-gpu).
# Device call:  run(command="scripts/gpu_reproduce.sh run", carry=["gpu_pack"], timeout_s=600)
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
  local t0=$SECONDS out=${OUT:-runs}/ped2-gpu data=runs/gpu-data
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  archs=(); [[ "$cap" =~ ^[0-9]+$ ]] && archs=(-DCMAKE_CUDA_ARCHITECTURES="$cap")
  NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  cmake -S . -B build-cuda -DSSMTL_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$NVCC" "${archs[@]}" > /dev/null
  timeout 240 cmake --build build-cuda -j"$(nproc)" --target ssmtl > build-cuda/build.log 2>&1 ||
    { tail -30 build-cuda/build.log; exit 2; }
  echo "build: $((SECONDS - t0)) s"
  mkdir -p "$data/ped2/testing"
  for split in training testing; do
    build-cuda/ssmtl prepare --videos "$pack/ped2/videos/$split" --out "$data/ped2/$split/frames" --digits 3
  done
  cp -r "$pack/ped2/testing/gt_frame" "$pack/ped2/testing/gt_tracks_derived" "$data/ped2/testing/"
  echo "decode: $((SECONDS - t0)) s"
  mkdir -p "$out"
  DEVICE=cuda CONFIG=configs/ssmtl++v1.txt RUN="$out" OOD="$pack/ood" WEIGHTS="$pack/weights" \
    timeout $((570 - (SECONDS - t0))) scripts/demo.sh build-cuda "$data" 2>&1 | grep -v '%)' | tee "$out/log.txt"
  echo "total: $((SECONDS - t0)) s"
}

case "$mode" in
  pack) pack ;;
  run) run ;;
  *) echo "usage: scripts/gpu_reproduce.sh pack|run" >&2; exit 2 ;;
esac
