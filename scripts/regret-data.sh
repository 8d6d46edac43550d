# Sourced by scripts/regret.sh, regret-seeds.sh and iters-repeats.sh: the real image sets the
# regret measurements train on, each made once in the CIFAR binary layout (none is CIFAR-10: only
# its file layout), and the tools and settings they share.
#
# Sets: digits (scikit-learn's scanned digits, 1,500 train / 297 test), fmnist5k and fmnist20k
# (the first 5,000 / 20,000 Fashion-MNIST training images, all 10,000 test images), fmnist5k-b
# (training images 30,001-35,000: disjoint from the others, held out from the floor rule's
# fitting), fmnist3k-c (training images 40,001-43,000 and the first 2,000 test images: disjoint
# from the others, held out from everything before --repeats was measured), fmnist2k-d (training
# images 50,001-52,000 and the first 2,000 test images: held out from everything before --verify
# was measured), fmnist2k-e and fmnist1k5-f (training images 20,001-22,000 and 25,001-26,500,
# and the first 2,000 test images: held out from the rule chosen after --verify was measured), fmnist
# (all 60,000);
# Fashion-MNIST needs `apt-get install dataset-fashion-mnist`.

# The tools and the settings every measurement shares: batch 64, bf16, one thread, no download.
FMNIST=${FMNIST:-/usr/share/datasets/fashion-mnist}
PY=${PY:-.venv/bin/python}
CLR=${CLR:-target/release/clr}
[ -x "$CLR" ] && [ -x "$PY" ] || { echo "run scripts/setup.sh first" >&2; exit 1; }
COMMON=(--batch-size 64 --precision bf16 --device cpu --threads 1 --no-download --no-progress)

# regret_data SET ROOT: prints ROOT/SET, the set's folder, after making it if it is not there.
regret_data() {
    local set=$1 dir="$2/$1"
    [ -f "$dir/test_batch.bin" ] && { echo "$dir"; return; }
    case $set in
        digits) "$PY" -c "import sklearn" 2>/dev/null || "$PY" -m pip install --quiet scikit-learn
                "$PY" scripts/make_digits_cifar.py "$dir" >&2 ;;
        fmnist5k) "$PY" scripts/idx_to_cifar.py "$FMNIST" "$dir" --train 5000 >&2 ;;
        fmnist20k) "$PY" scripts/idx_to_cifar.py "$FMNIST" "$dir" --train 20000 >&2 ;;
        fmnist5k-b) "$PY" scripts/idx_to_cifar.py "$FMNIST" "$dir" --skip 30000 --train 5000 >&2 ;;
        fmnist3k-c) "$PY" scripts/idx_to_cifar.py "$FMNIST" "$dir" --skip 40000 --train 3000 --test 2000 >&2 ;;
        fmnist2k-d) "$PY" scripts/idx_to_cifar.py "$FMNIST" "$dir" --skip 50000 --train 2000 --test 2000 >&2 ;;
        fmnist2k-e) "$PY" scripts/idx_to_cifar.py "$FMNIST" "$dir" --skip 20000 --train 2000 --test 2000 >&2 ;;
        fmnist1k5-f) "$PY" scripts/idx_to_cifar.py "$FMNIST" "$dir" --skip 25000 --train 1500 --test 2000 >&2 ;;
        fmnist) "$PY" scripts/idx_to_cifar.py "$FMNIST" "$dir" >&2 ;;
        *) echo "unknown set $set" >&2; exit 2 ;;
    esac
    echo "$dir"
}
