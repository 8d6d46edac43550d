#!/usr/bin/env bash
# An image folder against the in-memory CIFAR-layout path, on the same real images: TRAIN + TEST
# Fashion-MNIST images written as 28x28 grey PNGs in class folders (scripts/idx_to_pngs.py) and
# the same images in the CIFAR-10 binary layout (scripts/idx_to_cifar.py; not CIFAR-10).
# Measures the cache build (`--dataset folder --image-size 32`: decode, resize to 32x32, write;
# the cache removed before each build) and training images/s of `clr bench` from the cache against
# `--dataset cifar10` on the converted files, alternating the two, ResNet-DEPTH, batch 128, fp32,
# one thread (CPU seconds per step are steadiest there on a shared machine; the build uses every core).
# Usage: scripts/bench-folder.sh [TRAIN] [TEST] [REPEATS] [DEPTH]   (defaults 4000 1000 3 20)
# Data: $FMNIST_DIR (default /usr/share/datasets/fashion-mnist). Writes bench/folder-cache.json.
set -euo pipefail
cd "$(dirname "$0")/.."
TRAIN=${1:-4000}
TEST=${2:-1000}
REPEATS=${3:-3}
DEPTH=${4:-20}
DATA=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
PY=.venv/bin/python
[ -x target/release/clr ] && [ -x "$PY" ] || { echo "run scripts/setup.sh first" >&2; exit 1; }
[ -d "$DATA" ] || { echo "no Fashion-MNIST in $DATA (set FMNIST_DIR)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" scripts/idx_to_pngs.py "$DATA" "$TMP/pngs" --train "$TRAIN" --test "$TEST" > /dev/null
"$PY" scripts/idx_to_cifar.py "$DATA" "$TMP/cifar" --train "$TRAIN" --test "$TEST" > /dev/null
BENCH=(bench --device cpu --threads 1 --depth "$DEPTH" --batch-size 128 --precision fp32 --warmup 5)

for i in $(seq 1 "$REPEATS"); do
    rm -rf "$TMP/pngs/.clr-cache"
    target/release/clr "${BENCH[@]}" --steps 1 --dataset folder --data-dir "$TMP/pngs" --image-size 32 \
        --out "$TMP/build.json" > /dev/null 2> "$TMP/build-$i.txt"
    target/release/clr "${BENCH[@]}" --steps 20 --dataset folder --data-dir "$TMP/pngs" --image-size 32 \
        --out "$TMP/folder-$i.json" > /dev/null 2>&1
    target/release/clr "${BENCH[@]}" --steps 20 --dataset cifar10 --data-dir "$TMP/cifar" --no-download \
        --out "$TMP/cifar-$i.json" > /dev/null 2>&1
done

mkdir -p bench
"$PY" - "$TMP" "$REPEATS" "$TRAIN $TEST $REPEATS $DEPTH" "$DATA" <<'PY'
import datetime, json, os, re, statistics as st, sys
tmp, repeats, args, data = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
runs = range(1, repeats + 1)
builds = [float(re.search(r"cache built in ([0-9.]+) s", open(f"{tmp}/build-{i}.txt").read()).group(1)) for i in runs]
folder = [json.load(open(f"{tmp}/folder-{i}.json"))["train_images_per_sec"] for i in runs]
cifar = [json.load(open(f"{tmp}/cifar-{i}.json"))["train_images_per_sec"] for i in runs]
folder_cpu = [json.load(open(f"{tmp}/folder-{i}.json"))["cpu_seconds_per_step"] for i in runs]
cifar_cpu = [json.load(open(f"{tmp}/cifar-{i}.json"))["cpu_seconds_per_step"] for i in runs]
train, test = (int(a) for a in args.split()[:2])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rec = {
    "date": datetime.date.today().isoformat(), "machine": f"{cpu}, {os.cpu_count()} cores",
    "command": f"scripts/bench-folder.sh {args}",
    "data": f"{train} training and {test} test Fashion-MNIST images from {data}, as 28x28 grey PNGs in class "
            "folders, and the same images in the CIFAR-10 layout (padded to 32x32; not CIFAR-10)",
    "images": train + test, "depth": int(args.split()[3]), "batch_size": 128,
    "cache_build_seconds": builds, "cache_build_seconds_median": st.median(builds),
    "cache_build_images_per_sec": (train + test) / st.median(builds),
    "folder_train_images_per_sec": folder, "cifar_layout_train_images_per_sec": cifar,
    "folder_median": st.median(folder), "cifar_layout_median": st.median(cifar),
    "ratio_folder_over_cifar_layout": st.median(folder) / st.median(cifar),
    "folder_cpu_seconds_per_step": folder_cpu, "cifar_layout_cpu_seconds_per_step": cifar_cpu,
    "folder_cpu_seconds_per_step_median": st.median(folder_cpu),
    "cifar_layout_cpu_seconds_per_step_median": st.median(cifar_cpu),
    "threads": 1,
}
json.dump(rec, open("bench/folder-cache.json", "w"), indent=2)
print(f"cache build: {rec['cache_build_seconds_median']:.2f} s for {train + test} PNGs "
      f"({rec['cache_build_images_per_sec']:.0f} images/s; runs {', '.join(f'{b:.2f}' for b in builds)})")
print(f"train images/s (median): folder cache {rec['folder_median']:.1f}, CIFAR layout {rec['cifar_layout_median']:.1f} "
      f"(ratio {rec['ratio_folder_over_cifar_layout']:.3f}); CPU s/step {st.median(folder_cpu):.3f} vs "
      f"{st.median(cifar_cpu):.3f}   (bench/folder-cache.json)")
PY
