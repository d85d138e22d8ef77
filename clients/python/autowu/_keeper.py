"""The keeper of a job's private autowud (``autowu.local_daemon``): starts it, publishes its endpoints, stops it
when no rank of the job is left.

Run by the rank that starts the daemon, in a session of its own (a Ctrl-C or a kill of the training's process
group does not reach it)::

    python -c '...from autowu._keeper import main; main()' --state-dir DIR --binary AUTOWUD --job JOB
        [--grace 10] [--retention-hours 720] [--ready-timeout 60]

1. Takes ``keeper.lock`` (exclusive, for its lifetime; exits with status 3 if another keeper holds it).
2. Starts ``autowud --data-dir DIR/store`` on the layout's ipc:// endpoints, with ``PR_SET_PDEATHSIG``
   (SIGTERM) so that the daemon does not outlive a killed keeper, and waits for its ready line.
3. Writes ``daemon.json`` atomically (endpoints, pids, host).
4. Twice a second takes ``start.lock`` and ``ranks.lock`` exclusively without blocking: both free means no rank
   holds its lease and none is joining. Once that has lasted ``--grace`` seconds it keeps both locks, removes
   ``daemon.json``, stops the daemon (SIGTERM, SIGKILL after 20 s) and exits. SIGTERM, SIGINT or SIGHUP to the
   keeper do the same at once. If the daemon dies on its own, the keeper removes ``daemon.json`` and exits 1
   (the ranks' next request times out: ``WaitTimeout``).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

from .local_daemon import StateLayout, open_lock, try_flock

POLL_SECONDS = 0.5
STOP_SECONDS = 20.0


def _say(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    print(f"{stamp} autowu keeper {os.getpid()}: {message}", file=sys.stderr, flush=True)


def _die_with_parent(parent: int):
    """preexec_fn: the daemon gets SIGTERM when the keeper dies (Linux; elsewhere nothing)."""
    def apply() -> None:
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        except Exception:  # noqa: BLE001 - not Linux
            return
        if os.getppid() != parent:  # the keeper died before prctl
            os.kill(os.getpid(), signal.SIGTERM)
    return apply


def _read_ready(daemon: subprocess.Popen, timeout: float) -> Optional[dict]:
    line = b""
    deadline = time.monotonic() + timeout
    fd = daemon.stdout.fileno()
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or daemon.poll() is not None:
            return None
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.1))
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            line += chunk
    found = dict(re.findall(r"(control|ingest|events)=(\S+)", line.decode(errors="replace")))
    return found if set(found) == {"control", "ingest", "events"} else None


class Keeper:
    def __init__(self, layout: StateLayout, binary: str, job: str, grace: float, retention_hours: float) -> None:
        self.layout, self.binary, self.job = layout, binary, job
        self.grace, self.retention_hours = grace, retention_hours
        self.daemon: Optional[subprocess.Popen] = None
        self.stop_requested = False
        self.start_fd = open_lock(layout.start_lock)
        self.ranks_fd = open_lock(layout.ranks_lock)

    def start(self, ready_timeout: float) -> bool:
        ep = self.layout.endpoints()
        self.layout.store.mkdir(mode=0o700, parents=True, exist_ok=True)
        args: List[str] = [self.binary, "--data-dir", str(self.layout.store), "--control", ep["control"],
                           "--ingest", ep["ingest"], "--events", ep["events"],
                           "--retention-hours", repr(self.retention_hours),
                           # ipc:// in a 0700 directory of the user's: only the user's processes reach it.
                           "--allow-anonymous"]
        with open(self.layout.daemon_log, "ab") as errors:
            self.daemon = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
                                           close_fds=True, preexec_fn=_die_with_parent(os.getpid()))
        found = _read_ready(self.daemon, ready_timeout)
        if found is None:
            self._stop_daemon()
            _say(f"autowud ({' '.join(args)}) did not print its ready line within {ready_timeout:g} s "
                 f"(exit status {self.daemon.returncode}); see {self.layout.daemon_log}")
            return False
        self.layout.write_daemon_file(dict(found, daemon_pid=self.daemon.pid, keeper_pid=os.getpid(),
                                           host=socket.gethostname(), job_id=self.job, binary=self.binary,
                                           data_dir=str(self.layout.store), started_at=time.time()))
        _say(f"started autowud pid {self.daemon.pid} for job {self.job} on {found['control']}")
        return True

    def _no_rank_left(self) -> bool:
        """Both locks taken (and kept) when no rank holds its lease and none is joining; else none taken."""
        if not try_flock(self.start_fd, fcntl.LOCK_EX):
            return False
        if try_flock(self.ranks_fd, fcntl.LOCK_EX):
            return True
        fcntl.flock(self.start_fd, fcntl.LOCK_UN)
        return False

    def _release(self) -> None:
        fcntl.flock(self.ranks_fd, fcntl.LOCK_UN)
        fcntl.flock(self.start_fd, fcntl.LOCK_UN)

    def run(self) -> int:
        idle_since: Optional[float] = None
        while True:
            if self.stop_requested:
                self._shutdown("asked to stop (signal)")
                return 0
            if self.daemon.poll() is not None:
                _say(f"autowud exited on its own (status {self.daemon.returncode}); see {self.layout.daemon_log}")
                self._remove_daemon_file()
                return 1
            if self._no_rank_left():
                now = time.monotonic()
                idle_since = now if idle_since is None else idle_since
                if now - idle_since >= self.grace:
                    self._shutdown(f"no rank of the job left for {self.grace:g} s", locked=True)
                    return 0
                self._release()
            else:
                idle_since = None
            time.sleep(POLL_SECONDS)

    def _shutdown(self, why: str, locked: bool = False) -> None:
        if not locked:  # a signal: take start.lock if it comes soon, so no rank joins a daemon being stopped
            deadline = time.monotonic() + 5.0
            while not try_flock(self.start_fd, fcntl.LOCK_EX) and time.monotonic() < deadline:
                time.sleep(0.05)
        _say(f"stopping autowud pid {self.daemon.pid}: {why}")
        self._remove_daemon_file()
        status = self._stop_daemon()
        for endpoint in self.layout.endpoints().values():  # the ipc socket files
            try:
                os.unlink(endpoint[len("ipc://"):])
            except FileNotFoundError:
                pass
        _say(f"autowud stopped (status {status})")

    def _remove_daemon_file(self) -> None:
        info = self.layout.read_daemon_file()
        if info is not None and info.get("keeper_pid") == os.getpid():
            self.layout.daemon_file.unlink()

    def _stop_daemon(self) -> Optional[int]:
        daemon = self.daemon
        if daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        if daemon.stdout is not None:
            daemon.stdout.close()
        return daemon.returncode


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="autowu._keeper", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--job", required=True)
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("--retention-hours", type=float, default=720.0)
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    layout = StateLayout(Path(args.state_dir))
    keeper_fd = open_lock(layout.keeper_lock)
    if not try_flock(keeper_fd, fcntl.LOCK_EX):
        _say(f"another keeper serves {layout.root}")
        sys.exit(3)
    keeper = Keeper(layout, args.binary, args.job, args.grace, args.retention_hours)
    if not keeper.start(args.ready_timeout):
        sys.exit(1)

    def request_stop(signum, frame) -> None:
        keeper.stop_requested = True

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, request_stop)
    sys.exit(keeper.run())
