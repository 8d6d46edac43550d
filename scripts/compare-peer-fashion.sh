#!/usr/bin/env bash
# Fashion-MNIST, full size (60,000 training and 10,000 test images), clr against the plain PyTorch
# peer (bench/peer/ref_train.py, or $PEER) on the LRs clr's range test proposes: `clr
# range-test` first, then a one-cycle `clr train` and the peer's OneCycleLR (three phases, linear,
# the same steps: --phase-ends pytorch) at that base and max LR, the same model (CIFAR ResNet,
# option A), batch, momentum and weight decay, one run each, fp32 on the CPU. The peer reads only
# the CIFAR-10 binary layout: scripts/idx_to_cifar.py writes it the same pixels clr reads from the
# IDX files (28x28 padded to 32x32, grey copied to three channels; not CIFAR-10).
# Reports test accuracy and seconds per epoch for both; writes bench/peer-fashion-mnist-dDEPTH.json.
# Usage: scripts/compare-peer-fashion.sh [DEPTH] [UP,DOWN,TAIL] [RANGE_TEST_ITERS]
#        (defaults 20 2,2,1 400; the phases in epochs: a short run for a 2-core CPU)
# RANGE_DIR=DIR reuses the folder of a range test run with these settings instead of running one
# (KEEP_RANGE=DIR keeps this run's there).
# Data: $FMNIST_DIR (default /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist),
# or `clr download --dataset fashion-mnist --data-dir D` and FMNIST_DIR=D/fashion-mnist.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPTH=${1:-20}
PHASES=${2:-2,2,1}
ITERS=${3:-400}
DATA=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
PEER=${PEER:-bench/peer/ref_train.py}
PY=.venv/bin/python
BATCH=128 MOMENTUM=0.9 WD=1e-4 SEED=0
IFS=, read -r UP DOWN TAIL <<< "$PHASES"
[ -x target/release/clr ] && [ -x "$PY" ] || { echo "run scripts/setup.sh first" >&2; exit 1; }
[ -f "$PEER" ] || { echo "peer $PEER not found (set PEER=path/to/ref_train.py)" >&2; exit 1; }
[ -d "$DATA" ] || { echo "no Fashion-MNIST in $DATA (set FMNIST_DIR)" >&2; exit 1; }
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)  # recorded: the seconds mean little on a busy machine
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
COMMON=(--dataset fashion-mnist --data-dir "$DATA" --no-download --depth "$DEPTH" --batch-size $BATCH
        --momentum $MOMENTUM --weight-decay $WD --device cpu --seed $SEED --no-progress)

if [ -n "${RANGE_DIR:-}" ]; then
    # A range test already run with these settings (its folder), e.g. by an earlier call of this script.
    cp -r "$RANGE_DIR" "$TMP/range"
    RANGE_SECONDS=-1
else
    START=$(date +%s)
    target/release/clr range-test "${COMMON[@]}" --iters "$ITERS" --out "$TMP/range" > "$TMP/range.txt"
    RANGE_SECONDS=$(( $(date +%s) - START ))
    if [ -n "${KEEP_RANGE:-}" ]; then cp -r "$TMP/range" "$KEEP_RANGE"; fi
fi
read -r BASE MAX < <("$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['base_lr'], r['max_lr'])" "$TMP/range/range_test.json")
echo "range test: base_lr $BASE, max_lr $MAX"

"$PY" scripts/idx_to_cifar.py "$DATA" "$TMP/cifar-layout" > /dev/null
"$PY" "$PEER" --data-dir "$TMP/cifar-layout" --depth "$DEPTH" --batch-size $BATCH --base-lr "$BASE" --max-lr "$MAX" \
    --up "$UP" --down "$DOWN" --tail "$TAIL" --momentum $MOMENTUM --wd $WD --device cpu --seed $SEED \
    | tee "$TMP/peer.txt" | tail -n 1 > "$TMP/peer.json"
target/release/clr train "${COMMON[@]}" --policy one-cycle --base-lr "$BASE" --max-lr "$MAX" \
    --phases "$UP,$DOWN,$TAIL" --phase-ends pytorch --out "$TMP/clr" > /dev/null 2> "$TMP/clr.err"

mkdir -p bench
OUT="bench/peer-fashion-mnist-d$DEPTH.json"
"$PY" - "$TMP" "$OUT" "$DEPTH $PHASES $ITERS" "$DATA" "$RANGE_SECONDS" "$LOAD_START" <<'PY'
import csv, datetime, json, os, statistics as st, sys
tmp, out, args, data, range_seconds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
load_start, load_end = float(sys.argv[6]), os.getloadavg()[0]
rt = json.load(open(f"{tmp}/range/range_test.json"))
peer = json.load(open(f"{tmp}/peer.json"))
summary = json.load(open(f"{tmp}/clr/summary.json"))
epochs = list(csv.DictReader(open(f"{tmp}/clr/epochs.csv")))
secs = [float(r["seconds"]) for r in epochs]
clr_sec = st.median(secs[1:] if len(secs) > 1 else secs)
peer_epochs = [l.split() for l in open(f"{tmp}/peer.txt") if l.startswith("epoch ")]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rec = {
    "date": datetime.date.today().isoformat(), "machine": f"{cpu}, {os.cpu_count()} cores",
    "command": f"scripts/compare-peer-fashion.sh {args}",
    "data": f"Fashion-MNIST from {data}: 60,000 train / 10,000 test, 28x28 grey zero-padded to 32x32 and "
            "copied to 3 channels (the peer reads the same pixels in the CIFAR-10 layout; not CIFAR-10)",
    "depth": int(args.split()[0]), "batch_size": 128, "momentum": 0.9, "weight_decay": 1e-4, "seed": 0,
    "range_test": {k: rt[k] for k in ["lr_at_min_loss", "suggested_lr", "max_lr", "base_lr", "steps", "stop_reason", "rule"] if k in rt},
    "range_test_seconds": range_seconds if range_seconds >= 0 else None,
    "schedule": f"one-cycle (three phases, linear, PyTorch's phase ends) {rt['base_lr']:.4g} -> {rt['max_lr']:.4g} -> "
                f"{rt['base_lr']:.4g} -> {rt['base_lr'] / 10:.4g} over {args.split()[1]} epochs",
    "clr_test_acc": summary["final_test_acc"], "peer_test_acc": peer["test_acc"],
    "clr_test_acc_per_epoch": [float(r["test_acc"]) for r in epochs],
    "peer_test_acc_per_epoch": [float(e[e.index("test_acc") + 1]) for e in peer_epochs],
    "clr_sec_per_epoch": clr_sec, "peer_sec_per_epoch": peer["sec_per_epoch"],
    "clr_sec_per_epoch_all": secs, "peer_sec_per_epoch_all": [float(e[e.index("sec") + 1]) for e in peer_epochs],
    "speed_ratio_clr_over_peer": peer["sec_per_epoch"] / clr_sec,
    "load_average_1min_start_end": [load_start, load_end],
}
json.dump(rec, open(out, "w"), indent=2)
print(f"range test: lr at min loss {rt['lr_at_min_loss']:.4g}; proposes base {rt['base_lr']:.4g}, max {rt['max_lr']:.4g}")
print(f"{'':22} {'clr':>10} {'peer':>10}")
print(f"{'test accuracy':22} {rec['clr_test_acc']:>10.4f} {rec['peer_test_acc']:>10.4f}")
print(f"{'seconds per epoch':22} {clr_sec:>10.1f} {peer['sec_per_epoch']:>10.1f}")
print(f"speed clr/peer: {rec['speed_ratio_clr_over_peer']:.3f}   ({out})")
PY
