"""The study's workloads: data (shipped with scikit-learn or generated; nothing is downloaded), a model, an
optimizer family and an epoch budget each.

Every workload splits its data into train / validation / test with the run's seed (so each seed has its own
validation split), builds its model from the seed, and names the optimizer it is customarily trained with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Dict, Tuple

import numpy as np
import torch
from torch import nn

Tensor = torch.Tensor


@dataclass(frozen=True)
class Splits:
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    data: Callable[[int], Splits]        # seed -> splits
    model: Callable[[], nn.Module]      # built under torch.manual_seed(seed) by the caller
    optimizer: str                      # "sgdm" (SGD, momentum 0.9, nesterov off) or "adam" (AdamW)
    weight_decay: float
    constant_lr: float                  # the optimizer's customary untuned LR
    epochs: int                         # the fixed budget
    batch_sizes: Tuple[int, ...]
    task: str = "classification"        # or "regression" (MSE loss; used by the traces only)
    extra: Dict[str, object] = field(default_factory=dict)


def make_optimizer(workload: Workload, params, lr: float) -> torch.optim.Optimizer:
    if workload.optimizer == "sgdm":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=workload.weight_decay)
    if workload.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=workload.weight_decay)
    if workload.optimizer == "adam":
        return torch.optim.AdamW(params, lr=lr, weight_decay=workload.weight_decay)
    raise ValueError(f"unknown optimizer {workload.optimizer!r}")


def loss_function(workload: Workload) -> nn.Module:
    return nn.MSELoss() if workload.task == "regression" else nn.CrossEntropyLoss()


# ============================================================================ splitting

def _split(x: np.ndarray, y: np.ndarray, seed: int, val: float = 0.2, test: float = 0.2,
           x_dtype=torch.float32, y_dtype=torch.long) -> Splits:
    """A seeded permutation: the first ``test`` fraction is the test set, the next ``val`` the validation set."""
    n = len(y)
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_val = int(round(test * n)), int(round(val * n))
    te, va, tr = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    t = lambda a, dt: torch.as_tensor(np.ascontiguousarray(a), dtype=dt)  # noqa: E731
    return Splits(t(x[tr], x_dtype), t(y[tr], y_dtype), t(x[va], x_dtype), t(y[va], y_dtype),
                  t(x[te], x_dtype), t(y[te], y_dtype))


# ============================================================================ (a) CNN on digits 8x8

def digits_data(seed: int) -> Splits:
    """scikit-learn's digits: 1797 grey 8x8 images of 10 classes, scaled to [0, 1]; 60/20/20."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data / 16.0).reshape(-1, 1, 8, 8)
    return _split(x, d.target, seed)


def digits_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),           # 16 x 4 x 4
        nn.Flatten(), nn.Linear(16 * 16, 64), nn.ReLU(), nn.Linear(64, 10))


# ============================================================================ (b) MLP on tabular data

def tabular_data(seed: int) -> Splits:
    """make_classification: 6000 samples, 40 features (16 informative, 8 redundant), 6 classes of 2 clusters
    each, 3 % flipped labels; standardised with the training split's statistics. The data set is fixed
    (random_state 1234); the seed chooses the split."""
    x, y = _tabular_raw()
    s = _split(x, y, seed)
    mean, std = s.x_train.mean(0), s.x_train.std(0) + 1e-6
    return Splits((s.x_train - mean) / std, s.y_train, (s.x_val - mean) / std, s.y_val,
                  (s.x_test - mean) / std, s.y_test)


@lru_cache(maxsize=1)
def _tabular_raw():
    from sklearn.datasets import make_classification
    return make_classification(n_samples=6000, n_features=40, n_informative=16, n_redundant=8, n_classes=6,
                               n_clusters_per_class=2, class_sep=1.0, flip_y=0.03, random_state=1234)


def tabular_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(40, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 6))


# ============================================================================ (c) transformer on sequences

SEQ_LEN, VOCAB, SEQ_CLASSES = 20, 12, 6


def sequence_data(seed: int) -> Splits:
    """A generated sequence task: 2500 sequences of 20 tokens drawn uniformly from a vocabulary of 12. Tokens
    0-5 are "markers"; the label is the marker that occurs most often in the second half (positions 10-19),
    ties going to the smallest marker (and to marker 0 when none occurs). Needs position-aware counting: neither
    a bag of the whole sequence's tokens nor the first half gives the answer. The data set is fixed (seed
    4321); the run's seed chooses the split."""
    rng = np.random.default_rng(4321)
    x = rng.integers(0, VOCAB, size=(2500, SEQ_LEN))
    late = x[:, SEQ_LEN // 2:]
    y = np.stack([(late == m).sum(1) for m in range(SEQ_CLASSES)], 1).argmax(1)
    return _split(x, y, seed, x_dtype=torch.long)


class SequenceTransformer(nn.Module):
    """Token + learned position embeddings (d=32), pre-norm encoder layers (4 heads, FF 64), mean pooling."""

    def __init__(self, layers: int = 1, d: int = 32) -> None:
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Parameter(torch.randn(SEQ_LEN, d) * 0.1)
        layer = nn.TransformerEncoderLayer(d, 4, dim_feedforward=64, dropout=0.0, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, SEQ_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        h = self.enc(self.tok(x) + self.pos)
        return self.head(self.norm(h.mean(1)))


# ============================================================================ the registry

WORKLOADS: Dict[str, Workload] = {w.name: w for w in (
    Workload("digits-cnn", "CNN (conv 8, conv 16, 2 dense) on scikit-learn digits 8x8, SGD + momentum 0.9",
             digits_data, digits_cnn, optimizer="sgdm", weight_decay=5e-4, constant_lr=0.1, epochs=40,
             batch_sizes=(32, 256)),
    Workload("tabular-mlp", "MLP (40-128-128-6) on make_classification tabular data, SGD + momentum 0.9",
             tabular_data, tabular_mlp, optimizer="sgdm", weight_decay=5e-4, constant_lr=0.1, epochs=30,
             batch_sizes=(32, 256)),
    Workload("seq-transformer", "1-layer transformer encoder (d 32, 4 heads) on a generated marker-counting sequence task, AdamW",
             sequence_data, SequenceTransformer, optimizer="adam", weight_decay=1e-2, constant_lr=1e-3,
             epochs=30, batch_sizes=(32, 256)),
)}


def get_workload(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except KeyError:
        raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}") from None
