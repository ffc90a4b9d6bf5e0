#!/usr/bin/env python3
"""Writes Fashion-MNIST as Kaggle's CSVs (fashion-mnist_train.csv, 60,000 rows, 133 MB;
fashion-mnist_test.csv, 10,000 rows): a header `label,pixel1,...,pixel784`, then the label
and the 784 pixels of an image a row, from the IDX files of Debian's dataset-fashion-mnist.
Usage: python3 make_kaggle_csv.py OUT_DIR"""
import gzip
import sys

import numpy as np

SRC = "/usr/share/datasets/fashion-mnist/"


def idx(name, offset):
    return np.frombuffer(gzip.open(SRC + name).read(), np.uint8, offset=offset)


for part, stem in (("train", "train"), ("test", "t10k")):
    x = idx(f"{stem}-images-idx3-ubyte.gz", 16).reshape(-1, 784)
    y = idx(f"{stem}-labels-idx1-ubyte.gz", 8)
    with open(f"{sys.argv[1]}/fashion-mnist_{part}.csv", "w") as f:
        f.write("label," + ",".join(f"pixel{k + 1}" for k in range(784)) + "\n")
        np.savetxt(f, np.concatenate([y[:, None], x], 1), fmt="%d", delimiter=",")
