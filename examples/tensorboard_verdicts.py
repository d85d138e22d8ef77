#!/usr/bin/env python3
"""A plain PyTorch loop with AutoWU, logging every epoch's verdict to TensorBoard (``torch.utils.tensorboard``).

    # no daemon configured: the job starts its own (AUTOWU_ENDPOINT=tcp://HOST:7740 names a shared one)
    python examples/tensorboard_verdicts.py --log-dir /tmp/tb   # needs: pip install tensorboard
    tensorboard --logdir /tmp/tb

At the end of every epoch ``scheduler.last_verdict`` (a plain dict: the latest test's epoch, P_min per subset,
votes, streak, holding, outliers, note; the phase; once decided the switch step, LR and reason) is written
with ``autowu.client.verdict_metrics``: the scalars under ``autowu/`` (the keys the Lightning and Transformers
integrations give their loggers), the note and the decision as text. The LR of every step goes to ``lr``.
The verdict of epoch e arrives during epoch e + 1 (the test runs while the next epoch trains), so the verdict
logged at the end of epoch e + 1 is usually epoch e's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.tensorboard import SummaryWriter

try:
    from autowu.torch import AutoWULR, verdict_metrics
except ImportError:  # autowu not installed (or an older one): the client of this checkout
    for _name in [m for m in sys.modules if m == "autowu" or m.startswith("autowu.")]:
        del sys.modules[_name]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python"))
    from autowu.torch import AutoWULR, verdict_metrics


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--log-dir", required=True)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--job-id", default=None, help="default: $AUTOWU_JOB, else a new one")
    return p.parse_args(argv)


def blobs(n: int = 1024, dim: int = 32, classes: int = 10, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, dim, generator=g) * 1.5
    y = torch.randint(0, classes, (n,), generator=g)
    return TensorDataset(centers[y] + torch.randn(n, dim, generator=g), y)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    loader = DataLoader(blobs(), batch_size=args.batch_size, shuffle=True)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    job = {"job_id": args.job_id} if args.job_id else {}
    if not job:
        import os
        import uuid

        job = {"job_id": os.environ.get("AUTOWU_JOB") or f"tensorboard-{uuid.uuid4().hex[:12]}"}
    scheduler = AutoWULR(optimizer, steps_per_epoch=len(loader), total_epochs=args.epochs, **job)
    writer = SummaryWriter(args.log_dir)
    logged = None
    for epoch in range(args.epochs):
        for x, y in loader:
            writer.add_scalar("lr", scheduler.autowu_lr, scheduler.last_epoch)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step(loss)
        verdict = scheduler.last_verdict  # every epoch: the latest test and decision, a plain dict
        if verdict is not None and (logged is None or (verdict["epoch"], verdict["switched"]) != (
                logged["epoch"], logged["switched"])):
            step = scheduler.last_epoch
            for key, value in verdict_metrics(verdict).items():
                writer.add_scalar(key, value, step)
            if verdict["note"]:
                writer.add_text("autowu/note", f"epoch {verdict['epoch']}: {verdict['note']}", step)
            if verdict["switched"] and not (logged or {}).get("switched"):
                writer.add_text("autowu/decision", f"{verdict['reason']}: decay from step {verdict['switch_step']} "
                                f"at lr {verdict['switch_lr']:.6g} (t* = {verdict['minimum_step']:.1f})", step)
            logged = verdict
    writer.close()
    scheduler.close()
    v = scheduler.last_verdict
    print(f"job {scheduler.job_id}: " + (f"warmup ended at step {v['switch_step']} ({v['reason']}), LR "
                                         f"{v['switch_lr']:.6g}" if v and v["switched"] else "warmup going on"))


if __name__ == "__main__":
    main()
