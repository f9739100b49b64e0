#!/usr/bin/env bash
# Data-parallel training throughput on this machine's CPU: one epoch of the CPU preset on Ped2 (T1+T2+T3+T5,
# global batch 64) run three ways in a row, so that the ratios come from one script on the same machine:
#   1 process x 1 OpenMP thread, 1 process x all cores' threads, N ranks (mpirun) x (cores / N) threads.
# The rate is train_log.jsonl's samples_per_s (the epoch's steps only: loading the frames is not counted).
# MPIRUN_FLAGS adds mpirun options (e.g. "--mca mpi_yield_when_idle 1": waiting ranks yield the core).
# Usage: scripts/dist_scaling.sh BUILD DETECTIONS [RANKS=2] [OBJECTS=512]   (DETECTIONS: ssmtl detect's folder
# of the Ped2 training videos, e.g. the demo's runs/.../detections/training)
set -euo pipefail
build=${1:?build folder}; det=${2:?detections folder}; ranks=${3:-2}; objects=${4:-512}
data=${DATA:-../shared/data/ped2}
cores=$(nproc)
out=$(mktemp -d /tmp/ssmtl_scaling.XXXX)
common=(train --data "$data" --detections "$det" --config configs/ssmtl++v1-cpu.txt --set train.epochs=1
        --set train.max_objects_per_epoch="$objects" --set train.max_val_objects=64 --set train.pseudo_start_epoch=0)
rate() { sed -E 's/.*"samples_per_s": ?([0-9.e+-]+).*/\1/' "$1/train_log.jsonl" | tail -1; }
OMP_NUM_THREADS=1 "$build/ssmtl" "${common[@]}" --out "$out/p1t1" 2>/dev/null >/dev/null
OMP_NUM_THREADS=$cores "$build/ssmtl" "${common[@]}" --out "$out/p1" 2>/dev/null >/dev/null
per=$(( cores / ranks > 0 ? cores / ranks : 1 ))
mpirun --oversubscribe --allow-run-as-root --bind-to none ${MPIRUN_FLAGS:-} -np "$ranks" -x OMP_NUM_THREADS=$per \
  "$build/ssmtl" "${common[@]}" --out "$out/pN" 2>/dev/null >/dev/null
a=$(rate "$out/p1t1"); b=$(rate "$out/p1"); c=$(rate "$out/pN")
echo "cores $cores, $objects objects, global batch 64 (samples/s of the epoch's steps)"
echo "1 process x 1 thread:        $a"
echo "1 process x $cores threads:       $b"
echo "$ranks ranks x $per thread(s) (MPI): $c"
awk -v a="$a" -v b="$b" -v c="$c" -v r="$ranks" 'BEGIN { printf "ratios: %d ranks / 1 process (same cores) %.2f; 1 process %d threads / 1 thread %.2f\n", r, c / b, '"$cores"', b / a }'
rm -rf "$out"
