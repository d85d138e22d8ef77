"""The DeepSpeed recipe (``examples/deepspeed_tiny.py``) with the real ``deepspeed`` package and a real autowud.

Two CPU ranks under torchrun (DeepSpeed's CPU accelerator, gloo), ZeRO stage 0, gradient accumulation over 2
micro-batches: A uninterrupted; B stopped at step 60 with a DeepSpeed checkpoint; C resumed from it. Checked:
the ranks hold the same LR at every step, the daemon's plan's, bit for bit; the warmup ends; B + C ran A's steps
with A's LRs, bit for bit, C under B's job.

DeepSpeed is not in the test extras (its first start JIT-compiles a C++ op, about 3 minutes here). The Python
that runs the example is ``$AUTOWU_DEEPSPEED_PYTHON`` (default: this one); skipped when it cannot import
deepspeed, e.g. ``AUTOWU_DEEPSPEED_PYTHON=/tmp/ds-venv/bin/python`` for a separate venv with deepspeed and ninja.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

import real_daemon as rd

_MISSING = rd.missing_reason()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

from autowu import Plan  # noqa: E402

PYTHON = os.environ.get("AUTOWU_DEEPSPEED_PYTHON") or sys.executable
EXAMPLE = rd.REPO / "examples" / "deepspeed_tiny.py"
EPOCHS, STOP = 40, 60


def _has_deepspeed() -> bool:
    try:
        return subprocess.run([PYTHON, "-c", "import deepspeed"], capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if not _has_deepspeed():
        pytest.skip(f"{PYTHON} cannot import deepspeed (set AUTOWU_DEEPSPEED_PYTHON)")
    root = tmp_path_factory.mktemp("deepspeed")
    daemon = rd.RealDaemon(root / "data")
    env = daemon.environment()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(rd.REPO / "clients" / "python"), env.get("PYTHONPATH")]))
    env["DS_ACCELERATOR"] = "cpu"
    env["PATH"] = os.pathsep.join([str(Path(PYTHON).parent), env.get("PATH", "")])  # ninja for the JIT op
    env.pop("AUTOWU_JOB", None)

    def run(work: Path, *args: str) -> None:
        done = subprocess.run([PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                               str(EXAMPLE), "--work-dir", str(work), "--epochs", str(EPOCHS), *args],
                              env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]

    try:
        run(root / "A")
        run(root / "B", "--stop-at-step", str(STOP))
        stopped = json.loads((root / "B" / "summary.json").read_text())
        run(root / "B", "--resume")
        summaries = {"A": json.loads((root / "A" / "summary.json").read_text()), "B": stopped,
                     "C": json.loads((root / "B" / "summary.json").read_text())}
        states = {k: daemon.status(s["job_id"]) for k, s in summaries.items()}
    finally:
        daemon.stop()
    return dict(root=root, summaries=summaries, states=states)


def read_lrs(path: Path) -> Dict[int, str]:
    return {int(t): v for t, v in (line.split() for line in path.read_text().splitlines())}


def test_deepspeed_ranks_follow_the_plan(runs):
    root, state, summary = runs["root"], runs["states"]["A"], runs["summaries"]["A"]
    T = EPOCHS * summary["steps_per_epoch"]
    lrs0, lrs1 = read_lrs(root / "A" / "lr.rank0.txt"), read_lrs(root / "A" / "lr.rank1.txt")
    assert lrs0 == lrs1 and sorted(lrs0) == list(range(T))
    plan = Plan.from_proto(state.plan)
    assert state.plan.final and state.decision.reason and state.spec.world_size == 2
    assert all(struct.pack(">d", float.fromhex(lr)) == struct.pack(">d", plan.lr(t)) for t, lr in lrs0.items())
    assert float.fromhex(lrs0[state.decision.step]) == state.decision.learning_rate


def test_deepspeed_checkpoint_resumes_bit_for_bit_under_the_same_job(runs):
    root, summaries = runs["root"], runs["summaries"]
    assert summaries["B"]["step"] == STOP and summaries["B"]["verdict"]["phase"] == "warmup"
    assert summaries["C"]["job_id"] == summaries["B"]["job_id"] != summaries["A"]["job_id"]
    for r in range(2):
        assert read_lrs(root / "B" / f"lr.rank{r}.txt") == read_lrs(root / "A" / f"lr.rank{r}.txt")
    a, c = runs["states"]["A"].decision, runs["states"]["C"].decision
    assert (a.reason, a.epoch, a.step, a.learning_rate) == (c.reason, c.epoch, c.step, c.learning_rate)
