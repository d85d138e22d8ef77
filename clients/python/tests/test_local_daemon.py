"""The embedded default (autowu.local_daemon): with no daemon configured, the job's ranks share a private autowud.

Real processes with the real daemon ($AUTOWU_DAEMON_BINARY, default .build/debug/autowud; skipped without it):
one process with nothing configured trains through AutoWULR; racing local ranks (multiprocessing spawn) share
one daemon and agree on every LR; a rerun under the same job id resumes from the store; SIGKILLed ranks (and a
SIGKILLed keeper) leave no daemon behind. In this process: the clear errors (several nodes, no binary, a daemon
that never gets ready). Every state directory is under the test's tmp_path (XDG_STATE_HOME).
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

import real_daemon as rd
from autowu import RankClient
from autowu.errors import LocalDaemonError
from autowu.local_daemon import StateLayout, default_job_id, resolve_environment

_MISSING = rd.missing_reason()
needs_daemon = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

PACKAGE = Path(__file__).resolve().parents[1]  # clients/python: the autowu under test
GRACE = 1.0
# How long a stopped job's daemon may take to go (grace + the keeper's poll + a debug daemon's SIGTERM on a
# loaded machine): a bound for "it does go", not a speed.
GONE_WITHIN = 90.0
TRACE = rd.REPO / "traces" / "digits_bs128_seed0_spe12_ep80_W960.csv"
E, T = 12, 1920
RUN_TO = 700  # past the switch (step 625 on this trace with the daemon's defaults)

_SCRUB = ("AUTOWU_", "SLURM_", "OMPI_", "TORCHELASTIC_")
_SCRUB_NAMES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_WORLD_SIZE", "XDG_STATE_HOME")


def clean_environ(tmp_path: Path, **extra: str) -> Dict[str, str]:
    """This process's environment without any autowu/Slurm/torchrun/MPI variable, with the state under
    tmp_path, the daemon binary, a short grace and this worktree's package first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB) and k not in _SCRUB_NAMES}
    env.update(XDG_STATE_HOME=str(tmp_path / "state"), AUTOWU_DAEMON_BINARY=str(rd.daemon_binary()),
               AUTOWU_LOCAL_GRACE_SECONDS=str(GRACE), AUTOWU_LOCAL_TIMEOUT_SECONDS="120",
               PYTHONPATH=os.pathsep.join([str(PACKAGE)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    env.update(extra)
    return env


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def wait_gone(pids: List[int], within: float = GONE_WITHIN) -> List[int]:
    """The pids still running after ``within`` seconds (returns as soon as none is)."""
    end = time.monotonic() + within
    while True:
        left = [p for p in pids if running(p)]
        if not left or time.monotonic() >= end:
            return left
        time.sleep(0.2)


def load_losses() -> List[float]:
    with open(TRACE, newline="") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


# ==================================================================== ranks in their own processes (spawn)

def rank_main(environ: Dict[str, str], rank: int, world: int, start_step: int, stop_step: int, go, results,
              hang: bool = False) -> None:
    """One rank: RankClient with nothing but the environment; LRs of start_step..stop_step-1 on the trace's
    losses (offset per rank). ``hang``: report and then sleep until killed."""
    os.environ.clear()
    os.environ.update(environ, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      LOCAL_WORLD_SIZE=str(world))
    try:
        losses = load_losses()
        go.wait(120)
        client = RankClient(E, T, start_step=start_step, batch_size=4, total_wait=120.0)
        lrs = []
        for t in range(start_step, stop_step):
            lrs.append(client.lr(t))
            client.report(t, losses[t] + (rank - (world - 1) / 2) * 2.0 ** -20)
        info = StateLayout.of(client.job_id).read_daemon_file()
        state = client.state
        out = dict(rank=rank, job_id=client.job_id, control=client.env.control, lrs=lrs, daemon=info,
                   decision=[state.decision.step, state.decision.learning_rate, state.decision.reason]
                   if state.HasField("decision") else None,
                   final=client.plan.final, plan_lrs=[client.plan.lr(t) for t in range(stop_step, stop_step + 10)])
        if hang:
            results.put(out)
            time.sleep(3600)
        client.close()
        results.put(out)
    except BaseException as e:  # noqa: BLE001 - reported by the test
        results.put(dict(rank=rank, error=f"{type(e).__name__}: {e}"))


def run_ranks(environ: Dict[str, str], world: int, start_step: int = 0, stop_step: int = RUN_TO,
              hang: bool = False, timeout: float = 400.0):
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=rank_main, args=(environ, r, world, start_step, stop_step, go, results, hang))
             for r in range(world)]
    for p in procs:
        p.start()
    go.set()  # every rank races for the daemon at once
    out = []
    try:
        for _ in procs:
            out.append(results.get(timeout=timeout))
    finally:
        if not hang:
            for p in procs:
                p.join(60)
    errors = [o for o in out if "error" in o]
    assert not errors, errors
    return sorted(out, key=lambda o: o["rank"]), procs


def started_lines(layout: StateLayout) -> int:
    return layout.keeper_log.read_text().count("started autowud pid")


# ==================================================================== end to end

TINY_SCRIPT = textwrap.dedent("""
    import json, torch
    from autowu.torch import AutoWULR
    from autowu.local_daemon import StateLayout

    torch.manual_seed(0)
    x = torch.randn(64, 4); y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(64)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    E, EPOCHS = 8, 6
    sched = AutoWULR(opt, steps_per_epoch=E, total_epochs=EPOCHS)          # nothing else configured
    lrs = []
    for epoch in range(EPOCHS):
        for b in range(E):
            lrs.append(opt.param_groups[0]["lr"])
            loss = torch.nn.functional.mse_loss(model(x[b * 8:(b + 1) * 8]).squeeze(1), y[b * 8:(b + 1) * 8])
            opt.zero_grad(); loss.backward(); opt.step()
            sched.step(loss)
    plan = sched.client.plan
    print(json.dumps(dict(job_id=sched.job_id, control=sched.client.env.control, lrs=lrs,
                          plan_lrs=[plan.lr(t) for t in range(E * EPOCHS)],
                          daemon=StateLayout.of(sched.job_id).read_daemon_file(),
                          verdict=sched.last_verdict)))
    sched.close()
""")


@needs_daemon
def test_one_process_with_nothing_configured_trains_through_autowulr(tmp_path):
    pytest.importorskip("torch")
    script = tmp_path / "train_tiny.py"
    script.write_text(TINY_SCRIPT)
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run([sys.executable, str(script)], cwd=work, env=clean_environ(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])

    # the job id: the script's name and a hash of its path and the working directory
    assert out["job_id"] == default_job_id(str(script), str(work))
    assert out["job_id"].startswith("local-train_tiny-")
    layout = StateLayout(tmp_path / "state" / "autowu" / out["job_id"])
    assert out["control"] == layout.endpoints()["control"] and out["control"].startswith("ipc://")
    # the optimizer's LR at every step is the daemon's plan's, from the warmup's start on: 48 steps, so a
    # warmup of 24 that the climb limit (a decade per 40 steps) starts at 10^(-24/40), not at eta_min
    assert out["lrs"] == out["plan_lrs"]
    assert out["lrs"][0] == pytest.approx(10 ** (-24 / 40))
    # the daemon tested the epochs and ended the warmup (at the latest at its maximum, half the run)
    assert out["verdict"] is not None and out["verdict"]["epoch"] >= 0 and out["verdict"]["switched"]
    assert (layout.store / "autowu.sqlite3").is_file()
    # the process is gone: the daemon and its keeper follow after the grace period
    assert wait_gone([out["daemon"]["daemon_pid"], out["daemon"]["keeper_pid"]]) == []
    assert not layout.daemon_file.exists()
    assert not any(os.path.exists(e[len("ipc://"):]) for e in layout.endpoints().values())
    assert started_lines(layout) == 1


@needs_daemon
def test_racing_local_ranks_share_one_daemon_and_agree(tmp_path):
    world = 3
    out, _ = run_ranks(clean_environ(tmp_path, AUTOWU_JOB="race"), world)
    layout = StateLayout(tmp_path / "state" / "autowu" / "race")
    assert started_lines(layout) == 1, layout.keeper_log.read_text()
    assert layout.daemon_log.read_text().count("listening") == 1
    assert len({o["daemon"]["daemon_pid"] for o in out}) == 1
    assert len({o["control"] for o in out}) == 1
    # every rank used the same LR at every step, across the switch
    assert all(o["lrs"] == out[0]["lrs"] for o in out)
    assert out[0]["decision"] is not None and out[0]["decision"][0] < RUN_TO
    assert all(o["decision"] == out[0]["decision"] for o in out)
    assert all(lr > 0 and math.isfinite(lr) for lr in out[0]["lrs"])
    assert wait_gone([out[0]["daemon"]["daemon_pid"], out[0]["daemon"]["keeper_pid"]]) == []


@needs_daemon
def test_a_rerun_under_the_same_job_id_resumes_from_the_store(tmp_path):
    environ = clean_environ(tmp_path, AUTOWU_JOB="resume")
    (first,), _ = run_ranks(environ, 1)
    assert first["decision"] is not None and first["final"]
    # the first run's daemon is gone before the second starts: only the store carries the job over
    assert wait_gone([first["daemon"]["daemon_pid"], first["daemon"]["keeper_pid"]]) == []

    (second,), _ = run_ranks(environ, 1, start_step=RUN_TO, stop_step=RUN_TO + 10)
    assert second["daemon"]["daemon_pid"] != first["daemon"]["daemon_pid"]
    assert second["decision"] == first["decision"]  # the switch, as decided by the first run's daemon
    assert second["lrs"] == first["plan_lrs"]       # and its plan: no second warmup
    layout = StateLayout(tmp_path / "state" / "autowu" / "resume")
    assert started_lines(layout) == 2


@needs_daemon
def test_sigkilled_ranks_leave_no_daemon_behind(tmp_path):
    out, procs = run_ranks(clean_environ(tmp_path, AUTOWU_JOB="killed"), 2, stop_step=30, hang=True)
    info = out[0]["daemon"]
    assert all(o["daemon"] == info for o in out)
    layout = StateLayout(tmp_path / "state" / "autowu" / "killed")
    time.sleep(3 * GRACE)  # the ranks live on: so does their daemon
    assert running(info["daemon_pid"]) and running(info["keeper_pid"])
    for p in procs:
        os.kill(p.pid, signal.SIGKILL)
    for p in procs:
        p.join(30)
    assert wait_gone([info["daemon_pid"], info["keeper_pid"]]) == []
    assert not layout.daemon_file.exists()
    assert "no rank of the job left" in layout.keeper_log.read_text()


@needs_daemon
def test_a_sigkilled_keeper_takes_its_daemon_along(tmp_path):
    out, procs = run_ranks(clean_environ(tmp_path, AUTOWU_JOB="orphan"), 1, stop_step=30, hang=True)
    info = out[0]["daemon"]
    try:
        os.kill(info["keeper_pid"], signal.SIGKILL)
        assert wait_gone([info["daemon_pid"], info["keeper_pid"]]) == []  # PR_SET_PDEATHSIG
    finally:
        for p in procs:
            p.kill()
            p.join(30)


# ==================================================================== clear errors (in this process)

@pytest.fixture
def isolated(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(_SCRUB) or name in _SCRUB_NAMES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("AUTOWU_DAEMON_BINARY", str(rd.daemon_binary()))
    monkeypatch.setenv("AUTOWU_JOB", "errors")
    return tmp_path


@pytest.mark.parametrize("variables", [
    {"SLURM_JOB_ID": "7", "SLURM_NNODES": "2", "SLURM_NTASKS": "8", "SLURM_PROCID": "0"},
    {"SLURM_JOB_ID": "7", "SLURM_STEP_NUM_NODES": "4"},
    {"RANK": "0", "WORLD_SIZE": "8", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "4"},
    {"RANK": "0", "WORLD_SIZE": "8", "GROUP_WORLD_SIZE": "2"},
    {"OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_LOCAL_SIZE": "4"},
])
def test_several_nodes_without_a_configured_daemon_say_how_to_configure_one(isolated, monkeypatch, variables):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(LocalDaemonError) as info:
        RankClient(4, 40)
    message = str(info.value)
    assert "deploy/slurm/README.md" in message and "AUTOWU_ENDPOINT" in message
    assert not (isolated / "state").exists()  # nothing started
    # with a daemon configured the same environment is fine (no private daemon)
    monkeypatch.setenv("AUTOWU_ENDPOINT", "tcp://10.0.0.1:7740")
    assert resolve_environment(None).control == "tcp://10.0.0.1:7740"


def test_a_missing_binary_says_how_to_install_it(isolated, monkeypatch):
    monkeypatch.setenv("AUTOWU_DAEMON_BINARY", str(isolated / "nowhere" / "autowud"))
    with pytest.raises(LocalDaemonError, match="AUTOWU_DAEMON_BINARY=.*nowhere.* is not an executable"):
        RankClient(4, 40)

    import autowu
    assert not (Path(autowu.__file__).parent / "_bin" / "autowud").exists()  # the source tree bundles none
    monkeypatch.delenv("AUTOWU_DAEMON_BINARY")
    (isolated / "empty").mkdir()
    monkeypatch.setenv("PATH", str(isolated / "empty"))
    with pytest.raises(LocalDaemonError) as info:
        RankClient(4, 40)
    message = str(info.value)
    for hint in ("pip install autowu", "swift build -c release", "AUTOWU_DAEMON_BINARY", "AUTOWU_ENDPOINT"):
        assert hint in message


def test_a_daemon_that_never_gets_ready_fails_with_what_to_do(isolated, monkeypatch):
    fake = isolated / "silent-autowud"
    fake.write_text("#!/bin/sh\necho 'autowud: starting (not really)' >&2\nexec sleep 600\n")
    fake.chmod(0o755)
    monkeypatch.setenv("AUTOWU_DAEMON_BINARY", str(fake))
    monkeypatch.setenv("AUTOWU_LOCAL_TIMEOUT_SECONDS", "2")
    with pytest.raises(LocalDaemonError) as info:
        RankClient(4, 40)
    message = str(info.value)
    assert "AUTOWU_LOCAL_TIMEOUT_SECONDS" in message and "not really" in message  # the advice and the log


def test_a_daemon_that_exits_reports_its_log(isolated, monkeypatch):
    fake = isolated / "broken-autowud"
    fake.write_text("#!/bin/sh\necho 'autowud: the data directory is locked by pid 1' >&2\nexit 2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("AUTOWU_DAEMON_BINARY", str(fake))
    with pytest.raises(LocalDaemonError, match="did not start(.|\n)*locked by pid 1"):
        RankClient(4, 40)


# ==================================================================== small parts

def test_default_job_id_is_stable_per_script_and_directory():
    a = default_job_id("/srv/train.py", "/home/u/run1")
    assert a == default_job_id("/srv/train.py", "/home/u/run1")
    assert a != default_job_id("/srv/train.py", "/home/u/run2")
    assert a != default_job_id("/srv/other.py", "/home/u/run1")
    assert a.startswith("local-train-")
    assert default_job_id("/x/pkg/__main__.py", "/").startswith("local-pkg-")
    assert default_job_id("-c", "/").startswith("local-python-")


def test_long_state_paths_get_short_ipc_endpoints(tmp_path):
    layout = StateLayout(tmp_path / ("d" * 120) / "job")
    endpoints = layout.endpoints()
    assert all(len(e) - len("ipc://") <= 100 for e in endpoints.values())
    assert len(set(endpoints.values())) == 3
    short = StateLayout(Path("/tmp/s/job")).endpoints()
    assert short["control"] == "ipc:///tmp/s/job/control.sock"


@needs_daemon
def test_a_new_run_of_a_default_named_job_that_already_trained_is_told(tmp_path, caplog):
    """The default name is the script's: a second run from step 0 would follow the first run's decision.
    It is told so (with what to do); a run resumed past step 0, or a job named explicitly, is not."""
    import logging

    daemon = rd.RealDaemon(tmp_path / "data")
    E, T = 4, 200

    def client(job: str, start: int = 0) -> RankClient:
        return RankClient(E, T, job_id=job, rank=0, world_size=1, batch_size=1, start_step=start,
                          total_wait=60.0, **daemon.endpoints())

    try:
        for job in ("local-train-0123456789ab", "named"):
            first = client(job)
            for t in range(E):
                first.lr(t)
                first.report(t, 2.3)
            first.lr(E + 1)
            first.close()
        def second_run(job: str, start: int = 0) -> None:
            c = client(job, start)
            c.lr(start)
            c.report(start, 2.3)
            c.flush()
            c.close()

        with caplog.at_level(logging.WARNING, logger="autowu"):
            second_run("local-train-0123456789ab", start=E + 1)  # resumed from a checkpoint
            second_run("named")
            assert not [r for r in caplog.records if "already ran" in r.getMessage()]
            second_run("local-train-0123456789ab")
        told = [r.getMessage() for r in caplog.records if "already ran" in r.getMessage()]
        assert len(told) == 1 and "AUTOWU_JOB" in told[0] and "local-train-0123456789ab" in told[0], told
    finally:
        daemon.stop()
