"""The quick study end to end: real training, a real autowud, the results JSON and the report.

    .venv/bin/python -m pytest -q bench/study/tests

The daemon binary is $AUTOWU_DAEMON_BINARY, else .build/debug/autowud (skipped with the reason if missing).
About a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BINARY = Path(os.environ.get("AUTOWU_DAEMON_BINARY", REPO / ".build" / "debug" / "autowud"))
QUICK_METHODS = ["autowu", "autowu-paper", "constant", "tuned[peaks=2]"]


def _study(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("AUTOWUD", None)
    return subprocess.run([sys.executable, "-m", "bench.study", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    if not (BINARY.is_file() and os.access(BINARY, os.X_OK)):
        pytest.skip(f"no autowud at {BINARY} (set AUTOWU_DAEMON_BINARY or `swift build --product autowud`)")
    out = tmp_path_factory.mktemp("study")
    proc = _study("--quick", "--out-dir", str(out), "--autowud", str(BINARY))
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return out, proc, json.loads((out / "results.json").read_text())


def test_every_run_finished(quick):
    _, _, results = quick
    meta = results["meta"]
    assert meta["finished"] and results["errors"] == []
    # autowu + autowu-paper + constant + 2 tuned peaks, one cell, one seed
    assert meta["planned_runs"] == meta["completed_runs"] == len(results["runs"]) == 5
    assert sorted({r["method"] for r in results["runs"]}) == sorted(QUICK_METHODS)
    peaks = sorted(r["schedule"]["lr"] for r in results["runs"] if r["method"] == "tuned[peaks=2]")
    assert len(peaks) == 2 and peaks[0] < peaks[1]
    assert meta["autowud_exit_status"] == 0  # stopped cleanly with SIGTERM


def test_runs_are_real_trainings(quick):
    _, _, results = quick
    for r in results["runs"]:
        assert 0.0 <= r["test_acc"] <= 1.0 and 0.0 <= r["val_acc"] <= 1.0
        assert r["total_steps"] == r["steps_per_epoch"] * r["epochs"] > 0
        assert len(r["epoch_loss"]) == r["epochs"]
        assert len(r["curve"]["step"]) == len(r["curve"]["loss"]) == len(r["curve"]["lr"]) > 10
        assert all(lr > 0 for lr in r["curve"]["lr"])
    # with 6 balanced classes, chance is ~17 %: the tuned schedule must have learnt something
    best = max(r["test_acc"] for r in results["runs"] if r["method"].startswith("tuned"))
    assert best > 0.5


def test_autowu_runs_have_a_decision(quick):
    _, _, results = quick
    autowu = [r for r in results["runs"] if r["schedule"]["kind"] == "autowu"]
    assert len(autowu) == 2
    ids = {r["job_id"] for r in autowu}
    assert len(ids) == 2
    for r in autowu:
        d = r["decision"]
        assert d is not None, f"{r['method']}: no decision after {r['epochs']} epochs"
        assert d["reason"] in ("gp_test", "diverged", "max_warmup", "rebound")
        assert 0 < d["step"] <= r["total_steps"] and d["lr"] > 0
        # the LR actually used follows the daemon's plan: the exponential ramp starts at eta_min = 1e-5, or,
        # under the default's climb limit (one decade per 40 steps), where W = T/2 steps can climb to 1 from
        w = r["total_steps"] // 2
        start = 1e-5 if r["method"] == "autowu-paper" else max(1e-5, 10 ** (-w / 40))
        assert r["curve"]["lr"][0] == pytest.approx(start, rel=0.5)
        assert r["verdicts"], "no end-of-epoch test was seen"
    paper = next(r for r in autowu if r["method"] == "autowu-paper")
    assert paper["schedule"]["autowu"] == {"test": "paper", "policy": "paper"}
    assert next(r for r in autowu if r["method"] == "autowu")["schedule"]["autowu"] == {}


def test_report_mentions_every_method(quick):
    out, proc, _ = quick
    doc = (out / "study.md").read_text()
    for m in QUICK_METHODS:
        assert f"| {m} |" in doc, m
    assert "## Findings" in doc and "(written by the lead from the final run)" in doc
    assert "gap to tuned" in doc and "within 1 point of tuned" in doc
    for png in ("accuracy_vs_batch.png", "curves_tabular-mlp.png"):
        data = (out / "study" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        assert f"study/{png}" in doc
    assert proc.stdout.count("] tabular-mlp bs128 seed0 ") == 5  # a progress line per run
    assert "elapsed:" in proc.stdout


def test_bad_input_is_refused():
    for args, message in ((["--methods", "autowu,bogus"], "unknown method 'bogus'"),
                          (["--methods", "autowu[patiense=2]"], "unknown option 'patiense'"),
                          (["--methods", "autowu[policy=sometimes]"], "policy"),
                          (["--workloads", "imagenet"], "unknown workload 'imagenet'")):
        proc = _study(*args, "--out-dir", "/nonexistent/never-written", timeout=120)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
        assert not Path("/nonexistent/never-written").exists()


def test_missing_daemon_is_a_clear_error(tmp_path):
    proc = _study("--quick", "--out-dir", str(tmp_path), "--autowud", str(tmp_path / "no-such-autowud"))
    assert proc.returncode == 2 and "no autowud binary" in proc.stderr
