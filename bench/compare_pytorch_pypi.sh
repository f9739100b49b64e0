#!/usr/bin/env bash
# The paper-size SSMTL++v1 training and scoring step: this engine vs a current PyTorch CPU build from the Python
# package index, installed into a virtual environment in a cache folder (never system-wide).
# Usage: bench/compare_pytorch_pypi.sh [build_dir] [extra args for compare_pytorch_pypi.py]
#   SSMTL_PYENV   virtual environment folder (default ~/.cache/ssmtl/pyenv-torch; reused when present)
#   TORCH_SPEC    pip requirement (default "torch", the newest release)
# The CPU-only wheel index (download.pytorch.org/whl/cpu, ~200 MB) is tried first; where it cannot be reached the
# default PyPI wheel is installed (it carries CUDA libraries, several GB, but runs the same CPU kernels).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build}"; shift || true
venv="${SSMTL_PYENV:-$HOME/.cache/ssmtl/pyenv-torch}"
spec="${TORCH_SPEC:-torch}"
py="${PYTHON:-python3}"

if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "creating $venv and installing $spec (one time)" >&2
  mkdir -p "$(dirname "$venv")"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip >&2 || true
  if ! "$venv/bin/pip" install --quiet --timeout 20 --retries 1 --index-url https://download.pytorch.org/whl/cpu \
        "$spec" numpy >&2; then
    echo "CPU wheel index not reachable; installing $spec from PyPI" >&2
    "$venv/bin/pip" install --quiet "$spec" numpy >&2
  fi
fi
exec "$venv/bin/python" "$here/compare_pytorch_pypi.py" --build "$build" "$@"
