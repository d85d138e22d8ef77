#!/usr/bin/env python3
"""Data-parallel training with AutoWU choosing the learning rate: a small MLP on scikit-learn's digits.

Every rank trains a replica (torch.distributed, gloo backend, CPU) on its shard of each global batch; AdamW's
learning rate comes from autowud through ``autowu.torch.AutoWULR``: an exponential warmup until the daemon's
AutoWU test finds that the loss stopped improving, then a cosine decay from the LR at the minimum. All ranks
get the same LR at every step (the daemon publishes a plan; the ranks compute the LR from it).

    # two ranks on this machine (torch.multiprocessing spawn); with no daemon configured the job starts its own
    python examples/digits_ddp.py --world-size 2 --lr-log /tmp/lrs --checkpoint /tmp/digits.pt
    # or under torchrun (RANK/WORLD_SIZE from it; the job id from AUTOWU_JOB or --rdzv-id):
    AUTOWU_JOB=digits-1 torchrun --nproc-per-node 2 examples/digits_ddp.py

A shared daemon is named by ``AUTOWU_ENDPOINT`` (or ``AUTOWU_CONTROL``, ``AUTOWU_INGEST``, ``AUTOWU_EVENTS``);
with none of them the job starts and stops a private autowud (``autowu.local_daemon``, the binary from the wheel,
``AUTOWU_DAEMON_BINARY`` or PATH). ``AUTOWU_TOKEN`` if the job should have one.

``--checkpoint PATH`` saves the model, the optimizer and every rank's scheduler state each epoch, and
resumes from PATH if it exists (under the job id stored in it: the daemon keeps the job's warmup state, so a
resumed run does not warm up again). ``--lr-log DIR`` makes rank r write ``step lr-hex lr`` per step to
``DIR/rank{r}.txt``, so the ranks' LRs can be compared bit for bit.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Optional

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

try:
    from autowu.torch import AutoWULR
except ImportError:  # run from a checkout without installing the client
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python"))
    from autowu.torch import AutoWULR


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world-size", type=int, default=int(os.environ.get("WORLD_SIZE", "2")),
                   help="ranks to spawn on this machine (default: $WORLD_SIZE or 2); ignored under torchrun")
    p.add_argument("--epochs", type=int, default=120)
    p.add_argument("--global-batch", type=int, default=512, help="samples per optimizer step, over all ranks")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--eta-min", type=float, default=1e-5, help="AutoWU: the warmup's first LR")
    p.add_argument("--eta-max", type=float, default=1.0, help="AutoWU: the LR the warmup would reach at rho_w*T")
    p.add_argument("--rho-w", type=float, default=0.5, help="AutoWU: the longest warmup, as a fraction of T")
    p.add_argument("--solver", choices=("fast", "exact"), default="fast", help="the daemon's GP solver")
    p.add_argument("--job-id", default=None,
                   help="the daemon's job id (default: $AUTOWU_JOB, the checkpoint's, or a new random one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr-log", default=None, metavar="DIR", help="write each rank's LR per step to DIR/rank{r}.txt")
    p.add_argument("--checkpoint", default=None, metavar="PATH", help="save each epoch; resume if PATH exists")
    p.add_argument("--stop-after-epoch", type=int, default=None, metavar="K",
                   help="stop after epoch K (0-based) as if interrupted (to try --checkpoint)")
    return p.parse_args(argv)


# ==================================================================== data and model

def digits(seed: int):
    """scikit-learn's digits (1797 8x8 images, shipped with the package: no download), 80/20 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)
    train_idx, test_idx = train_test_split(range(len(y)), test_size=0.2, random_state=seed, stratify=data.target)
    return TensorDataset(x[train_idx], y[train_idx]), TensorDataset(x[test_idx], y[test_idx])


def mlp(hidden: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                               torch.nn.ReLU(), torch.nn.Linear(hidden, 10))


# ==================================================================== one rank

def train(rank: int, world: int, args: argparse.Namespace, job_id: str, init_method: str) -> None:
    torch.set_num_threads(1)  # ranks share the machine's cores
    dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=world)
    try:
        _train(rank, world, args, job_id)
    finally:
        dist.destroy_process_group()


def _train(rank: int, world: int, args: argparse.Namespace, job_id: str) -> None:
    say = print if rank == 0 else (lambda *a, **k: None)
    if args.global_batch % world:
        raise SystemExit(f"--global-batch {args.global_batch} is not a multiple of the world size {world}")
    train_set, test_set = digits(args.seed)
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
    loader = DataLoader(train_set, batch_size=args.global_batch // world, sampler=sampler)
    steps_per_epoch = len(loader)  # the same on every rank (the sampler pads the shards to equal length)
    total_steps = steps_per_epoch * args.epochs

    torch.manual_seed(args.seed)  # the same initial weights everywhere (DDP broadcasts rank 0's anyway)
    model = DistributedDataParallel(mlp(args.hidden))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.eta_min, weight_decay=args.weight_decay)
    scheduler = AutoWULR(
        optimizer, steps_per_epoch, total_steps=total_steps, job_id=job_id, rank=rank, world_size=world,
        solver=args.solver, batch_size=32,
        hyperparameters={"eta_min": args.eta_min, "eta_max": args.eta_max, "rho_w": args.rho_w})
    loss_fn = torch.nn.CrossEntropyLoss()

    first_epoch = 0
    if args.checkpoint and os.path.exists(args.checkpoint):
        saved = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
        if saved["world_size"] != world:
            raise SystemExit(f"{args.checkpoint} was saved by {saved['world_size']} ranks, this run has {world}")
        model.module.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["schedulers"][rank])  # continues at the saved step: no second warmup
        first_epoch = saved["epoch"] + 1
        say(f"resumed from {args.checkpoint} after epoch {saved['epoch']} (step {scheduler.last_epoch}, "
            f"LR {scheduler.autowu_lr:.6g})")

    lr_log = _open_lr_log(args.lr_log, rank, scheduler.last_epoch)
    say(f"job {job_id}: {world} ranks, {steps_per_epoch} steps/epoch, {total_steps} steps, global batch "
        # the ramp's start is the daemon's: eta_min, or above it when the warmup is short (the climb limit)
        f"{args.global_batch}, AdamW, AutoWU warmup {scheduler.client.plan.lr(0):g} -> {args.eta_max:g} over at most "
        f"{int(args.rho_w * total_steps)} steps ({args.solver} solver)")

    reported_switch = scheduler.client.state.HasField("decision")
    started = time.monotonic()
    for epoch in range(first_epoch, args.epochs):
        sampler.set_epoch(epoch)
        model.train()
        epoch_loss = torch.zeros((), dtype=torch.float64)
        for x, y in loader:
            step = scheduler.last_epoch
            if lr_log is not None:
                lr = scheduler.autowu_lr
                lr_log.write(f"{step} {lr.hex()} {lr!r}\n")
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step(loss)  # the loss tensor: no .item() per step
            epoch_loss += loss.detach()
        state = scheduler.client.state
        if not reported_switch and state.HasField("decision"):
            d = state.decision
            say(f"epoch {epoch}: warmup ended at step {d.step} ({d.reason}, tested epoch {d.epoch}): LR "
                f"{d.learning_rate:.6g} (the warmup's LR at its loss minimum t* = {d.minimum_step:.1f})")
            reported_switch = True
        if epoch % 10 == 0 or epoch == args.epochs - 1:
            say(f"epoch {epoch:3d}  step {scheduler.last_epoch:5d}  LR {scheduler.autowu_lr:.4e}  "
                f"train loss (rank 0) {epoch_loss.item() / steps_per_epoch:.4f}")
        if args.checkpoint:
            _save_checkpoint(args.checkpoint, rank, world, epoch, job_id, model, optimizer, scheduler)
        if args.stop_after_epoch is not None and epoch >= args.stop_after_epoch:
            say(f"stopping after epoch {epoch} as asked (--stop-after-epoch)")
            break
    elapsed = time.monotonic() - started
    if lr_log is not None:
        lr_log.close()

    state = scheduler.client.state
    waits, waited = scheduler.client.stats["waits"], scheduler.client.stats["wait_seconds"]
    scheduler.close()
    if rank == 0:
        accuracy = _accuracy(model.module, test_set)
        if state.HasField("decision"):
            d = state.decision
            print(f"LR found: {d.learning_rate:.6g}; switch at step {d.step} (reason {d.reason}, epoch {d.epoch})")
        else:
            print("LR found: none yet (the warmup has not ended)")
        print(f"test accuracy: {100 * accuracy:.2f}% ({len(test_set)} images); {elapsed:.1f} s of training, "
              f"rank 0 waited {waited:.2f} s at {waits} gates")


def _open_lr_log(directory: Optional[str], rank: int, first_step: int):
    if not directory:
        return None
    path = Path(directory) / f"rank{rank}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = []
    if first_step > 0 and path.exists():  # a resumed run: keep the lines of the steps before the resume
        kept = [line for line in path.read_text().splitlines(keepends=True) if int(line.split()[0]) < first_step]
    f = open(path, "w")
    f.writelines(kept)
    return f


def _save_checkpoint(path, rank, world, epoch, job_id, model, optimizer, scheduler) -> None:
    """Each rank's scheduler state (its own kept losses) is gathered; rank 0 writes the file atomically."""
    states = [None] * world
    dist.all_gather_object(states, scheduler.state_dict())
    if rank == 0:
        tmp = f"{path}.tmp"
        torch.save({"epoch": epoch, "job_id": job_id, "world_size": world, "model": model.module.state_dict(),
                    "optimizer": optimizer.state_dict(), "schedulers": states}, tmp)
        os.replace(tmp, path)
    dist.barrier()


@torch.no_grad()
def _accuracy(model: torch.nn.Module, test_set: TensorDataset) -> float:
    model.eval()
    x, y = test_set.tensors
    return (model(x).argmax(dim=1) == y).double().mean().item()


# ==================================================================== launch

def _job_id(args: argparse.Namespace) -> Optional[str]:
    if args.job_id:
        return args.job_id
    if args.checkpoint and os.path.exists(args.checkpoint):
        return torch.load(args.checkpoint, map_location="cpu", weights_only=True)["job_id"]
    return os.environ.get("AUTOWU_JOB")


def _spawned(rank: int, world: int, args: argparse.Namespace, job_id: str, init_method: str) -> None:
    train(rank, world, args, job_id, init_method)


def main(argv=None) -> None:
    args = parse_args(argv)
    job_id = _job_id(args)
    if "RANK" in os.environ and "LOCAL_RANK" in os.environ:  # torchrun: this process is one rank
        if job_id is None:
            from autowu.env import from_environ  # AUTOWU_JOB, torchrun-<run id>, slurm-<job id> (SPEC 2)

            job_id = from_environ().job_id
        train(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), args, job_id, "env://")
        return
    if job_id is None:
        job_id = f"digits-ddp-{uuid.uuid4().hex[:12]}"  # one fresh job: its warmup starts from scratch
    with socket.socket() as s:  # a free port for the gloo rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_spawned, args=(args.world_size, args, job_id, f"tcp://127.0.0.1:{port}"), nprocs=args.world_size,
             join=True)


if __name__ == "__main__":
    main()
