#!/usr/bin/env bash
# clr against the plain PyTorch peer (bench/peer/ref_train.py, or $PEER) on a small REAL
# image set in the CIFAR-10 layout (scikit-learn's digits, see make_digits_cifar.py): the same
# model (CIFAR ResNet, option A), the same three-phase linear one-cycle schedule, batch, momentum
# and weight decay, several seeds each. Reports test accuracy (mean ± std over seeds) and seconds
# per epoch for both, and writes bench/peer-digits.json.
# Usage: scripts/compare-peer.sh [DEPTH] [SEEDS]   (defaults 20 3). Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPTH=${1:-20}
SEEDS=${2:-3}
PEER=${PEER:-bench/peer/ref_train.py}
PY=.venv/bin/python
BATCH=128 BASE=0.04 MAX=0.4 FINAL=0.004 UP=6 DOWN=6 TAIL=3  # the peer ends at BASE/10
[ -x target/release/clr ] && [ -x "$PY" ] || { echo "run scripts/setup.sh first" >&2; exit 1; }
[ -f "$PEER" ] || { echo "peer $PEER not found (set PEER=path/to/ref_train.py)" >&2; exit 1; }
"$PY" -c "import sklearn" 2>/dev/null || "$PY" -m pip install --quiet --disable-pip-version-check scikit-learn
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" scripts/make_digits_cifar.py "$TMP/digits"

for s in $(seq 0 $((SEEDS - 1))); do
    "$PY" "$PEER" --data-dir "$TMP/digits" --depth "$DEPTH" --batch-size $BATCH --base-lr $BASE --max-lr $MAX \
        --up $UP --down $DOWN --tail $TAIL --device cpu --seed "$s" | tail -n 1 > "$TMP/peer-$s.json"
    target/release/clr train --data-dir "$TMP/digits" --no-download --depth "$DEPTH" --batch-size $BATCH \
        --policy one-cycle --base-lr $BASE --max-lr $MAX --final-lr $FINAL \
        --phases $UP,$DOWN,$TAIL --device cpu --seed "$s" --no-progress --out "$TMP/clr-$s" > /dev/null 2>&1
done

mkdir -p bench
"$PY" - "$TMP" "$SEEDS" "$DEPTH" <<'PY'
import csv, datetime, json, os, statistics as st, sys
tmp, seeds, depth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
peer = [json.load(open(f"{tmp}/peer-{s}.json")) for s in range(seeds)]
clr_acc, clr_sec = [], []
for s in range(seeds):
    clr_acc.append(json.load(open(f"{tmp}/clr-{s}/summary.json"))["final_test_acc"])
    secs = [float(r["seconds"]) for r in csv.DictReader(open(f"{tmp}/clr-{s}/epochs.csv"))]
    clr_sec.append(st.median(secs[1:]))
peer_acc, peer_sec = [p["test_acc"] for p in peer], [p["sec_per_epoch"] for p in peer]
sd = lambda v: st.stdev(v) if len(v) > 1 else 0.0
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rec = {
    "date": datetime.date.today().isoformat(), "machine": f"{cpu}, {os.cpu_count()} cores",
    "command": f"scripts/compare-peer.sh {depth} {seeds}",
    "data": "scikit-learn digits, 1500 train / 297 test, 32x32 in the CIFAR-10 layout (not CIFAR-10)",
    "depth": depth, "schedule": "one-cycle 0.04->0.4->0.04->0.004 over 6,6,3 epochs, batch 128, momentum 0.9, wd 1e-4",
    "clr_test_acc": clr_acc, "peer_test_acc": peer_acc,
    "clr_sec_per_epoch": clr_sec, "peer_sec_per_epoch": peer_sec,
    "clr_test_acc_mean": st.mean(clr_acc), "clr_test_acc_std": sd(clr_acc),
    "peer_test_acc_mean": st.mean(peer_acc), "peer_test_acc_std": sd(peer_acc),
    "speed_ratio_clr_over_peer": st.median(peer_sec) / st.median(clr_sec),
}
json.dump(rec, open("bench/peer-digits.json", "w"), indent=2)
print(f"{'':22} {'clr':>16} {'peer':>16}")
print(f"{'test accuracy':22} {rec['clr_test_acc_mean']:>9.4f} ± {rec['clr_test_acc_std']:.4f} {rec['peer_test_acc_mean']:>9.4f} ± {rec['peer_test_acc_std']:.4f}")
print(f"{'seconds per epoch':22} {st.median(clr_sec):>16.2f} {st.median(peer_sec):>16.2f}")
print(f"speed clr/peer: {rec['speed_ratio_clr_over_peer']:.3f}   (bench/peer-digits.json)")
PY
