#!/usr/bin/env bash
# The regret table (BENCHMARKS.md, README): for real image sets at two depths, how many points of
# test accuracy each range-test rule's max_lr loses against the best of a grid of short one-cycle
# runs, and how far each rule's LR moves with the test's length (--iters 75, 150, 300, 600).
#
# Per set and depth: four `clr range-test`s (LR 1e-4 -> 10), one `clr grid` (10 max_lr values,
# 0.01 -> 10, each a one-cycle run of 8 epochs from the same initial weights; base_lr = max/10,
# final_lr = max/100), then every test measured against the grid by `clr grid --resume G
# --range-test T` (nothing is trained again). All at batch 64, bf16, one thread, seed 1 unless the part names another.
# scripts/regret_table.py prints the table and writes bench/regret.json.
#
# Sets: digits, fmnist5k, fmnist20k, fmnist5k-b, fmnist (scripts/regret-data.sh); none is
# CIFAR-10, only its file layout.
#
# usage: scripts/regret.sh [OUT_DIR]   (default runs/regret; run again to continue a stopped one)
#        PARTS="digits:8 fmnist5k:20" scripts/regret.sh   (SET:DEPTH pairs: a part of the table)
#        PARTS="digits:8:2" ...   (SET:DEPTH:SEED: the same part from another seed, i.e. other
#        initial weights and data order for both the grid and the range tests; the table's noise
#        section compares the seeds of a part)
# The parts of bench/regret.json that OUT_DIR does not hold are kept (regret_table.py), so a new
# part is added without training the others again.
# Time on a quiet 2-core machine: digits ~2 min per depth; fmnist5k ~10 min at depth 8 and
# ~25 at 20; fmnist20k ~25 min at depth 8.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/regret}
PARTS=${PARTS:-digits:8 digits:20 fmnist5k:8 fmnist5k:20 fmnist20k:8}
ITERS="75 150 300 600"

source scripts/regret-data.sh

for part in $PARTS; do
    IFS=: read -r set depth seed <<< "$part"
    seed=${seed:-1}
    dir=$(regret_data "$set" "$OUT/data")
    base="$OUT/$set-d$depth"
    [ "$seed" = 1 ] || base="$base-s$seed"
    for it in $ITERS; do
        rt="$base/range-test-i$it"
        [ -f "$rt/range_test.json" ] && continue
        rm -rf "$rt"
        "$CLR" range-test --data-dir "$dir" --depth "$depth" --seed "$seed" "${COMMON[@]}" --start-lr 1e-4 --end-lr 10 \
            --iters "$it" --out "$rt" > /dev/null
    done
    grid="$base/grid"
    if [ -f "$grid/grid.json" ]; then
        "$CLR" grid --resume "$grid" --threads 1 --no-progress > /dev/null
    else
        rm -rf "$grid"
        "$CLR" grid --data-dir "$dir" --depth "$depth" --seed "$seed" "${COMMON[@]}" --from 0.01 --to 10 --points 10 \
            --out "$grid" > /dev/null
    fi
    for it in $ITERS; do
        "$CLR" grid --resume "$grid" --range-test "$base/range-test-i$it" --threads 1 --no-progress > /dev/null
        cp "$grid/grid.json" "$base/grid-i$it.json"
    done
done
"$PY" scripts/regret_table.py "$OUT"
