"""autowu.lightning.AutoWUCallback with the real ``lightning`` package and a real autowud.

``examples/lightning_digits.py`` (an MLP on scikit-learn's digits, AdamW, 3 steps per epoch) is run with
``Trainer(accelerator="cpu", devices=2, strategy="ddp")`` (gloo) three times against one daemon: A
uninterrupted; B stopped after epoch 20 with a checkpoint; C resumed from B's checkpoint. Checked: both ranks
run every step with the same LR, the daemon's plan's, bit for bit, and ``LearningRateMonitor`` logs it; the
switch is what ``autowu replay`` decides on the rank-averaged losses; every verdict reached the CSV logger as
``autowu/...`` metrics; B + C ran the steps of A with the same LRs bit for bit, under one job (C continued B's,
no second warmup, no new job).

Skipped without the autowud binary, lightning or scikit-learn. 110 s on 2 cores at a load average of
5.5 (A and B run at once; most of it is importing lightning in four processes, then two).
"""

from __future__ import annotations

import csv
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

import real_daemon as rd

_MISSING = rd.missing_reason()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")
torch = pytest.importorskip("torch")
pytest.importorskip("lightning", reason="pip install lightning")
pytest.importorskip("sklearn", reason="the example needs scikit-learn")

from autowu import Plan  # noqa: E402
from autowu.client import verdict_metrics  # noqa: E402

EXAMPLE = rd.REPO / "examples" / "lightning_digits.py"
EPOCHS, E, D = 60, 3, 1
T = EPOCHS * E
STOP_AFTER = 10  # during the warmup, which the climb limit (a 90-step warmup starts at 5.6e-3) ends sooner than before


def bits(x: float) -> str:
    return struct.pack(">d", x).hex()


def launch(daemon: rd.RealDaemon, out: Path, *args: str) -> subprocess.Popen:
    env = daemon.environment()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(rd.REPO / "clients" / "python"), env.get("PYTHONPATH")]))
    env.pop("AUTOWU_JOB", None)  # the callback makes the job id (and takes it from the checkpoint on resume)
    out.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--devices", "2", "--epochs", str(EPOCHS), "--log-dir", str(out / "logs"),
         "--lr-log", str(out / "lr"), "--loss-log", str(out / "loss"), *args],
        env=env, cwd=out, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen) -> str:
    output, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, output[-6000:]
    return output


def read_csv(path: Path) -> List[Dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_steps(path: Path) -> Dict[int, str]:
    return {int(t): v for t, v in (line.split() for line in path.read_text().splitlines())}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lightning")
    daemon = rd.RealDaemon(root / "data")
    try:
        a = launch(daemon, root / "A", "--summary", str(root / "A" / "summary.json"))
        b = launch(daemon, root / "B", "--summary", str(root / "B" / "summary1.json"), "--checkpoint-dir",
                   str(root / "B" / "ckpt"), "--stop-after-epoch", str(STOP_AFTER))
        out_a, out_b = finish(a), finish(b)
        checkpoint = torch.load(root / "B" / "ckpt" / "last.ckpt", map_location="cpu", weights_only=True)
        out_c = finish(launch(daemon, root / "B", "--summary", str(root / "B" / "summary2.json"), "--checkpoint-dir",
                              str(root / "B" / "ckpt"), "--resume"))
        summaries = {name: json.loads((root / p).read_text()) for name, p in
                     (("A", "A/summary.json"), ("B", "B/summary1.json"), ("C", "B/summary2.json"))}
        states = {name: daemon.status(s["job_id"]) for name, s in summaries.items()}
        jobs = [j.job_id for j in rd.autowu_client.status("", control=daemon.control, timeout=10.0).jobs]
    finally:
        daemon.stop()
    return dict(root=root, out=dict(A=out_a, B=out_b, C=out_c), summaries=summaries, states=states, jobs=jobs,
                checkpoint=checkpoint)


def test_ddp_ranks_agree_and_follow_the_daemons_plan_and_the_lr_monitor_shows_it(runs):
    root, state = runs["root"], runs["states"]["A"]
    rank0, rank1 = read_steps(root / "A" / "lr" / "rank0.txt"), read_steps(root / "A" / "lr" / "rank1.txt")
    assert sorted(rank0) == list(range(T)) and rank0 == rank1
    plan = Plan.from_proto(state.plan)
    assert state.plan.final and state.decision.reason
    assert all(float.fromhex(lr) == plan.lr(t) for t, lr in rank0.items())
    # the warmup's LR before the switch, the decay's after it: a real warmup happened
    s = state.decision.step
    start = state.plan.segments[0].exponential.from_rate  # eta_min, or above it under the climb limit
    assert float.fromhex(rank0[0]) == start < state.decision.learning_rate == float.fromhex(rank0[s])
    # LearningRateMonitor (logging_interval="step") saw the same LR at every step
    rows = read_csv(Path(runs["summaries"]["A"]["log_dir"]) / "metrics.csv")
    monitored = {int(r["step"]): float(r["lr-AdamW"]) for r in rows if r.get("lr-AdamW")}
    assert sorted(monitored) == list(range(T))
    assert all(bits(monitored[t]) == bits(plan.lr(t)) for t in range(T))


def test_the_switch_is_what_replay_decides_on_the_rank_averaged_losses(runs, tmp_path):
    cli = rd.cli_binary()
    if not cli.is_file():
        pytest.skip(f"no autowu tool at {cli}")
    root, decision = runs["root"], runs["states"]["A"].decision
    loss0 = read_steps(root / "A" / "loss" / "rank0.txt")
    loss1 = read_steps(root / "A" / "loss" / "rank1.txt")
    assert sorted(loss0) == sorted(loss1) == list(range(T))
    trace = tmp_path / "mean.csv"
    with open(trace, "w") as f:  # the daemon's mean: the sum in rank order, divided by the number of ranks
        f.write("loss\n" + "".join(f"{(0.0 + float(loss0[t]) + float(loss1[t])) / 2!r}\n" for t in range(T)))
    replay = json.loads(subprocess.run(
        [str(cli), "replay", str(trace), "--steps-per-epoch", str(E), "--total-steps", str(T), "--json"],
        capture_output=True, text=True, timeout=120, check=True).stdout)
    # a decision read from the losses (the test's, or the rebound rule's), not the warmup's limit
    assert replay["switched"] and decision.reason == replay["reason"] and decision.reason in ("gp_test", "rebound")
    assert decision.epoch == replay["switch_epoch"]
    # replay's default decision delay is the daemon's (d = 1): the same first step on the decay schedule,
    # the same holds, the same warmup path and so the same LR at t*
    assert decision.step == replay["switch_step"]
    assert bits(decision.minimum_step) == bits(replay["minimum_step"])
    assert bits(decision.learning_rate) == bits(replay["lr_after_switch"])


def test_every_verdict_reached_the_trainers_logger(runs):
    summary, state = runs["summaries"]["A"], runs["states"]["A"]
    rows = read_csv(Path(summary["log_dir"]) / "metrics.csv")
    logged = [r for r in rows if r.get("autowu/epoch")]
    epochs = [int(float(r["autowu/epoch"])) for r in logged]
    assert epochs == list(range(state.decision.epoch + 1))  # one row per tested epoch, in order
    keys = set(verdict_metrics(summary["verdict"]))
    assert keys <= set(rows[0]) and {"autowu/epoch", "autowu/p_min/0", "autowu/votes", "autowu/streak",
                                     "autowu/holding", "autowu/outliers", "autowu/switch_step"} <= keys
    last = logged[-1]
    assert int(float(last["autowu/switch_step"])) == state.decision.step == summary["verdict"]["switch_step"]
    assert float(last["autowu/switch_lr"]) == state.decision.learning_rate
    assert int(float(last["autowu/votes"])) == state.last_verdict.votes
    # logged at the step the ranks learned the verdict: before its gate (epoch end + d)
    for r in logged:
        assert int(r["step"]) <= (int(float(r["autowu/epoch"])) + 1) * E + D


def test_a_resumed_fit_continues_bit_for_bit_under_the_same_job(runs):
    root, summaries = runs["root"], runs["summaries"]
    a0, a1 = read_steps(root / "A" / "lr" / "rank0.txt"), read_steps(root / "A" / "lr" / "rank1.txt")
    bc0, bc1 = read_steps(root / "B" / "lr" / "rank0.txt"), read_steps(root / "B" / "lr" / "rank1.txt")
    assert bc0 == a0 and bc1 == a1  # B's steps and C's steps, the same LRs as the uninterrupted fit's
    stopped_at = (STOP_AFTER + 1) * E
    assert summaries["B"]["verdict"]["phase"] == "warmup"  # interrupted during the warmup ...
    assert summaries["C"]["job_id"] == summaries["B"]["job_id"] != summaries["A"]["job_id"]  # ... resumed as B
    assert sorted(runs["jobs"]) == sorted([summaries["A"]["job_id"], summaries["B"]["job_id"]])  # no new job
    start = runs["states"]["A"].plan.segments[0].exponential.from_rate
    assert float.fromhex(bc0[stopped_at]) > start  # C's first step: the warmup went on, not from its start
    a, bc = runs["states"]["A"].decision, runs["states"]["C"].decision
    assert (a.reason, a.epoch, a.step, bits(a.learning_rate)) == (bc.reason, bc.epoch, bc.step,
                                                                  bits(bc.learning_rate))
    # the checkpoint (written by rank 0) holds every rank's part of the scheduler state, and the job
    saved = runs["checkpoint"]["callbacks"]["AutoWUCallback"]["scheduler"]
    assert saved["last_epoch"] == stopped_at and saved["autowu"]["job_id"] == summaries["B"]["job_id"]
    assert saved["autowu"]["world_size"] == 2 and sorted(saved["autowu"]["ranks"]) == [0, 1]


@pytest.mark.filterwarnings("ignore::UserWarning")  # Lightning's advice (srun, few workers, ...)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_module_with_its_own_lr_scheduler_is_refused(tmp_path):
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    from autowu.errors import AutoWUError
    from autowu.lightning import AutoWUCallback

    class WithScheduler(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.net(batch[0]).pow(2).mean()

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            return [opt], [torch.optim.lr_scheduler.StepLR(opt, 10)]

    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[AutoWUCallback(job_id="never-registered")], default_root_dir=tmp_path)
    with pytest.raises(AutoWUError, match="configure_optimizers must return the optimizer alone.*StepLR"):
        trainer.fit(WithScheduler(), DataLoader(TensorDataset(torch.ones(4, 2)), batch_size=2))
