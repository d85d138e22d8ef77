"""One training run: a workload at a batch size and seed under one LR schedule, evaluated at the end.

Schedules (``Schedule.kind``):

- ``autowu``: ``autowu.torch.AutoWULR`` against a running autowud (one process = one rank, world size 1), with
  the method's build_spec keyword arguments (test=, policy=, seed=, hyperparameters=...).
- ``warmup-cosine``: linear warmup from peak/Wl to the peak over the first 10 % of the steps (Wl of them),
  then cosine to 0 at the last step.
- ``constant``: one LR throughout.

The model's initial weights and the order of the mini-batches depend on the seed only, so every schedule of a
(workload, batch size, seed) cell starts from the same weights and sees the same batches.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

_CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"
if str(_CLIENT) not in sys.path:  # the checkout's client, not a possibly older installed copy
    sys.path.insert(0, str(_CLIENT))

from .workloads import Splits, Workload, get_workload, loss_function, make_optimizer  # noqa: E402

CURVE_BINS = 256
WARMUP_FRACTION = 0.1


@dataclass(frozen=True)
class Schedule:
    kind: str                                   # "autowu" | "warmup-cosine" | "constant"
    lr: float = float("nan")                    # the peak (warmup-cosine) or the LR (constant)
    autowu: Dict[str, Any] = field(default_factory=dict)   # build_spec keyword arguments


@dataclass(frozen=True)
class Endpoints:
    control: str
    ingest: str
    events: str


@dataclass(frozen=True)
class RunSpec:
    workload: str
    batch_size: int
    seed: int
    method: str                  # the method's display name ("tuned" for every grid point)
    schedule: Schedule
    epochs: int                  # the budget
    job_id: str = ""             # autowu runs only


def warmup_cosine_lr(step: int, total: int, peak: float) -> float:
    wl = max(1, int(round(WARMUP_FRACTION * total)))
    if step < wl:
        return peak * (step + 1) / wl
    return peak * 0.5 * (1.0 + math.cos(math.pi * (step - wl) / max(1, total - wl)))


def run(spec: RunSpec, endpoints: Optional[Endpoints]) -> Dict[str, Any]:
    """Train, evaluate, and return the run's record (JSON-ready)."""
    started = time.monotonic()
    torch.set_num_threads(1)
    wl = get_workload(spec.workload)
    data = _data(wl, spec.seed)
    n = len(data.y_train)
    spe = n // spec.batch_size
    if spe < 1:
        raise ValueError(f"{spec.workload}: batch size {spec.batch_size} exceeds the {n} training samples")
    total = spe * spec.epochs

    torch.manual_seed(spec.seed)
    model = wl.model()
    sched = spec.schedule
    first_lr = sched.lr if sched.kind == "constant" else (
        warmup_cosine_lr(0, total, sched.lr) if sched.kind == "warmup-cosine" else 1e-5)
    optimizer = make_optimizer(wl, model.parameters(), first_lr)
    loss_fn = loss_function(wl)
    scheduler = None
    if sched.kind == "autowu":
        if endpoints is None:
            raise ValueError("an autowu run needs a daemon's endpoints")
        from autowu.torch import AutoWULR
        scheduler = AutoWULR(optimizer, spe, total_epochs=spec.epochs, job_id=spec.job_id, rank=0, world_size=1,
                             control=endpoints.control, ingest=endpoints.ingest, events=endpoints.events,
                             batch_size=min(32, spe), **sched.autowu)
    elif sched.kind not in ("warmup-cosine", "constant"):
        raise ValueError(f"unknown schedule kind {sched.kind!r}")

    losses = torch.empty(total, dtype=torch.float64)
    lrs = np.empty(total, dtype=np.float64)
    verdicts: Dict[int, Dict[str, Any]] = {}
    gen = torch.Generator().manual_seed(spec.seed)
    step = 0
    model.train()
    try:
        for _epoch in range(spec.epochs):
            order = torch.randperm(n, generator=gen)
            for b in range(spe):
                if scheduler is not None:
                    lr = scheduler.autowu_lr
                else:
                    lr = warmup_cosine_lr(step, total, sched.lr) if sched.kind == "warmup-cosine" else sched.lr
                    for g in optimizer.param_groups:
                        g["lr"] = lr
                lrs[step] = lr
                idx = order[b * spec.batch_size:(b + 1) * spec.batch_size]
                loss = loss_fn(model(data.x_train[idx]), data.y_train[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses[step] = loss.detach()
                if scheduler is not None:
                    scheduler.step(loss)
                step += 1
            if scheduler is not None:
                _note_verdict(scheduler.client.state, verdicts)
        decision = None
        if scheduler is not None:
            state = scheduler.client.snapshot()
            _note_verdict(state, verdicts)
            decision = _decision(state, spe)
            waits = int(scheduler.client.stats.get("waits", 0))
            wait_s = float(scheduler.client.stats.get("wait_seconds", 0.0))
    finally:
        if scheduler is not None:
            scheduler.close()
    train_seconds = time.monotonic() - started

    val_loss, val_acc = evaluate(model, data.x_val, data.y_val, loss_fn)
    test_loss, test_acc = evaluate(model, data.x_test, data.y_test, loss_fn)
    losses_np = losses.numpy()
    record: Dict[str, Any] = dict(
        workload=spec.workload, batch_size=spec.batch_size, seed=spec.seed, method=spec.method,
        schedule=dict(kind=sched.kind, lr=None if math.isnan(sched.lr) else sched.lr, autowu=sched.autowu),
        epochs=spec.epochs, steps_per_epoch=spe, total_steps=total,
        val_acc=val_acc, test_acc=test_acc, val_loss=_finite(val_loss), test_loss=_finite(test_loss),
        nonfinite_losses=int((~np.isfinite(losses_np)).sum()),
        epoch_loss=[_finite(v) for v in _epoch_means(losses_np, spe)],
        curve=_curve(losses_np, lrs),
        seconds=round(time.monotonic() - started, 3), train_seconds=round(train_seconds, 3))
    if scheduler is not None:
        record.update(job_id=spec.job_id, decision=decision, gate_waits=waits, gate_wait_seconds=round(wait_s, 3),
                      verdicts=[verdicts[e] for e in sorted(verdicts)])
    return record


def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn) -> tuple:
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(y), 1024):
            out = model(x[i:i + 1024])
            total_loss += float(loss_fn(out, y[i:i + 1024])) * len(out)
            correct += int((out.argmax(1) == y[i:i + 1024]).sum())
    model.train()
    return total_loss / len(y), correct / len(y)


_DATA_CACHE: Dict[tuple, Splits] = {}


def _data(wl: Workload, seed: int) -> Splits:
    key = (wl.name, seed)
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = wl.data(seed)
    return _DATA_CACHE[key]


def _decision(state, spe: int) -> Optional[Dict[str, Any]]:
    if not state.HasField("decision"):
        return None
    d = state.decision
    return dict(reason=d.reason, epoch=int(d.epoch), step=int(d.step), lr=float(d.learning_rate),
                minimum_step=float(d.minimum_step), switch_epoch=int(d.step) / spe)


def _note_verdict(state, verdicts: Dict[int, Dict[str, Any]]) -> None:
    if not state.HasField("last_verdict"):
        return
    v = state.last_verdict
    fields = {f.name for f, _ in v.ListFields()}
    verdicts[int(v.epoch)] = dict(epoch=int(v.epoch), lr=float(v.lr), votes=int(v.votes), positive=bool(v.positive),
                                  streak=int(v.streak), diverged=bool(v.diverged),
                                  holding=bool(v.holding) if "holding" in fields else False,
                                  note=v.note if "note" in fields else "")


def _epoch_means(losses: np.ndarray, spe: int) -> List[float]:
    out = []
    for e in range(len(losses) // spe):
        chunk = losses[e * spe:(e + 1) * spe]
        fin = chunk[np.isfinite(chunk)]
        out.append(float(fin.mean()) if len(fin) == len(chunk) else float("nan"))
    return out


def _curve(losses: np.ndarray, lrs: np.ndarray) -> Dict[str, List]:
    """At most CURVE_BINS bins of consecutive steps: the first step of each bin, the mean loss (None if a loss in
    the bin is not finite), the geometric-mean LR; 4 significant digits."""
    n = len(losses)
    edges = np.unique(np.linspace(0, n, min(n, CURVE_BINS) + 1).astype(int))
    step, loss, lr = [], [], []
    for a, b in zip(edges[:-1], edges[1:]):
        chunk = losses[a:b]
        step.append(int(a))
        loss.append(_sig(float(chunk.mean())) if np.isfinite(chunk).all() else None)
        lr.append(_sig(float(np.exp(np.log(np.maximum(lrs[a:b], 1e-300)).mean()))))
    return dict(step=step, loss=loss, lr=lr)


def _sig(x: float) -> float:
    return float(f"{x:.4g}")


def _finite(x: float) -> Optional[float]:
    return float(x) if math.isfinite(x) else None
