#!/usr/bin/env python3
"""Per-step cost of autowu's framework integrations against a real autowud, and the host syncs they make.

    python clients/python/bench/framework_overhead.py              # starts a private autowud (.build/debug)
    python clients/python/bench/framework_overhead.py --use-env    # the daemon at AUTOWU_CONTROL/... instead

One rank (CPU), a linear model on random data, E steps per epoch (the daemon tests every epoch; the steps whose
LR had to wait at a gate for the debug daemon's test are counted apart). What is timed, per optimizer step, is
autowu's code only, each call on its own (time.perf_counter_ns):

* plain loop: ``AutoWULR.step(loss)``; and ``AutoWULR.accumulate_loss(loss)`` + ``AutoWULR.step()`` (what the
  DeepSpeed recipe and the integrations do);
* Lightning: ``autowu.lightning.AutoWUCallback.on_train_batch_end`` (add the loss, step the scheduler, check for
  a verdict), inside a real ``lightning`` ``Trainer.fit``;
* Hugging Face: the ``training_step`` wrapper's ``accumulate_loss`` + the Trainer's ``lr_scheduler.step()`` +
  ``AutoWUCallback.on_step_end``, inside a real ``Trainer.train``.

Host syncs are counted by instrumenting ``Tensor.item/tolist/cpu/numpy/__float__/__int__/__bool__`` while
autowu's code runs (the frameworks' own syncs, e.g. the Trainer's logging, are not counted): the losses reach
the host once per ``batch_size`` steps and at epoch ends.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
import warnings
from array import array
from pathlib import Path
from typing import Callable, Dict

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the package from this checkout
sys.path.insert(0, str(HERE.parent / "tests"))  # real_daemon.py: starts autowud
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from autowu.torch import AutoWULR  # noqa: E402

NAMES = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__")


class Probe:
    """Times wrapped calls (grouped into one sample per optimizer step) and counts host syncs made inside."""

    def __init__(self) -> None:
        self.active = 0
        self.syncs = 0
        self.samples = array("q")
        self.gate_samples = array("q")
        self.current = 0
        self.waits_at_start = 0
        self._saved = {}

    def install_sync_counter(self) -> None:
        for name in NAMES:
            original = getattr(torch.Tensor, name)
            self._saved[name] = original

            def wrapper(tensor, *args, __original=original, **kwargs):
                if self.active:
                    self.syncs += 1
                return __original(tensor, *args, **kwargs)

            setattr(torch.Tensor, name, wrapper)

    def remove_sync_counter(self) -> None:
        for name, original in self._saved.items():
            setattr(torch.Tensor, name, original)

    def wrap(self, fn: Callable) -> Callable:
        clock = time.perf_counter_ns

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            self.active += 1
            a = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                self.current += clock() - a
                self.active -= 1
        return timed

    def end_step(self, client) -> None:
        waits = client.stats["waits"]
        (self.samples if waits == self.waits_at_start else self.gate_samples).append(self.current)
        self.waits_at_start = waits
        self.current = 0


def summarize(ns: array) -> Dict[str, float]:
    xs = sorted(ns)
    n = len(xs)
    if not n:
        return dict(n=0, median=float("nan"), p99=float("nan"), max=float("nan"))
    return dict(n=n, median=statistics.median(xs) / 1000.0, p99=xs[min(n - 1, int(0.99 * n))] / 1000.0,
                max=xs[-1] / 1000.0)


def report(name: str, probe: Probe, steps: int) -> None:
    s, g = summarize(probe.samples), summarize(probe.gate_samples)
    print(f"{name:<58} {s['n']:>6}  {s['median']:>7.2f}  {s['p99']:>7.2f}  {s['max']:>8.1f}   "
          f"host syncs {probe.syncs / max(steps, 1):.4f}/step; {g['n']} steps waited at a gate (excluded)")


def data(n: int, batch: int):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n * batch, 16, generator=g)
    y = x @ torch.randn(16, 1, generator=g) + 0.1 * torch.randn(n * batch, 1, generator=g)
    return x, y


# ==================================================================== plain loop

def bench_plain(endpoints, job: str, steps: int, E: int, batch_size: int, accumulate: bool) -> None:
    probe = Probe()
    model = torch.nn.Linear(16, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = AutoWULR(optimizer, E, total_steps=steps * 4, job_id=job, rank=0, world_size=1, batch_size=batch_size,
                     **endpoints)
    x, y = data(8, 32)
    losses = [torch.nn.functional.mse_loss(model(x[i::8]), y[i::8]).detach() for i in range(8)]
    step = probe.wrap(sched.step)
    acc = probe.wrap(sched.accumulate_loss)
    probe.install_sync_counter()
    try:
        for t in range(steps):
            loss = losses[t % 8]
            if accumulate:
                acc(loss)
                step()
            else:
                step(loss)
            probe.end_step(sched.client)
    finally:
        probe.remove_sync_counter()
        sched.close()
    report(f"AutoWULR.{'accumulate_loss + step()' if accumulate else 'step(loss)'}, batch {batch_size}", probe, steps)


# ==================================================================== Lightning

def bench_lightning(endpoints, job: str, steps: int, E: int, batch_size: int) -> None:
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    from autowu.lightning import AutoWUCallback

    class Linear(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(16, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.mse_loss(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    probe = Probe()
    callback = AutoWUCallback(steps_per_epoch=E, total_steps=steps * 4, job_id=job, batch_size=batch_size,
                              **endpoints)
    inner = callback.on_train_batch_end
    timed = probe.wrap(inner)

    def on_train_batch_end(*args, **kwargs):
        timed(*args, **kwargs)
        probe.end_step(callback.scheduler.client)

    callback.on_train_batch_end = on_train_batch_end
    x, y = data(E, 32)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=steps, callbacks=[callback], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    probe.install_sync_counter()
    try:
        trainer.fit(Linear(), DataLoader(TensorDataset(x, y), batch_size=32))
    finally:
        probe.remove_sync_counter()
    report(f"Lightning AutoWUCallback.on_train_batch_end, batch {batch_size}", probe, steps)


# ==================================================================== Hugging Face Trainer

def bench_transformers(endpoints, job: str, steps: int, E: int, batch_size: int) -> None:
    from transformers import Trainer, TrainingArguments

    from autowu import transformers as autowu_transformers
    from autowu.transformers import AutoWUCallback

    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(16, 1)

        def forward(self, x, labels=None):
            return {"loss": torch.nn.functional.mse_loss(self.net(x), labels)}

    class Rows(torch.utils.data.Dataset):
        def __init__(self, x, y):
            self.x, self.y = x, y

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return {"x": self.x[i], "labels": self.y[i]}

    probe = Probe()
    cls = autowu_transformers._TrainerScheduler
    saved = (cls.step, cls.accumulate_loss, AutoWUCallback.on_step_end)
    cls.step = probe.wrap(saved[0])
    cls.accumulate_loss = probe.wrap(saved[1])
    timed_end = probe.wrap(saved[2])

    def on_step_end(self, args, state, control, **kwargs):
        timed_end(self, args, state, control, **kwargs)
        probe.end_step(self.scheduler.client)

    AutoWUCallback.on_step_end = on_step_end
    x, y = data(E, 32)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, max_steps=steps, per_device_train_batch_size=32, use_cpu=True,
                                 report_to="none", disable_tqdm=True, save_strategy="no", logging_steps=10 ** 9,
                                 logging_nan_inf_filter=False, dataloader_num_workers=0)
        trainer = Trainer(model=Linear(), args=args, train_dataset=Rows(x, y))
        AutoWUCallback(steps_per_epoch=E, total_steps=steps * 4, job_id=job, batch_size=batch_size,
                       **endpoints).attach(trainer)
        probe.install_sync_counter()
        try:
            trainer.train()
        finally:
            probe.remove_sync_counter()
            cls.step, cls.accumulate_loss, AutoWUCallback.on_step_end = saved
    report(f"HF training_step wrapper + lr_scheduler.step() + on_step_end, batch {batch_size}", probe, steps)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--use-env", action="store_true", help="use the daemon at AUTOWU_* instead of starting one")
    p.add_argument("--steps", type=int, default=5000, help="optimizer steps per measurement")
    p.add_argument("--plain-steps", type=int, default=20000)
    p.add_argument("--steps-per-epoch", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=32, help="losses per host transfer")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
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
    tag = f"fwbench-{os.getpid()}-{int(time.time())}"
    E, B = args.steps_per_epoch, args.batch_size
    import importlib.util

    try:
        print(f"autowud at {endpoints['control']}; one rank, CPU, E={E}; python {sys.version.split()[0]}, "
              f"torch {torch.__version__}")
        print(f"{'autowu code per optimizer step':<58} {'steps':>6}  {'median':>7}  {'p99':>7}  {'max':>8}   (us)")
        bench_plain(endpoints, f"{tag}-plain", args.plain_steps, E, B, accumulate=False)
        bench_plain(endpoints, f"{tag}-acc", args.plain_steps, E, B, accumulate=True)
        if importlib.util.find_spec("lightning"):
            bench_lightning(endpoints, f"{tag}-lightning", args.steps, E, B)
        else:
            print("lightning is not installed: not measured")
        if importlib.util.find_spec("transformers") and importlib.util.find_spec("accelerate"):
            bench_transformers(endpoints, f"{tag}-hf", args.steps, E, B)
        else:
            print("transformers/accelerate are not installed: not measured")
    finally:
        if daemon is not None:
            daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
