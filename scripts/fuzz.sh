#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang under ASan + UBSan (build dir $1, default build-fuzz) and
# runs each for $2 seconds (default 60) from its seed corpus (fuzz/corpus/<target>, plus the real files of
# ../shared when present). Prints one line per fuzzer: runs, coverage (edges), features, corpus size.
# Exit 1 when a fuzzer finds a crash, a leak, a sanitizer report, a timeout or an allocation over the limit
# (the input is kept as BUILD/fuzz-artifacts/<target>-crash-*; add it as a regression test).
# Without clang++ it prints why and exits 0, so `make test` still runs on a machine without it.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-60}
SHARED=${SSMTL_SHARED:-../shared}
if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: SKIPPED: clang++ not found (apt-get install clang; scripts/setup.sh installs it)"
  exit 0
fi
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long){return 0;}' |
     clang++ -x c++ -fsanitize=fuzzer - -o /tmp/ssmtl_fuzz_probe.$$ >/dev/null 2>&1; then
  echo "fuzz: SKIPPED: clang++ cannot link -fsanitize=fuzzer (libFuzzer missing from this clang)"
  exit 0
fi
rm -f /tmp/ssmtl_fuzz_probe.$$
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DSSMTL_CUDA=OFF -DSSMTL_SANITIZE=ON -DSSMTL_FUZZ=ON -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link "${launcher[@]}" \
  >/dev/null || exit 1
cmake --build "$BUILD" -j "${JOBS:-$(nproc)}" --target fuzzers >"$BUILD/fuzz-build.log" 2>&1 ||
  { tail -30 "$BUILD/fuzz-build.log"; echo "fuzz: build failed ($BUILD/fuzz-build.log)"; exit 1; }

# Seeds: the committed corpus, the engine's own writers (make_seeds), the real small data-set files of
# tests/data/datasets (Avenue .mat, ShanghaiTech .npy, UCSD .m) and real files of ../shared.
seeds="$BUILD/fuzz-seeds"
rm -rf "$seeds" && mkdir -p "$seeds"
cp -r fuzz/corpus/. "$seeds/"
"$BUILD/fuzz/fuzz_make_seeds" "$seeds" || exit 1
copy_fixture() { mkdir -p "$seeds/$2" && cp "$1" "$seeds/$2/fixture_$(echo "${1#tests/data/datasets/}" | tr '/' '_')"; }
while IFS= read -r f; do copy_fixture "$f" mat5; done < <(find tests/data/datasets -name '*.mat')
while IFS= read -r f; do copy_fixture "$f" npy; done < <(find tests/data/datasets -name '*.npy')
while IFS= read -r f; do copy_fixture "$f" ucsd_m; done < <(find tests/data/datasets -name '*.m')
copy_shared() { [ -e "$1" ] && mkdir -p "$seeds/$2" && cp "$1" "$seeds/$2/shared_$(echo "$1" | tr '/' '_')"; }
for f in "$SHARED"/weights/yolo-fastest/*.cfg; do copy_shared "$f" darknet_cfg; done
for v in 01 02; do
  copy_shared "$SHARED/data/ped2/testing/gt_frame/$v.txt" frame_labels
  copy_shared "$SHARED/data/ped2/testing/gt_tracks_derived/$v.txt" regions_tracks
done

status=0
mkdir -p "$BUILD/fuzz-artifacts"
for t in config darknet_cfg darknet_weights checkpoint frame_labels regions_tracks teacher_maps mat5 npy ucsd_m; do
  work="$BUILD/fuzz-corpus/$t"
  mkdir -p "$work"
  log="$BUILD/fuzz-$t.log"
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2560 -malloc_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$BUILD/fuzz-artifacts/$t-" "$work" "$seeds/$t" >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}')
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' | awk '{print $2}')
  ft=$(echo "$last" | grep -o 'ft: [0-9]*' | awk '{print $2}')
  corp=$(echo "$last" | grep -o 'corp: [0-9]*' | awk '{print $2}')
  if [ $rc -eq 0 ]; then
    printf 'fuzz %-16s %8s runs in %ss, coverage %s edges, %s features, corpus %s: ok\n' \
      "$t" "${runs:-?}" "$SECONDS_EACH" "${cov:-?}" "${ft:-?}" "${corp:-?}"
  else
    status=1
    printf 'fuzz %-16s FAILED (exit %s) after %s runs; see %s and %s/fuzz-artifacts/%s-*\n' \
      "$t" "$rc" "${runs:-?}" "$log" "$BUILD" "$t"
    grep -m3 -E 'ERROR|SUMMARY|==[0-9]+==' "$log" | sed 's/^/    /'
  fi
done
exit $status
