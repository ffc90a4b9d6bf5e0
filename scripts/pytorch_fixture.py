#!/usr/bin/env python3
"""Writes tests/fixtures/pytorch_steps.safetensors: a small network trained for three steps by
PyTorch itself, for tests/suite/pytorch.rs to hold mlp-gpu's CPU reference and GPU networks to.

For maintainers only (PyTorch, numpy, safetensors); nothing at build or test time runs it.
Usage: python3 scripts/pytorch_fixture.py [--out tests/fixtures/pytorch_steps.safetensors]

What it holds (f32 unless said; names of parameters are PyTorch's nn.Sequential state_dict
names of the case's network: Linear, [BatchNorm1d], ReLU, [Dropout] per hidden layer, Linear):
- metadata "cases": JSON list of the cases' settings; "hash_inputs": the (seed, step, layer,
  element) of `hash.keep`.
- batch.pixels u8 [ROWS, 784], batch.labels u8 [ROWS]: seeded random images; the steps take
  rows 0..16, 16..32, 32..43 (the last batch smaller, as an epoch's last is).
- init.{pytorch,kaiming_uniform}.linear{l}.{weight,bias}: the initial linear parameters, made
  by PyTorch's own initialisers; .weight_bound, .bias_bound: the bounds of the uniform
  distributions those initialisers draw from, as PyTorch computes them.
- hash.keep u8: dropout_keep of mlp-gpu's counter-based hash (re-implemented below) at
  hash_inputs with p = 0.2, and hash.pcg u32: pcg_hash of every number in hash_inputs, for
  the Rust side to check the re-implementation.
- per case C: C.step{s}.logits, C.step{s}.loss (mean over the batch) for s = 0, 1, 2;
  C.step0.grad.{param}; C.after3.{state_dict name} (parameters and running statistics);
  C.after3.{momentum_buffer,exp_avg,exp_avg_sq,square_avg}.{param} (the optimizer's state,
  where PyTorch keeps one); C.eval.logits: the first batch in eval mode after the steps (running statistics).
"""
import argparse
import json
import math
import os

import numpy as np
import torch
from safetensors.numpy import save_file
from torch import nn

# mlp-gpu's constants (src/ops.rs, src/model.rs): the fixture's inputs, not PyTorch's.
PIXEL_MEAN, PIXEL_STD = 0.2860, 0.3530
INPUTS, CLASSES = 784, 10
HIDDEN = [8, 12]
BATCHES = [16, 16, 11]
ROWS = sum(BATCHES)

CASES = [
    # the study's settings
    dict(name="sgd", optimizer="sgd", lr=0.05, momentum=0.0, weight_decay=0.0,
         init="pytorch", batch_norm=False, dropout=0.0, seed=3),
    dict(name="adam_dropout", optimizer="adam", lr=0.005, momentum=0.0, weight_decay=0.0,
         init="pytorch", batch_norm=False, dropout=0.2, seed=5),
    dict(name="rmsprop_batch_norm_dropout", optimizer="rmsprop", lr=0.005, momentum=0.0,
         weight_decay=0.0, init="kaiming-uniform", batch_norm=True, dropout=0.2, seed=7),
    # and settings the study leaves at their defaults
    dict(name="sgd_momentum_decay_batch_norm_dropout", optimizer="sgd", lr=0.05, momentum=0.9,
         weight_decay=1e-3, init="kaiming-uniform", batch_norm=True, dropout=0.3, seed=11),
    dict(name="adam_decay_batch_norm", optimizer="adam", lr=0.001, momentum=0.0,
         weight_decay=1e-2, init="kaiming-uniform", batch_norm=True, dropout=0.0, seed=13),
    dict(name="rmsprop_momentum_decay", optimizer="rmsprop", lr=0.001, momentum=0.9,
         weight_decay=1e-3, init="pytorch", batch_norm=False, dropout=0.0, seed=17),
]


# mlp-gpu's dropout mask (src/rng.rs, shaders/common.wgsl), in uint32 arithmetic.
def pcg_hash(v):
    v = np.asarray(v, dtype=np.uint32)
    with np.errstate(over="ignore"):
        s = v * np.uint32(747796405) + np.uint32(2891336453)
        w = ((s >> ((s >> np.uint32(28)) + np.uint32(4))) ^ s) * np.uint32(277803737)
    return (w >> np.uint32(22)) ^ w


def threshold(p):
    return np.uint32(int(min(float(np.float32(p)) * 4294967296.0, 4294967295.0)))


def dropout_keep(seed, step, layer, elements, p):
    inner = pcg_hash(np.uint32(step) ^ pcg_hash(np.uint32(layer) ^ pcg_hash(np.uint32(seed))))
    return pcg_hash(np.asarray(elements, dtype=np.uint32) ^ inner) >= threshold(p)


class HashDropout(nn.Module):
    """Inverted dropout whose mask is mlp-gpu's: element e of layer `layer`'s [rows, out]
    output is kept when dropout_keep(seed, step, layer, e)."""

    def __init__(self, p, seed, layer):
        super().__init__()
        self.p, self.seed, self.layer, self.step = p, seed, layer, 0

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = dropout_keep(self.seed, self.step, self.layer, np.arange(x.numel()), self.p)
        mask = torch.from_numpy(keep.reshape(x.shape).astype(np.float32))
        scale = np.float32(1.0) / (np.float32(1.0) - np.float32(self.p))
        return x * mask * torch.tensor(scale)


def init_linears(kind):
    """The linear layers as PyTorch initialises them, and the bounds it draws from."""
    torch.manual_seed(0)
    sizes = [INPUTS] + HIDDEN + [CLASSES]
    layers, bounds = [], []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        lin = nn.Linear(fan_in, fan_out)  # reset_parameters: PyTorch's default init
        if kind == "pytorch":
            # kaiming_uniform_(a=sqrt(5)) for the weight, U(+-1/sqrt(fan_in)) for the bias
            gain = nn.init.calculate_gain("leaky_relu", math.sqrt(5))
            w_bound = math.sqrt(3.0) * gain / math.sqrt(fan_in)
            b_bound = 1.0 / math.sqrt(fan_in)
        else:
            nn.init.kaiming_uniform_(lin.weight, nonlinearity="relu")
            nn.init.zeros_(lin.bias)
            w_bound = math.sqrt(3.0) * nn.init.calculate_gain("relu") / math.sqrt(fan_in)
            b_bound = 0.0
        w = lin.weight.detach().abs().max().item()
        assert w <= w_bound and w > 0.9 * w_bound, (kind, w, w_bound)
        assert lin.bias.detach().abs().max().item() <= b_bound
        layers.append(lin)
        bounds.append((w_bound, b_bound))
    return layers, bounds


def network(case, linears):
    modules, drops = [], []
    for l, lin in enumerate(linears):
        copy = nn.Linear(lin.in_features, lin.out_features)
        copy.load_state_dict(lin.state_dict())
        modules.append(copy)
        if l == len(linears) - 1:
            break
        if case["batch_norm"]:
            modules.append(nn.BatchNorm1d(lin.out_features))
        modules.append(nn.ReLU())
        if case["dropout"] > 0:
            drops.append(HashDropout(case["dropout"], case["seed"], l))
            modules.append(drops[-1])
    return nn.Sequential(*modules), drops


def optimizer(case, params):
    common = dict(lr=case["lr"], weight_decay=case["weight_decay"])
    if case["optimizer"] == "sgd":
        return torch.optim.SGD(params, momentum=case["momentum"], **common)
    if case["optimizer"] == "adam":
        return torch.optim.Adam(params, **common)
    return torch.optim.RMSprop(params, momentum=case["momentum"], **common)


def f32(t):
    return t.detach().numpy().astype(np.float32).copy()


def run_case(case, x, labels, linears, out):
    net, drops = network(case, linears)
    opt = optimizer(case, net.parameters())
    names = {id(p): n for n, p in net.named_parameters()}
    c = case["name"]
    start = 0
    for step, rows in enumerate(BATCHES):
        for d in drops:
            d.step = step
        net.train()
        opt.zero_grad()
        logits = net(x[start : start + rows])
        loss = nn.functional.cross_entropy(logits, labels[start : start + rows])
        loss.backward()
        out[f"{c}.step{step}.logits"] = f32(logits)
        out[f"{c}.step{step}.loss"] = np.array([loss.item()], dtype=np.float32)
        if step == 0:
            for n, p in net.named_parameters():
                out[f"{c}.step0.grad.{n}"] = f32(p.grad)
        opt.step()
        start += rows
    for n, t in net.state_dict().items():
        if not n.endswith("num_batches_tracked"):
            out[f"{c}.after3.{n}"] = f32(t)
    for p, st in opt.state.items():
        for key, t in st.items():
            if key != "step" and t is not None:
                out[f"{c}.after3.{key}.{names[id(p)]}"] = f32(t)
    net.eval()
    out[f"{c}.eval.logits"] = f32(net(x[: BATCHES[0]]))


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures",
                                                  "pytorch_steps.safetensors"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(482)
    pixels = rng.integers(0, 256, size=(ROWS, INPUTS), dtype=np.uint8)
    labels = rng.integers(0, CLASSES, size=ROWS, dtype=np.uint8)
    x = torch.from_numpy(((pixels.astype(np.float32) / np.float32(255.0) - np.float32(PIXEL_MEAN))
                          * (np.float32(1.0) / np.float32(PIXEL_STD))).astype(np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    out = {"batch.pixels": pixels, "batch.labels": labels}
    inits = {}
    for kind in ["pytorch", "kaiming-uniform"]:
        linears, bounds = init_linears(kind)
        inits[kind] = linears
        key = kind.replace("-", "_")
        for l, (lin, (wb, bb)) in enumerate(zip(linears, bounds)):
            out[f"init.{key}.linear{l}.weight"] = f32(lin.weight)
            out[f"init.{key}.linear{l}.bias"] = f32(lin.bias)
            out[f"init.{key}.linear{l}.weight_bound"] = np.array([wb], dtype=np.float32)
            out[f"init.{key}.linear{l}.bias_bound"] = np.array([bb], dtype=np.float32)
    hash_inputs = [[0, 0, 0, 0], [1, 0, 0, 1], [7, 2, 1, 100], [123456789, 99, 3, 65535],
                   [4294967295, 4294967295, 4294967295, 4294967295]]
    out["hash.keep"] = np.array([dropout_keep(s, t, l, e, 0.2) for s, t, l, e in hash_inputs],
                                dtype=np.uint8)
    out["hash.pcg"] = pcg_hash([v for row in hash_inputs for v in row])
    for case in CASES:
        run_case(case, x, y, inits[case["init"]], out)
    meta = {"cases": json.dumps(CASES), "hash_inputs": json.dumps(hash_inputs),
            "hidden": json.dumps(HIDDEN), "batches": json.dumps(BATCHES),
            "torch": torch.__version__}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    save_file(out, args.out, metadata=meta)
    print(f"{args.out}: {os.path.getsize(args.out)} bytes, {len(out)} tensors")


if __name__ == "__main__":
    main()
