"""CURVE against the real daemon: keys from `autowu keygen`, and a wrong server key reported as such
(HandshakeError) within one request timeout, with the daemon's log naming the failed handshake."""

from __future__ import annotations

import subprocess
import time

import pytest
import zmq

import real_daemon as rd
from autowu import HandshakeError, RankClient
from autowu.client import ping

_MISSING = rd.missing_reason() or (None if zmq.has("curve") else "libzmq without CURVE")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


def keygen(directory) -> str:
    out = subprocess.run([str(rd.cli_binary()), "keygen", "--out-dir", str(directory)], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def test_keygen_keys_serve_a_client_and_a_wrong_key_fails_fast_with_a_log_line(tmp_path, monkeypatch):
    public = keygen(tmp_path / "keys")
    daemon = rd.RealDaemon(tmp_path / "data", extra_args=["--curve-secret-key-file", str(tmp_path / "keys" / "autowud.key")])
    try:
        assert ping(control=daemon.control, server_key=public, timeout=10).version
        monkeypatch.setenv("AUTOWU_JOB", "curve-real")
        monkeypatch.setenv("AUTOWU_SERVER_KEY", public)
        with RankClient(6, 60, total_wait=30, request_timeout=1.0, **daemon.endpoints()) as c:
            assert c.plan is not None

        wrong = zmq.curve_keypair()[0].decode()
        monkeypatch.setenv("AUTOWU_SERVER_KEY", wrong)
        started = time.monotonic()
        with pytest.raises(HandshakeError, match=r"CURVE handshake with tcp://.* failed: wrong server key \(AUTOWU_SERVER_KEY\)\?"):
            RankClient(6, 60, total_wait=60, request_timeout=1.0, **daemon.endpoints())
        elapsed = time.monotonic() - started
        # A bound, not a benchmark: one request timeout (1 s) plus slack, far below the 60 s wait.
        assert elapsed < 10, elapsed
        with pytest.raises(HandshakeError):
            ping(control=daemon.control, server_key=wrong, timeout=60, attempt_timeout=1.0)
        deadline = time.monotonic() + 10
        while "CURVE handshake failed" not in daemon.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        log = daemon.log()
        assert "CURVE handshake failed" in log and "is not this daemon's public key" in log, log[-2000:]
    finally:
        daemon.stop()
