#!/usr/bin/env bash
# Each rule's regret against the MEAN of many seeds (BENCHMARKS.md, "against the mean of ten
# seeds"): one run's accuracy moves by about a point between seeds, so a grid of single runs
# cannot resolve regrets of a fraction of a point; a mean of N seeds shrinks that noise by sqrt(N).
#
# Per part SET:DEPTH:N: `clr grid --seeds N` (the 10 max_lr values 0.01 -> 10 of scripts/regret.sh,
# one-cycle runs of 8 epochs, seeds 1..N, every value compared by its mean), refined (`clr grid
# --resume G --max-lrs`) with the four midpoints around its best mean, two coarse steps each side:
# interpolating across the coarse grid's x2.15 steps misjudges a curve that bends at its top
# (FINE=LR,... gives the values instead). Then for every seed a range test of
# the default length (LR 1e-4 -> 10; no --iters), each measured against the grid's means by `clr
# grid --resume G --range-test T` (nothing is trained again); then for each R of REPEATS (default
# 3 5) `clr range-test --repeats R` over disjoint runs of the seeds (1..R, R+1..2R, …), measured
# the same way; then for each N of VERIFY (default 3) and every seed, `clr train --max-lr
# T/range_test.json --verify N` (the seed's test, N short runs around its pick, then the 8-epoch
# run at the chosen max_lr), whose choice is measured against the grid's means by the table script.
# All at batch 64, bf16, one thread. scripts/regret_seeds_table.py prints the tables and writes
# bench/regret-seeds.json.
#
# usage: scripts/regret-seeds.sh [OUT_DIR]   (default runs/regret-seeds; run again to continue)
#        PARTS="digits:8:10" scripts/regret-seeds.sh   (SET:DEPTH:SEEDS; sets: scripts/regret-data.sh)
#        PARTS="digits:10:10:wrn:1" …   (SET:DEPTH:SEEDS:ARCH:WIDTH: another network than the ResNet)
#        REPEATS= VERIFY= FINE= scripts/regret-seeds.sh   (leave a stage out)
# A part grows: copy SET-dD-x10 to SET-dD-x20 and run PARTS="SET:D:20": its grid takes seeds 11-20
# (`clr grid --resume --seeds 20`, nothing trained twice), and ten more range tests are run.
# Time on a quiet 2-core machine: digits ~30 min at depth 8 and ~65 at depth 20 (two parts can
# run side by side, one per core, with two OUT_DIRs).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/regret-seeds}
PARTS=${PARTS:-digits:8:10 digits:20:10}
REPEATS=${REPEATS-3 5}
VERIFY=${VERIFY-3}
FINE=${FINE-auto}
source scripts/regret-data.sh

for part in $PARTS; do
    IFS=: read -r set depth seeds arch width <<< "$part"
    dir=$(regret_data "$set" "$OUT/data")
    net=(--depth "$depth")
    base="$OUT/$set-d$depth-x$seeds"
    if [ -n "$arch" ]; then
        net+=(--arch "$arch" --width "$width")
        base="$OUT/$set-$arch$width-d$depth-x$seeds"
    fi
    grid="$base/grid"
    if [ -f "$grid/grid.json" ]; then
        "$CLR" grid --resume "$grid" --seeds "$seeds" --threads 1 --no-progress > /dev/null
    else
        rm -rf "$grid"
        "$CLR" grid --data-dir "$dir" "${net[@]}" --seed 1 --seeds "$seeds" "${COMMON[@]}" \
            --from 0.01 --to 10 --points 10 --out "$grid" > /dev/null
    fi
    if [ -n "$FINE" ]; then
        fine=$FINE
        [ "$fine" = auto ] && fine=$("$PY" scripts/regret_seeds_table.py --fine "$grid/grid.json")
        "$CLR" grid --resume "$grid" --max-lrs "$fine" --threads 1 --no-progress > /dev/null
    fi
    for seed in $(seq 1 "$seeds"); do
        rt="$base/range-test-s$seed"
        if [ ! -f "$rt/range_test.json" ]; then
            rm -rf "$rt"
            "$CLR" range-test --data-dir "$dir" "${net[@]}" --seed "$seed" "${COMMON[@]}" \
                --start-lr 1e-4 --end-lr 10 --out "$rt" > /dev/null
        fi
        "$CLR" grid --resume "$grid" --range-test "$rt" --threads 1 --no-progress > /dev/null
        cp "$grid/grid.json" "$base/grid-s$seed.json"
    done
    # --repeats R: the combined pick of R seeds' tests, over disjoint runs of seeds (1..R, R+1..2R, …).
    for r in $REPEATS; do
        for first in $(seq 1 "$r" $((seeds - r + 1))); do
            rt="$base/repeats$r-s$first"
            if [ ! -f "$rt/range_test.json" ] || grep -q '"interrupted"' "$rt/range_test.json"; then
                rm -rf "$rt"
                "$CLR" range-test --data-dir "$dir" "${net[@]}" --seed "$first" --repeats "$r" "${COMMON[@]}" \
                    --start-lr 1e-4 --end-lr 10 --out "$rt" > /dev/null 2>&1
            fi
            "$CLR" grid --resume "$grid" --range-test "$rt" --threads 1 --no-progress > /dev/null
            cp "$grid/grid.json" "$base/grid-r$r-s$first.json"
        done
    done
    # --verify N: each seed's test, then N short runs at its seed choose the max_lr to train with.
    for n in $VERIFY; do
        for seed in $(seq 1 "$seeds"); do
            run="$base/verify$n-s$seed"
            if ! grep -qsE '"status": "(completed|diverged)"' "$run/summary.json"; then
                rm -rf "$run"
                "$CLR" train --max-lr "$base/range-test-s$seed/range_test.json" --verify "$n" \
                    --data-dir "$dir" "${net[@]}" --seed "$seed" --phases 3.6,3.6,0.8 "${COMMON[@]}" \
                    --out "$run" > /dev/null 2>&1
            fi
        done
    done
done
"$PY" scripts/regret_seeds_table.py "$OUT"
