#!/usr/bin/env bash
# Runs the README's try-it block exactly as written (the ```sh block under "## Try it"), in a
# temporary folder, and copies the real range_test.png and curves.png it drew into docs/.
# Needs target/release/clr (scripts/setup.sh). Prints how long the block took.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
block=$(awk '/^## Try it/ {t=1} t && /^```sh/ {b=1; next} b && /^```/ {exit} b' README.md)
[ -n "$block" ] || { echo "no try-it block in README.md" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/target/release"
ln -s "$repo/target/release/clr" "$tmp/target/release/clr"
start=$(date +%s.%N)
(cd "$tmp" && bash -euo pipefail -c "$block")
echo "try-it block: $(echo "$(date +%s.%N) - $start" | bc) s"
cp "$tmp/runs/try-lr-find/range_test.png" docs/range_test.png
cp "$tmp/runs/try-one-cycle/curves.png" docs/curves.png
echo "wrote docs/range_test.png and docs/curves.png"
