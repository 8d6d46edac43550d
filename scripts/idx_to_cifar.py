#!/usr/bin/env python3
"""Write an MNIST-format set (the four IDX files, gzipped or not: MNIST, Fashion-MNIST) in the
CIFAR-10 binary layout, exactly as clr sees it with `--dataset mnist|fashion-mnist` at its default
size: each 28x28 grey image zero-padded by 2 pixels to 32x32 and copied to the three colour
planes. The PyTorch peer (ref_train.py) reads only that layout; this gives it the same pixels.
The result is NOT CIFAR-10: only its file layout.

usage: idx_to_cifar.py IN_DIR OUT_DIR [--skip K] [--train N] [--test M]
Writes OUT_DIR/data_batch_1.bin ... (10,000 records each) and OUT_DIR/test_batch.bin; --train and
--test keep only the first N (M) images of each split, --skip drops the first K training images
before that (a subset disjoint from an earlier one's).
"""
import argparse
import gzip
from pathlib import Path

import numpy as np

FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def read_idx(folder, name):
    """The values of an IDX file of unsigned bytes, shaped by its header."""
    path = next((folder / n for n in (name, name + ".gz") if (folder / n).is_file()), None)
    if path is None:
        raise SystemExit(f"{folder}: no {name}[.gz]")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def records(images, labels):
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # 28x28 -> 32x32, as clr
    planes = np.repeat(padded[:, None], 3, axis=1).reshape(len(images), 3072)  # grey to R, G, B
    return np.concatenate([labels.astype(np.uint8)[:, None], planes], axis=1).tobytes()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--train", type=int, default=0)
    ap.add_argument("--test", type=int, default=0)
    a = ap.parse_args()
    src, out = Path(a.src), Path(a.out)
    xtr, ytr, xte, yte = (read_idx(src, f) for f in FILES)
    xtr, ytr = xtr[a.skip:], ytr[a.skip:]
    if a.train:
        xtr, ytr = xtr[:a.train], ytr[:a.train]
    if a.test:
        xte, yte = xte[:a.test], yte[:a.test]
    out.mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, len(ytr), 10000)):
        (out / f"data_batch_{i + 1}.bin").write_bytes(records(xtr[start:start + 10000], ytr[start:start + 10000]))
    (out / "test_batch.bin").write_bytes(records(xte, yte))
    print(f"{len(ytr)} training and {len(yte)} test images of {src} in the CIFAR-10 layout in {out}")


if __name__ == "__main__":
    main()
