#!/usr/bin/env python3
"""The Hugging Face Trainer with AutoWU choosing the learning rate: a tiny GPT-2 built from a config.

No download: the model is ``GPT2LMHeadModel(GPT2Config(...))`` with one layer, the data synthetic sequences
(each token is the previous plus a per-sequence stride, modulo the vocabulary), so the loss falls fast and the
warmup has something to find. The autowu part is one line after the Trainer is made::

    AutoWUCallback().attach(trainer)

    # no daemon configured: the job starts its own (AUTOWU_ENDPOINT=tcp://HOST:7740 names a shared one)
    HF_HUB_OFFLINE=1 python examples/hf_trainer_tiny.py --output-dir /tmp/hf-tiny
    # two ranks (gloo, CPU); AUTOWU_JOB or torchrun's --rdzv-id names the job (else one is made and broadcast):
    HF_HUB_OFFLINE=1 torchrun --nproc-per-node 2 examples/hf_trainer_tiny.py --output-dir /tmp/hf-tiny-ddp
    # with --save-steps N the Trainer checkpoints; --resume continues from the last checkpoint (same job)

``--tensorboard`` adds the Trainer's TensorBoard reporting (``report_to="tensorboard"``): the learning rate and
the ``autowu/...`` verdict metrics land in ``OUTPUT_DIR/runs``. ``--record PATH`` (a test aid) makes rank r write
``PATH.rank{r}.json`` with the job id, the LR the optimizer held at each step, and the Trainer's log history.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

try:
    from autowu.transformers import AutoWUCallback
except ImportError:  # autowu not installed (or an older one): the client of this checkout
    for _name in [m for m in sys.modules if m == "autowu" or m.startswith("autowu.")]:
        del sys.modules[_name]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python"))
    from autowu.transformers import AutoWUCallback

VOCAB, LENGTH = 32, 16


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output-dir", required=True)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--samples", type=int, default=128, help="training sequences")
    p.add_argument("--batch-size", type=int, default=16, help="per device")
    p.add_argument("--gradient-accumulation-steps", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-steps", type=int, default=0, help="checkpoint every N steps (0: never)")
    p.add_argument("--stop-at-step", type=int, default=None, help="stop after step N, as if killed")
    p.add_argument("--resume", action="store_true", help="resume from the last checkpoint in --output-dir")
    p.add_argument("--tensorboard", action="store_true")
    p.add_argument("--record", default=None, metavar="PATH")
    return p.parse_args(argv)


class Sequences(torch.utils.data.Dataset):
    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        start = torch.randint(0, VOCAB, (n, 1), generator=g)
        stride = torch.randint(1, 4, (n, 1), generator=g)
        self.ids = (start + stride * torch.arange(LENGTH)) % VOCAB

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def tiny_gpt2(seed: int) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB, n_positions=LENGTH, n_embd=32, n_layer=1, n_head=2, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0)
    return GPT2LMHeadModel(config)


class Record(TrainerCallback):
    """Test aid: the LR the optimizer holds when each step runs."""

    def __init__(self) -> None:
        self.lrs = {}

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        self.lrs[state.global_step] = optimizer.param_groups[0]["lr"]


class StopAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True


def build(args: argparse.Namespace, **autowu_kwargs) -> tuple:
    training_args = TrainingArguments(
        output_dir=args.output_dir, num_train_epochs=args.epochs, per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps, learning_rate=1e-3,  # autowu sets the LR
        weight_decay=0.01, logging_steps=1, save_strategy="steps" if args.save_steps else "no",
        save_steps=args.save_steps or 500, seed=args.seed, data_seed=args.seed, use_cpu=True,
        ddp_backend="gloo" if "LOCAL_RANK" in os.environ else None, report_to=["tensorboard"] if args.tensorboard else "none", disable_tqdm=True,
        dataloader_num_workers=0, logging_nan_inf_filter=False)  # the filter would sync with the host every step
    trainer = Trainer(model=tiny_gpt2(args.seed), args=training_args,
                      train_dataset=Sequences(args.samples, args.seed))
    autowu = AutoWUCallback(**autowu_kwargs).attach(trainer)  # <- the autowu line
    record = Record()
    trainer.add_callback(record)
    if args.stop_at_step is not None:
        trainer.add_callback(StopAt(args.stop_at_step))
    return trainer, autowu, record


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)  # ranks share the machine's cores
    trainer, autowu, record = build(args)
    trainer.train(resume_from_checkpoint=True if args.resume else None)
    rank = trainer.args.process_index
    verdict = autowu.last_verdict
    if rank == 0:
        if verdict and verdict["switched"]:
            print(f"job {autowu.scheduler.job_id}: warmup ended at step {verdict['switch_step']} "
                  f"({verdict['reason']}, epoch {verdict['switch_epoch']}), LR {verdict['switch_lr']:.6g}")
        else:
            print(f"job {autowu.scheduler.job_id}: the warmup has not ended (at step {trainer.state.global_step})")
    if args.record:
        Path(f"{args.record}.rank{rank}.json").write_text(json.dumps({
            "job_id": autowu.scheduler.job_id, "lrs": {str(t): lr.hex() for t, lr in record.lrs.items()},
            "log_history": trainer.state.log_history, "verdict": verdict}))


if __name__ == "__main__":
    main()
