#!/usr/bin/env bash
# Sets everything up, then runs the whole test suite (release profile: it shares the build
# with the binary and trains the tiny test models several times faster). Ends with one line
# that totals every test binary's results.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --release "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
