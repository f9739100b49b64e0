#!/usr/bin/env bash
# The main job: SSMTL at paper size (configs/ssmtl-demo.txt) on UCSD Ped2, end to end, on the CPU.
#   detect (hybrid: Yolo-Fastest + optical flow) on training and test videos -> train (configs/ssmtl-demo.txt)
#   -> score the test videos -> evaluate (micro/macro AUC, RBDC, TBDC) with plots.
# Usage: scripts/demo.sh [build_dir] [data_root]   (make demo runs it). Environment:
#   DATASET=ped2  CONFIG=configs/ssmtl-demo.txt  RUN=runs/ped2-demo  SIGMA=3  QUICK=1 (CI: 3 training videos, 2 test videos, 1 short epoch)
#   DEVICE=cuda: training and scoring on the GPU (e.g. with CONFIG=configs/ssmtl++v1.txt, the paper's model)
#   CHECKPOINTS="best last": the checkpoints scored and averaged per object (a checkpoint ensemble; "best" alone
#   = the lowest validation loss only)
#   NORMALIZE=log-zscore: task scores standardised with the held-out validation videos' objects (none = plain mean)
#   CELL_REL=0.33 FILTER=3: anomaly map cell = 0.33 x the median height of the validation videos' objects (10 px on
#   Ped2), 3x3x3 mean filter; with SIGMA=3, NORMALIZE and CHECKPOINTS: the choice of scripts/select_postprocessing.sh
#   (synthetic anomalies in the held-out training videos, no test labels; SEED=0 and 1 on the three saved demo
#   models, pooled by scripts/analysis/combine_selections.py; docs/RESULTS.md section 12). CELL_REL=0.67 = the
#   a-priori 20 px map of session 4, better on Ped2's test set (reported there, not chosen by it)
#   MIN_HEIGHT_REL=0.5: objects lower than 0.5 x that median height (15 px on Ped2) write nothing into the map
#   (ssmtl score --min-height-rel; 0 = every object): chosen on synthetic anomalies (SEED=0, 1 and 2 of
#   select_postprocessing.sh, pooled by combine_selections.py), the other
#   constants fixed as above (docs/RESULTS.md section 30)
#   OOD=../shared/data/ood  WEIGHTS=../shared/weights/yolo-fastest (the T5 images and the detector's files)
#   PRECISE_BN=N: before scoring, BatchNorm statistics re-estimated per input window from N training objects
#   (ssmtl score --precise-bn; 0 = off, the default: a config with train.precise_bn, e.g. configs/ssmtl++v1.txt,
#   already stores them in its checkpoints; docs/RESULTS.md sections 22-23)
#   SWA_EPOCHS=K: train with --set train.swa_epochs=K (RUN/train/swa.ckpt: the last K epochs' weights averaged,
#   BatchNorm re-estimated; docs/RESULTS.md 39; unset = the config's); CHECKPOINTS=swa scores it
#   DETECTIONS=DIR: DIR/training and DIR/testing (ssmtl detect's output, made before) instead of detecting again
#   RESUME=1: training continues from RUN/train/last.ckpt when there is one (an interrupted or time-boxed run)
#   DEADLINE=<unix time> RESERVE=150: training stops at an epoch's end early enough (train.max_seconds) to leave
#   RESERVE seconds before DEADLINE for scoring and evaluation (a time-boxed call, scripts/gpu_reproduce.sh); the
#   check comes after each epoch, so a first epoch longer than the box still runs. With RESUME=1 and no time
#   left, the existing checkpoints are scored.
#   DATASET=avenue: the .avi files of <data_root>/avenue/videos are first decoded into RUN/data (ssmtl prepare).
set -euo pipefail
build=${1:-build}
data=${2:-../shared/data}
dataset=${DATASET:-ped2}
root="$data/$dataset"
config=${CONFIG:-configs/ssmtl-demo.txt}
run=${RUN:-runs/$dataset-demo}
sigma=${SIGMA:-3}
cell_rel=${CELL_REL:-0.33}
filter=${FILTER:-3}
min_height_rel=${MIN_HEIGHT_REL:-0.5}
normalize=${NORMALIZE:-log-zscore}
checkpoints=${CHECKPOINTS:-best last}
ood=${OOD:-../shared/data/ood}                        # (the defaults of ssmtl train / detect)
weights=${WEIGHTS:-../shared/weights/yolo-fastest}
ssmtl="$build/ssmtl"

gt="$root/testing"            # gt_frame/ and gt_tracks_derived/
mkdir -p "$run"
if [ ! -d "$root/testing/frames" ] && [ -d "$root/videos/testing" ]; then
  echo "== 0/5 decoding the videos of $root/videos (ffmpeg) into $run/data"
  for split in training testing; do
    "$build/ssmtl" prepare --videos "$root/videos/$split" --out "$run/data/$split/frames"
  done
  root="$run/data"
fi
if [ ! -d "$root/training/frames" ] || [ ! -d "$root/testing/frames" ]; then
  cat >&2 <<MSG
demo: no data set at $root (expected $root/training/frames/<video>/ and $root/testing/frames/<video>/).
UCSD Ped2 comes from the UCSD Anomaly Detection Dataset (Mahadevan et al., CVPR 2010); this repository
reads it from ../shared/data/ped2. Point the demo elsewhere with: make demo DATA=/path/to/data
MSG
  exit 2
fi

extra_score=(--normalize "$normalize" --cell-rel "$cell_rel" --min-height-rel "$min_height_rel" --filter "$filter")
extra_score+=(--normal-detections "$run/detections/training")   # (normalisation statistics, median object height)
extra_detect_train=(--weights "$weights")
extra_detect_test=(--weights "$weights")
extra_train=(--ood "$ood")
if [ "${PRECISE_BN:-0}" != 0 ]; then   # BatchNorm statistics per input window before scoring (docs/RESULTS.md 22)
  [[ "$PRECISE_BN" =~ ^[0-9]+$ ]] || { echo "demo: PRECISE_BN must be a number of objects, got '$PRECISE_BN'" >&2; exit 2; }
  extra_score+=(--precise-bn "$PRECISE_BN" --ood "$ood")
fi
if [ -n "${SWA_EPOCHS:-}" ]; then   # weight averaging over the last K epochs (train.swa_epochs)
  [[ "$SWA_EPOCHS" =~ ^[0-9]+$ ]] || { echo "demo: SWA_EPOCHS must be a number of epochs, got '$SWA_EPOCHS'" >&2; exit 2; }
  extra_train+=(--set "train.swa_epochs=$SWA_EPOCHS")
fi
if [ -n "${DEVICE:-}" ]; then
  extra_detect_train+=(--device "$DEVICE")
  extra_detect_test+=(--device "$DEVICE")
  extra_train+=(--device "$DEVICE")
  extra_score+=(--device "$DEVICE")
fi
if [ "${QUICK:-0}" = 1 ]; then   # CI: a reduced run that proves the path end to end
  extra_train+=(--set train.epochs=1 --set train.max_objects_per_epoch=256 --set train.max_val_objects=64)
  tr=$(ls "$root/training/frames" | sort | head -3 | paste -sd, -)
  te=$(ls "$root/testing/frames" | sort | head -2 | paste -sd, -)
  extra_detect_train+=(--videos "$tr")
  extra_detect_test+=(--videos "$te")
  extra_train+=(--videos "$tr")
  extra_score+=(--videos "$te")
  extra_score+=(--normal-videos "${tr##*,}")   # the one held out of the 3
fi

declare -A took
t0=$SECONDS
s=$SECONDS
if [ -n "${DETECTIONS:-}" ]; then   # made before (e.g. here, for a GPU call): DETECTIONS/training, DETECTIONS/testing
  for split in training testing; do
    [ -d "$DETECTIONS/$split" ] || { echo "demo: DETECTIONS=$DETECTIONS has no $split/ (ssmtl detect's output of both splits)" >&2; exit 2; }
  done
  echo "== 1-2/5 detection: those of $DETECTIONS"
  rm -rf "$run/detections" && mkdir -p "$run/detections"
  cp -r "$DETECTIONS/training" "$DETECTIONS/testing" "$run/detections/"
  [ -f "$DETECTIONS/detection_summary.txt" ] && cp "$DETECTIONS/detection_summary.txt" "$run/"
else
echo "== 1/5 detection (hybrid: Yolo-Fastest + optical flow), training videos"
"$ssmtl" detect --data "$root" --split training --method hybrid --out "$run/detections/training" "${extra_detect_train[@]}"
echo "== 2/5 detection, test videos (recall of the ground-truth regions, derived tracks)"
"$ssmtl" detect --data "$root" --split testing --method hybrid --out "$run/detections/testing" --draw 2 \
  --recall-gt "$gt/gt_tracks_derived" "${extra_detect_test[@]}" | tee "$run/detection_summary.txt"
fi
took[detect]=$((SECONDS - s))

echo "== 3/5 training ($config)"
s=$SECONDS
train=1
if [ -n "${DEADLINE:-}" ]; then   # time-boxed training (train.max_seconds), RESERVE s kept for scoring and evaluation
  reserve=${RESERVE:-150}
  [[ "$DEADLINE" =~ ^[0-9]+$ ]] || { echo "demo: DEADLINE must be a time in seconds since 1970 (date +%s), got '$DEADLINE'" >&2; exit 2; }
  [[ "$reserve" =~ ^[0-9]+$ ]] || { echo "demo: RESERVE must be a number of seconds, got '$reserve'" >&2; exit 2; }
  box=$(( DEADLINE - $(date +%s) - reserve ))
  if [ "$box" -le 0 ] && [ "${RESUME:-0}" = 1 ] && [ -f "$run/train/best.ckpt" ]; then
    echo "no time left for training ($box s before DEADLINE - RESERVE): scoring the checkpoints of $run/train"
    train=0
  elif [ "$box" -le 0 ]; then
    echo "demo: no time left for training: DEADLINE is $((DEADLINE - $(date +%s))) s away, RESERVE $reserve s" >&2; exit 1
  else
    extra_train+=(--set "train.max_seconds=$box")
    echo "training time-boxed to $box s (DEADLINE $DEADLINE, RESERVE $reserve s; checked at each epoch's end)"
  fi
fi
if [ "${RESUME:-0}" = 1 ] && [ -f "$run/train/last.ckpt" ]; then   # continue an interrupted or time-boxed run
  extra_train+=(--resume "$run/train/last.ckpt")
  echo "resuming from $run/train/last.ckpt"
fi
if [ "$train" = 1 ]; then
  "$ssmtl" train --data "$root" --detections "$run/detections/training" --out "$run/train" --config "$config" \
    "${extra_train[@]}"
fi
took[train]=$((SECONDS - s))

echo "== 4/5 scoring the test videos (checkpoints: $checkpoints; task scores normalised: $normalize; map cell $cell_rel x object height, objects from $min_height_rel x object height, filter $filter)"
s=$SECONDS
ckpt_args=()
for c in $checkpoints; do   # (a checkpoint equal to one already listed, e.g. best = last after one epoch: once)
  f="$run/train/$c.ckpt"
  if [ ! -f "$f" ]; then echo "demo: note: CHECKPOINTS names $c, but $f does not exist: not scored"; continue; fi
  dup=0
  for g in "${ckpt_args[@]}"; do if [ "$g" != --checkpoint ] && cmp -s "$f" "$g"; then dup=1; fi; done
  [ $dup = 1 ] || ckpt_args+=(--checkpoint "$f")
done
if [ ${#ckpt_args[@]} = 0 ]; then
  echo "demo: none of CHECKPOINTS ($checkpoints) is in $run/train (swa.ckpt is written when the last epoch of a run with train.swa_epochs > 0 ends: SWA_EPOCHS)" >&2; exit 1
fi
"$ssmtl" score --data "$root" --detections "$run/detections/testing" "${ckpt_args[@]}" \
  --out "$run/scores" "${extra_score[@]}"
took[score]=$((SECONDS - s))

echo "== 5/5 evaluation (Gaussian smoothing sigma $sigma; RBDC/TBDC against the derived tracks)"
s=$SECONDS
labels="$run/labels"
rm -rf "$labels" && mkdir -p "$labels"
for f in "$run"/scores/frame_scores/*.txt; do cp "$gt/gt_frame/$(basename "$f")" "$labels/"; done
"$ssmtl" evaluate --scores "$run/scores/frame_scores" --labels "$labels" \
  --regions "$run/scores/regions" --tracks "$gt/gt_tracks_derived" \
  --smooth-sigma "$sigma" --json "$run/metrics.json" --plots "$run/plots" --write-scores "$run/scores/evaluated"
"$ssmtl" render --data "$root" --scores "$run/scores" --out "$run/plots/frames" --frames 3 || true
took[evaluate]=$((SECONDS - s))
total=$((SECONDS - t0))
printf '\nstage times (s): detect %d, train %d, score %d, evaluate %d; total %d\n' \
  "${took[detect]}" "${took[train]}" "${took[score]}" "${took[evaluate]}" "$total" | tee "$run/times.txt"
echo "run folder: $run (config and seed: $run/train/config.txt; metrics: $run/metrics.json; plots: $run/plots)"
