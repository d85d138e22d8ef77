"""autowu.transformers.AutoWUCallback with the real ``transformers`` Trainer and a real autowud.

``examples/hf_trainer_tiny.py``: a one-layer GPT-2 built from a config (no download, HF_HUB_OFFLINE=1) on
synthetic sequences, 8 optimizer steps per epoch, 40 epochs. In this process: an uninterrupted run (the
reference), then a run stopped at step 40 with a checkpoint and resumed from it by a new Trainer. With
torchrun: two gloo ranks, accumulating gradients over 2 micro-batches. Checked: the LR the optimizer holds at every step and the ``learning_rate`` in the
Trainer's logs are the daemon's plan's, bit for bit; the warmup ends (the daemon switched); every verdict is in
the Trainer's log history as ``autowu/...`` metrics; the resumed run continues the same job with the reference's
LRs bit for bit; a checkpoint of another job is refused; the two ranks agree.

Skipped without the autowud binary or transformers. About 60 s on 2 cores at a load average of 5.5.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import real_daemon as rd

_MISSING = rd.missing_reason()
pytestmark = [pytest.mark.skipif(_MISSING is not None, reason=_MISSING or ""),
              # transformers' and accelerate's own deprecation notices are not this package's
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning")]
torch = pytest.importorskip("torch")
pytest.importorskip("transformers", reason="pip install transformers accelerate")
pytest.importorskip("accelerate", reason="the Trainer needs accelerate")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from autowu import Plan  # noqa: E402
from autowu.client import verdict_metrics  # noqa: E402
from autowu.torch import StateMismatchError  # noqa: E402

EXAMPLE = rd.REPO / "examples" / "hf_trainer_tiny.py"
E, EPOCHS, D = 8, 40, 1
T = E * EPOCHS


def bits(x: float) -> str:
    return struct.pack(">d", x).hex()


def example():
    spec = importlib.util.spec_from_file_location("hf_trainer_tiny", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = rd.RealDaemon(tmp_path_factory.mktemp("hf") / "data")
    yield d
    d.stop()


def train_here(daemon: rd.RealDaemon, output_dir: Path, *argv: str, **autowu_kwargs):
    """One Trainer in this process; returns (trainer, callback, recorded LRs)."""
    ex = example()
    torch.set_num_threads(1)  # as the example does: tiny tensors, a shared machine
    args = ex.parse_args(["--output-dir", str(output_dir), "--epochs", str(EPOCHS), *argv])
    trainer, autowu, record = ex.build(args, **daemon.endpoints(), **autowu_kwargs)
    try:
        trainer.train(resume_from_checkpoint=True if args.resume else None)
    finally:
        if autowu.scheduler is not None:
            autowu.scheduler.close()
    return trainer, autowu, record.lrs


def check_logs_follow(log_history, plan: Plan, steps) -> None:
    """The Trainer logs (logging_steps=1), at step k, the LR of the step just run, k - 1."""
    logged = {e["step"]: e["learning_rate"] for e in log_history if "learning_rate" in e}
    assert sorted(logged) == [t + 1 for t in steps]
    assert all(bits(lr) == bits(plan.lr(k - 1)) for k, lr in logged.items())


@pytest.fixture(scope="module")
def reference(daemon, tmp_path_factory):
    out = tmp_path_factory.mktemp("hf-reference")
    trainer, autowu, lrs = train_here(daemon, out, job_id="hf-reference")
    return dict(state=daemon.status("hf-reference"), lrs=lrs, log_history=trainer.state.log_history,
                verdict=autowu.last_verdict)


def test_the_trainers_lr_and_its_logs_follow_the_daemons_plan(reference):
    state, lrs = reference["state"], reference["lrs"]
    plan = Plan.from_proto(state.plan)
    assert state.plan.final and state.decision.reason == "gp_test"  # the warmup found its end
    assert sorted(lrs) == list(range(T))
    assert all(bits(lr) == bits(plan.lr(t)) for t, lr in lrs.items())
    # the ramp's start (above eta_min when the climb limit raises it) and the decay's start: a real warmup happened
    start = state.plan.segments[0].exponential.from_rate
    assert lrs[0] == start < state.decision.learning_rate == lrs[state.decision.step]
    check_logs_follow(reference["log_history"], plan, range(T))


def test_every_verdict_is_in_the_trainers_logs(reference):
    state, history = reference["state"], reference["log_history"]
    entries = [e for e in history if "autowu/epoch" in e]
    assert [int(e["autowu/epoch"]) for e in entries] == list(range(state.decision.epoch + 1))
    keys = set(verdict_metrics(reference["verdict"]))
    assert keys <= set(entries[-1]) and {"autowu/p_min/0", "autowu/votes", "autowu/switch_step"} <= keys
    assert entries[-1]["autowu/switch_step"] == state.decision.step
    assert entries[-1]["autowu/switch_lr"] == state.decision.learning_rate
    for e in entries:  # logged when the rank learned it: by the verdict's gate
        assert e["step"] <= (int(e["autowu/epoch"]) + 1) * E + D


def test_a_resumed_trainer_continues_the_same_job_bit_for_bit(daemon, reference, tmp_path):
    out = tmp_path / "run"
    stop = 5 * E
    first, cb1, lrs1 = train_here(daemon, out, "--save-steps", str(stop), "--stop-at-step", str(stop))
    job = cb1.scheduler.job_id
    assert job.startswith("hf-") and first.state.global_step == stop
    saved = torch.load(out / f"checkpoint-{stop}" / "scheduler.pt", weights_only=True)
    assert saved["last_epoch"] == stop and saved["autowu"]["job_id"] == job
    assert sorted(saved["autowu"]["ranks"]) == [0] and saved["autowu"]["world_size"] == 1

    second, cb2, lrs2 = train_here(daemon, out, "--save-steps", str(stop), "--resume")
    assert cb2.scheduler.job_id == job  # taken from the checkpoint: no new job, no second warmup
    assert cb2.scheduler.client.stats["registers"] == 1 and cb2.scheduler.client.stats["incarnations"] == 0
    assert sorted(lrs1) == list(range(stop)) and sorted(lrs2) == list(range(stop, T))
    merged = {**lrs1, **lrs2}
    assert {t: bits(x) for t, x in merged.items()} == {t: bits(x) for t, x in reference["lrs"].items()}
    state = daemon.status(job)
    assert state.decision.step == reference["state"].decision.step
    check_logs_follow([e for e in second.state.log_history if e["step"] > stop], Plan.from_proto(state.plan),
                      range(stop, T))

    # the same checkpoint under another job id is refused, before a single step
    with pytest.raises(StateMismatchError, match=f"belongs to autowu job '{job}'"):
        train_here(daemon, out, "--save-steps", str(stop), "--resume", job_id="someone-else")


def test_without_attach_the_callback_says_what_to_do(daemon, tmp_path):
    from transformers import Trainer, TrainingArguments

    from autowu.errors import AutoWUError
    from autowu.transformers import AutoWUCallback

    ex = example()
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=2, use_cpu=True, report_to="none",
                             disable_tqdm=True)
    plain = Trainer(model=ex.tiny_gpt2(0), args=args, train_dataset=ex.Sequences(32, 0),
                    callbacks=[AutoWUCallback(job_id="hf-unattached", **daemon.endpoints())])
    with pytest.raises(AutoWUError, match=r"attach\(trainer\)"):
        plain.train()


def test_two_ranks_under_torchrun_agree_and_follow_the_plan(daemon, tmp_path):
    env = daemon.environment()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(rd.REPO / "clients" / "python"), env.get("PYTHONPATH")]))
    env["HF_HUB_OFFLINE"] = "1"
    env.pop("AUTOWU_JOB", None)  # the job id is torchrun's: torchrun-<rdzv id>
    record = tmp_path / "rec"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(EXAMPLE),
         "--output-dir", str(tmp_path / "out"), "--epochs", str(EPOCHS), "--batch-size", "4",
         "--gradient-accumulation-steps", "2", "--record", str(record)],
        env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    ranks = [json.loads(Path(f"{record}.rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["job_id"] == ranks[1]["job_id"] and ranks[0]["job_id"].startswith("torchrun-")
    state = daemon.status(ranks[0]["job_id"])
    plan = Plan.from_proto(state.plan)
    assert state.spec.world_size == 2 and state.plan.final
    lrs0, lrs1 = ranks[0]["lrs"], ranks[1]["lrs"]
    # 4 per micro-batch, 2 micro-batches per step, 2 ranks: 16 sequences per step, E = 8 as in one process
    assert lrs0 == lrs1 and sorted(int(t) for t in lrs0) == list(range(T))
    assert all(float.fromhex(lr) == plan.lr(int(t)) for t, lr in lrs0.items())
    check_logs_follow(ranks[0]["log_history"], plan, range(T))
    assert any("autowu/epoch" in e for e in ranks[0]["log_history"])
