#!/usr/bin/env python3
"""The PyTorch peer for clr's other networks: trains gen_model_fixtures.build(ARCH) (the PyTorch
definitions clr's are tested against) the plain PyTorch way on files in the CIFAR-10 binary
layout, with what `clr train` does: per-channel normalisation from the training images, a random
crop of each image from its 4-pixel zero padding and a random horizontal flip, SGD (PyTorch's),
and the LR and momentum of every step read from `clr schedule`'s CSV, so both sides train on the
same LRs. Times each epoch's training (not its evaluation).

usage: peer_models.py --arch ARCH [--depth N] [--width K] --data-dir D --schedule STEPS.csv
                      [--batch-size 128] [--wd 1e-4] [--nesterov] [--seed 0] [--threads N]
                      [--channels-last]
Prints one line per epoch and a final JSON line {"test_acc":.., "sec_per_epoch":.., ...}.
"""
import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_model_fixtures import build  # noqa: E402

PAD = 4


def load_bin(paths):
    recs = np.concatenate([np.fromfile(p, dtype=np.uint8).reshape(-1, 3073) for p in paths])
    images = torch.from_numpy(recs[:, 1:].reshape(-1, 3, 32, 32).copy())
    return images, torch.from_numpy(recs[:, 0].astype(np.int64))


def augment(padded, idx):
    """Each image cropped at its own offset from its padding, and flipped with probability 1/2."""
    n, size = len(idx), padded.shape[-1] - 2 * PAD
    dy, dx = torch.randint(0, 2 * PAD + 1, (n,)), torch.randint(0, 2 * PAD + 1, (n,))
    grid = torch.arange(size)
    rows, cols = (dy[:, None] + grid)[:, :, None], (dx[:, None] + grid)[:, None, :]
    flip = torch.rand(n) < 0.5
    cols = torch.where(flip[:, None, None], cols.flip(2), cols)
    return padded[idx][torch.arange(n)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True)
    ap.add_argument("--depth", type=int)
    ap.add_argument("--width", type=int)
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--schedule", required=True, type=Path, help="clr schedule's CSV: step,epoch,lr,momentum")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--nesterov", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--channels-last", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    if a.threads:
        torch.set_num_threads(a.threads)
    rows = list(csv.DictReader(open(a.schedule)))
    lrs, moms = [float(r["lr"]) for r in rows], [float(r["momentum"]) for r in rows]

    xtr, ytr = load_bin(sorted(a.data_dir.glob("data_batch_*.bin")))
    xte, yte = load_bin([a.data_dir / "test_batch.bin"])
    mean = xtr.float().mean((0, 2, 3), keepdim=True)
    std = xtr.float().std((0, 2, 3), keepdim=True)
    padded = F.pad(xtr, (PAD, PAD, PAD, PAD))
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format

    model = build(a.arch, a.depth, a.width, 10, 32).to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=lrs[0], momentum=moms[0], weight_decay=a.wd, nesterov=a.nesterov)
    steps_per_epoch = (len(ytr) + a.batch_size - 1) // a.batch_size
    epochs = len(rows) // steps_per_epoch
    times, acc, step = [], 0.0, 0
    for ep in range(epochs):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(len(ytr))
        total = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * a.batch_size:(i + 1) * a.batch_size]
            x = ((augment(padded, idx).float() - mean) / std).contiguous(memory_format=fmt)
            for group in opt.param_groups:
                group["lr"], group["momentum"] = lrs[step], moms[step]
            loss = F.cross_entropy(model(x), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
            step += 1
        times.append(time.perf_counter() - t0)
        model.eval()
        with torch.no_grad():
            correct = sum((model(((xte[i:i + 1000].float() - mean) / std).contiguous(memory_format=fmt)).argmax(1)
                           == yte[i:i + 1000]).sum().item() for i in range(0, len(yte), 1000))
        acc = correct / len(yte)
        print(f"epoch {ep + 1} loss {total / steps_per_epoch:.4f} test_acc {acc:.4f} sec {times[-1]:.2f}", flush=True)
    steady = times[1:] if len(times) > 1 else times
    print(json.dumps({"test_acc": acc, "sec_per_epoch": float(np.median(steady)), "epoch_seconds": times,
                      "epochs": epochs, "arch": a.arch, "threads": torch.get_num_threads(),
                      "channels_last": a.channels_last}))


if __name__ == "__main__":
    main()
