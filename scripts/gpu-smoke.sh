#!/usr/bin/env bash
# A short CUDA smoke test of the engine and the C++ shims (about 3 minutes of device time): bench
# in fp32 and bf16 (against an older binary too, alternating, when BASE is given), a bf16 one-cycle
# run, a range test, an NCCL group of one, and two Gloo ranks on one GPU. Prepare here:
#   cargo build --release && mkdir -p .gpu && cp target/release/clr scripts/gpu-smoke.sh .gpu/
# (and an older build as .gpu/clr-base), then on the device machine, with carry [".gpu"]:
#   BASE=.gpu/clr-base bash .gpu/gpu-smoke.sh 2>&1 | tee $OUT/log
set -uo pipefail
OUT=${OUT:-gpu-out}; CLR=${CLR:-.gpu/clr}; BASE=${BASE:-}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib
nvidia-smi -L; ldd "$CLR" | grep -E 'torch_cuda|not found'
SYN=(--dataset synthetic --synthetic-train 10240 --synthetic-test 2048)
TINY=(--dataset synthetic --synthetic-train 2048 --synthetic-test 512 --depth 8 --batch-size 256 --no-progress)
echo "== bench, ResNet-56, batch 512 (images/s, s/step)"
for p in fp32 bf16; do
    for b in $BASE "$CLR" $BASE "$CLR"; do
        name=$(basename "$b")
        timeout 90 "$b" bench "${SYN[@]}" --depth 56 --batch-size 512 --steps 40 --warmup 5 --device cuda --precision $p \
            --out "$OUT/bench-$name-$p.json" > /dev/null 2> "$OUT/bench-$name-$p.err" || tail -1 "$OUT/bench-$name-$p.err"
        python3 -c "import json; d = json.load(open('$OUT/bench-$name-$p.json')); \
print('$name $p', round(d['train_images_per_sec']), round(d['seconds_per_step'], 4))"
    done
done
echo "== a bf16 one-cycle run and a range test"
timeout 120 "$CLR" train "${TINY[@]}" --device cuda --precision bf16 --policy one-cycle --base-lr 0.04 --max-lr 0.4 \
    --phases 1,1,1 --out "$OUT/train" 2>&1 | tail -2
timeout 60 "$CLR" range-test "${TINY[@]}" --device cuda --iters 40 --out "$OUT/range-test" 2>&1 | tail -3
echo "== an NCCL group of one (torchrun's variables)"
RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=29531 timeout 120 "$CLR" train \
    "${TINY[@]}" --device cuda:0 --dist-backend nccl --policy fixed --base-lr 0.05 --epochs 2 --out "$OUT/nccl" 2>&1 | tail -3
echo "== two Gloo ranks on one GPU"
timeout 150 "$CLR" train "${TINY[@]}" --device cuda:0 --nproc-per-node 2 --dist-backend gloo --policy fixed \
    --base-lr 0.05 --epochs 2 --out "$OUT/gloo" 2>&1 | tail -3
for run in train nccl gloo; do
    python3 -c "import json; s = json.load(open('$OUT/$run/summary.json')); \
print('$run', s['status'], s['final_test_acc'], s.get('distributed'))" 2>&1
done
