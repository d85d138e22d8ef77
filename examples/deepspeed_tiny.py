#!/usr/bin/env python3
"""DeepSpeed with AutoWU choosing the learning rate: an MLP on synthetic blobs, CPU, gloo.

The recipe (three autowu lines; DeepSpeed steps the scheduler itself, without arguments, at each gradient
accumulation boundary, so the micro-batch losses are handed over with ``accumulate_loss``)::

    engine, optimizer, _, scheduler = deepspeed.initialize(
        model=model, model_parameters=model.parameters(), config=ds_config,
        lr_scheduler=lambda opt: AutoWULR(opt, steps_per_epoch=E, total_epochs=N))    # 1
    for x, y in loader:
        loss = loss_fn(engine(x), y)
        engine.backward(loss)
        scheduler.accumulate_loss(loss / engine.gradient_accumulation_steps())       # 2 (on the device)
        engine.step()                        # -> scheduler.step() at the boundary: reports the step's loss
    # checkpoints: DeepSpeed saves the scheduler state from rank 0 only; keep every rank's part in client_state
    states = [None] * world; torch.distributed.all_gather_object(states, scheduler.state_dict())
    engine.save_checkpoint(path, client_state={"autowu": gather_state_dicts(states)})            # 3
    _, client_state = engine.load_checkpoint(path, load_lr_scheduler_states=False)
    scheduler.load_state_dict(client_state["autowu"])

Run with two CPU ranks (DeepSpeed's CPU accelerator; the first start JIT-compiles its shared-memory
communication op, which needs ``ninja`` on PATH and a C++ compiler):

    DS_ACCELERATOR=cpu torchrun --standalone --nproc-per-node 2 examples/deepspeed_tiny.py --work-dir /tmp/ds

No daemon to start: with none configured (``AUTOWU_ENDPOINT`` unset) the job starts a private autowud on this
node (``AUTOWU_DAEMON_BINARY``, the wheel's, or ``autowud`` on PATH) and stops it when its ranks are done;
``AUTOWU_ENDPOINT`` names a shared daemon instead.

``--stop-at-step N`` stops after step N (saving a checkpoint there), ``--resume`` continues from it. Rank r writes
``WORK_DIR/lr.rank{r}.txt`` (the LR of every step, hex) and rank 0 ``WORK_DIR/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("DS_ACCELERATOR", "cpu")

import deepspeed  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402
from torch.utils.data.distributed import DistributedSampler  # noqa: E402

try:
    from autowu.torch import AutoWULR, gather_state_dicts
except ImportError:  # autowu not installed (or an older one): the client of this checkout
    for _name in [m for m in sys.modules if m == "autowu" or m.startswith("autowu.")]:
        del sys.modules[_name]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python"))
    from autowu.torch import AutoWULR, gather_state_dicts


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work-dir", required=True)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--micro-batch", type=int, default=32)
    p.add_argument("--gradient-accumulation-steps", type=int, default=2)
    p.add_argument("--zero-stage", type=int, default=0)
    p.add_argument("--stop-at-step", type=int, default=None)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--local_rank", type=int, default=-1, help=argparse.SUPPRESS)  # the deepspeed launcher's
    return p.parse_args(argv)


def blobs(n: int = 1024, dim: int = 32, classes: int = 10, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, dim, generator=g) * 1.5
    y = torch.randint(0, classes, (n,), generator=g)
    x = centers[y] + torch.randn(n, dim, generator=g)
    return TensorDataset(x, y)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    deepspeed.init_distributed(dist_backend="gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    data = blobs()
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=0)
    loader = DataLoader(data, batch_size=args.micro_batch, sampler=sampler)
    E = len(loader) // args.gradient_accumulation_steps  # optimizer steps per epoch
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    config = {"train_micro_batch_size_per_gpu": args.micro_batch,
              "gradient_accumulation_steps": args.gradient_accumulation_steps,
              "optimizer": {"type": "AdamW", "params": {"lr": 1e-3, "weight_decay": 1e-4, "torch_adam": True}},
              "zero_optimization": {"stage": args.zero_stage}}
    job_id = None
    if args.resume:  # the checkpoint's job: no second warmup
        job_id = json.loads((work / "summary.json").read_text())["job_id"]
    engine, _, _, scheduler = deepspeed.initialize(
        model=model, model_parameters=model.parameters(), config=config,
        lr_scheduler=lambda opt: AutoWULR(opt, E, total_epochs=args.epochs, job_id=job_id))  # autowu 1
    first_epoch = 0
    if args.resume:
        _, client_state = engine.load_checkpoint(str(work / "ckpt"), load_lr_scheduler_states=False)
        scheduler.load_state_dict(client_state["autowu"])  # this rank's part; LR of the saved step
        first_epoch = scheduler.last_epoch // E
    lrs = []
    stopped = False
    for epoch in range(first_epoch, args.epochs):
        sampler.set_epoch(epoch)
        for i, (x, y) in enumerate(loader):
            if i // args.gradient_accumulation_steps < (scheduler.last_epoch - epoch * E):
                continue  # resumed mid-epoch: these micro-batches were trained before the checkpoint
            if i % args.gradient_accumulation_steps == 0:
                lrs.append((scheduler.last_epoch, engine.get_lr()[0]))
            loss = torch.nn.functional.cross_entropy(engine(x), y)
            engine.backward(loss)
            scheduler.accumulate_loss(loss / engine.gradient_accumulation_steps())  # autowu 2: no host sync
            engine.step()
            if args.stop_at_step is not None and scheduler.last_epoch >= args.stop_at_step:
                stopped = True
                break
        if stopped:
            break
    if stopped:
        states = [None] * world
        dist.all_gather_object(states, scheduler.state_dict())
        engine.save_checkpoint(str(work / "ckpt"), client_state={"autowu": gather_state_dicts(states)})  # autowu 3
    with open(work / f"lr.rank{rank}.txt", "a") as f:
        f.writelines(f"{t} {lr.hex()}\n" for t, lr in lrs)
    verdict = scheduler.last_verdict
    if rank == 0:
        (work / "summary.json").write_text(json.dumps({"job_id": scheduler.job_id, "verdict": verdict,
                                                       "steps_per_epoch": E, "step": scheduler.last_epoch}))
        print(f"job {scheduler.job_id}: step {scheduler.last_epoch}, "
              + (f"warmup ended at step {verdict['switch_step']} ({verdict['reason']}), LR {verdict['switch_lr']:.6g}"
                 if verdict and verdict["switched"] else "warmup going on"))
    scheduler.close()
    dist.barrier()


if __name__ == "__main__":
    main()
