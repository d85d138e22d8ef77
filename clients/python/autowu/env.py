"""Who this process is: the job, its rank, the daemon's endpoints, from the environment.

Precedence, highest first (``AUTOWU_*`` always wins):

============  ===========================================================================================
job id        ``AUTOWU_JOB``; ``torchrun-<TORCHELASTIC_RUN_ID>`` (a run id of ``none``, torchrun's default
              without ``--rdzv-id``, does not identify a job and is skipped); ``slurm-<SLURM_JOB_ID>``
rank          ``AUTOWU_RANK``; ``RANK`` (torchrun); ``SLURM_PROCID``; else 0 when nothing says otherwise
world size    ``AUTOWU_WORLD_SIZE``; ``WORLD_SIZE`` (torchrun); ``SLURM_NTASKS``; else 1
local rank    ``LOCAL_RANK`` (torchrun); ``SLURM_LOCALID``; else None (informational)
restarts      ``SLURM_RESTART_COUNT``; ``TORCHELASTIC_RESTART_COUNT``; else 0 (informational)
endpoints     ``AUTOWU_CONTROL`` / ``AUTOWU_INGEST`` / ``AUTOWU_EVENTS`` each; else derived from
              ``AUTOWU_ENDPOINT=tcp://HOST:PORT`` (PORT, PORT+1, PORT+2); else tcp://127.0.0.1:7740..7742
              here, but a ``RankClient`` given no endpoint (neither ``AUTOWU_ENDPOINT`` nor
              ``AUTOWU_CONTROL`` nor an argument) starts or joins the job's private daemon instead
              (``autowu.local_daemon``)
token         ``AUTOWU_TOKEN`` (empty: none)
auth          ``AUTOWU_AUTH``: ``token`` | ``munge`` | ``none`` | ``auto`` (default); see ``choose_auth``.
              munged's socket for ``munge``: ``AUTOWU_MUNGE_SOCKET`` (else libmunge's default)
CURVE         ``AUTOWU_SERVER_KEY`` (the daemon's public key, Z85, 40 characters); optionally the client's
              own pair ``AUTOWU_CLIENT_PUBLIC_KEY`` / ``AUTOWU_CLIENT_SECRET_KEY`` (else an ephemeral pair)
============  ===========================================================================================

This is the order of protocol/SPEC.md, section 2. torchrun's variables beat Slurm's because a torchrun
launched by Slurm runs one Slurm task per node and several ranks per task: there ``SLURM_PROCID`` is the
node's index. Under Slurm, ``torchrun --rdzv-id=$SLURM_JOB_ID`` keeps the job id across a requeue (a requeued
Slurm job keeps its id, and so its state on the daemon).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Mapping, Optional, Tuple

from .errors import JobIdentityError

__all__ = [
    "DEFAULT_CONTROL",
    "DEFAULT_EVENTS",
    "DEFAULT_INGEST",
    "JobEnvironment",
    "derive_endpoints",
    "endpoints_from_environ",
    "from_environ",
    "AUTH_MODES",
    "choose_auth",
    "is_valid_job_id",
    "daemon_configured",
    "job_id_from_environ",
]

DEFAULT_CONTROL = "tcp://127.0.0.1:7740"
DEFAULT_INGEST = "tcp://127.0.0.1:7741"
DEFAULT_EVENTS = "tcp://127.0.0.1:7742"

#: How a rank proves it may act on its job (SPEC section 3); "auto" is resolved by ``choose_auth``.
AUTH_MODES = ("auto", "token", "munge", "none")

_JOB_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}\Z")
_MAX_WORLD = 65536


def is_valid_job_id(job_id: str) -> bool:
    """1 to 128 characters from A-Z a-z 0-9 . _ - : (SPEC section 2)."""
    return isinstance(job_id, str) and _JOB_ID.match(job_id) is not None


@dataclass(frozen=True)
class JobEnvironment:
    """The identity of one rank of one job and where its daemon is."""

    job_id: str
    rank: int = 0
    world_size: int = 1
    local_rank: Optional[int] = None
    restart_count: int = 0
    control: str = DEFAULT_CONTROL
    ingest: str = DEFAULT_INGEST
    events: str = DEFAULT_EVENTS
    token: str = ""
    server_key: Optional[str] = None
    client_public_key: Optional[str] = field(default=None, repr=False)
    client_secret_key: Optional[str] = field(default=None, repr=False)
    #: One of AUTH_MODES (``AUTOWU_AUTH``); ``munge_socket``: munged's socket (None: libmunge's default).
    auth: str = "auto"
    munge_socket: Optional[str] = None
    #: Which variables the job id, rank and world size came from, for messages.
    sources: Tuple[str, str, str] = ("argument", "default", "default")

    def __post_init__(self) -> None:
        if not is_valid_job_id(self.job_id):
            raise JobIdentityError(
                f"job id {self.job_id!r} (from {self.sources[0]}) is not 1 to 128 characters from "
                "A-Z a-z 0-9 . _ - :")
        if not 1 <= self.world_size <= _MAX_WORLD:
            raise JobIdentityError(f"world size {self.world_size} (from {self.sources[2]}) is not in 1..{_MAX_WORLD}")
        if not 0 <= self.rank < self.world_size:
            raise JobIdentityError(
                f"rank {self.rank} (from {self.sources[1]}) is not in 0..{self.world_size - 1} "
                f"(world size from {self.sources[2]})")
        if self.server_key is not None and len(self.server_key) != 40:
            raise JobIdentityError("AUTOWU_SERVER_KEY must be the daemon's CURVE public key in Z85 (40 characters)")
        if self.auth not in AUTH_MODES:
            raise JobIdentityError(f"AUTOWU_AUTH (or auth=) is one of {', '.join(AUTH_MODES)}, not {self.auth!r}")
        if (self.client_public_key is None) != (self.client_secret_key is None):
            raise JobIdentityError("set both AUTOWU_CLIENT_PUBLIC_KEY and AUTOWU_CLIENT_SECRET_KEY, or neither")

    def with_overrides(self, **changes) -> "JobEnvironment":
        changes = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **changes) if changes else self


def derive_endpoints(endpoint: str) -> Tuple[str, str, str]:
    """``tcp://HOST:PORT`` -> (control on PORT, ingest on PORT+1, events on PORT+2)."""
    m = re.fullmatch(r"(tcp://.+):(\d{1,5})", endpoint.strip())
    if not m or not 0 < int(m.group(2)) <= 65533:
        raise JobIdentityError(f"AUTOWU_ENDPOINT must look like tcp://HOST:PORT (PORT <= 65533), got {endpoint!r}")
    base, port = m.group(1), int(m.group(2))
    return f"{base}:{port}", f"{base}:{port + 1}", f"{base}:{port + 2}"


def endpoints_from_environ(environ: Optional[Mapping[str, str]] = None) -> Tuple[str, str, str]:
    """(control, ingest, events): ``AUTOWU_CONTROL``/``AUTOWU_INGEST``/``AUTOWU_EVENTS`` each, else derived from
    ``AUTOWU_ENDPOINT``, else the loopback defaults (a specific variable wins over ``AUTOWU_ENDPOINT``)."""
    env = os.environ if environ is None else environ
    control, ingest, events = DEFAULT_CONTROL, DEFAULT_INGEST, DEFAULT_EVENTS
    if env.get("AUTOWU_ENDPOINT"):
        control, ingest, events = derive_endpoints(env["AUTOWU_ENDPOINT"])
    return (env.get("AUTOWU_CONTROL") or control, env.get("AUTOWU_INGEST") or ingest,
            env.get("AUTOWU_EVENTS") or events)


def _int(env: Mapping[str, str], name: str) -> Optional[int]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw.strip(), 10)
    except ValueError:
        raise JobIdentityError(f"{name}={raw!r} is not an integer") from None


def _first_int(env: Mapping[str, str], names: Tuple[str, ...]) -> Tuple[Optional[int], str]:
    for name in names:
        value = _int(env, name)
        if value is not None:
            return value, name
    return None, "default"


def job_id_from_environ(environ: Optional[Mapping[str, str]] = None) -> Optional[Tuple[str, str]]:
    """(job id, the variable it came from) by the precedence above, or None when no variable identifies the
    job."""
    env = os.environ if environ is None else environ
    if env.get("AUTOWU_JOB"):
        return env["AUTOWU_JOB"], "AUTOWU_JOB"
    if env.get("TORCHELASTIC_RUN_ID") and env["TORCHELASTIC_RUN_ID"] != "none":
        return f"torchrun-{env['TORCHELASTIC_RUN_ID']}", "TORCHELASTIC_RUN_ID"
    if env.get("SLURM_JOB_ID"):
        return f"slurm-{env['SLURM_JOB_ID']}", "SLURM_JOB_ID"
    return None


def daemon_configured(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether the environment names a daemon (``AUTOWU_ENDPOINT`` or ``AUTOWU_CONTROL``). Without one, a
    ``RankClient`` starts the job's private daemon (``autowu.local_daemon``)."""
    env = os.environ if environ is None else environ
    return bool(env.get("AUTOWU_ENDPOINT") or env.get("AUTOWU_CONTROL"))


def from_environ(environ: Optional[Mapping[str, str]] = None, *, job_id: Optional[str] = None,
                 rank: Optional[int] = None, world_size: Optional[int] = None) -> JobEnvironment:
    """Read the job's identity from ``environ`` (default ``os.environ``); explicit arguments win over it.

    Raises ``JobIdentityError`` (naming the variables it looked for) when nothing identifies the job, or when a
    variable is malformed."""
    env = os.environ if environ is None else environ

    # ---- job id
    job_source = "argument"
    if job_id is None:
        found = job_id_from_environ(env)
        if found is not None:
            job_id, job_source = found
        else:
            raise JobIdentityError(
                "cannot tell which job this process belongs to: looked for AUTOWU_JOB, TORCHELASTIC_RUN_ID and "
                "SLURM_JOB_ID (torchrun's run id 'none' does not count: pass --rdzv-id), and none is set. "
                "Set AUTOWU_JOB=<id> (1 to 128 of A-Z a-z 0-9 . _ - :) or pass job_id=.")

    # ---- rank and world size
    rank_source = "argument"
    if rank is None:
        rank, rank_source = _first_int(env, ("AUTOWU_RANK", "RANK", "SLURM_PROCID"))
        rank = 0 if rank is None else rank
    world_source = "argument"
    if world_size is None:
        world_size, world_source = _first_int(env, ("AUTOWU_WORLD_SIZE", "WORLD_SIZE", "SLURM_NTASKS"))
        world_size = 1 if world_size is None else world_size
    local_rank, _ = _first_int(env, ("LOCAL_RANK", "SLURM_LOCALID"))
    restarts, _ = _first_int(env, ("SLURM_RESTART_COUNT", "TORCHELASTIC_RESTART_COUNT"))

    # ---- endpoints
    control, ingest, events = endpoints_from_environ(env)

    return JobEnvironment(
        job_id=job_id, rank=rank, world_size=world_size, local_rank=local_rank,
        restart_count=0 if restarts is None else restarts,
        control=control, ingest=ingest, events=events,
        token=env.get("AUTOWU_TOKEN", ""),
        server_key=env.get("AUTOWU_SERVER_KEY") or None,
        client_public_key=env.get("AUTOWU_CLIENT_PUBLIC_KEY") or None,
        client_secret_key=env.get("AUTOWU_CLIENT_SECRET_KEY") or None,
        auth=(env.get("AUTOWU_AUTH") or "auto").strip().lower(),
        munge_socket=env.get("AUTOWU_MUNGE_SOCKET") or None,
        sources=(job_source, rank_source, world_source),
    )


def choose_auth(env: JobEnvironment, environ: Optional[Mapping[str, str]] = None, *,
                private_daemon: bool = False) -> Tuple[str, str]:
    """How this rank proves it may act on its job: ("token" | "munge" | "none", why), from ``env.auth``.

    * ``token``: the job's shared secret (``AUTOWU_TOKEN`` or ``token=``); an error if there is none.
    * ``munge``: a MUNGE credential with every Register (the job belongs to this uid, its id gets the prefix
      ``u<uid>:``, and the daemon makes the job's token); an error if MUNGE cannot make one here.
    * ``none``: neither (anonymous; only a daemon started with ``--allow-anonymous`` takes it, such as the
      job's private daemon); an error if a token is set too, since one of the two settings is a mistake.
    * ``auto`` (the default): ``token`` if a token is set; else ``munge`` under Slurm (``SLURM_JOB_ID`` set),
      when MUNGE can make a credential, unless the daemon is the job's private one; else ``none``.

    Raises ``JobIdentityError`` (bad settings) or ``autowu._munge.MungeError`` (MUNGE required, not usable)."""
    environ = os.environ if environ is None else environ
    mode = env.auth
    if mode == "token":
        if not env.token:
            raise JobIdentityError("AUTOWU_AUTH=token but no token is set: give every rank of the job the same "
                                   "AUTOWU_TOKEN (`autowu token` makes one) or pass token=")
        return "token", "AUTOWU_AUTH=token"
    if mode == "none":
        if env.token:
            raise JobIdentityError("AUTOWU_AUTH=none (anonymous) but a token is set (AUTOWU_TOKEN or token=): "
                                   "unset one of them")
        return "none", "AUTOWU_AUTH=none"
    from . import _munge  # ctypes and libmunge only when MUNGE is in question
    if mode == "munge":
        reason = _munge.unavailable_reason(env.munge_socket)
        if reason is not None:
            raise _munge.MungeError(f"AUTOWU_AUTH=munge, but {reason}")
        return "munge", "AUTOWU_AUTH=munge"
    # auto
    if env.token:
        return "token", "AUTOWU_AUTH=auto: a token is set"
    if private_daemon:
        return "none", "AUTOWU_AUTH=auto: no token, and the daemon is the job's private one"
    if not environ.get("SLURM_JOB_ID"):
        return "none", "AUTOWU_AUTH=auto: no token (AUTOWU_TOKEN) and not under Slurm (no SLURM_JOB_ID)"
    reason = _munge.unavailable_reason(env.munge_socket)
    if reason is not None:
        return "none", f"AUTOWU_AUTH=auto: no token (AUTOWU_TOKEN), and under Slurm {reason}"
    return "munge", "AUTOWU_AUTH=auto: no token, under Slurm, and MUNGE makes credentials"
