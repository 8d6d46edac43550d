#!/usr/bin/env python3
"""Write a small REAL image set in the CIFAR-10 binary layout: scikit-learn's bundled handwritten
digits (1,797 8x8 grey images of 0-9, the UCI optical-digits test set; shipped inside the
package, no download), each scaled to 0-255, enlarged 4x to 32x32 (nearest) and copied to the
three colour planes. It is not CIFAR-10: it is a real, small, 10-class image set that clr and
the PyTorch peer can both read, for side-by-side accuracy and speed checks.

usage: make_digits_cifar.py OUT_DIR [--test 297] [--seed 0]
Writes OUT_DIR/data_batch_1.bin, data_batch_2.bin (the training images, split in two files of
different sizes) and OUT_DIR/test_batch.bin.
"""
import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits


def records(images, labels):
    x = np.clip(np.rint(images * (255.0 / 16.0)), 0, 255).astype(np.uint8).reshape(-1, 8, 8)
    x = x.repeat(4, axis=1).repeat(4, axis=2)  # 32x32
    planes = np.stack([x, x, x], axis=1).reshape(len(x), 3072)  # R, G, B planes
    return np.concatenate([labels.astype(np.uint8)[:, None], planes], axis=1).tobytes()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--test", type=int, default=297)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    digits = load_digits()
    order = np.random.RandomState(a.seed).permutation(len(digits.target))
    x, y = digits.data[order], digits.target[order]
    test, train = slice(0, a.test), slice(a.test, None)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    xtr, ytr = x[train], y[train]
    half = len(ytr) * 2 // 3
    (out / "data_batch_1.bin").write_bytes(records(xtr[:half], ytr[:half]))
    (out / "data_batch_2.bin").write_bytes(records(xtr[half:], ytr[half:]))
    (out / "test_batch.bin").write_bytes(records(x[test], y[test]))
    print(f"{len(ytr)} training and {a.test} test images in {out}")


if __name__ == "__main__":
    main()
