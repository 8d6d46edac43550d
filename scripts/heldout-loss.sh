#!/usr/bin/env bash
# Does the held-out loss pick max_lr better than the training loss? For each many-seed part of
# scripts/regret-seeds.sh, range tests of the default length with `--val-batches 4` (the loss on
# four held-out batches after each step instead of the training batch's), one per seed, run on
# the part's training images with a *validation* set in place of its test split: Fashion-MNIST
# training images 36,001-38,000, disjoint from every part's training and test images, so that the
# grids' test accuracy stays unseen. Then scripts/heldout_loss_table.py measures, against the
# part's ten-seed grid, the floor rule on that curve (what clr suggests with --val-batches), the
# LR of the curve's lowest point, and whether any one factor on that point would do.
#
# usage: scripts/heldout-loss.sh [OUT] [SEEDS_DIR...]   (SEEDS_DIR: where regret-seeds.sh wrote the
#        grids; default runs/regret-seeds). PARTS="SET:DEPTH ..." (Fashion-MNIST parts only: the
#        digits set has no spare images), SEEDS (default 5).
# ~25 s a test at depth 8 on one core; the default five parts x five seeds: ~15 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/heldout-loss}
shift || true
SEEDS_DIRS=("${@:-runs/regret-seeds}")
PARTS=${PARTS:-fmnist5k-b:8 fmnist3k-c:8 fmnist2k-d:14 fmnist2k-e:8 fmnist1k5-f:20}
SEEDS=${SEEDS:-5}
source scripts/regret-data.sh

# The validation images, once: written as a training batch, then used as each part's test split.
pool="$OUT/data/validation"
[ -f "$pool/data_batch_1.bin" ] || "$PY" scripts/idx_to_cifar.py "$FMNIST" "$pool" --skip 36000 --train 2000 --test 1 >&2

for part in $PARTS; do
    IFS=: read -r set depth <<< "$part"
    train=$(regret_data "$set" "$OUT/data")
    dir="$OUT/data/$set-validation"
    if [ ! -f "$dir/test_batch.bin" ]; then
        mkdir -p "$dir"
        cp "$train"/data_batch_*.bin "$dir/"
        cp "$pool/data_batch_1.bin" "$dir/test_batch.bin"
    fi
    for seed in $(seq 1 "$SEEDS"); do
        rt="$OUT/$set-d$depth/heldout-s$seed"
        [ -f "$rt/range_test.json" ] && continue
        rm -rf "$rt"
        "$CLR" range-test --data-dir "$dir" --depth "$depth" --seed "$seed" "${COMMON[@]}" \
            --start-lr 1e-4 --end-lr 10 --val-batches 4 --out "$rt" > /dev/null
    done
done
"$PY" scripts/heldout_loss_table.py "$OUT" "${SEEDS_DIRS[@]}"
