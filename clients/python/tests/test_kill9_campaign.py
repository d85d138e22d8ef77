"""The short kill -9 campaign (scripts/kill9-campaign --jobs 3 --kills 10): a real autowud SIGKILLed ten times
while three jobs at a time run against it; every job must end exactly as undisturbed.

The binaries are found as in real_daemon.py: $AUTOWU_DAEMON_BINARY (else .build/debug/autowud) and
$AUTOWU_CLI_BINARY (else autowu beside the daemon). The check can fail: with --break-store (the data directory
deleted while the daemon is down, i.e. a daemon that loses its state) the campaign reports mismatches and exits 1.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import real_daemon as rd

SCRIPT = rd.REPO / "scripts" / "kill9-campaign"


def _missing() -> str | None:
    reason = rd.missing_reason()
    if reason is None and not rd.cli_binary().is_file():
        reason = f"no autowu binary at {rd.cli_binary()} (build it with `swift build --product autowu`, or set AUTOWU_CLI_BINARY)"
    return reason


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


def campaign(tmp_path, jobs: int, kills: int, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--jobs", str(jobs), "--kills", str(kills), "--seed", "7",
                           "--autowud", str(rd.daemon_binary()), "--autowu", str(rd.cli_binary()),
                           "--work-dir", str(tmp_path / "work"), *extra],
                          capture_output=True, text=True, timeout=600)


def test_short_kill9_campaign_every_job_ends_as_undisturbed(tmp_path):
    done = campaign(tmp_path, 3, 10)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "\nALL IDENTICAL\n" in out and "kills done: 10 " in out, out
    assert "rank LR disagreements: 0;" in out, out


def test_the_campaign_fails_when_the_daemon_loses_its_state(tmp_path):
    """The checker itself: a daemon whose data directory is deleted while it is down must be caught."""
    done = campaign(tmp_path, 2, 3, "--break-store")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "MISMATCH" in out and "NOT ALL IDENTICAL" in out, out
