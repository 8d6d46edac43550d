#!/usr/bin/env bash
# One process with 2 threads against 2 processes with 1 thread each (--nproc-per-node 2, Gloo on
# 127.0.0.1), both training the same run on the CPU: synthetic data, ResNet-20, the same global
# batch; and one process with 1 thread, the unit the two processes should double. The machine
# may be shared with other work, so the configurations alternate, ROUNDS times, the figures are
# medians, and the load average before and after is recorded. Throughput is that of the steady epochs (the first one
# warms up), from epochs.csv; the all-reduce time per step is rank 0's median (summary.json).
#   scripts/bench-dist.sh            # after cargo build --release
#   ROUNDS=3 DEPTH=8 scripts/bench-dist.sh
# Runs land in $OUT (default runs/bench-dist/, removed first); the figures in
# bench/dist-cpu-dDEPTH-bBATCH.json; the last lines are a table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
CLR=${CLR:-target/release/clr}
OUT=${OUT:-runs/bench-dist}
DEPTH=${DEPTH:-20}
IMAGES=${IMAGES:-2048}
BATCH=${BATCH:-128}
EPOCHS=${EPOCHS:-3}
ROUNDS=${ROUNDS:-5}
rm -rf "$OUT" && mkdir -p "$OUT"
cut -d' ' -f1-3 /proc/loadavg > "$OUT/load-before"
RUN=(train --dataset synthetic --synthetic-train "$IMAGES" --synthetic-test 256 --depth "$DEPTH"
    --batch-size "$BATCH" --device cpu --policy fixed --base-lr 0.05 --epochs "$EPOCHS" --no-progress)
for r in $(seq 1 "$ROUNDS"); do
    echo "== round $r of $ROUNDS"
    "$CLR" "${RUN[@]}" --threads 2 --out "$OUT/one-$r" > "$OUT/one-$r.log" 2>&1
    "$CLR" "${RUN[@]}" --threads 1 --nproc-per-node 2 --out "$OUT/two-$r" > "$OUT/two-$r.log" 2>&1
    "$CLR" "${RUN[@]}" --threads 1 --out "$OUT/single-$r" > "$OUT/single-$r.log" 2>&1
done
cut -d' ' -f1-3 /proc/loadavg > "$OUT/load-after"

mkdir -p bench
python3 - "$OUT" "$ROUNDS" "$IMAGES" "$BATCH" "$DEPTH" "$EPOCHS" <<'PY'
import csv, datetime, json, os, statistics, sys
out, rounds, images, batch, depth, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
steps = -(-images // batch)
def steady(run):
    secs = [float(r["seconds"]) for r in csv.DictReader(open(f"{out}/{run}/epochs.csv"))][1:]
    return images / statistics.median(secs)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
res = {"date": datetime.date.today().isoformat(), "machine": f"{cpu}, {os.cpu_count()} CPUs",
       "command": f"ROUNDS={rounds} DEPTH={depth} IMAGES={images} BATCH={batch} EPOCHS={epochs} scripts/bench-dist.sh",
       "depth": int(depth), "images": images, "batch": batch, "epochs": int(epochs), "rounds": rounds,
       "steps_per_epoch": steps,
       "load_average_before": open(f"{out}/load-before").read().split(),
       "load_average_after": open(f"{out}/load-after").read().split()}
for name in ("one", "two", "single"):
    ips = [steady(f"{name}-{r}") for r in range(1, rounds + 1)]
    res[f"{name}_images_per_sec"] = ips
    res[f"{name}_median"] = statistics.median(ips)
ms = [json.load(open(f"{out}/two-{r}/summary.json"))["distributed"]["all_reduce_ms_median"] for r in range(1, rounds + 1)]
res["all_reduce_ms"] = ms
res["all_reduce_ms_median"] = statistics.median(ms)
res["step_ms_two_median"] = 1000 * batch / res["two_median"]
res["ratio_two_over_one"] = res["two_median"] / res["one_median"]
res["ratio_two_over_single"] = res["two_median"] / res["single_median"]
json.dump(res, open(f"bench/dist-cpu-d{depth}-b{batch}.json", "w"), indent=2)
print(json.dumps(res, indent=2))
print(f"| ResNet-{depth}, batch {batch}, {images} synthetic images | images/s (median of {rounds}) | all-reduce per step |")
print("| --- | --- | --- |")
print(f"| 1 process x 1 thread | {res['single_median']:.0f} | - |")
print(f"| 1 process x 2 threads | {res['one_median']:.0f} | - |")
print(f"| 2 processes x 1 thread (gloo) | {res['two_median']:.0f} ({res['ratio_two_over_one']:.2f}x the 2 threads, "
      f"{res['ratio_two_over_single']:.2f}x the 1 thread) "
      f"| {res['all_reduce_ms_median']:.1f} ms of a {res['step_ms_two_median']:.0f} ms step |")
PY
