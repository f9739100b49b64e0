#!/usr/bin/env bash
# GPU check in one command, for a machine with a CUDA GPU and a few minutes:
#   configure and build with the CUDA backend (build-cuda, -j16), run the CUDA tests
#   (ssmtl_tests -tc='cuda*': every kernel against the CPU, conv3d against cuDNN, training steps, and with
#   MPI and NCCL in the build the data-parallel NCCL path on one rank: `mpirun -np 1 ssmtl train --device cuda`
#   against the plain GPU run, tests/test_dist.cpp),
#   then the CUDA benchmarks (bench/bench_cuda.cpp) with a short minimum time.
# Everything goes to one summary file: $OUT/gpu_summary.txt when OUT is set, else build-cuda/gpu_summary.txt
# (full logs next to it in build-cuda/). Exit status: 0 when all CUDA tests pass ON A GPU, 1 when one fails
# or when the tests did not see a GPU (a skipped CUDA test is not a pass here), 2 when the build fails or
# the CUDA backend is off. Each stage has a time limit and the benchmarks get what is left of 570 s, so the
# whole run fits a 10-minute device call. A failing test case is run again alone with
# CUDA_LAUNCH_BLOCKING=1 SSMTL_CUDA_SYNC=1 (a kernel fault is then reported at its launch, not at a later copy).
# With gpu_bin/bin.tar.xz carried (scripts/gpu_bin.sh pack, here) nothing is built there: the carried programs run.
# BUDGET=570 (seconds for the whole script), then the profiler of the paper-size v1 on the GPU (ssmtl profile).
set -u
cd "$(dirname "$0")/.."
T0=$SECONDS
BUDGET=${BUDGET:-570}
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
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)   # CMake's check_language looks only on PATH
"$NVCC" --version 2>&1 | tail -1 | tee -a "$SUMMARY"

section "configure and build"
start=$SECONDS
if [ -f gpu_bin/bin.tar.xz ]; then
  eval "$(scripts/gpu_bin.sh env 2>> "$SUMMARY")"
  [[ "${LD_LIBRARY_PATH:-}" == *build-cuda/lib* ]] || { say "scripts/gpu_bin.sh env FAILED"; exit 2; }
  say "carried programs (gpu_bin/bin.tar.xz), unpacked in $((SECONDS - start)) s; LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  ldd "$BUILD/ssmtl_tests" | grep -E "not found|cublas|cudart|openblas" | tee -a "$SUMMARY"
else
# Device code only for this GPU's architecture (half the nvcc time of the default list); the default list
# when the GPU does not say.
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
archs=()
[[ "$cap" =~ ^[0-9]+$ ]] && archs=(-DCMAKE_CUDA_ARCHITECTURES="$cap")
say "CUDA architectures: ${cap:-default list}"
if ! timeout 90 cmake -S . -B "$BUILD" -DSSMTL_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$NVCC" \
    "${archs[@]}" > "$BUILD/configure.log" 2>&1; then
  say "configure FAILED:"; tail -30 "$BUILD/configure.log" | tee -a "$SUMMARY"; exit 2
fi
grep -E "SSMTL CUDA backend|SSMTL MPI" "$BUILD/configure.log" | tee -a "$SUMMARY"
if ! grep -q "SSMTL CUDA backend: ON" "$BUILD/configure.log"; then
  say "the CUDA backend is OFF (nvcc not usable?): nothing to check"; tail -20 "$BUILD/configure.log" >> "$SUMMARY"; exit 2
fi
targets="ssmtl_tests"
grep -q "ssmtl_bench" "$BUILD/Makefile" 2>/dev/null && targets="$targets ssmtl_bench"
if ! timeout 300 cmake --build "$BUILD" -j"$(nproc)" --target $targets > "$BUILD/build.log" 2>&1; then
  say "build FAILED:"; grep -E "error|Error" "$BUILD/build.log" | head -40 | tee -a "$SUMMARY"; exit 2
fi
say "built $targets in $((SECONDS - start)) s; compiler warnings: $(grep -c 'warning' "$BUILD/build.log")"
grep -E "warning" "$BUILD/build.log" | head -20 | tee -a "$SUMMARY"
fi

section "CUDA tests"
start=$SECONDS
timeout "${TEST_LIMIT:-180}" "./$BUILD/ssmtl_tests" -tc='cuda*' > "$BUILD/cuda_tests.log" 2>&1
test_rc=$?
skips=$(grep -c "no CUDA device: skipped" "$BUILD/cuda_tests.log")
if [ "$skips" -gt 0 ]; then
  say "$skips CUDA test cases saw no GPU and skipped: counted as a failure"; test_rc=1
fi
# doctest prints failures and every MESSAGE (cuDNN algorithms, skips); the summary keeps those lines.
grep -E "MESSAGE|ERROR|FAILED|skipped|test cases|assertions|Status|TEST CASE|cuDNN" "$BUILD/cuda_tests.log" \
  | grep -v "^=*$" | head -200 | tee -a "$SUMMARY"
grep -B2 -A12 "ERROR" "$BUILD/cuda_tests.log" | head -150 >> "$SUMMARY"
say "tests exit status $test_rc after $((SECONDS - start)) s (full log: $BUILD/cuda_tests.log)"
if [ "$test_rc" -ne 0 ] && [ "$skips" -eq 0 ]; then
  # One process per failing case: a sticky CUDA error in one case no longer fails the following ones.
  failing=$(grep -E "^TEST CASE:" -A0 "$BUILD/cuda_tests.log" | sed 's/^TEST CASE: *//' | sort -u)
  while IFS= read -r tc; do
    [ -n "$tc" ] && [ $((SECONDS - T0)) -lt $((BUDGET * 3 / 4)) ] || continue
    say "-- rerun alone with CUDA_LAUNCH_BLOCKING=1 SSMTL_CUDA_SYNC=1: $tc"
    CUDA_LAUNCH_BLOCKING=1 SSMTL_CUDA_SYNC=1 timeout 60 "./$BUILD/ssmtl_tests" -tc="$tc" 2>&1 | grep -E "ERROR|error|FAILED|passed" \
      | head -12 | tee -a "$SUMMARY"
  done <<< "$failing"
fi

section "profiler: the paper-size v1 on the GPU (ssmtl profile --device cuda)"
if [ "$skips" -eq 0 ]; then
  timeout 60 "./$BUILD/ssmtl" profile --config configs/ssmtl++v1.txt --steps 5 --device cuda > "$BUILD/profile.txt" 2>&1
  say "profile exit status $? (the table: $BUILD/profile.txt)"
  grep -E "step:|on cuda" -A6 "$BUILD/profile.txt" | tee -a "$SUMMARY"
fi

section "CUDA benchmarks"
left=$((BUDGET - (SECONDS - T0)))
if [ "$skips" -gt 0 ]; then
  say "no GPU: benchmarks not run"
elif [ "$left" -lt 30 ]; then
  say "no time left for the benchmarks ($left s of the $BUDGET s budget)"
elif [ -x "./$BUILD/ssmtl_bench" ]; then
  start=$SECONDS
  # The whole-model benchmarks last: they build the model and draw its weights on the host.
  timeout $((left * 2 / 5)) "./$BUILD/ssmtl_bench" --benchmark_filter='BM_Cuda[^S]' --benchmark_min_time=0.05 \
    > "$BUILD/cuda_bench.log" 2>&1
  say "kernel benchmarks: exit status $? after $((SECONDS - start)) s"
  left=$((BUDGET - (SECONDS - T0)))
  timeout $((left > 10 ? left - 10 : 1)) "./$BUILD/ssmtl_bench" --benchmark_filter='BM_CudaS' \
    --benchmark_min_time=0.05 >> "$BUILD/cuda_bench.log" 2>&1
  say "model benchmarks: exit status $? after $((SECONDS - start)) s in all"
  cat "$BUILD/cuda_bench.log" >> "$SUMMARY"
else
  say "no ssmtl_bench (Google Benchmark not found at configure time)"
fi

section "result"
[ -n "${OUT:-}" ] && cp "$BUILD"/cuda_tests.log "$BUILD"/cuda_bench.log "$BUILD"/profile.txt "$OUT/" 2>/dev/null
if [ "$skips" -gt 0 ]; then say "NO GPU: the CUDA tests did not run (nothing verified)"; exit 1; fi
if [ "$test_rc" -ne 0 ]; then say "CUDA TESTS FAILED"; exit 1; fi
say "CUDA tests passed"
exit 0
