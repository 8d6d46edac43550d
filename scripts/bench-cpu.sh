#!/usr/bin/env bash
# Training throughput of clr against the plain PyTorch peer (bench/peer/ref_train.py, or
# $PEER) on this machine's CPU, same model, batch and image count, measured in one run.
# Usage: scripts/bench-cpu.sh [DEPTH] [BATCH] [IMAGES] [REPEATS]  (defaults 20 128 2560 3)
# Writes bench/cpu-DEPTH-BATCH.json and prints a table. Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-args.sh

# Alternate the two so that a slow spell of the machine hits both alike.
for i in $(seq 1 "$REPEATS"); do
    "$PY" "$PEER" --synthetic "$IMAGES" --epochs 3 --depth "$DEPTH" --batch-size "$BATCH" --device cpu \
        | tail -n 1 > "$TMP/peer-$i.json"
    target/release/clr bench --device cpu --depth "$DEPTH" --batch-size "$BATCH" --precision fp32 \
        --dataset synthetic --synthetic-train "$IMAGES" --synthetic-test 1000 \
        --steps "$STEPS" --warmup 5 --out "$TMP/clr-$i.json" > /dev/null
done

OUT="bench/cpu-d$DEPTH-b$BATCH.json"
mkdir -p bench
BENCH_ARGS="$DEPTH $BATCH $IMAGES $REPEATS" "$PY" - "$TMP" "$REPEATS" "$IMAGES" "$OUT" <<'PY'
import json, os, platform, statistics, subprocess, sys, datetime
tmp, repeats, images, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
peer = [images / json.load(open(f"{tmp}/peer-{i}.json"))["sec_per_epoch"] for i in range(1, repeats + 1)]
runs = [json.load(open(f"{tmp}/clr-{i}.json")) for i in range(1, repeats + 1)]
clr = [r["train_images_per_sec"] for r in runs]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
rec = {
    "date": datetime.date.today().isoformat(),
    "machine": f"{cpu}, {os.cpu_count()} cores",
    "command": "scripts/bench-cpu.sh " + " ".join(os.environ.get("BENCH_ARGS", "").split()),
    "depth": runs[0]["depth"], "batch_size": runs[0]["batch_size"], "images": images, "repeats": repeats,
    "clr_train_images_per_sec": clr, "peer_train_images_per_sec": peer,
    "clr_median": statistics.median(clr), "peer_median": statistics.median(peer),
    "ratio_clr_over_peer": statistics.median(clr) / statistics.median(peer),
    "clr_eval_images_per_sec": statistics.median(r["eval_images_per_sec"] for r in runs),
    "clr_peak_memory_bytes": max(r["peak_memory_bytes"] or 0 for r in runs),
}
json.dump(rec, open(out, "w"), indent=2)
print(f"{'':24} {'clr':>10} {'peer':>10}")
print(f"{'train images/s (median)':24} {rec['clr_median']:>10.1f} {rec['peer_median']:>10.1f}")
print(f"ratio clr/peer: {rec['ratio_clr_over_peer']:.3f}   ({out})")
PY
