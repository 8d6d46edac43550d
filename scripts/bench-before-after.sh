#!/usr/bin/env bash
# The same `clr bench` with two binaries (before and after a change), alternated REPEATS times
# at one thread so that a slow spell of a shared machine hits both alike; CPU seconds per step is
# the steadier figure there. Writes bench/before-after-NAME.json and prints the medians.
# Usage: scripts/bench-before-after.sh OLD_BINARY NAME [REPEATS] [-- BENCH FLAGS...]
#   e.g. scripts/bench-before-after.sh /tmp/clr-old resnet20 3 -- --depth 20 --precision fp32
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$1 NAME=$2 REPEATS=${3:-3}
shift $(( $# >= 3 ? 3 : $# ))
[ "${1:-}" = "--" ] && shift
FLAGS=("$@")
[ -x "$OLD" ] && [ -x target/release/clr ] || { echo "need $OLD and target/release/clr" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
COMMON=(--device cpu --batch-size 128 --dataset synthetic --synthetic-train 2560 --synthetic-test 500
        --steps 15 --warmup 3 --threads 1)
for i in $(seq 1 "$REPEATS"); do
    "$OLD" bench "${COMMON[@]}" "${FLAGS[@]}" --out "$TMP/old-$i.json" > /dev/null
    target/release/clr bench "${COMMON[@]}" "${FLAGS[@]}" --out "$TMP/new-$i.json" > /dev/null
done
mkdir -p bench
python3 - "$TMP" "$REPEATS" "$NAME" "$OLD" "$(cut -d' ' -f1-3 /proc/loadavg)" "${FLAGS[*]}" <<'PY'
import datetime, json, os, statistics as st, sys
tmp, n, name, old, load, flags = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
runs = {k: [json.load(open(f"{tmp}/{k}-{i}.json")) for i in range(1, n + 1)] for k in ("old", "new")}
cpu = {k: [r["cpu_seconds_per_step"] for r in v] for k, v in runs.items()}
ips = {k: [r["train_images_per_sec"] for r in v] for k, v in runs.items()}
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rec = {"date": datetime.date.today().isoformat(), "machine": f"{model}, {os.cpu_count()} cores",
       "load_average_after": load, "command": f"scripts/bench-before-after.sh {old} {name} {n} -- {flags}",
       "old_cpu_seconds_per_step": cpu["old"], "new_cpu_seconds_per_step": cpu["new"],
       "old_train_images_per_sec": ips["old"], "new_train_images_per_sec": ips["new"],
       "new_over_old_cpu_seconds_median": st.median(cpu["new"]) / st.median(cpu["old"])}
out = f"bench/before-after-{name}.json"
json.dump(rec, open(out, "w"), indent=2)
print(f"CPU s/step median: before {st.median(cpu['old']):.4f}, after {st.median(cpu['new']):.4f} "
      f"(after/before {rec['new_over_old_cpu_seconds_median']:.3f})  {out}")
PY
