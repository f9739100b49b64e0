#!/usr/bin/env bash
# Prebuilt CUDA programs for a lent GPU machine: built here, carried there. The device image has nvcc and the
# CUDA libraries but not necessarily OpenBLAS, zlib's headers, doctest or Google Benchmark, and every minute of a
# build there is device time (scripts/gpu_check.sh and scripts/gpu_reproduce.sh build there when nothing is carried).
#
#   scripts/gpu_bin.sh pack        (here)   configures and builds build-cuda (sm_90: the H100 / H200; no MPI),
#                                           then writes gpu_bin/bin.tar.xz (ignored by git): ssmtl, ssmtl_tests and
#                                           ssmtl_bench, stripped, and the shared libraries they need that are
#                                           neither glibc, the C++ runtime nor CUDA (OpenBLAS with its Fortran
#                                           runtime, zlib, libgomp, Google Benchmark). About 12 MiB.
#   eval "$(scripts/gpu_bin.sh env)" (device) unpacks it into build-cuda/ and build-cuda/lib/ and prints the
#                                           LD_LIBRARY_PATH to use: the machine's cuBLAS / cudart and cuDNN (for the
#                                           cuDNN reference test; searched under /usr/local and the Python packages),
#                                           then those carried libraries that the machine does not have itself.
# Device call: run(command="...; eval \"$(scripts/gpu_bin.sh env)\"; ...", carry=["gpu_bin"]).
set -euo pipefail
cd "$(dirname "$0")/.."
pack_dir=${GPU_BIN:-gpu_bin}
libs=(libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libz.so.1 libgomp.so.1 libbenchmark.so.1debian)

pack() {
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD/..}
  local launcher=()
  command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  cmake -S . -B build-cuda -DSSMTL_CUDA=ON -DSSMTL_MPI=OFF -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_COMPILER="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)" -DCMAKE_CUDA_ARCHITECTURES=90 \
    "${launcher[@]}" > /dev/null
  cmake --build build-cuda -j"$(nproc)" --target ssmtl ssmtl_tests ssmtl_bench
  local tmp; tmp=$(mktemp -d)
  mkdir -p "$tmp/build-cuda/lib"
  for p in ssmtl ssmtl_tests ssmtl_bench; do strip -o "$tmp/build-cuda/$p" "build-cuda/$p"; done
  for l in "${libs[@]}"; do
    local f; f=$(ldd build-cuda/ssmtl_bench build-cuda/ssmtl_tests | awk -v l="$l" '$1 == l {print $3; exit}')
    [ -n "$f" ] && cp -L "$f" "$tmp/build-cuda/lib/$l"
  done
  git rev-parse --short HEAD > "$tmp/build-cuda/COMMIT"
  git diff --quiet || echo "(modified)" >> "$tmp/build-cuda/COMMIT"
  mkdir -p "$pack_dir"
  tar -C "$tmp" -cJf "$pack_dir/bin.tar.xz.tmp" build-cuda && mv "$pack_dir/bin.tar.xz.tmp" "$pack_dir/bin.tar.xz"
  rm -rf "$tmp"
  echo "gpu_bin.sh: $pack_dir/bin.tar.xz is $(($(stat -c %s "$pack_dir/bin.tar.xz") / 1048576)) MiB" >&2
}

# Prints `export LD_LIBRARY_PATH=...`; messages go to stderr.
env_() {
  [ -f "$pack_dir/bin.tar.xz" ] || { echo "gpu_bin.sh: no $pack_dir/bin.tar.xz (run 'scripts/gpu_bin.sh pack' here and carry $pack_dir)" >&2; exit 2; }
  tar -xJf "$pack_dir/bin.tar.xz"
  echo "gpu_bin.sh: carried programs of commit $(tr '\n' ' ' < build-cuda/COMMIT)" >&2
  local dirs=() d
  # The machine's CUDA libraries: the toolkit's, then the Python packages' (cuDNN is often only there).
  for pat in 'libcublas.so.13' 'libcudnn.so.9'; do
    d=$(find /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu /usr/local /opt -name "$pat" \
          -not -path '*/proc/*' 2>/dev/null | head -1 || true)
    if [ -z "$d" ]; then echo "gpu_bin.sh: no $pat on this machine" >&2; continue; fi
    d=$(dirname "$d")
    [[ " ${dirs[*]} " == *" $d "* ]] || dirs+=("$d")   # (cuBLAS and cuDNN often share a folder)
  done
  # Carried libraries the machine has itself are dropped: its own (newer) ones serve.
  local have; have=$(ldconfig -p 2>/dev/null || true)   # (read once: grep -q on a pipe would fail it under pipefail)
  for f in build-cuda/lib/*; do
    if grep -q "^\s*$(basename "$f") " <<< "$have"; then rm -f "$f"; fi
  done
  echo "gpu_bin.sh: carried libraries used: $(ls build-cuda/lib | tr '\n' ' ')" >&2
  dirs+=("$PWD/build-cuda/lib")
  local path; path=$(printf '%s:' "${dirs[@]}")
  echo "export LD_LIBRARY_PATH=${path}\${LD_LIBRARY_PATH:-}"
}

case "${1:-}" in
  pack) pack ;;
  env) env_ ;;
  *) echo "usage: scripts/gpu_bin.sh pack|env" >&2; exit 2 ;;
esac
