#!/usr/bin/env bash
# Two builds of clr on the same training step: OLD (a clr binary saved from before a change) against
# target/release/clr, `clr bench` on synthetic 32x32 images, alternating the two REPEATS times,
# fp32 on the CPU at --threads 1 (CPU seconds per step are steadiest there on a shared machine).
# Usage: scripts/bench-ab.sh OLD_BINARY [DEPTH] [BATCH] [REPEATS] [LABEL]  (defaults 20 128 5 ab)
# Writes bench/LABEL-dDEPTH-bBATCH.json and prints the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${1:?usage: scripts/bench-ab.sh OLD_BINARY [DEPTH] [BATCH] [REPEATS] [LABEL]}
DEPTH=${2:-20}
BATCH=${3:-128}
REPEATS=${4:-5}
LABEL=${5:-ab}
PY=.venv/bin/python
[ -x target/release/clr ] && [ -x "$PY" ] && [ -x "$OLD" ] || { echo "need $OLD, target/release/clr and $PY" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ARGS=(bench --device cpu --depth "$DEPTH" --batch-size "$BATCH" --precision fp32 --threads 1 --dataset synthetic
      --synthetic-train 2560 --synthetic-test 500 --steps 15 --warmup 3)
for i in $(seq 1 "$REPEATS"); do
    "$OLD" "${ARGS[@]}" --out "$TMP/old-$i.json" > /dev/null
    target/release/clr "${ARGS[@]}" --out "$TMP/new-$i.json" > /dev/null
done
OUT="bench/$LABEL-d$DEPTH-b$BATCH.json"
mkdir -p bench
"$PY" - "$TMP" "$REPEATS" "$OUT" "$OLD $DEPTH $BATCH $REPEATS $LABEL" <<'PY'
import datetime, json, os, statistics as st, sys
tmp, repeats, out, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
load = lambda who: [json.load(open(f"{tmp}/{who}-{i}.json")) for i in range(1, repeats + 1)]
old, new = load("old"), load("new")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rec = {"date": datetime.date.today().isoformat(), "machine": f"{cpu}, {os.cpu_count()} cores",
       "command": f"scripts/bench-ab.sh {args}", "threads": 1}
for key in ["train_images_per_sec", "cpu_seconds_per_step"]:
    rec[f"old_{key}"] = [r[key] for r in old]
    rec[f"new_{key}"] = [r[key] for r in new]
    rec[f"old_{key}_median"] = st.median(rec[f"old_{key}"])
    rec[f"new_{key}_median"] = st.median(rec[f"new_{key}"])
rec["ratio_new_over_old_images_per_sec"] = rec["new_train_images_per_sec_median"] / rec["old_train_images_per_sec_median"]
json.dump(rec, open(out, "w"), indent=2)
for key in ["train_images_per_sec", "cpu_seconds_per_step"]:
    print(f"{key:24} old {rec[f'old_{key}_median']:9.3f}   new {rec[f'new_{key}_median']:9.3f}")
print(f"new/old images/s: {rec['ratio_new_over_old_images_per_sec']:.3f}   ({out})")
PY
