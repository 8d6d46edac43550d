#!/usr/bin/env python3
"""Write the images of an MNIST-format set (MNIST, Fashion-MNIST) as an image folder for
`clr train --dataset folder`: OUT_DIR/train/CLASS/NNNNN.png and OUT_DIR/test/CLASS/NNNNN.png,
28x28 grey PNGs, the class folders named after the set's classes. PNGs are encoded here (zlib),
so nothing beyond numpy is needed.

usage: idx_to_pngs.py IN_DIR OUT_DIR [--train N] [--test M] [--names fashion|digits]
"""
import argparse
import struct
import zlib
from pathlib import Path

from idx_to_cifar import FILES, read_idx

FASHION = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]


def png(grey):
    """A greyscale 8-bit PNG of a 2-D uint8 array."""
    h, w = grey.shape
    rows = b"".join(b"\x00" + grey[y].tobytes() for y in range(h))  # filter 0 on every row
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--train", type=int, default=0)
    ap.add_argument("--test", type=int, default=0)
    ap.add_argument("--names", choices=["fashion", "digits"], default="fashion")
    a = ap.parse_args()
    names = FASHION if a.names == "fashion" else [str(i) for i in range(10)]
    xtr, ytr, xte, yte = (read_idx(Path(a.src), f) for f in FILES)
    for split, x, y, n in [("train", xtr, ytr, a.train), ("test", xte, yte, a.test)]:
        n = n or len(y)
        for name in names:
            (Path(a.out) / split / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (Path(a.out) / split / names[y[i]] / f"{i:05}.png").write_bytes(png(x[i]))
    print(f"{a.train or len(ytr)} training and {a.test or len(yte)} test PNGs in {a.out}")


if __name__ == "__main__":
    main()
