#!/usr/bin/env python3
"""Check clr's exports in PyTorch, without clr: for each run, export its network as TorchScript
and as safetensors (`clr export`), load the first with torch.jit.load and the second into the
PyTorch definition of its arch (gen_model_fixtures.build, strict load_state_dict), and compute
each one's test accuracy on the run's data; both must equal `clr eval`'s to 0.1 point, and the
two exports' logits must agree.

usage: check_export.py --clr BIN --data-dir DIR [--dataset cifar10|cifar100] RUN_DIR...
Prints one JSON line per run (accuracies, largest logit difference) and exits 1 when a check
fails. DIR holds the test file in the CIFAR-10 (test_batch.bin) or CIFAR-100 (test.bin, fine
labels) binary layout, as clr reads it. Needs torch and safetensors (scripts/setup.sh installs them).
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_model_fixtures import build  # noqa: E402

TOLERANCE = 0.001  # 0.1 point of accuracy


def test_split(data_dir, dataset):
    """uint8 N×3×32×32 images and int64 labels of the test file, as clr reads it."""
    name, label_bytes, label = ("test.bin", 2, 1) if dataset == "cifar100" else ("test_batch.bin", 1, 0)
    folder = next(d for d in [data_dir, data_dir / "cifar-10-batches-bin", data_dir / "cifar-100-binary"]
                  if (d / name).is_file())
    raw = np.fromfile(folder / name, dtype=np.uint8).reshape(-1, label_bytes + 3072)
    images = torch.from_numpy(raw[:, label_bytes:].reshape(-1, 3, 32, 32).copy())
    return images, torch.from_numpy(raw[:, label].astype(np.int64))


def logits_of(model, inputs, batch=500):
    with torch.no_grad():
        return torch.cat([model(inputs[i:i + batch]) for i in range(0, len(inputs), batch)])


def clr_eval(clr, run, data_dir, dataset):
    out = subprocess.run([clr, "eval", "--checkpoint", str(run / "checkpoint.pt"), "--data-dir", str(data_dir),
                          "--dataset", dataset, "--no-download", "--device", "cpu"],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"test_acc ([0-9.]+)", out).group(1))


def check(clr, run, data_dir, dataset, tmp):
    ts, st = tmp / f"{run.name}.pt", tmp / f"{run.name}.safetensors"
    for fmt, path in [("torchscript", ts), ("safetensors", st)]:
        subprocess.run([clr, "export", str(run), "--format", fmt, "--out", str(path)], check=True, capture_output=True)
    images, labels = test_split(data_dir, dataset)

    scripted = torch.jit.load(str(ts)).eval()
    ts_logits = logits_of(scripted, images.float() / 255.0)

    with safe_open(str(st), "pt") as f:
        meta = f.metadata()
    width = int(meta["width"]) if "width" in meta else None
    net = build(meta["arch"], int(meta["depth"]), width, int(meta["num_classes"]), int(meta["image_size"]))
    net.load_state_dict(load_file(str(st)), strict=True)
    mean = torch.tensor(json.loads(meta["mean"])).view(1, 3, 1, 1)
    std = torch.tensor(json.loads(meta["std"])).view(1, 3, 1, 1)
    st_logits = logits_of(net.eval(), (images.float() - mean) / std)

    acc = {
        "clr_eval": clr_eval(clr, run, data_dir, dataset),
        "torchscript": (ts_logits.argmax(1) == labels).float().mean().item(),
        "safetensors": (st_logits.argmax(1) == labels).float().mean().item(),
    }
    diff = (ts_logits - st_logits).abs().max().item()
    scale = st_logits.abs().max().item()
    ok = all(abs(acc[k] - acc["clr_eval"]) <= TOLERANCE for k in ("torchscript", "safetensors"))
    ok = ok and diff <= 1e-3 * (1.0 + scale)
    print(json.dumps({"run": str(run), "arch": meta["arch"], "images": len(labels), "accuracy": acc,
                      "max_logit_difference": diff, "ok": ok}))
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clr", required=True)
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--dataset", default="cifar10", choices=["cifar10", "cifar100"])
    ap.add_argument("runs", nargs="+", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        results = [check(a.clr, run, a.data_dir, a.dataset, Path(tmp)) for run in a.runs]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
