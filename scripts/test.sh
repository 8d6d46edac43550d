#!/usr/bin/env bash
# Sets everything up, then runs the whole test suite (release profile: it shares the build
# with the binary and trains the tiny test models several times faster).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --release "$@"
