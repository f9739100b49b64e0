#!/usr/bin/env bash
# Engine vs PyTorch CPU on one SSMTL backbone training/inference step (and conv3d per shape when built).
set -euo pipefail
build=${1:-build}
/usr/bin/python3 bench/compare_backbone.py "$build"
if [ -f bench/compare_conv3d.sh ]; then bash bench/compare_conv3d.sh "$build"; fi
