"""examples/digits_ddp.py, run for real: two gloo ranks (spawned) against a real autowud.

Skipped without the autowud binary, torch or scikit-learn. About 15-20 s per run on 2 cores.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import real_daemon as rd

_MISSING = rd.missing_reason()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")
pytest.importorskip("torch")
pytest.importorskip("sklearn", reason="the example needs scikit-learn (pip install scikit-learn)")

from autowu import Plan  # noqa: E402

EXAMPLE = rd.REPO / "examples" / "digits_ddp.py"
EPOCHS = 80


def run_example(daemon: rd.RealDaemon, *args: str) -> str:
    env = daemon.environment()
    # the example imports autowu from this checkout if it is not installed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(rd.REPO / "clients" / "python"), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, str(EXAMPLE), "--world-size", "2", "--epochs", str(EPOCHS), *args],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def read_log(path: Path) -> list:
    return [line.split()[:2] for line in path.read_text().splitlines()]


def test_the_ranks_log_identical_lrs_that_follow_the_daemons_plan(tmp_path):
    daemon = rd.RealDaemon(tmp_path / "data")
    try:
        out = run_example(daemon, "--job-id", "digits-a", "--lr-log", str(tmp_path / "lrs"))
        state = daemon.status("digits-a")
    finally:
        daemon.stop()
    print(out)
    rank0, rank1 = read_log(tmp_path / "lrs" / "rank0.txt"), read_log(tmp_path / "lrs" / "rank1.txt")
    steps = [int(s) for s, _ in rank0]
    assert rank0 == rank1 and steps == list(range(len(steps))) and len(steps) == 3 * EPOCHS
    plan = Plan.from_proto(state.plan)
    assert all(float.fromhex(lr) == plan.lr(int(s)) for s, lr in rank0)
    found = re.search(r"LR found: (\S+); switch at step (\d+) \(reason (\w+)", out)
    assert found, out
    assert int(found.group(2)) == state.decision.step and found.group(3) == state.decision.reason
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", out).group(1))
    assert accuracy > 90.0, out


def test_a_run_resumed_from_its_checkpoint_repeats_the_uninterrupted_one(tmp_path):
    """The same job id on two fresh daemons: straight through, and stopped after epoch 10 then resumed from
    --checkpoint. Training is deterministic, so the LRs must be identical bit for bit: the resumed run did not
    warm up again and reached the same switch."""
    logs = {}
    outs = {}
    for name in ("straight", "resumed"):
        daemon = rd.RealDaemon(tmp_path / f"data-{name}")
        try:
            args = ["--job-id", "digits-b", "--lr-log", str(tmp_path / name)]
            if name == "resumed":
                checkpoint = str(tmp_path / "digits.pt")
                first = run_example(daemon, *args, "--checkpoint", checkpoint, "--stop-after-epoch", "10")
                assert "stopping after epoch 10" in first and "LR found: none yet" in first
                outs[name] = run_example(daemon, *args, "--checkpoint", checkpoint)
                assert "resumed from" in outs[name] and "after epoch 10 (step 33" in outs[name]
            else:
                outs[name] = run_example(daemon, *args)
        finally:
            daemon.stop()
        logs[name] = [read_log(tmp_path / name / f"rank{r}.txt") for r in range(2)]
    print(outs["resumed"])
    assert logs["straight"][0] == logs["straight"][1] == logs["resumed"][0] == logs["resumed"][1]
    assert len(logs["resumed"][0]) == 3 * EPOCHS
    # the LR right after the resume is the warmup's at step 33, above its start: no second warmup
    assert float.fromhex(logs["resumed"][0][33][1]) > float.fromhex(logs["resumed"][0][0][1])
