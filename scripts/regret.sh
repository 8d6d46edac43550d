#!/usr/bin/env bash
# The regret table (BENCHMARKS.md, README): for real image sets at two depths, how many points of
# test accuracy each range-test rule's max_lr loses against the best of a grid of short one-cycle
# runs, and how far each rule's LR moves with the test's length (--iters 75, 150, 300, 600).
#
# Per set and depth: four `clr range-test`s (LR 1e-4 -> 10), one `clr grid` (8 max_lr values,
# 0.01 -> 2.15, each a one-cycle run of 8 epochs from the same initial weights; base_lr = max/10,
# final_lr = max/100), then every test measured against the grid by `clr grid --resume G
# --range-test T` (nothing is trained again). All at batch 64, bf16, seed 1, one thread.
# scripts/regret_table.py prints the table and writes bench/regret.json.
#
# Sets: digits (scikit-learn's scanned digits, 1,500 train / 297 test), fmnist5k and fmnist20k
# (the first 5,000 / 20,000 Fashion-MNIST training images, the first 2,000 test images; needs
# `apt-get install dataset-fashion-mnist`). None of them is CIFAR-10: only its file layout.
#
# usage: scripts/regret.sh [OUT_DIR]   (default runs/regret; run again to continue a stopped one)
#        SETS="digits fmnist5k" DEPTHS="8" scripts/regret.sh   (a part of the table)
# Time on a quiet 2-core machine: digits ~20 min per depth; fmnist5k ~1 h; fmnist20k ~3 h.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/regret}
SETS=${SETS:-digits fmnist5k fmnist20k}
DEPTHS=${DEPTHS:-8 20}
ITERS="75 150 300 600"
FMNIST=${FMNIST:-/usr/share/datasets/fashion-mnist}
PY=${PY:-.venv/bin/python}
CLR=${CLR:-target/release/clr}
[ -x "$CLR" ] && [ -x "$PY" ] || { echo "run scripts/setup.sh first" >&2; exit 1; }
COMMON=(--batch-size 64 --seed 1 --precision bf16 --device cpu --threads 1 --no-download --no-progress)

data() { # the set's folder in the CIFAR binary layout, made once
    local set=$1 dir="$OUT/data/$1"
    [ -f "$dir/test_batch.bin" ] && { echo "$dir"; return; }
    case $set in
        digits) "$PY" -c "import sklearn" 2>/dev/null || "$PY" -m pip install --quiet scikit-learn
                "$PY" scripts/make_digits_cifar.py "$dir" >&2 ;;
        fmnist5k) "$PY" scripts/idx_to_cifar.py "$FMNIST" "$dir" --train 5000 --test 2000 >&2 ;;
        fmnist20k) "$PY" scripts/idx_to_cifar.py "$FMNIST" "$dir" --train 20000 --test 2000 >&2 ;;
        *) echo "unknown set $set" >&2; exit 2 ;;
    esac
    echo "$dir"
}

for set in $SETS; do
    dir=$(data "$set")
    for depth in $DEPTHS; do
        base="$OUT/$set-d$depth"
        for it in $ITERS; do
            rt="$base/range-test-i$it"
            [ -f "$rt/range_test.json" ] && continue
            rm -rf "$rt"
            "$CLR" range-test --data-dir "$dir" --depth "$depth" "${COMMON[@]}" --start-lr 1e-4 --end-lr 10 \
                --iters "$it" --out "$rt" > /dev/null
        done
        grid="$base/grid"
        if [ -f "$grid/grid.json" ]; then
            "$CLR" grid --resume "$grid" --threads 1 --no-progress > /dev/null
        else
            rm -rf "$grid"
            "$CLR" grid --data-dir "$dir" --depth "$depth" "${COMMON[@]}" --from 0.01 --to 2.15443469 --points 8 \
                --out "$grid" > /dev/null
        fi
        for it in $ITERS; do
            "$CLR" grid --resume "$grid" --range-test "$base/range-test-i$it" --threads 1 --no-progress > /dev/null
            cp "$grid/grid.json" "$base/grid-i$it.json"
        done
    done
done
"$PY" scripts/regret_table.py "$OUT"
