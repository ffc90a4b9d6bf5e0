#!/usr/bin/env python3
"""A PyTorch MLP trained as `mlp-gpu train --data TABLE.csv` trains one, for comparing
accuracies on small real tables (the scikit-learn data in tests/fixtures): the same network
(ReLU, hidden 200,200,200, PyTorch's default initialisation), the same hold-outs (a
stratified --test-size of each class for test, then the last sixth of a shuffle for
validation, unused), the same normalisation (8-bit tables: /255, then one mean and standard
deviation of the training rows; others: per column), Adam, mini-batches of a fresh shuffle
each epoch. Its splits are drawn by NumPy, not mlp-gpu's generator, so compare means over
seeds, not single runs. A comparison for users, not a dependency of mlp-gpu. Usage:
    python3 scripts/pytorch_table_mlp.py tests/fixtures/digits.csv.gz [--seeds 0,1,2,3,4]
        [--epochs 30] [--batch-size 64] [--lr 0.001] [--test-size 0.2]
Prints one JSON object: the test accuracy of each seed, their mean and standard deviation.
"""
import argparse
import csv
import gzip
import json
import statistics

import numpy as np
import torch
from torch import nn

LABEL_NAMES = ("label", "target", "class", "y")


def read_table(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    lower = [h.lower() for h in header]
    label = next((lower.index(n) for n in LABEL_NAMES if n in lower), len(header) - 1)
    x = np.array([[float(v) for i, v in enumerate(r) if i != label] for r in body], np.float32)
    labels = [r[label] for r in body]
    try:
        keys = sorted({int(v) for v in labels})
        y = np.array([keys.index(int(v)) for v in labels])
    except ValueError:
        keys = sorted(set(labels))
        y = np.array([keys.index(v) for v in labels])
    return x, y, len(keys)


def split(y, classes, test_size, rng):
    test, train = [], []
    for c in range(classes):
        rows = rng.permutation(np.flatnonzero(y == c))
        k = min(max(round(test_size * len(rows)), 1), len(rows) - 1)
        test += list(rows[:k])
        train += list(rows[k:])
    train = rng.permutation(np.array(sorted(train)))
    val = round(len(train) / 6)
    return np.array(sorted(test)), train[: len(train) - val]


def normalise(x, train):
    if np.all((x >= 0) & (x <= 255) & (x == np.round(x))):
        x = x / 255.0
        mean, std = x[train].mean(), x[train].std()
    else:
        mean, std = x[train].mean(0), x[train].std(0)
        std[std == 0] = 1.0
    return ((x - mean) / std).astype(np.float32)


def run(x, y, classes, seed, a):
    rng = np.random.default_rng(seed)
    test, train = split(y, classes, a.test_size, rng)
    xs = torch.from_numpy(normalise(x, train))
    ys = torch.from_numpy(y)
    torch.manual_seed(seed)
    sizes = [x.shape[1], 200, 200, 200]
    layers = []
    for i, o in zip(sizes, sizes[1:]):
        layers += [nn.Linear(i, o), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(200, classes))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    loss = nn.CrossEntropyLoss()
    for _ in range(a.epochs):
        model.train()
        order = train[torch.randperm(len(train)).numpy()]
        for s in range(0, len(order), a.batch_size):
            b = order[s : s + a.batch_size]
            opt.zero_grad()
            loss(model(xs[b]), ys[b]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return (model(xs[test]).argmax(1) == ys[test]).float().mean().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("table")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--test-size", type=float, default=0.2)
    a = ap.parse_args()
    torch.set_num_threads(2)
    x, y, classes = read_table(a.table)
    acc = [run(x, y, classes, int(s), a) for s in a.seeds.split(",")]
    print(json.dumps({"table": a.table, "test_accuracy": acc, "mean": statistics.mean(acc),
                      "stdev": statistics.stdev(acc) if len(acc) > 1 else 0.0}))


if __name__ == "__main__":
    main()
