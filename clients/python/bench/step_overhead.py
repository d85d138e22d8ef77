#!/usr/bin/env python3
"""Per-step cost of the autowu client against a real autowud.

    python clients/python/bench/step_overhead.py                 # starts a private autowud (.build/debug)
    python clients/python/bench/step_overhead.py --use-env       # the daemon at AUTOWU_CONTROL/... instead

Measures, each call timed on its own (time.perf_counter_ns), for one rank of a job:

* ``RankClient.step(loss)`` (report the loss, advance the counter) with per-step reporting (batch 1: one
  LossBatch per step) and batched reporting (batch 64);
* ``RankClient.lr()`` (apply queued events, gate check, the plan's LR), whose rare gate waits are counted
  separately;
* ``AutoWULR.step(loss_tensor)`` (torch adapter, CPU), and the host-device syncs it makes per step, counted
  by instrumenting ``Tensor.item/tolist/cpu/numpy/__float__/__int__/__bool__`` (on CUDA, when available,
  ``torch.cuda.set_sync_debug_mode`` is armed as well).

Prints median, p99, p99.9 and max in microseconds, and the timer's own cost.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the package from this checkout
sys.path.insert(0, str(HERE.parent / "tests"))  # real_daemon.py: starts autowud

from autowu import RankClient  # noqa: E402


def summarize(ns: array) -> Dict[str, float]:
    xs = sorted(ns)
    n = len(xs)

    def q(p: float) -> float:
        return xs[min(n - 1, int(p * n))] / 1000.0

    return dict(n=n, median=statistics.median(xs) / 1000.0, p99=q(0.99), p999=q(0.999), max=xs[-1] / 1000.0,
                mean=sum(xs) / n / 1000.0)


def row(name: str, s: Dict[str, float], extra: str = "") -> str:
    return (f"{name:<44} {s['n']:>7}  {s['median']:>7.2f}  {s['p99']:>7.2f}  {s['p999']:>8.2f}  {s['max']:>9.1f}"
            f"  {extra}")


def losses(n: int, seed: int = 0) -> List[float]:
    rng = random.Random(seed)
    return [2.0 * math.exp(-t / 4000.0) + 0.05 + 0.01 * rng.random() for t in range(n)]


def timer_cost(n: int = 200_000) -> float:
    clock = time.perf_counter_ns
    ns = array("q")
    for _ in range(n):
        a = clock()
        ns.append(clock() - a)
    return statistics.median(ns) / 1000.0


def bench_client(endpoints: Dict[str, str], job: str, steps: int, batch: int, E: int, T: int,
                 hyperparameters: Dict[str, float]) -> Dict:
    values = losses(steps)
    clock = time.perf_counter_ns
    step_ns, lr_ns, gate_ns = array("q"), array("q"), array("q")
    with RankClient(E, T, job_id=job, rank=0, world_size=1, batch_size=batch, hyperparameters=hyperparameters,
                    **endpoints) as c:
        lr, step, stats = c.lr, c.step, c.stats
        for t in range(steps):
            waits = stats["waits"]
            a = clock()
            lr()
            b = clock()
            step(values[t])
            e = clock()
            (lr_ns if stats["waits"] == waits else gate_ns).append(b - a)
            step_ns.append(e - b)
        stats = dict(c.stats)
    return dict(step=summarize(step_ns), lr=summarize(lr_ns), gates=summarize(gate_ns) if gate_ns else None,
                stats=stats)


class SyncCounter:
    """Counts calls of the Tensor methods that make a host-device sync on an accelerator."""

    NAMES = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__")

    def __init__(self, torch) -> None:
        self.torch = torch
        self.counts = {name: 0 for name in self.NAMES}
        self.saved = {}

    def __enter__(self) -> "SyncCounter":
        for name in self.NAMES:
            original = getattr(self.torch.Tensor, name)
            self.saved[name] = original

            def wrapper(tensor, *args, __name=name, __original=original, **kwargs):
                self.counts[__name] += 1
                return __original(tensor, *args, **kwargs)

            setattr(self.torch.Tensor, name, wrapper)
        return self

    def __exit__(self, *exc) -> None:
        for name, original in self.saved.items():
            setattr(self.torch.Tensor, name, original)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def bench_torch(endpoints: Dict[str, str], job: str, steps: int, batch: int, E: int, T: int,
                hyperparameters: Dict[str, float]) -> Dict:
    import torch

    from autowu.torch import AutoWULR

    device = "cuda" if torch.cuda.is_available() else "cpu"
    param = torch.nn.Parameter(torch.zeros(8, device=device))
    optimizer = torch.optim.SGD([param], lr=0.1)
    scheduler = AutoWULR(optimizer, E, total_steps=T, job_id=job, rank=0, world_size=1, batch_size=batch,
                         hyperparameters=hyperparameters, **endpoints)
    values = torch.tensor(losses(steps), dtype=torch.float32, device=device)
    loss_views = values.unbind(0)  # a loss tensor per step, as a training loop has
    clock = time.perf_counter_ns
    ns = array("q")
    if device == "cuda":
        torch.cuda.set_sync_debug_mode("warn")
    stats = scheduler.client.stats
    gate_ns = array("q")
    with SyncCounter(torch) as syncs:
        for t in range(steps):
            loss = loss_views[t]
            waits = stats["waits"]
            a = clock()
            scheduler.step(loss)
            (ns if stats["waits"] == waits else gate_ns).append(clock() - a)
    if device == "cuda":
        torch.cuda.set_sync_debug_mode(0)
    stats = dict(scheduler.client.stats)
    scheduler.close()
    return dict(step=summarize(ns), syncs=dict(syncs.counts), total_syncs=syncs.total, device=device, stats=stats,
                steps=steps)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--use-env", action="store_true", help="use the daemon at AUTOWU_* instead of starting one")
    p.add_argument("--steps", type=int, default=50_000, help="steps per measurement")
    p.add_argument("--torch-steps", type=int, default=20_000)
    p.add_argument("--steps-per-epoch", type=int, default=1000)
    p.add_argument("--total-steps", type=int, default=1_000_000)
    args = p.parse_args(argv)

    daemon = None
    if args.use_env:
        from autowu.env import endpoints_from_environ

        control, ingest, events = endpoints_from_environ()
        endpoints = dict(control=control, ingest=ingest, events=events)
    else:
        import real_daemon

        reason = real_daemon.missing_reason()
        if reason:
            print(f"cannot start a daemon: {reason} (or use --use-env)", file=sys.stderr)
            return 2
        daemon = real_daemon.RealDaemon(Path(tempfile.mkdtemp(prefix="autowu-bench-")) / "data")
        endpoints = daemon.endpoints()
    tag = f"bench-{os.getpid()}-{int(time.time())}"
    E, T = args.steps_per_epoch, args.total_steps
    # warmup: the daemon tests every epoch (gates every E steps; the calls that waited at one are reported
    # apart); decay: rho_w so small that no epoch is tested, so the plan is final from the registration on
    phases = {"warmup": {}, "decay": {"rho_w": E / 2 / T}}
    try:
        print(f"autowud at {endpoints['control']}; one rank, E={E}, T={T}; python {sys.version.split()[0]}; "
              f"timer cost {timer_cost():.3f} us (included below)")
        print(f"{'call (phase, loss batch)':<44} {'calls':>7}  {'median':>7}  {'p99':>7}  {'p99.9':>8}  {'max':>9}"
              f"   (us)")
        for phase, hyper in phases.items():
            for batch in (1, 64):
                r = bench_client(endpoints, f"{tag}-{phase}-b{batch}", args.steps, batch, E, T, hyper)
                s = r["stats"]
                print(row(f"RankClient.step(loss)  {phase}, {batch}", r["step"],
                          f"{s['batches_sent']} LossBatches"))
                print(row(f"RankClient.lr()        {phase}, {batch}", r["lr"], "gates excluded"))
                if r["gates"] is not None:
                    print(row("  lr() waiting at a gate", r["gates"],
                              f"{s['waits']} waits, {s['incomplete']} ERROR_INCOMPLETE"))
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            print("torch is not installed: AutoWULR not measured")
            return 0
        for phase, hyper in phases.items():
            for batch in (1, 64):
                r = bench_torch(endpoints, f"{tag}-torch-{phase}-b{batch}", args.torch_steps, batch, E, T, hyper)
                syncs = ", ".join(f"{k} {v}" for k, v in r["syncs"].items() if v) or "none"
                print(row(f"AutoWULR.step(loss)    {phase}, {batch}", r["step"],
                          f"{r['device']}; host syncs {r['total_syncs'] / r['steps']:.4f}/step ({syncs}); "
                          f"{r['stats']['waits']} gate waits excluded"))
    finally:
        if daemon is not None:
            daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
