#!/usr/bin/env bash
# Sets everything up, then runs the main job: the reference one-cycle run (configs/one-cycle.json:
# ResNet-56, batch 512, LR 0.08→0.8→0.08→0.008 over 41+41+13 epochs), downloading CIFAR-10 into
# data/ on first use. With arguments, runs `clr train ARGS…` instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ "$#" -eq 0 ]; then
    set -- --config configs/one-cycle.json
fi
exec target/release/clr train "$@"
