#!/usr/bin/env bash
# The GPU checks of the project brief for GPU sessions in one device call of about 400 s. Prepare here:
#   cargo build --release && mkdir -p .gpu && cp target/release/clr bench/peer/ref_train.py .gpu/
# then run on the device machine:  bash scripts/gpu-check.sh 2>&1 | tee $OUT/log
# (device tool: carry [".gpu"], timeout_s ~480). Everything lands in $OUT (default gpu-out/): a log
# and JSON per measurement, and summary.json, rewritten after every section so that a call cut
# short still leaves what it measured; the last lines are a table to copy into BENCHMARKS.md.
# Sections run in order of value; each command has its own time limit.
# A dry run of this script's logic on a CPU:
#   DEVICE=cpu DEPTH=8 IMAGES=1024 DYN_IMAGES=1024 EVAL_IMAGES=512 DIST_IMAGES=1024 CLR=target/release/clr \
#   PEER=bench/peer/ref_train.py PYTHON=.venv/bin/python bash scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
CLR=${CLR:-.gpu/clr}
PEER=${PEER:-.gpu/ref_train.py}
PYTHON=${PYTHON:-python3}
IMAGES=${IMAGES:-50000}
DEVICE=${DEVICE:-cuda}
DEPTH=${DEPTH:-56}
DYN_IMAGES=${DYN_IMAGES:-10240}
EVAL_IMAGES=${EVAL_IMAGES:-10000}
DIST_IMAGES=${DIST_IMAGES:-10240}
mkdir -p "$OUT"

# libtorch's folder from the machine's torch: without it the binary cannot start, so stop here.
TORCH_DIR=$("$PYTHON" -c 'import torch, os; print(os.path.dirname(torch.__file__))') \
    || { echo "gpu-check: 'import torch' fails with $PYTHON: nothing can run" | tee "$OUT/fatal.txt"; exit 1; }
export LD_LIBRARY_PATH="$TORCH_DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
chmod +x "$CLR" 2>/dev/null
PEER_OK=1
"$PYTHON" -c 'import numpy' 2>/dev/null || { PEER_OK=0; echo "gpu-check: numpy missing: the peer is skipped" | tee "$OUT/peer-skipped.txt"; }
(nvidia-smi -L || echo "no nvidia-smi") > "$OUT/gpu.txt" 2>&1
ldd "$CLR" | grep -E 'torch_cuda|not found' > "$OUT/ldd.txt"
cat "$OUT/gpu.txt" "$OUT/ldd.txt"

COMMON=(--dataset synthetic --synthetic-test "$EVAL_IMAGES" --depth "$DEPTH" --batch-size 512 --device "$DEVICE")
SYN=("${COMMON[@]}" --synthetic-train "$IMAGES")
PEER_ARGS=(--synthetic "$IMAGES" --epochs 3 --depth "$DEPTH" --batch-size 512 --device "$DEVICE")

summarize() { "$PYTHON" scripts/gpu_summary.py "$OUT" "$IMAGES"; }

echo "== 1. first contact: the same initial weights on CPU and $DEVICE; real dynamics against clr schedule"
# One seed, one batch: step 0's loss comes from the initial weights alone (drawn on the CPU).
for side in "cpu cpu" "device $DEVICE"; do
    set -- $side
    timeout 120 "$CLR" train --dataset synthetic --synthetic-train 64 --synthetic-test 16 --depth 8 --batch-size 32 \
        --policy fixed --epochs 1 --device "$2" --no-progress --out "$OUT/init-$1" > "$OUT/init-$1.log" 2>&1
done
timeout 150 "$CLR" train "${COMMON[@]}" --synthetic-train "$DYN_IMAGES" --policy one-cycle --base-lr 0.08 --max-lr 0.8 \
    --phases 2,2,1 --no-progress --out "$OUT/dynamics" > "$OUT/dynamics.log" 2>&1
"$CLR" schedule --policy one-cycle --base-lr 0.08 --max-lr 0.8 --phases 2,2,1 --steps-per-epoch $(( (DYN_IMAGES + 511) / 512 )) \
    --out "$OUT/dynamics-schedule.csv"
summarize > /dev/null

echo "== 2. throughput: peer fp32, clr fp32, peer bf16+channels-last, clr bf16 (3 epochs each; bench with its log)"
PRECISIONS=(fp32 bf16)
for p in "${PRECISIONS[@]}"; do
    if [ "$PEER_OK" = 1 ]; then
        extra=()
        [ "$p" = bf16 ] && extra=(--bf16 --channels-last)
        timeout 150 "$PYTHON" "$PEER" "${PEER_ARGS[@]}" "${extra[@]}" > "$OUT/peer-$p.log" 2>&1
        tail -n 1 "$OUT/peer-$p.log" > "$OUT/peer-$p.json"
    fi
    timeout 150 "$CLR" train "${SYN[@]}" --policy fixed --base-lr 0.05 --epochs 3 --precision "$p" --no-progress \
        --out "$OUT/clr-$p" > "$OUT/clr-$p.log" 2>&1
    timeout 90 "$CLR" bench "${SYN[@]}" --precision "$p" --steps 100 --warmup 10 --out "$OUT/bench-$p.json" \
        > "$OUT/bench-$p.log" 2>&1
    summarize > /dev/null
done

echo "== 3. distributed: NCCL at world size 1 on the GPU; 2 processes on Gloo with CUDA tensors (one GPU)"
# A group of one as torchrun --nproc-per-node 1 makes it (on the CPU dry run: Gloo, NCCL needs CUDA).
ONE_BACKEND=nccl
[ "$DEVICE" = cpu ] && ONE_BACKEND=gloo
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DIST=("${COMMON[@]}" --synthetic-train "$DIST_IMAGES" --policy fixed --base-lr 0.05 --epochs 2 --no-progress)
RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 LOCAL_WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=$PORT \
    timeout 120 "$CLR" train "${DIST[@]}" --dist-backend "$ONE_BACKEND" --dist-timeout 60 --out "$OUT/dist-one" \
    > "$OUT/dist-one.log" 2>&1
# --device cuda is cuda:0 for both ranks: Gloo stages the CUDA tensors through host memory.
timeout 180 "$CLR" train "${DIST[@]}" --nproc-per-node 2 --dist-backend gloo --dist-timeout 60 --out "$OUT/dist-gloo-2" \
    > "$OUT/dist-gloo-2.log" 2>&1
tail -n 3 "$OUT/dist-one.log" "$OUT/dist-gloo-2.log"

echo "== 4. a copy of CIFAR-10 on this machine?"
timeout 60 find / -xdev -iname '*cifar*' 2>/dev/null | head -n 20 | tee "$OUT/cifar-found.txt"

summarize
