#!/usr/bin/env bash
# One of clr's other networks against the PyTorch peer (scripts/peer_models.py: the same PyTorch
# definition clr's is tested against) on Fashion-MNIST (real images: Debian's
# dataset-fashion-mnist in /usr/share/datasets/fashion-mnist, converted to the CIFAR-10 layout by
# make_fashion_cifar.py, 28x28 padded to 32x32, grey copied to 3 channels). A clr range test
# proposes max_lr (and base_lr); clr trains a one-cycle with it, and the peer trains on the LR and
# momentum of every one of clr's steps (clr schedule's CSV). One run each side; test accuracy and
# seconds per epoch (median, first epoch left out) go to bench/fashion-ARCH-peer.json.
# Usage: scripts/compare-arch-peer.sh [ARCH] [PHASES] [BATCH]   (defaults lenet5 3,3,1 128)
# Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${1:-lenet5}
PHASES=${2:-3,3,1}
BATCH=${3:-128}
PY=.venv/bin/python
IDX=${IDX:-/usr/share/datasets/fashion-mnist}
[ -x target/release/clr ] && [ -x "$PY" ] || { echo "run scripts/setup.sh first" >&2; exit 1; }
[ -d "$IDX" ] || { echo "no Fashion-MNIST in $IDX (apt-get install dataset-fashion-mnist, or IDX=DIR)" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" scripts/make_fashion_cifar.py "$TMP/data" --idx-dir "$IDX" > /dev/null
COMMON=(--arch "$ARCH" --data-dir "$TMP/data" --no-download --batch-size "$BATCH" --device cpu --threads 2)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

target/release/clr range-test "${COMMON[@]}" --iters 400 --start-lr 1e-3 --end-lr 10 --no-progress \
    --out "$TMP/range-test" > "$TMP/range-test.txt"
target/release/clr train "${COMMON[@]}" --policy one-cycle --max-lr "$TMP/range-test/range_test.json" \
    --phases "$PHASES" --no-progress --out "$TMP/clr" > /dev/null
# The schedule clr trained on, one row per step, for the peer.
SPE=$(( (60000 + BATCH - 1) / BATCH ))
target/release/clr schedule --config "$TMP/clr/config.json" --steps-per-epoch "$SPE" --out "$TMP/steps.csv"
"$PY" scripts/peer_models.py --arch "$ARCH" --data-dir "$TMP/data" --schedule "$TMP/steps.csv" \
    --batch-size "$BATCH" --threads 2 | tee "$TMP/peer.txt" | tail -n 1 > "$TMP/peer.json"
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p bench
"$PY" - "$TMP" "$ARCH" "$PHASES" "$BATCH" "$LOAD0" "$LOAD1" <<'PY'
import csv, datetime, json, os, statistics as st, sys
tmp, arch, phases, batch, load0, load1 = sys.argv[1:7]
rt = json.load(open(f"{tmp}/range-test/range_test.json"))
cfg = json.load(open(f"{tmp}/clr/config.json"))
summary = json.load(open(f"{tmp}/clr/summary.json"))
clr_rows = list(csv.DictReader(open(f"{tmp}/clr/epochs.csv")))
clr_sec = [float(r["seconds"]) for r in clr_rows]
peer = json.load(open(f"{tmp}/peer.json"))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rec = {
    "date": datetime.date.today().isoformat(), "machine": f"{cpu}, {os.cpu_count()} cores",
    "load_average_before_after": [load0, load1],
    "command": f"scripts/compare-arch-peer.sh {arch} {phases} {batch}",
    "data": "Fashion-MNIST (Debian dataset-fashion-mnist), 60,000 train / 10,000 test, 28x28 padded to 32x32, grey in 3 channels, CIFAR-10 layout",
    "arch": arch, "depth": cfg["depth"], "batch_size": int(batch),
    "range_test": {k: rt[k] for k in ("lr_at_min_loss", "suggested_lr", "max_lr", "base_lr", "steps")},
    "schedule": f"one-cycle {cfg['base_lr']:.4g} -> {cfg['max_lr']:.4g} -> {cfg['base_lr']:.4g} -> {cfg['base_lr'] / 10:.4g} over {phases} epochs, momentum {cfg['momentum']}, wd {cfg['weight_decay']}",
    "clr_test_acc": summary["final_test_acc"], "peer_test_acc": peer["test_acc"],
    "clr_test_acc_per_epoch": [float(r["test_acc"]) for r in clr_rows],
    "clr_sec_per_epoch": st.median(clr_sec[1:] or clr_sec), "peer_sec_per_epoch": peer["sec_per_epoch"],
    "clr_epoch_seconds": clr_sec, "peer_epoch_seconds": peer["epoch_seconds"],
    "peer": "scripts/peer_models.py (PyTorch, NCHW fp32, the same definition), clr: channels-last fp32 (its CPU default)",
}
rec["speed_ratio_clr_over_peer"] = rec["peer_sec_per_epoch"] / rec["clr_sec_per_epoch"]
out = f"bench/fashion-{arch}-peer.json"
json.dump(rec, open(out, "w"), indent=2)
print(f"{'':22} {'clr':>10} {'peer':>10}")
print(f"{'test accuracy':22} {rec['clr_test_acc']:>10.4f} {rec['peer_test_acc']:>10.4f}")
print(f"{'seconds per epoch':22} {rec['clr_sec_per_epoch']:>10.1f} {rec['peer_sec_per_epoch']:>10.1f}")
print(f"max_lr {cfg['max_lr']:.4g} from the range test; speed clr/peer {rec['speed_ratio_clr_over_peer']:.2f}  ({out})")
PY
