#!/usr/bin/env bash
# conv3d per shape: this engine (BM_Conv3d in bench/bench_conv3d.cpp) vs PyTorch CPU (bench/compare_conv3d.py),
# same cases and thread count, run back to back in this script. Prints per case the median milliseconds of each
# and the ratio PyTorch ms / engine ms (> 1: the engine is faster). The last two columns time the engine's
# kernels alone on buffers allocated once (BM_Conv3dKernels): the op minus the first touch of fresh output and
# gradient memory (page faults), which is slow on virtual machines such as the 2-core development one.
# Usage: bench/compare_conv3d.sh [build_dir]
# Environment: OMP_NUM_THREADS (default: all cores), REPS (repetitions per case and round, default 5),
#   ROUNDS (engine/PyTorch alternations, default 1; medians are over all rounds: steadier on a shared machine).
set -euo pipefail
build=${1:-build}
threads=${OMP_NUM_THREADS:-$(nproc)}
reps=${REPS:-5}
rounds=${ROUNDS:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for r in $(seq "$rounds"); do
  OMP_NUM_THREADS=$threads "$build/ssmtl_bench" --benchmark_filter='^BM_Conv3d' --benchmark_repetitions="$reps" \
    --benchmark_format=json >"$tmp/engine_$r.json"
  /usr/bin/python3 bench/compare_conv3d.py --threads "$threads" --reps "$reps" >"$tmp/torch_$r.txt"
done
/usr/bin/python3 - "$tmp" "$threads" <<'PY'
import glob, json, statistics, sys
tmp, threads = sys.argv[1], sys.argv[2]
engine, kernels, torch_ms = {}, {}, {}
for path in glob.glob(tmp + "/engine_*.json"):
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") == "iteration":   # every repetition; aggregates are recomputed over all rounds
            group, name = b["name"].removesuffix("/real_time").split("/", 1)
            (kernels if group == "BM_Conv3dKernels" else engine).setdefault(name, []).append(b["real_time"])
for path in glob.glob(tmp + "/torch_*.txt"):
    for line in open(path):
        name, med, _ = line.split()
        torch_ms.setdefault(name, []).append(float(med))
print(f"conv3d, batch 64, {threads} threads: median ms (engine runs: {len(next(iter(engine.values())))}), "
      "ratio = PyTorch / engine")
print(f"{'case':<42}{'engine ms':>11}{'PyTorch ms':>12}{'ratio':>8}{'kernels ms':>12}{'ratio':>8}")
for name in engine:
    e, t, k = (statistics.median(d[name]) for d in (engine, torch_ms, kernels))
    print(f"{name:<42}{e:>11.2f}{t:>12.2f}{t / e:>8.2f}{k:>12.2f}{t / k:>8.2f}")
PY
