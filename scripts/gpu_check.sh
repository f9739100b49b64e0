#!/usr/bin/env bash
# GPU check in one command, for a machine with a CUDA GPU and a few minutes:
#   configure and build with the CUDA backend (build-cuda, -j16), run the CUDA tests
#   (ssmtl_tests -tc='cuda*': every kernel against the CPU, conv3d against cuDNN, training steps),
#   then the CUDA benchmarks (bench/bench_cuda.cpp) with a short minimum time.
# Everything goes to one summary file: $OUT/gpu_summary.txt when OUT is set, else build-cuda/gpu_summary.txt
# (full logs next to it in build-cuda/). Exit status: 0 when all CUDA tests pass, 1 when one fails,
# 2 when the build fails. Each stage has a time limit, so the whole run stays well under 10 minutes.
set -u
cd "$(dirname "$0")/.."
BUILD=build-cuda
SUMMARY="${OUT:+$OUT/gpu_summary.txt}"
SUMMARY="${SUMMARY:-$BUILD/gpu_summary.txt}"
mkdir -p "$BUILD" "$(dirname "$SUMMARY")"
: > "$SUMMARY"
say() { echo "$@" | tee -a "$SUMMARY"; }
section() { say ""; say "== $1 ($(date -u +%H:%M:%S))"; }

section "machine"
modified=$(git diff --quiet 2>/dev/null || echo " (modified)")
say "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$modified"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$SUMMARY"
/usr/local/cuda/bin/nvcc --version 2>&1 | tail -1 | tee -a "$SUMMARY"

section "configure and build"
start=$SECONDS
# Device code only for this GPU's architecture (half the nvcc time of the default list); the default list
# when the GPU does not say.
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
archs=()
[[ "$cap" =~ ^[0-9]+$ ]] && archs=(-DCMAKE_CUDA_ARCHITECTURES="$cap")
say "CUDA architectures: ${cap:-default list}"
if ! timeout 120 cmake -S . -B "$BUILD" -DSSMTL_CUDA=ON -DCMAKE_BUILD_TYPE=Release "${archs[@]}" \
    > "$BUILD/configure.log" 2>&1; then
  say "configure FAILED:"; tail -30 "$BUILD/configure.log" | tee -a "$SUMMARY"; exit 2
fi
grep "SSMTL CUDA backend" "$BUILD/configure.log" | tee -a "$SUMMARY"
targets="ssmtl_tests"
grep -q "ssmtl_bench" "$BUILD/Makefile" 2>/dev/null && targets="$targets ssmtl_bench"
if ! timeout 360 cmake --build "$BUILD" -j16 --target $targets > "$BUILD/build.log" 2>&1; then
  say "build FAILED:"; grep -E "error|Error" "$BUILD/build.log" | head -40 | tee -a "$SUMMARY"; exit 2
fi
say "built $targets in $((SECONDS - start)) s; compiler warnings: $(grep -c 'warning' "$BUILD/build.log")"
grep -E "warning" "$BUILD/build.log" | head -20 | tee -a "$SUMMARY"

section "CUDA tests"
start=$SECONDS
timeout 300 "./$BUILD/ssmtl_tests" -tc='cuda*' > "$BUILD/cuda_tests.log" 2>&1
test_rc=$?
# doctest prints failures and every MESSAGE (cuDNN algorithms, skips); the summary keeps those lines.
grep -E "MESSAGE|ERROR|FAILED|skipped|test cases|assertions|Status|TEST CASE|cuDNN" "$BUILD/cuda_tests.log" \
  | grep -v "^=*$" | head -200 | tee -a "$SUMMARY"
grep -B2 -A12 "ERROR" "$BUILD/cuda_tests.log" | head -150 >> "$SUMMARY"
say "tests exit status $test_rc after $((SECONDS - start)) s (full log: $BUILD/cuda_tests.log)"

section "CUDA benchmarks"
if [ -x "./$BUILD/ssmtl_bench" ]; then
  start=$SECONDS
  timeout 240 "./$BUILD/ssmtl_bench" --benchmark_filter='BM_Cuda' --benchmark_min_time=0.05 \
    > "$BUILD/cuda_bench.log" 2>&1
  say "benchmark exit status $? after $((SECONDS - start)) s"
  cat "$BUILD/cuda_bench.log" >> "$SUMMARY"
else
  say "no ssmtl_bench (Google Benchmark not found at configure time)"
fi

section "result"
if [ "$test_rc" -ne 0 ]; then say "CUDA TESTS FAILED"; exit 1; fi
say "CUDA tests passed"
exit 0
