#!/usr/bin/env bash
# How far the pick moves with the range test's length, for one test and for --repeats R
# (BENCHMARKS.md, "the pick against the test's length"): per part SET:DEPTH, `clr range-test
# --repeats R --iters I` for I in ITERS (default 75 150 300 600), seeds 1..R, LR 1e-4 -> 10, batch
# 64, bf16, one thread. Each seed's own test is in the repeats folder (seed=S/), so the same runs
# give every single test's pick and the combined one. scripts/iters_repeats_table.py prints the
# table and writes bench/iters-repeats.json.
#
# usage: scripts/iters-repeats.sh [OUT_DIR]   (default runs/iters-repeats; run again to continue)
#        PARTS="digits:8" R=5 ITERS="75 150" scripts/iters-repeats.sh
# Time on a quiet 2-core machine: digits ~4 min at depth 8, ~12 at depth 20 (R=5).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/iters-repeats}
PARTS=${PARTS:-digits:8 digits:20}
ITERS=${ITERS:-75 150 300 600}
R=${R:-5}
source scripts/regret-data.sh

for part in $PARTS; do
    IFS=: read -r set depth <<< "$part"
    dir=$(regret_data "$set" "$OUT/data")
    for iters in $ITERS; do
        rt="$OUT/$set-d$depth/iters$iters-r$R"
        if [ ! -f "$rt/range_test.json" ] || grep -q '"interrupted"' "$rt/range_test.json"; then
            rm -rf "$rt"
            "$CLR" range-test --data-dir "$dir" --depth "$depth" --seed 1 --repeats "$R" --iters "$iters" \
                "${COMMON[@]}" --start-lr 1e-4 --end-lr 10 --out "$rt" > /dev/null 2>&1
        fi
    done
done
"$PY" scripts/iters_repeats_table.py "$OUT"
