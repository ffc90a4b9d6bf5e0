#!/usr/bin/env python3
"""Runs README.md's PyTorch snippet (the block between <!-- pytorch-snippet --> markers) on a
trained model and the rows `mlp-gpu predict` predicted, and compares the probabilities.
Maintainers only: needs torch, safetensors and numpy, which mlp-gpu itself does not.

Usage: scripts/check_pytorch_snippet.py RUN INPUT PREDICTIONS.csv
  RUN: a run folder; INPUT: a CSV with a label column last, or gzipped IDX images;
  PREDICTIONS.csv: `mlp-gpu predict --model RUN INPUT` of the same rows.
Prints the largest difference of any probability and the share of rows whose argmax agree;
exits 1 if a probability differs by more than 1e-4 or an argmax differs.
"""
import csv
import gzip
import os
import sys

import numpy as np

run, inputs, predicted = sys.argv[1:4]
readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
snippet = readme.split("<!-- pytorch-snippet -->")[1].split("<!-- /pytorch-snippet -->")[0]
snippet = snippet.strip().removeprefix("```python").removesuffix("```")
if inputs.endswith(".csv"):
    rows = list(csv.reader(open(inputs)))[1:]
    x = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float32)
else:
    raw = gzip.open(inputs).read()
    dims = raw[3]
    x = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).copy()
    x = x.reshape(int.from_bytes(raw[4:8], "big"), -1)
env = {"x": x}
exec(snippet.replace("runs/a", run), env)
ours = env["probs"].numpy()
table = list(csv.reader(open(predicted)))
if table[0][2:] != env["data"]["classes"]:
    sys.exit(f"columns {table[0][2:]} are not the model's classes {env['data']['classes']}")
theirs = np.array([[float(v) for v in r[2:]] for r in table[1:]])
diff = float(np.abs(ours - theirs).max())
agree = float((ours.argmax(1) == theirs.argmax(1)).mean())
print(f"{len(theirs)} rows: largest probability difference {diff:.3g}, argmax agrees on {agree:.2%}")
sys.exit(0 if diff < 1e-4 and agree == 1.0 else 1)
