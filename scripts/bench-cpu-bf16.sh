#!/usr/bin/env bash
# bf16 training throughput on this machine's CPU: clr --precision bf16 (and clr fp32) against the
# PyTorch peer's fastest CPU mode (bench/peer/ref_train.py --bf16 --channels-last, CPU
# autocast) and its plain fp32 mode, same model, batch, image count and threads, measured in one
# run. The four are alternated, so that a slow spell of a shared machine hits all of them alike;
# medians over REPEATS rounds, and the best run of each (on a machine shared with other work,
# noise only ever slows a run down, so the best is the steadier estimate of each one's speed).
# Usage: scripts/bench-cpu-bf16.sh [DEPTH] [BATCH] [IMAGES] [REPEATS]  (defaults 20 128 2560 3)
# THREADS (default: the number of cores) goes to both. Writes bench/cpu-bf16-dDEPTH-bBATCH.json
# and prints a table. Run scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-args.sh
THREADS=${THREADS:-$(nproc)}

peer() { # NAME FLAGS...: the peer's median seconds per epoch (epochs 2 and 3) as JSON
    local name=$1; shift
    "$PY" "$PEER" --synthetic "$IMAGES" --epochs 3 --depth "$DEPTH" --batch-size "$BATCH" --device cpu \
        --threads "$THREADS" "$@" | tail -n 1 > "$TMP/$name"
}
clr() { # NAME PRECISION
    target/release/clr bench --device cpu --depth "$DEPTH" --batch-size "$BATCH" --precision "$2" \
        --dataset synthetic --synthetic-train "$IMAGES" --synthetic-test 1000 --threads "$THREADS" \
        --steps "$STEPS" --warmup 5 --out "$TMP/$1" > /dev/null
}

for i in $(seq 1 "$REPEATS"); do
    peer "peer_bf16_cl-$i" --bf16 --channels-last
    clr "clr_bf16-$i" bf16
    peer "peer_fp32-$i"
    clr "clr_fp32-$i" fp32
    echo "round $i of $REPEATS done" >&2
done

OUT="bench/cpu-bf16-d$DEPTH-b$BATCH.json"
mkdir -p bench
BENCH_ARGS="$DEPTH $BATCH $IMAGES $REPEATS" "$PY" - "$TMP" "$REPEATS" "$IMAGES" "$THREADS" "$OUT" <<'PY'
import json, os, platform, statistics as st, sys, datetime
tmp, repeats, images, threads, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
load = lambda name, i: json.load(open(f"{tmp}/{name}-{i}"))
rounds = range(1, repeats + 1)
peer = {m: [images / load(f"peer_{m}", i)["sec_per_epoch"] for i in rounds] for m in ("bf16_cl", "fp32")}
clr_runs = {m: [load(f"clr_{m}", i) for i in rounds] for m in ("bf16", "fp32")}
clr = {m: [r["train_images_per_sec"] for r in runs] for m, runs in clr_runs.items()}
med = lambda v: st.median(v)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
rec = {
    "date": datetime.date.today().isoformat(),
    "machine": f"{cpu}, {os.cpu_count()} cores, bf16 instructions: "
               + (", ".join(f for f in ("avx512_bf16", "amx_bf16", "avx_ne_convert") if f in flags) or "none"),
    "command": "scripts/bench-cpu-bf16.sh " + os.environ.get("BENCH_ARGS", ""),
    "depth": clr_runs["bf16"][0]["depth"], "batch_size": clr_runs["bf16"][0]["batch_size"], "images": images,
    "repeats": repeats, "threads": threads,
    "clr_bf16_train_images_per_sec": clr["bf16"], "clr_fp32_train_images_per_sec": clr["fp32"],
    "peer_bf16_channels_last_train_images_per_sec": peer["bf16_cl"], "peer_fp32_train_images_per_sec": peer["fp32"],
    "clr_bf16_median": med(clr["bf16"]), "clr_fp32_median": med(clr["fp32"]),
    "peer_bf16_channels_last_median": med(peer["bf16_cl"]), "peer_fp32_median": med(peer["fp32"]),
    "ratio_clr_bf16_over_peer_bf16_channels_last": med(clr["bf16"]) / med(peer["bf16_cl"]),
    "ratio_clr_bf16_over_peer_fp32": med(clr["bf16"]) / med(peer["fp32"]),
    "ratio_clr_bf16_over_clr_fp32": med(clr["bf16"]) / med(clr["fp32"]),
    "clr_bf16_best": max(clr["bf16"]), "clr_fp32_best": max(clr["fp32"]),
    "peer_bf16_channels_last_best": max(peer["bf16_cl"]), "peer_fp32_best": max(peer["fp32"]),
    "best_ratio_clr_bf16_over_peer_bf16_channels_last": max(clr["bf16"]) / max(peer["bf16_cl"]),
    "best_ratio_clr_bf16_over_peer_fp32": max(clr["bf16"]) / max(peer["fp32"]),
    "clr_bf16_eval_images_per_sec": med([r["eval_images_per_sec"] for r in clr_runs["bf16"]]),
    "clr_bf16_peak_memory_bytes": max(r["peak_memory_bytes"] or 0 for r in clr_runs["bf16"]),
}
json.dump(rec, open(out, "w"), indent=2)
print(f"{'train images/s':28} {'bf16 median':>12} {'fp32 median':>12} {'bf16 best':>12} {'fp32 best':>12}")
print(f"{'clr':28} {rec['clr_bf16_median']:>12.1f} {rec['clr_fp32_median']:>12.1f} "
      f"{rec['clr_bf16_best']:>12.1f} {rec['clr_fp32_best']:>12.1f}")
print(f"{'peer (bf16: channels-last)':28} {rec['peer_bf16_channels_last_median']:>12.1f} {rec['peer_fp32_median']:>12.1f} "
      f"{rec['peer_bf16_channels_last_best']:>12.1f} {rec['peer_fp32_best']:>12.1f}")
print(f"clr bf16 / peer bf16 channels-last: {rec['ratio_clr_bf16_over_peer_bf16_channels_last']:.3f} (medians), "
      f"{rec['best_ratio_clr_bf16_over_peer_bf16_channels_last']:.3f} (best runs)")
print(f"clr bf16 / peer fp32: {rec['ratio_clr_bf16_over_peer_fp32']:.3f} (medians), "
      f"{rec['best_ratio_clr_bf16_over_peer_fp32']:.3f} (best runs)   ({out})")
PY
