#!/usr/bin/env python3
"""PyTorch Lightning with AutoWU choosing the learning rate: an MLP on scikit-learn's digits.

The only autowu line is the callback: ``Trainer(callbacks=[AutoWUCallback()])``. The optimizer's LR comes
from autowud (exponential warmup until the daemon's test finds the loss minimum, then a cosine decay from the
LR there), ``LearningRateMonitor`` logs it, every verdict reaches the trainer's loggers as ``autowu/...``
metrics, and checkpoints resume without a second warmup.

    # no daemon configured: the job starts its own (AUTOWU_ENDPOINT=tcp://HOST:7740 names a shared one)
    python examples/lightning_digits.py --devices 2 --log-dir /tmp/lightning-digits
    # interrupted after epoch 20, then resumed from its checkpoint (under the same job: no second warmup):
    python examples/lightning_digits.py --devices 2 --checkpoint-dir /tmp/ckpt --stop-after-epoch 20
    python examples/lightning_digits.py --devices 2 --checkpoint-dir /tmp/ckpt --resume

``--devices N`` > 1 trains with ``strategy="ddp"`` (gloo, CPU): Lightning starts the other ranks by running this
script again. The daemon's endpoints come from ``AUTOWU_ENDPOINT`` or ``AUTOWU_CONTROL``/``INGEST``/``EVENTS``.
The test flags ``--lr-log DIR`` and ``--loss-log DIR`` make rank r write ``DIR/rank{r}.txt`` (the LR of every
step, as hex, and every step's loss), and ``--summary PATH`` makes rank 0 write the job id and the last verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

import lightning.pytorch as pl
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

try:
    from autowu.lightning import AutoWUCallback
except ImportError:  # autowu not installed (or an older one): the client of this checkout
    for _name in [m for m in sys.modules if m == "autowu" or m.startswith("autowu.")]:
        del sys.modules[_name]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python"))
    from autowu.lightning import AutoWUCallback


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=1, help="ranks (CPU processes); > 1 uses DDP")
    p.add_argument("--epochs", type=int, default=80)
    p.add_argument("--global-batch", type=int, default=512, help="samples per optimizer step, over all ranks")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-dir", default="lightning_logs", help="CSVLogger's directory (LR and autowu/ metrics)")
    p.add_argument("--checkpoint-dir", default=None, help="save last.ckpt every epoch")
    p.add_argument("--resume", action="store_true", help="continue from CHECKPOINT_DIR/last.ckpt")
    p.add_argument("--stop-after-epoch", type=int, default=None, metavar="K", help="stop after epoch K, as if killed")
    p.add_argument("--lr-log", default=None, metavar="DIR")
    p.add_argument("--loss-log", default=None, metavar="DIR")
    p.add_argument("--summary", default=None, metavar="PATH")
    return p.parse_args(argv)


class DigitsMLP(pl.LightningModule):
    def __init__(self, hidden: int, loss_log: bool) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                                       torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
        self.losses = [] if loss_log else None

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        if self.losses is not None:
            self.losses.append((self.global_step, loss.detach()))  # kept on the device; written at the end
        return loss  # AutoWUCallback reads it from here

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=1e-3, weight_decay=1e-4)  # autowu sets the LR


class Digits(pl.LightningDataModule):
    def __init__(self, batch_size: int, seed: int) -> None:
        super().__init__()
        self.batch_size, self.seed = batch_size, seed

    def setup(self, stage: str) -> None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        data = load_digits()
        x = torch.tensor(data.data, dtype=torch.float32) / 16.0
        y = torch.tensor(data.target, dtype=torch.long)
        idx, _ = train_test_split(range(len(y)), test_size=0.2, random_state=self.seed, stratify=data.target)
        self.train_set = TensorDataset(x[idx], y[idx])

    def train_dataloader(self):
        # Lightning wraps it in a DistributedSampler under DDP (shuffled by seed and epoch: reproducible)
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)


class StepLog(pl.Callback):
    """Test aid: every step's LR (as the optimizer holds it when the step runs) and loss, per rank."""

    def __init__(self, lr_dir, loss_dir) -> None:
        self.lr_dir, self.loss_dir, self.lrs = lr_dir, loss_dir, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.lr_dir:
            self.lrs.append((trainer.global_step, trainer.optimizers[0].param_groups[0]["lr"]))

    def on_train_end(self, trainer, pl_module):
        rank = trainer.global_rank
        if self.lr_dir:
            _append(Path(self.lr_dir) / f"rank{rank}.txt", [f"{t} {lr.hex()}\n" for t, lr in self.lrs])
        if self.loss_dir and pl_module.losses is not None:
            steps = [t for t, _ in pl_module.losses]
            values = torch.stack([x for _, x in pl_module.losses]).double().tolist() if steps else []
            _append(Path(self.loss_dir) / f"rank{rank}.txt", [f"{t} {x!r}\n" for t, x in zip(steps, values)])


class StopAfter(pl.Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch >= self.epoch:
            trainer.should_stop = True


def _append(path: Path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.writelines(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)  # ranks share the machine's cores
    pl.seed_everything(args.seed, verbose=False)
    if args.global_batch % args.devices:
        raise SystemExit(f"--global-batch {args.global_batch} is not a multiple of --devices {args.devices}")
    autowu = AutoWUCallback()  # <- the autowu line
    callbacks = [autowu, LearningRateMonitor(logging_interval="step")]
    if args.lr_log or args.loss_log:
        callbacks.append(StepLog(args.lr_log, args.loss_log))
    if args.checkpoint_dir:
        callbacks.append(ModelCheckpoint(dirpath=args.checkpoint_dir, save_last=True, save_top_k=0,
                                         every_n_epochs=1, save_on_train_epoch_end=True))
    if args.stop_after_epoch is not None:
        callbacks.append(StopAfter(args.stop_after_epoch))
    trainer = pl.Trainer(
        accelerator="cpu", devices=args.devices, strategy="ddp" if args.devices > 1 else "auto",
        max_epochs=args.epochs, callbacks=callbacks, logger=CSVLogger(args.log_dir, name="digits"),
        log_every_n_steps=1, enable_progress_bar=False, enable_model_summary=False, deterministic=True)
    ckpt = os.path.join(args.checkpoint_dir, "last.ckpt") if args.resume and args.checkpoint_dir else None
    trainer.fit(DigitsMLP(args.hidden, bool(args.loss_log)), Digits(args.global_batch // args.devices, args.seed),
                ckpt_path=ckpt)
    verdict = autowu.last_verdict
    if trainer.is_global_zero:
        if verdict and verdict["switched"]:
            print(f"job {autowu.scheduler.job_id}: warmup ended at step {verdict['switch_step']} "
                  f"({verdict['reason']}, epoch {verdict['switch_epoch']}), LR {verdict['switch_lr']:.6g}")
        else:
            print(f"job {autowu.scheduler.job_id}: the warmup has not ended")
        if args.summary:
            Path(args.summary).write_text(json.dumps({"job_id": autowu.scheduler.job_id, "verdict": verdict,
                                                      "log_dir": trainer.logger.log_dir}))


if __name__ == "__main__":
    main()
