#!/usr/bin/env bash
# Does bf16 cost accuracy? clr --precision fp32 against clr --precision bf16 on a small REAL image
# set in the CIFAR-10 layout (scikit-learn's digits, see make_digits_cifar.py), with the same
# model, schedule and seeds as scripts/compare-peer.sh, on the CPU. Reports test accuracy (mean ±
# std over seeds) and seconds per epoch for both, and whether bf16's mean accuracy lies within
# the seeds' spread of fp32's (|mean difference| <= 2 × the larger of the two standard deviations,
# or one test image, whichever is larger). Writes bench/digits-precision.json.
# Usage: scripts/compare-precision.sh [DEPTH] [SEEDS]   (defaults 20 3). Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPTH=${1:-20}
SEEDS=${2:-3}
PY=.venv/bin/python
BATCH=128 BASE=0.04 MAX=0.4 FINAL=0.004 UP=6 DOWN=6 TAIL=3  # as scripts/compare-peer.sh
[ -x target/release/clr ] && [ -x "$PY" ] || { echo "run scripts/setup.sh first" >&2; exit 1; }
"$PY" -c "import sklearn" 2>/dev/null || "$PY" -m pip install --quiet --disable-pip-version-check scikit-learn
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" scripts/make_digits_cifar.py "$TMP/digits"

# Alternate the precisions, so that a slow spell of the machine hits both alike.
for s in $(seq 0 $((SEEDS - 1))); do
    for p in fp32 bf16; do
        target/release/clr train --data-dir "$TMP/digits" --no-download --depth "$DEPTH" --batch-size $BATCH \
            --policy one-cycle --base-lr $BASE --max-lr $MAX --final-lr $FINAL --phases $UP,$DOWN,$TAIL \
            --device cpu --precision $p --seed "$s" --no-progress --out "$TMP/$p-$s" > /dev/null 2> "$TMP/$p-$s.log" \
            || { cat "$TMP/$p-$s.log" >&2; exit 1; }
    done
done

mkdir -p bench
"$PY" - "$TMP" "$SEEDS" "$DEPTH" <<'PY'
import csv, datetime, json, os, statistics as st, sys
tmp, seeds, depth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
acc, sec = {}, {}
for p in ("fp32", "bf16"):
    acc[p] = [json.load(open(f"{tmp}/{p}-{s}/summary.json"))["final_test_acc"] for s in range(seeds)]
    # Median epoch time of each run, its first (warm-up) epoch left out.
    sec[p] = [st.median([float(r["seconds"]) for r in csv.DictReader(open(f"{tmp}/{p}-{s}/epochs.csv"))][1:])
              for s in range(seeds)]
sd = lambda v: st.stdev(v) if len(v) > 1 else 0.0
test_images = 297
diff = st.mean(acc["bf16"]) - st.mean(acc["fp32"])
tolerance = max(2 * max(sd(acc["fp32"]), sd(acc["bf16"])), 1 / test_images)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rec = {
    "date": datetime.date.today().isoformat(), "machine": f"{cpu}, {os.cpu_count()} cores",
    "command": f"scripts/compare-precision.sh {depth} {seeds}",
    "data": f"scikit-learn digits, 1500 train / {test_images} test, 32x32 in the CIFAR-10 layout (not CIFAR-10)",
    "depth": depth, "schedule": "one-cycle 0.04->0.4->0.04->0.004 over 6,6,3 epochs, batch 128, momentum 0.9, wd 1e-4",
    "fp32_test_acc": acc["fp32"], "bf16_test_acc": acc["bf16"],
    "fp32_sec_per_epoch": sec["fp32"], "bf16_sec_per_epoch": sec["bf16"],
    "fp32_test_acc_mean": st.mean(acc["fp32"]), "fp32_test_acc_std": sd(acc["fp32"]),
    "bf16_test_acc_mean": st.mean(acc["bf16"]), "bf16_test_acc_std": sd(acc["bf16"]),
    "bf16_minus_fp32": diff, "tolerance": tolerance, "bf16_within_fp32_spread": abs(diff) <= tolerance,
    "speed_ratio_bf16_over_fp32": st.median(sec["fp32"]) / st.median(sec["bf16"]),
}
json.dump(rec, open("bench/digits-precision.json", "w"), indent=2)
print(f"{'':22} {'fp32':>16} {'bf16':>16}")
print(f"{'test accuracy':22} {rec['fp32_test_acc_mean']:>9.4f} ± {rec['fp32_test_acc_std']:.4f} "
      f"{rec['bf16_test_acc_mean']:>9.4f} ± {rec['bf16_test_acc_std']:.4f}")
print(f"{'seconds per epoch':22} {st.median(sec['fp32']):>16.2f} {st.median(sec['bf16']):>16.2f}")
verdict = "within" if rec["bf16_within_fp32_spread"] else "OUTSIDE"
print(f"bf16 - fp32 = {diff:+.4f}: {verdict} the seeds' spread (±{tolerance:.4f})   (bench/digits-precision.json)")
PY
