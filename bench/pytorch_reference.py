#!/usr/bin/env python3
"""The same network, split, normalisation and optimizer as `mlp-gpu bench`, in PyTorch, timed
the same way: the whole training split preloaded as tensors on the device, batches by index,
one warm-up epoch, then --epochs timed epochs (training only, synchronised at the end).

A comparison for users, not a dependency of mlp-gpu. Usage:
    python3 bench/pytorch_reference.py [--device cpu|cuda] [--threads 2] [--batch-size 64,512]
        [--hidden 200,200,200:1024,1024] [--inputs N] [--subset N]
--hidden and --inputs as `mlp-gpu bench` takes them (--inputs: random 8-bit data of N
inputs, 60,000 rows, instead of Fashion-MNIST); --subset trains on the first N rows of the
training split. Prints one JSON object per case on stdout.
"""
import argparse
import gzip
import json
import os
import statistics
import time

import numpy as np
import torch
from torch import nn

MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(dirname, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(dirname, name)
        if os.path.exists(p):
            return p
    raise SystemExit(f"{dirname}: no {stem}[.gz]; install dataset-fashion-mnist or pass --data")


def split_indices(n, split_seed, val_size):
    # mlp-gpu shuffles with its own SplitMix64 generator; the split only decides which
    # images are held out, which does not change epoch time. A seeded numpy permutation
    # holds out the same number of images.
    order = np.random.default_rng(split_seed).permutation(n)
    return order[: n - val_size]


def network(inputs, hidden, batch_norm, dropout):
    layers, width = [nn.Flatten()], inputs
    for h in hidden:
        layers.append(nn.Linear(width, h))
        if batch_norm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(nn.ReLU())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", default="64,512")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--data", default=os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--hidden", default="200,200,200")
    ap.add_argument("--inputs", type=int)
    ap.add_argument("--subset", type=int)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if args.inputs:
        rng = np.random.default_rng(1)
        images = rng.integers(0, 256, size=(60000, args.inputs), dtype=np.uint8)
        labels = rng.integers(0, 10, size=60000)
    else:
        images = read_idx(find(args.data, "train-images-idx3-ubyte")).reshape(60000, -1)
        labels = read_idx(find(args.data, "train-labels-idx1-ubyte"))
    idx = split_indices(len(labels), 1234, 10000)[: args.subset]
    inputs = images.shape[1]
    x = torch.tensor(images[idx], dtype=torch.float32, device=dev).div_(255).sub_(MEAN).div_(STD)
    y = torch.tensor(labels[idx], dtype=torch.long, device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {args.threads} threads"
    shapes = [[int(h) for h in s.split(",")] for s in args.hidden.split(":")]
    for hidden, batch in [(h, int(b)) for h in shapes for b in args.batch_size.split(",")]:
        sizes = [inputs, *hidden, 10]
        macs = sum(a * b for a, b in zip(sizes, sizes[1:]))
        for batch_norm, dropout in ((False, 0.0), (True, 0.2)):
            torch.manual_seed(0)
            model = network(inputs, hidden, batch_norm, dropout).to(dev)
            opt = torch.optim.Adam(model.parameters(), lr=0.005)
            loss_fn = nn.CrossEntropyLoss()
            times = []
            for epoch in range(args.epochs + 1):
                perm = torch.randperm(len(y), device=dev)
                sync()
                t0 = time.perf_counter()
                for s in range(0, len(y), batch):
                    b = perm[s : s + batch]
                    opt.zero_grad(set_to_none=True)
                    loss = loss_fn(model(x[b]), y[b])
                    loss.backward()
                    opt.step()
                sync()
                if epoch > 0:
                    times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            print(json.dumps({"framework": f"pytorch {torch.__version__}", "device": name, "inputs": inputs,
                              "hidden": hidden, "batch_size": batch, "batch_norm": batch_norm,
                              "dropout": dropout, "epoch_seconds_median": med,
                              "samples_per_second": len(y) / med,
                              "gflops": 6 * macs * len(y) / med / 1e9}), flush=True)


if __name__ == "__main__":
    main()
