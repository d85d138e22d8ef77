"""The embedded default: with no daemon configured, the job gets a private ``autowud`` on its node.

When neither ``AUTOWU_ENDPOINT`` nor ``AUTOWU_CONTROL`` is set and no endpoint is passed to ``RankClient``, the
client does not talk to ``tcp://127.0.0.1:7740`` (where usually nothing listens) but starts, or joins, a daemon
of its own job::

    $XDG_STATE_HOME/autowu/<job>/          (default ~/.local/state/autowu/<job>, mode 0700)
        store/            the daemon's SQLite store (--data-dir): a rerun under the same job id resumes
        daemon.json       control/ingest/events endpoints, the daemon's and its keeper's pids, the host
        start.lock        flock: held while a rank joins or starts the daemon, and by the keeper to stop it
        ranks.lock        flock: every rank of the job holds a SHARED lock on it for its lifetime
        keeper.lock       flock: held by the keeper for its lifetime (is the daemon.json still served?)
        control.sock ...  the ipc:// endpoints (a short path under the temp dir if this one is too long)
        autowud.log, keeper.log

Joining (``ensure``): under ``start.lock`` (exclusive), a rank takes its shared lock on ``ranks.lock``, then
reads ``daemon.json``; if it is there and its keeper alive (``keeper.lock`` is held) the rank uses it,
otherwise it starts a keeper (``autowu._keeper``, in a session of its own) which starts ``autowud`` on ipc
endpoints, waits for its ready line and writes ``daemon.json`` atomically. Whichever local rank takes the lock
first starts it (no rank waits for LOCAL_RANK 0 to import torch); the others find it. Every rank then Pings the
daemon, bounded by ``AUTOWU_LOCAL_TIMEOUT_SECONDS`` (60 s).

Stopping: the keeper checks twice a second whether any rank still holds ``ranks.lock`` (an exclusive
non-blocking flock succeeds only when none does, whatever way the ranks ended: the kernel drops a SIGKILLed
process's locks). After ``AUTOWU_LOCAL_GRACE_SECONDS`` (10 s) without a rank it stops the daemon (SIGTERM,
SIGKILL after 20 s) and exits, holding ``start.lock`` meanwhile, so a rank arriving then starts a fresh one. The
daemon is started with a parent-death signal (Linux ``PR_SET_PDEATHSIG``): a killed keeper takes it along.
A rank holds its lease until its process exits (processes forked from it, e.g. DataLoader workers, share it
until they exit).

The job id, when nothing in the environment names one (``AUTOWU_JOB``, torchrun's ``--rdzv-id``, Slurm), is
``local-<script>-<hash of the script's path and the working directory>``: rerunning the same script in the
same directory is the same job, and resumes its warmup (set ``AUTOWU_JOB`` to start afresh, or delete the
state directory).

A job on several nodes needs a daemon every node can reach: ``LocalDaemonError`` says how to configure one.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional

from .env import JobEnvironment, daemon_configured, from_environ, job_id_from_environ
from .errors import LocalDaemonError

__all__ = ["LocalDaemon", "StateLayout", "default_job_id", "ensure", "find_binary", "multi_node_reason",
           "resolve_environment", "state_root"]

log = logging.getLogger("autowu")

GRACE_SECONDS = 10.0
TIMEOUT_SECONDS = 60.0
RETENTION_HOURS = 720.0
_MAX_IPC_PATH = 100  # sun_path holds 107 bytes and a NUL
_SLURM_README = "deploy/slurm/README.md"
_ENDPOINTS = ("control", "ingest", "events")

#: One lease (an open ranks.lock holding a shared flock) per state directory, for the process's lifetime.
_LEASES: Dict[str, int] = {}


# ==================================================================== where things are

def state_root(environ: Optional[Mapping[str, str]] = None) -> Path:
    """``$XDG_STATE_HOME/autowu`` (a relative XDG_STATE_HOME is ignored, as the spec says), else
    ``~/.local/state/autowu``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or ""
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "autowu"


@dataclass(frozen=True)
class StateLayout:
    """The files of one job's private daemon (see the module docstring)."""

    root: Path

    @classmethod
    def of(cls, job_id: str, environ: Optional[Mapping[str, str]] = None) -> "StateLayout":
        return cls(state_root(environ) / job_id)

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def daemon_file(self) -> Path:
        return self.root / "daemon.json"

    @property
    def start_lock(self) -> Path:
        return self.root / "start.lock"

    @property
    def ranks_lock(self) -> Path:
        return self.root / "ranks.lock"

    @property
    def keeper_lock(self) -> Path:
        return self.root / "keeper.lock"

    @property
    def daemon_log(self) -> Path:
        return self.root / "autowud.log"

    @property
    def keeper_log(self) -> Path:
        return self.root / "keeper.log"

    def endpoints(self) -> Dict[str, str]:
        """ipc:// endpoints in the state directory, or under the temp directory when that path is too long
        for a Unix socket."""
        root = str(self.root)
        if len(root) + len("/control.sock") <= _MAX_IPC_PATH:
            return {name: f"ipc://{root}/{name}.sock" for name in _ENDPOINTS}
        digest = hashlib.sha256(root.encode()).hexdigest()[:16]
        prefix = os.path.join(tempfile.gettempdir(), f"autowu-{os.getuid()}-{digest}")
        return {name: f"ipc://{prefix}-{name}.sock" for name in _ENDPOINTS}

    def read_daemon_file(self) -> Optional[dict]:
        try:
            with open(self.daemon_file) as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return None

    def write_daemon_file(self, info: dict) -> None:
        """Atomically: a reader sees the whole file or none."""
        tmp = self.daemon_file.with_name(f".daemon.json.{os.getpid()}")
        with open(tmp, "w") as f:
            json.dump(info, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.daemon_file)

    def log_tail(self, lines: int = 15) -> str:
        out = []
        for path in (self.keeper_log, self.daemon_log):
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except FileNotFoundError:
                continue
            out.append(f"--- {path} (last lines)\n" + "\n".join(text))
        return "\n".join(out)


def open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def try_flock(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise


def keeper_alive(layout: StateLayout) -> bool:
    """Whether a keeper holds keeper.lock (so daemon.json is served)."""
    fd = open_lock(layout.keeper_lock)
    try:
        if try_flock(fd, fcntl.LOCK_SH):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True
    finally:
        os.close(fd)


# ==================================================================== the job and its node

def default_job_id(argv0: Optional[str] = None, cwd: Optional[str] = None) -> str:
    """``local-<script name>-<12 hex digits of sha256(script path, working directory)>``: stable across reruns
    of one script in one directory (and the same in every rank a launcher starts from it)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    cwd = os.getcwd() if cwd is None else cwd
    if argv0 in ("", "-c", "-m"):
        path, name = "<interactive>", "python"
    else:
        path = os.path.abspath(argv0)
        p = Path(path)
        name = p.parent.name if p.stem == "__main__" else p.stem
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:48] or "python"
    digest = hashlib.sha256(f"{path}\0{cwd}".encode()).hexdigest()[:12]
    return f"local-{name}-{digest}"


def _int(env: Mapping[str, str], *names: str) -> Optional[int]:
    for name in names:
        raw = (env.get(name) or "").strip()
        m = re.match(r"\d+", raw)  # SLURM_NNODES may look like "2" or "2(x3)"
        if m:
            return int(m.group(0))
    return None


def multi_node_reason(environ: Mapping[str, str], world_size: int = 1) -> Optional[str]:
    """Why this job spans several nodes (Slurm, torchrun, Open MPI variables), or None."""
    nodes = _int(environ, "SLURM_STEP_NUM_NODES", "SLURM_NNODES", "SLURM_JOB_NUM_NODES")
    if nodes is not None and nodes > 1:
        return f"Slurm runs it on {nodes} nodes (SLURM_STEP_NUM_NODES/SLURM_NNODES)"
    groups = _int(environ, "GROUP_WORLD_SIZE")
    if groups is not None and groups > 1:
        return f"torchrun runs it on {groups} nodes (GROUP_WORLD_SIZE)"
    local = _int(environ, "LOCAL_WORLD_SIZE")
    if local is not None and world_size > local:
        return f"its world size {world_size} is larger than the ranks on this node (LOCAL_WORLD_SIZE={local})"
    size, local = _int(environ, "OMPI_COMM_WORLD_SIZE"), _int(environ, "OMPI_COMM_WORLD_LOCAL_SIZE")
    if size is not None and local is not None and size > local:
        return f"Open MPI runs {size} ranks, {local} of them on this node"
    return None


def _multi_node_error(reason: str) -> LocalDaemonError:
    return LocalDaemonError(
        f"autowu: no daemon is configured (AUTOWU_ENDPOINT and AUTOWU_CONTROL are unset), and this job spans "
        f"several nodes: {reason}. The private daemon autowu starts by default serves the ranks of one node only. "
        f"Run an autowud that every node reaches and point the ranks at it with AUTOWU_ENDPOINT=tcp://HOST:PORT "
        f"(under Slurm, deploy/slurm/autowu-job.sbatch starts one per job; see {_SLURM_README}).")


def find_binary(environ: Optional[Mapping[str, str]] = None) -> Path:
    """``$AUTOWU_DAEMON_BINARY``; else ``<package>/_bin/autowud`` (where the wheel puts it); else ``autowud``
    on PATH; else ``LocalDaemonError`` saying how to install it."""
    env = os.environ if environ is None else environ
    given = env.get("AUTOWU_DAEMON_BINARY")
    if given:
        path = Path(given)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise LocalDaemonError(
            f"autowu: AUTOWU_DAEMON_BINARY={given} is not an executable file. Point it at autowud, or unset it "
            f"to use the one installed with the package or on PATH.")
    bundled = Path(__file__).resolve().parent / "_bin" / "autowud"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return bundled
    found = shutil.which("autowud", path=env.get("PATH", os.defpath))
    if found:
        return Path(found)
    raise LocalDaemonError(
        f"autowu: no daemon is configured (AUTOWU_ENDPOINT is unset), so autowu starts a private autowud for "
        f"this job, but there is none: not in AUTOWU_DAEMON_BINARY, not at {bundled}, not on PATH. Install the "
        f"autowu wheel that bundles it (pip install autowu), or build it from source (swift build -c release "
        f"--product autowud, then put .build/release/autowud on PATH or set AUTOWU_DAEMON_BINARY), or point "
        f"AUTOWU_ENDPOINT=tcp://HOST:PORT at a running autowud.")


# ==================================================================== joining or starting

@dataclass(frozen=True)
class LocalDaemon:
    """The job's private daemon, as a rank found it."""

    layout: StateLayout
    control: str
    ingest: str
    events: str
    daemon_pid: int
    keeper_pid: int
    #: Whether this process started it.
    started: bool


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise LocalDaemonError(f"{name}={raw!r} is not a number of seconds") from None
    if not value >= 0:
        raise LocalDaemonError(f"{name}={raw!r} must be >= 0")
    return value


def _timeout_error(layout: StateLayout, what: str, timeout: float) -> LocalDaemonError:
    return LocalDaemonError(
        f"autowu: {what} within {timeout:g} s (job state in {layout.root}). Look at the logs below; set "
        f"AUTOWU_LOCAL_TIMEOUT_SECONDS to wait longer on a slow machine, or run autowud yourself and set "
        f"AUTOWU_ENDPOINT=tcp://HOST:PORT.\n{layout.log_tail()}")


def ensure(job_id: str, environ: Optional[Mapping[str, str]] = None) -> LocalDaemon:
    """Join the job's private daemon on this node, starting it if no rank has; the calling process holds its
    lease (a shared lock on ranks.lock) until it exits. Raises ``LocalDaemonError`` on failure."""
    env = os.environ if environ is None else environ
    layout = StateLayout.of(job_id, env)
    timeout = _seconds(env, "AUTOWU_LOCAL_TIMEOUT_SECONDS", TIMEOUT_SECONDS)
    deadline = time.monotonic() + timeout
    layout.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    host = socket.gethostname()

    start_fd = open_lock(layout.start_lock)
    try:
        while not try_flock(start_fd, fcntl.LOCK_EX):
            if time.monotonic() >= deadline:
                raise _timeout_error(layout, f"could not take {layout.start_lock} (another rank starting the "
                                             f"daemon holds it)", timeout)
            time.sleep(0.05)
        lease = _LEASES.get(str(layout.root))
        if lease is None:
            lease = open_lock(layout.ranks_lock)
            _LEASES[str(layout.root)] = lease
        # The keeper takes ranks.lock only while it holds start.lock, which is ours now: this never waits.
        fcntl.flock(lease, fcntl.LOCK_SH)
        info = layout.read_daemon_file()
        if info is not None and info.get("host") not in (None, host):
            raise _multi_node_error(f"the job's daemon runs on {info.get('host')}, this rank on {host} "
                                    f"(the state directory {layout.root} is shared)")
        started = False
        if info is None or not keeper_alive(layout):
            info = _start(layout, job_id, env, deadline, timeout)
            started = True
    finally:
        os.close(start_fd)  # releases start.lock

    daemon = LocalDaemon(layout, info["control"], info["ingest"], info["events"], int(info["daemon_pid"]),
                         int(info["keeper_pid"]), started)
    from .client import ping  # here: autowu.client imports this module
    try:
        ping(control=daemon.control, timeout=max(0.5, deadline - time.monotonic()))
    except Exception as e:  # noqa: BLE001 - WaitTimeout or a refused socket: the same advice
        raise _timeout_error(layout, f"the job's private autowud (pid {daemon.daemon_pid}, {daemon.control}) did "
                                     f"not answer a Ping ({e})", timeout) from None
    if started:
        log.info("autowu: no daemon configured (AUTOWU_ENDPOINT unset): started a private autowud (pid %d) for "
                 "job %s on %s; state in %s (a rerun under the same job id resumes)", daemon.daemon_pid, job_id,
                 daemon.control, layout.root)
    return daemon


def _start(layout: StateLayout, job_id: str, env: Mapping[str, str], deadline: float,
           timeout: float) -> dict:
    """Start a keeper (which starts autowud) and wait for its daemon.json. Called holding start.lock."""
    binary = find_binary(env)
    try:
        layout.daemon_file.unlink()  # a stale one: its keeper is gone
    except FileNotFoundError:
        pass
    grace = _seconds(env, "AUTOWU_LOCAL_GRACE_SECONDS", GRACE_SECONDS)
    retention = _seconds(env, "AUTOWU_LOCAL_RETENTION_HOURS", RETENTION_HOURS)
    package_parent = str(Path(__file__).resolve().parent.parent)
    args = [sys.executable, "-c",
            f"import sys; sys.path.insert(0, {package_parent!r}); from autowu._keeper import main; main()",
            "--state-dir", str(layout.root), "--binary", str(binary), "--job", job_id, "--grace", repr(grace),
            "--retention-hours", repr(retention), "--ready-timeout", repr(max(1.0, deadline - time.monotonic()))]
    with open(layout.keeper_log, "ab") as errors:
        keeper = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                                  close_fds=True, start_new_session=True)
    while True:
        info = layout.read_daemon_file()
        if info is not None and info.get("keeper_pid") == keeper.pid:
            _KEEPERS.append(keeper)  # reaped by subprocess when it ends; kept so it is not reported as leaked
            return info
        if keeper.poll() is not None:
            raise LocalDaemonError(
                f"autowu: the job's private autowud ({binary}) did not start (keeper exit status "
                f"{keeper.returncode}); job state in {layout.root}.\n{layout.log_tail()}")
        if time.monotonic() >= deadline:
            keeper.terminate()  # its daemon follows (parent-death signal)
            try:
                keeper.wait(10)
            except subprocess.TimeoutExpired:
                keeper.kill()
                keeper.wait()
            raise _timeout_error(layout, f"the job's private autowud ({binary}) did not become ready", timeout)
        time.sleep(0.05)


_KEEPERS: list = []


# ==================================================================== the client's hook

def resolve_environment(env: Optional[JobEnvironment], *, job_id: Optional[str] = None, rank: Optional[int] = None,
                        world_size: Optional[int] = None, endpoints_given: bool = False,
                        environ: Optional[Mapping[str, str]] = None) -> JobEnvironment:
    """The rank's ``JobEnvironment``, as ``RankClient`` uses it: ``env`` (with the overrides) if given; else
    ``from_environ``; and when no daemon is configured (no ``AUTOWU_ENDPOINT``/``AUTOWU_CONTROL``, no endpoint
    argument) the job's private daemon's endpoints, starting it if needed (a default job id if nothing names
    the job)."""
    if env is not None:
        return env.with_overrides(job_id=job_id, rank=rank, world_size=world_size)
    environ = os.environ if environ is None else environ
    if endpoints_given or daemon_configured(environ):
        return from_environ(environ, job_id=job_id, rank=rank, world_size=world_size)
    if job_id is None and job_id_from_environ(environ) is None:
        job_id = default_job_id()
    env = from_environ(environ, job_id=job_id, rank=rank, world_size=world_size)
    reason = multi_node_reason(environ, env.world_size)
    if reason is not None:
        raise _multi_node_error(reason)
    daemon = ensure(env.job_id, environ)
    return env.with_overrides(control=daemon.control, ingest=daemon.ingest, events=daemon.events)
