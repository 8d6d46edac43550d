#!/usr/bin/env bash
# The GPU checks of ../shared/gpu/README.md in one device call. Prepare here:
#   cargo build --release && mkdir -p .gpu && cp target/release/clr ../shared/peer/ref_train.py .gpu/
# then run on the device machine:  bash scripts/gpu-check.sh 2>&1 | tee $OUT/log
# (device tool: carry [".gpu"], timeout_s ~540). Everything lands in $OUT (default gpu-out/):
# JSON per measurement and summary.json; the last lines are a table to copy into BENCHMARKS.md.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
CLR=${CLR:-.gpu/clr}
PEER=${PEER:-.gpu/ref_train.py}
IMAGES=${IMAGES:-50000}
# A dry run of this script's logic on a CPU: DEVICE=cpu DEPTH=8 IMAGES=1024 DYN_IMAGES=1024 EVAL_IMAGES=512 DIST_IMAGES=1024
DEVICE=${DEVICE:-cuda}
DEPTH=${DEPTH:-56}
DYN_IMAGES=${DYN_IMAGES:-10240}
EVAL_IMAGES=${EVAL_IMAGES:-10000}
DIST_IMAGES=${DIST_IMAGES:-10240}
mkdir -p "$OUT"
TORCH_LIB=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi -L | tee "$OUT/gpu.txt"
ldd "$CLR" | grep -E 'torch_cuda|not found' | tee "$OUT/ldd.txt"
COMMON=(--dataset synthetic --synthetic-test "$EVAL_IMAGES" --depth "$DEPTH" --batch-size 512 --device "$DEVICE")
SYN=("${COMMON[@]}" --synthetic-train "$IMAGES")
PEER_ARGS=(--synthetic "$IMAGES" --epochs 3 --depth "$DEPTH" --batch-size 512 --device "$DEVICE")

echo "== 1. throughput: peer fp32, peer bf16+channels-last, clr fp32, clr bf16 (3 epochs each)"
python3 "$PEER" "${PEER_ARGS[@]}" | tail -n 1 > "$OUT/peer-fp32.json"
[ "$DEVICE" = cpu ] || python3 "$PEER" "${PEER_ARGS[@]}" --bf16 --channels-last | tail -n 1 > "$OUT/peer-bf16-cl.json"
PRECISIONS=(fp32 bf16)
[ "$DEVICE" = cpu ] && PRECISIONS=(fp32)
for p in "${PRECISIONS[@]}"; do
    "$CLR" train "${SYN[@]}" --policy fixed --base-lr 0.05 --epochs 3 --precision "$p" --no-progress \
        --out "$OUT/clr-$p" > "$OUT/clr-$p.log" 2>&1
    "$CLR" bench "${SYN[@]}" --precision "$p" --steps 100 --warmup 10 --out "$OUT/bench-$p.json" > /dev/null 2>&1
done

echo "== 2. real dynamics: one-cycle on CUDA; the loss falls and the LR logged is clr schedule's"
"$CLR" train "${COMMON[@]}" --synthetic-train "$DYN_IMAGES" --policy one-cycle --base-lr 0.08 --max-lr 0.8 --phases 2,2,1 \
    --no-progress --out "$OUT/dynamics" > "$OUT/dynamics.log" 2>&1
"$CLR" schedule --policy one-cycle --base-lr 0.08 --max-lr 0.8 --phases 2,2,1 --steps-per-epoch $(( (DYN_IMAGES + 511) / 512 )) \
    --out "$OUT/dynamics-schedule.csv"

echo "== 3. distributed: NCCL at world size 1 on the GPU; 2 processes on Gloo with CUDA tensors (one GPU)"
# A group of one as torchrun --nproc-per-node 1 makes it (on the CPU dry run: Gloo, NCCL needs CUDA).
ONE_BACKEND=nccl
[ "$DEVICE" = cpu ] && ONE_BACKEND=gloo
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DIST=("${COMMON[@]}" --synthetic-train "$DIST_IMAGES" --policy fixed --base-lr 0.05 --epochs 2 --no-progress)
RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 LOCAL_WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=$PORT \
    timeout 120 "$CLR" train "${DIST[@]}" --dist-backend "$ONE_BACKEND" --dist-timeout 60 --out "$OUT/dist-one" \
    > "$OUT/dist-one.log" 2>&1
# --device cuda is cuda:0 for both ranks: Gloo stages the CUDA tensors through host memory.
timeout 180 "$CLR" train "${DIST[@]}" --nproc-per-node 2 --dist-backend gloo --dist-timeout 60 --out "$OUT/dist-gloo-2" \
    > "$OUT/dist-gloo-2.log" 2>&1
tail -n 3 "$OUT/dist-one.log" "$OUT/dist-gloo-2.log"

echo "== 4. a copy of CIFAR-10 on this machine?"
find / -xdev -iname '*cifar*' 2>/dev/null | head -n 20 | tee "$OUT/cifar-found.txt"

python3 - "$OUT" "$IMAGES" <<'PY'
import csv, json, statistics, sys
out, images = sys.argv[1], int(sys.argv[2])
def load(p):
    try:
        return json.load(open(p))
    except Exception as e:
        return {"error": str(e)}
def clr_epoch(p):
    try:
        rows = list(csv.DictReader(open(f"{out}/{p}/epochs.csv")))
        secs = [float(r["seconds"]) for r in rows][1:] or [float(rows[0]["seconds"])]
        return statistics.median(secs)
    except Exception:
        return None
peer32, peer16 = load(f"{out}/peer-fp32.json"), load(f"{out}/peer-bf16-cl.json")
res = {
    "peer_fp32_sec_per_epoch": peer32.get("sec_per_epoch"),
    "peer_bf16_cl_sec_per_epoch": peer16.get("sec_per_epoch"),
    "clr_fp32_sec_per_epoch": clr_epoch("clr-fp32"),
    "clr_bf16_sec_per_epoch": clr_epoch("clr-bf16"),
    "bench_fp32": load(f"{out}/bench-fp32.json"),
    "bench_bf16": load(f"{out}/bench-bf16.json"),
}
def ratio(a, b):
    return b / a if a and b else None  # peer seconds / clr seconds = clr speed / peer speed
res["speed_ratio_fp32_clr_over_peer_fp32"] = ratio(res["clr_fp32_sec_per_epoch"], res["peer_fp32_sec_per_epoch"])
res["speed_ratio_bf16_clr_over_peer_bf16_cl"] = ratio(res["clr_bf16_sec_per_epoch"], res["peer_bf16_cl_sec_per_epoch"])
try:
    steps = list(csv.DictReader(open(f"{out}/dynamics/steps.csv")))
    sched = {r["step"]: float(r["lr"]) for r in csv.DictReader(open(f"{out}/dynamics-schedule.csv"))}
    res["dynamics_max_lr_gap"] = max(abs(float(r["lr"]) - sched[r["step"]]) for r in steps)
    ep = list(csv.DictReader(open(f"{out}/dynamics/epochs.csv")))
    res["dynamics_train_loss"] = [float(r["train_loss"]) for r in ep]
    res["dynamics_test_acc"] = [float(r["test_acc"]) for r in ep]
except Exception as e:
    res["dynamics_error"] = str(e)
def dist_run(p):
    try:
        s = json.load(open(f"{out}/{p}/summary.json"))
        ep = list(csv.DictReader(open(f"{out}/{p}/epochs.csv")))
        return {"status": s["status"], "distributed": s.get("distributed"), "device": s["device"],
                "train_loss": [float(r["train_loss"]) for r in ep], "sec_per_epoch": [float(r["seconds"]) for r in ep]}
    except Exception as e:
        return {"error": str(e)}
res["dist_world1"] = dist_run("dist-one")
res["dist_gloo_2proc"] = dist_run("dist-gloo-2")
json.dump(res, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(res, indent=2))
print("| measurement | seconds/epoch | clr speed / peer |")
print("| --- | --- | --- |")
for k, r in [("peer fp32", None), ("peer bf16 + channels-last", None),
             ("clr fp32", "speed_ratio_fp32_clr_over_peer_fp32"), ("clr bf16", "speed_ratio_bf16_clr_over_peer_bf16_cl")]:
    key = {"peer fp32": "peer_fp32_sec_per_epoch", "peer bf16 + channels-last": "peer_bf16_cl_sec_per_epoch",
           "clr fp32": "clr_fp32_sec_per_epoch", "clr bf16": "clr_bf16_sec_per_epoch"}[k]
    print(f"| {k} | {res[key]} | {res.get(r) if r else ''} |")
for k in ("dist_world1", "dist_gloo_2proc"):
    d = res[k].get("distributed") or {}
    print(f"| {k}: {d.get('backend')} x {d.get('processes')} | {res[k].get('sec_per_epoch')} | all-reduce median "
          f"{d.get('all_reduce_ms_median')} ms, status {res[k].get('status', res[k].get('error'))} |")
PY
