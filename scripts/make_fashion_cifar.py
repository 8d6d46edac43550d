#!/usr/bin/env python3
"""Write Fashion-MNIST (or MNIST) in the CIFAR-10 binary layout, for clr and the PyTorch peer to
read until clr reads the IDX files itself: each 28x28 grey image zero-padded to 32x32 (2 pixels
each side, as LeCun et al. padded MNIST for LeNet-5) and copied to the three colour planes.
It is Fashion-MNIST, not CIFAR-10: only the file layout is CIFAR's.

usage: make_fashion_cifar.py OUT_DIR [--idx-dir /usr/share/datasets/fashion-mnist]
Reads train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-*.gz (gzipped or not);
writes OUT_DIR/data_batch_1.bin ... data_batch_6.bin (10,000 images each) and test_batch.bin.
"""
import argparse
import gzip
from pathlib import Path

import numpy as np


def read_idx(path):
    """An IDX file's array (magic 0x0000 08 NDIM, big-endian sizes, uint8 data)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[0:3] != b"\x00\x00\x08":
        raise SystemExit(f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find(idx_dir, stem):
    for name in (f"{stem}.gz", stem):
        if (idx_dir / name).is_file():
            return idx_dir / name
    raise SystemExit(f"{idx_dir}: no {stem}[.gz]")


def records(images, labels):
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # 28x28 -> 32x32
    planes = np.repeat(padded[:, None], 3, axis=1).reshape(len(images), 3072)
    return np.concatenate([labels.astype(np.uint8)[:, None], planes], axis=1).tobytes()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--idx-dir", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    for split, stem in [("train", "train"), ("test", "t10k")]:
        x = read_idx(find(a.idx_dir, f"{stem}-images-idx3-ubyte"))
        y = read_idx(find(a.idx_dir, f"{stem}-labels-idx1-ubyte"))
        assert len(x) == len(y) and x.shape[1:] == (28, 28), (x.shape, y.shape)
        if split == "test":
            (a.out / "test_batch.bin").write_bytes(records(x, y))
        else:
            for i in range(0, len(x), 10000):
                (a.out / f"data_batch_{i // 10000 + 1}.bin").write_bytes(records(x[i:i + 10000], y[i:i + 10000]))
        print(f"{split}: {len(x)} images")


if __name__ == "__main__":
    main()
