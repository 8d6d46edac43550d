# Sourced by scripts/regret.sh and scripts/regret-seeds.sh: the real image sets the regret
# measurements train on, each made once in the CIFAR binary layout (none is CIFAR-10: only its
# file layout). Needs PY (a Python with numpy) and FMNIST (the Fashion-MNIST IDX folder).
#
# Sets: digits (scikit-learn's scanned digits, 1,500 train / 297 test), fmnist5k and fmnist20k
# (the first 5,000 / 20,000 Fashion-MNIST training images, all 10,000 test images), fmnist5k-b
# (training images 30,001-35,000: disjoint from the others, held out from the floor rule's
# fitting), fmnist (all 60,000); Fashion-MNIST needs `apt-get install dataset-fashion-mnist`.

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
        fmnist) "$PY" scripts/idx_to_cifar.py "$FMNIST" "$dir" >&2 ;;
        *) echo "unknown set $set" >&2; exit 2 ;;
    esac
    echo "$dir"
}
