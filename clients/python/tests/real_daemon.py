"""A real autowud process for tests (the Python twin of Sources/AutoWUTestKit/DaemonProcess.swift).

Started on ``tcp://127.0.0.1:*`` ports with its own data directory; it prints one line
``autowud ready control=... ingest=... events=...`` with the bound endpoints. It can be stopped (SIGTERM), or
killed with SIGKILL and started again on the same ports and data directory.

The binary is ``$AUTOWU_DAEMON_BINARY``, else ``<repo>/.build/debug/autowud`` (the repository root found from
this file); the ``autowu`` command-line tool is ``$AUTOWU_CLI_BINARY``, else ``autowu`` beside the daemon.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

from autowu import client as autowu_client
from autowu._proto import autowu_pb2 as pb

REPO = Path(__file__).resolve().parents[3]


def daemon_binary() -> Path:
    return Path(os.environ.get("AUTOWU_DAEMON_BINARY") or REPO / ".build" / "debug" / "autowud")


def cli_binary() -> Path:
    return Path(os.environ.get("AUTOWU_CLI_BINARY") or daemon_binary().with_name("autowu"))


def missing_reason() -> Optional[str]:
    """Why the real-daemon tests cannot run here, or None."""
    binary = daemon_binary()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        return (f"no autowud binary at {binary} (build it with `swift build --product autowud` in {REPO}, or set "
                "AUTOWU_DAEMON_BINARY)")
    return None


class RealDaemon:
    def __init__(self, data_dir: Path, extra_args: Optional[List[str]] = None, close_timeout_ms: int = 30000,
                 anonymous: bool = True) -> None:
        """``close_timeout_ms``: how long a waiting snapshot lets an incomplete epoch stay open (long by default:
        on a loaded machine a rank coming back from a restart must not find its epoch closed without it).
        ``anonymous``: with ``--allow-anonymous``, so tests about other things need no tokens; False: the
        daemon's default configuration (every job needs a token or a MUNGE credential)."""
        self.data_dir = Path(data_dir)
        self.extra_args = (["--allow-anonymous"] if anonymous else []) + list(extra_args or [])
        self.close_timeout_ms = int(close_timeout_ms)
        self.log_path = self.data_dir.with_suffix(".log")
        self.control = self.ingest = self.events = "tcp://127.0.0.1:*"
        self.process: Optional[subprocess.Popen] = None
        self.start()

    # ---------------------------------------------------------------- life cycle

    def start(self, timeout: float = 30.0) -> None:
        """(Re)starts on the current endpoints (the first start resolves the ``*`` ports)."""
        self._close_pipe()  # of a previous (killed) process
        args = [str(daemon_binary()), "--data-dir", str(self.data_dir), "--control", self.control,
                "--ingest", self.ingest, "--events", self.events,
                "--close-timeout-ms", str(self.close_timeout_ms)] + self.extra_args
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        line = b""
        deadline = time.monotonic() + timeout
        fd = self.process.stdout.fileno()
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                self.kill()
                raise RuntimeError(f"autowud did not become ready: {line!r}\n{self.log()[-3000:]}")
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.1))
            if ready:
                chunk = os.read(fd, 4096)
                if chunk:
                    line += chunk
        text = line.decode()
        found = dict(re.findall(r"(control|ingest|events)=(\S+)", text))
        if set(found) != {"control", "ingest", "events"}:
            self.kill()
            raise RuntimeError(f"unexpected ready line from autowud: {text!r}")
        self.control, self.ingest, self.events = found["control"], found["ingest"], found["events"]

    def kill(self) -> None:
        """kill -9: no chance to flush or close anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self.process is not None and self.process.stdout is not None and not self.process.stdout.closed:
            self.process.stdout.close()

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit status."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_pipe()
        return self.process.returncode

    def restart_after_kill(self, down_for: float = 1.0) -> None:
        self.kill()
        time.sleep(down_for)
        self.start()

    # ---------------------------------------------------------------- queries

    def endpoints(self) -> Dict[str, str]:
        return dict(control=self.control, ingest=self.ingest, events=self.events)

    def environment(self) -> Dict[str, str]:
        env = dict(os.environ)
        env.update(AUTOWU_CONTROL=self.control, AUTOWU_INGEST=self.ingest, AUTOWU_EVENTS=self.events)
        env.pop("AUTOWU_ENDPOINT", None)
        # A daemon that takes anonymous jobs: the tools' jobs are anonymous too (simulate would make a token).
        if "--allow-anonymous" in self.extra_args:
            env["AUTOWU_TOKEN"] = ""
        return env

    def status(self, job_id: str, token: str = "") -> pb.JobState:
        """``token``: the job's, if it has one (no test may rely on a munged running on the host)."""
        jobs = autowu_client.status(job_id, token=token, control=self.control, timeout=10.0).jobs
        assert len(jobs) == 1 and jobs[0].job_id == job_id
        return jobs[0]

    def counters(self) -> Dict[str, int]:
        return dict(autowu_client.status("", control=self.control, timeout=10.0).daemon.counters)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
