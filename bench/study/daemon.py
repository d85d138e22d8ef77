"""A real autowud for the study: started on free loopback ports with a temporary data directory, stopped with
SIGTERM at the end."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from .train import Endpoints

REPO = Path(__file__).resolve().parents[2]
_READY = re.compile(r"autowud ready control=(\S+) ingest=(\S+) events=(\S+)")


class DaemonError(RuntimeError):
    pass


def find_binary(explicit: Optional[str] = None) -> Path:
    """``explicit`` (--autowud), else $AUTOWUD, else .build/release/autowud, else .build/debug/autowud."""
    candidates = []
    if explicit:
        candidates = [Path(explicit)]
    elif os.environ.get("AUTOWUD"):
        candidates = [Path(os.environ["AUTOWUD"])]
    else:
        candidates = [REPO / ".build" / "release" / "autowud", REPO / ".build" / "debug" / "autowud"]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c.resolve()
    raise DaemonError("no autowud binary: looked for " + ", ".join(str(c) for c in candidates)
                      + " (pass --autowud PATH or set AUTOWUD; build one with `swift build --product autowud`)")


class Daemon:
    """``with Daemon(binary) as d: d.endpoints``. Its stderr goes to ``log_path``."""

    def __init__(self, binary: Path, log_path: Optional[Path] = None, startup_timeout: float = 60.0) -> None:
        self.binary = Path(binary)
        self.startup_timeout = startup_timeout
        self.data_dir = Path(tempfile.mkdtemp(prefix="autowu-study-"))
        self.log_path = Path(log_path) if log_path else self.data_dir / "autowud.log"
        self.proc: Optional[subprocess.Popen] = None
        self.endpoints: Optional[Endpoints] = None
        self.version = ""

    def start(self) -> Endpoints:
        out_path = self.data_dir / "stdout"
        with open(out_path, "wb") as out, open(self.log_path, "ab") as err:
            self.proc = subprocess.Popen(
                [str(self.binary), "--data-dir", str(self.data_dir / "store"),
                 "--control", "tcp://127.0.0.1:*", "--ingest", "tcp://127.0.0.1:*", "--events", "tcp://127.0.0.1:*",
                 "--log-level", "warning", "--allow-anonymous"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            m = _READY.search(out_path.read_text(errors="replace"))
            if m:
                self.endpoints = Endpoints(*m.groups())
                return self.endpoints
            if self.proc.poll() is not None:
                raise DaemonError(f"{self.binary} exited with status {self.proc.returncode} before it was ready; "
                                  f"its log: {self.log_path}:\n{_tail(self.log_path)}")
            time.sleep(0.05)
        self.stop()
        raise DaemonError(f"{self.binary} did not print its ready line within {self.startup_timeout:.0f} s")

    def stop(self) -> Optional[int]:
        """SIGTERM, wait up to 20 s (then SIGKILL); the data directory is removed. Returns the exit status."""
        status = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                status = self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                status = self.proc.wait()
        elif self.proc is not None:
            status = self.proc.returncode
        if self.log_path.parent == self.data_dir:
            shutil.rmtree(self.data_dir / "store", ignore_errors=True)  # keep the log
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return status

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> "Daemon":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
