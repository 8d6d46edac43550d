#!/usr/bin/env bash
# Does the held-out loss pick max_lr better than the training loss? For each many-seed part of
# scripts/regret-seeds.sh, range tests of the default length with `--val-batches 4` (the loss on
# four held-out batches after each step, with batch statistics, instead of the training batch's),
# one per seed, with a *validation* set in place of the part's test split, so that the grids' test
# accuracy stays unseen: for a Fashion-MNIST part, its training images and 2,000 other
# Fashion-MNIST training images (36,001-38,000, in no part); for the digits (no spare images), the
# first 1,244 of the 1,500 training images, and the other 256 held out. Then
# scripts/heldout_loss_table.py measures, against the part's many-seed grid, the floor rule on that
# curve (what clr suggests with --val-batches), the LR of the curve's lowest point, and the curve's
# first dip times a factor fitted on the Fashion-MNIST parts before the digits ran.
#
# usage: scripts/heldout-loss.sh [OUT] [SEEDS_DIR...]   (SEEDS_DIR: where regret-seeds.sh wrote the
#        grids; default runs/regret-seeds). PARTS="SET:DEPTH[:ARCH:WIDTH] ...", SEEDS (default 5).
# ~25 s a test at depth 8 on one core; the default nine parts x five seeds: ~30 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/heldout-loss}
shift || true
SEEDS_DIRS=("${@:-runs/regret-seeds}")
PARTS=${PARTS:-fmnist5k-b:8 fmnist3k-c:8 fmnist2k-d:14 fmnist2k-e:8 fmnist1k5-f:20 digits:8 digits:14 digits:20 digits:10:wrn:1}
SEEDS=${SEEDS:-5}
source scripts/regret-data.sh

# The Fashion-MNIST validation images, once: written as a training batch, then used as each
# Fashion-MNIST part's test split.
pool="$OUT/data/validation"
[ -f "$pool/data_batch_1.bin" ] || "$PY" scripts/idx_to_cifar.py "$FMNIST" "$pool" --skip 36000 --train 2000 --test 1 >&2

# heldout_folder SET: prints the folder of SET's training images with a validation split as its
# test split, after making it.
heldout_folder() {
    local set=$1 dir="$OUT/data/$1-validation" train
    train=$(regret_data "$set" "$OUT/data")
    if [ ! -f "$dir/test_batch.bin" ]; then
        mkdir -p "$dir"
        if [ "$set" = digits ]; then
            "$PY" - "$train" "$dir" <<'PY'
import sys
from pathlib import Path
src, out = Path(sys.argv[1]), Path(sys.argv[2])
records = b"".join((src / f"data_batch_{i}.bin").read_bytes() for i in (1, 2))
size = 3073  # one CIFAR record: label and 3x32x32 pixels
assert len(records) == 1500 * size, "the digits set: 1,500 training images"
(out / "data_batch_1.bin").write_bytes(records[:1244 * size])
(out / "test_batch.bin").write_bytes(records[1244 * size:])
PY
        else
            cp "$train"/data_batch_*.bin "$dir/"
            cp "$pool/data_batch_1.bin" "$dir/test_batch.bin"
        fi
    fi
    echo "$dir"
}

for part in $PARTS; do
    IFS=: read -r set depth arch width <<< "$part"
    dir=$(heldout_folder "$set")
    net=(--depth "$depth")
    name="$set-d$depth"
    if [ -n "$arch" ]; then
        net+=(--arch "$arch" --width "$width")
        name="$set-$arch$width-d$depth"
    fi
    for seed in $(seq 1 "$SEEDS"); do
        rt="$OUT/$name/heldout-s$seed"
        [ -f "$rt/range_test.json" ] && continue
        rm -rf "$rt"
        "$CLR" range-test --data-dir "$dir" "${net[@]}" --seed "$seed" "${COMMON[@]}" \
            --start-lr 1e-4 --end-lr 10 --val-batches 4 --out "$rt" > /dev/null
    done
done
"$PY" scripts/heldout_loss_table.py "$OUT" "${SEEDS_DIRS[@]}"
