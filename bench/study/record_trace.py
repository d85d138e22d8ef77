"""Record a loss trace under the paper's pure exponential warmup (no daemon), in the format of traces/*.csv.

The LR of step s (s = 0..W-1) is lr_s = 1e-5 * (1 / 1e-5) ** (s / W), the AutoWU ramp with eta_min = 1e-5,
eta_max = 1 over W = rho_w * T steps; a trace of W steps therefore covers a run of T = 2 W steps up to the end
of its longest possible warmup. Rows: ``step,lr,loss`` with step counting from 1, the LR of that step and the
mini-batch training loss (``nan``/``inf`` kept as they come).

    .venv/bin/python -m bench.study.record_trace KIND --seed 0 [--out traces/] [--list]

The file is named ``<kind>_bs<B>_seed<S>_spe<E>_ep<W/E>_W<W>.csv`` like the existing traces (``ep`` is the
number of warmup epochs W/E; replay it with ``--steps-per-epoch E --total-steps 2W``).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict

import numpy as np
import torch
from torch import nn

from .workloads import (SEQ_CLASSES, SEQ_LEN, VOCAB, SequenceTransformer, Splits, Workload, _split, digits_cnn,
                        digits_data, loss_function, make_optimizer, sequence_data, tabular_data, tabular_mlp)

ETA_MIN, ETA_MAX = 1e-5, 1.0


# ============================================================================ extra data and models

def regression_data(seed: int) -> Splits:
    """make_regression: 1300 samples, 20 features (10 informative), noise 10; targets left in their own
    scale (std ~ 100, so the MSE starts near 1e4): a loss scale far from 1."""
    from sklearn.datasets import make_regression
    x, y = make_regression(n_samples=1300, n_features=20, n_informative=10, noise=10.0, random_state=77)
    return _split(x, y, seed, y_dtype=torch.float32)


class RegressionMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.Tanh(), nn.Linear(64, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


def breast_cancer_data(seed: int) -> Splits:
    """scikit-learn's breast cancer (569 samples, 30 features), standardised with the training split."""
    from sklearn.datasets import load_breast_cancer
    d = load_breast_cancer()
    s = _split(d.data, d.target, seed)
    mean, std = s.x_train.mean(0), s.x_train.std(0) + 1e-6
    return Splits((s.x_train - mean) / std, s.y_train, (s.x_val - mean) / std, s.y_val,
                  (s.x_test - mean) / std, s.y_test)


class SequenceGRU(nn.Module):
    """Embedding (16) -> 1-layer GRU (64) -> the last hidden state -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 16)
        self.gru = nn.GRU(16, 64, batch_first=True)
        self.head = nn.Linear(64, SEQ_CLASSES)

    def forward(self, x):
        _, h = self.gru(self.emb(x))
        return self.head(h[-1])


@dataclass(frozen=True)
class TraceKind:
    workload: Workload
    batch_size: int
    warmup_epochs: int


def _w(name, desc, data, model, opt, wd, task="classification") -> Workload:
    return Workload(name, desc, data, model, optimizer=opt, weight_decay=wd, constant_lr=float("nan"), epochs=0,
                    batch_sizes=(), task=task)


KINDS: Dict[str, TraceKind] = {
    "cnn_digits_sgdm": TraceKind(_w("cnn_digits_sgdm", "CNN on digits 8x8, SGD momentum 0.9, wd 5e-4",
                                    digits_data, digits_cnn, "sgdm", 5e-4), batch_size=64, warmup_epochs=80),
    "mlp_tabular_sgdm": TraceKind(_w("mlp_tabular_sgdm", "MLP 40-128-128-6 on make_classification, SGD momentum 0.9",
                                     tabular_data, tabular_mlp, "sgdm", 5e-4), batch_size=256, warmup_epochs=50),
    "gru_seq_adam": TraceKind(_w("gru_seq_adam", "GRU(64) on the marker-counting sequence task, AdamW wd 1e-2",
                                 sequence_data, SequenceGRU, "adam", 1e-2), batch_size=128, warmup_epochs=60),
    "transformer_seq_adam": TraceKind(_w("transformer_seq_adam", "2-layer transformer on the marker-counting task, AdamW",
                                         sequence_data, lambda: SequenceTransformer(layers=2), "adam", 1e-2),
                                      batch_size=256, warmup_epochs=100),
    "mlp_regression_adam": TraceKind(_w("mlp_regression_adam", "MLP 20-64-1 (tanh) on make_regression, MSE, AdamW",
                                        regression_data, RegressionMLP, "adam", 0.0, task="regression"),
                                     batch_size=16, warmup_epochs=40),
    "mlp_breastcancer_sgd": TraceKind(_w("mlp_breastcancer_sgd", "MLP 30-32-2 on breast cancer, plain SGD",
                                         breast_cancer_data,
                                         lambda: nn.Sequential(nn.Linear(30, 32), nn.ReLU(), nn.Linear(32, 2)),
                                         "sgd", 0.0), batch_size=8, warmup_epochs=40),
}


def exponential_lr(s: int, w: int) -> float:
    return ETA_MIN * (ETA_MAX / ETA_MIN) ** (s / w)


def record(kind: TraceKind, seed: int, out_dir: Path) -> Path:
    torch.set_num_threads(1)
    wl = kind.workload
    splits = wl.data(seed)
    n = len(splits.y_train)
    e = n // kind.batch_size                      # drop_last: every epoch has E steps
    w = e * kind.warmup_epochs
    torch.manual_seed(seed)
    model = wl.model()
    opt = make_optimizer(wl, model.parameters(), ETA_MIN)
    loss_fn = loss_function(wl)
    gen = torch.Generator().manual_seed(seed)
    rows = []
    s = 0
    while s < w:
        order = torch.randperm(n, generator=gen)
        for b in range(e):
            if s >= w:
                break
            idx = order[b * kind.batch_size:(b + 1) * kind.batch_size]
            lr = exponential_lr(s, w)
            for g in opt.param_groups:
                g["lr"] = lr
            loss = loss_fn(model(splits.x_train[idx]), splits.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()                       # a plain loop: a non-finite loss is stepped on like any other
            opt.step()
            rows.append((s + 1, lr, float(loss.detach())))
            s += 1
    name = f"{wl.name}_bs{kind.batch_size}_seed{seed}_spe{e}_ep{kind.warmup_epochs}_W{w}.csv"
    path = out_dir / name
    with open(path, "w") as f:
        f.write("step,lr,loss\n")
        for step, lr, loss in rows:
            f.write(f"{step},{lr!r},{_fmt(loss)}\n")
    return path


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kind", nargs="*", help=f"one or more of: {', '.join(KINDS)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="traces", help="output directory (default traces/)")
    p.add_argument("--list", action="store_true", help="list the kinds and exit")
    a = p.parse_args(argv)
    if a.list or not a.kind:
        for k, v in KINDS.items():
            print(f"{k:24s} bs {v.batch_size:4d}, {v.warmup_epochs} warmup epochs: {v.workload.description}")
        return 0
    for k in a.kind:
        if k not in KINDS:
            print(f"record_trace: unknown kind {k!r}; known: {', '.join(KINDS)}", file=sys.stderr)
            return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for k in a.kind:
        path = record(KINDS[k], a.seed, out)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
