#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the demo need, when any is missing.
# Idempotent and quiet when everything is there; called by the Makefile and by .ci/run.
set -euo pipefail
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# clang + libclang-rt-dev (the libFuzzer and sanitizer runtimes: only recommended by clang, and recommends are
# not installed here): the fuzzers of fuzz/ (make fuzz; a short run in make test)
# libopenmpi-dev + openmpi-bin: data-parallel training and scoring (mpirun -np N ssmtl ...; dist/)
# chromium: the headless browser that screenshots ssmtl watch --serve's page in the tests (test_online_serve.cpp;
# it skips with a message where chromium is missing). On this image after the packages above: 10 packages,
# 122 MB to fetch, 408 MB installed; the install took 29 s here (apt's history.log), fetching the two chromium
# .deb files 1.7 s.
for p in cmake g++ make libopenblas-dev doctest-dev libbenchmark-dev libstb-dev ffmpeg zlib1g-dev clang libclang-rt-dev \
         libopenmpi-dev openmpi-bin chromium; do
  have_pkg "$p" || need+=("$p")
done
# Reference tools (PyTorch, scikit-learn, OpenCV) are needed only to regenerate golden files
# and to run the comparison benchmarks: `SSMTL_SETUP_REFERENCE=1 scripts/setup.sh`.
if [ "${SSMTL_SETUP_REFERENCE:-0}" = 1 ]; then
  for p in python3-torch python3-sklearn python3-scipy python3-opencv python3-numpy; do
    have_pkg "$p" || need+=("$p")
  done
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
