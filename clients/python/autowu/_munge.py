"""MUNGE credentials, through libmunge.so.2 with ctypes (no build step, no dependency at install time).

MUNGE is the credential service Slurm clusters run (munged): a credential made here proves, to anyone who
trusts the same munged, the uid this process runs as. autowud binds a job registered with one to that uid
(SPEC section 3). Every credential is good for ONE message: munged refuses a replayed one, so a request
sent again (Lazy Pirate) needs a fresh one.

munged's socket is ``AUTOWU_MUNGE_SOCKET``, else libmunge's default (``/run/munge/munge.socket.2``).
"""

from __future__ import annotations

import ctypes
import os
import stat
import threading
from typing import Mapping, Optional

from .errors import AutoWUError

__all__ = ["MungeError", "encode", "job_id_for", "socket_path", "unavailable_reason", "usable"]

_MUNGE_OPT_SOCKET = 8  # munge.h, stable since MUNGE 0.5


class MungeError(AutoWUError, RuntimeError):
    """A MUNGE credential cannot be made here: libmunge is missing, or munged does not answer (the message is
    MUNGE's own)."""


_lock = threading.Lock()
_loaded: Optional[tuple] = None  # (libmunge, free)
_load_error: Optional[str] = None


def _library() -> tuple:
    global _loaded, _load_error
    with _lock:
        if _loaded is None and _load_error is None:
            try:
                lib = ctypes.CDLL("libmunge.so.2")
                libc = ctypes.CDLL(None)
                lib.munge_ctx_create.restype = ctypes.c_void_p
                lib.munge_ctx_create.argtypes = []
                lib.munge_ctx_destroy.restype = None
                lib.munge_ctx_destroy.argtypes = [ctypes.c_void_p]
                # munge_ctx_set is variadic: argtypes stay unset, each argument is passed as its C type.
                lib.munge_ctx_set.restype = ctypes.c_int
                lib.munge_ctx_get.restype = ctypes.c_int
                lib.munge_ctx_strerror.restype = ctypes.c_char_p
                lib.munge_ctx_strerror.argtypes = [ctypes.c_void_p]
                lib.munge_strerror.restype = ctypes.c_char_p
                lib.munge_strerror.argtypes = [ctypes.c_int]
                lib.munge_encode.restype = ctypes.c_int
                lib.munge_encode.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_void_p,
                                             ctypes.c_int]
                libc.free.restype = None
                libc.free.argtypes = [ctypes.c_void_p]
                _loaded = (lib, libc.free)
            except (OSError, AttributeError) as e:
                _load_error = (f"libmunge.so.2 cannot be loaded ({e}): install libmunge2 (apt) or munge-libs "
                               "(dnf), and run munged with the cluster's key")
        if _loaded is None:
            raise MungeError(_load_error)
        return _loaded


def socket_path(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """munged's socket: ``AUTOWU_MUNGE_SOCKET``, else None (libmunge's default)."""
    env = os.environ if environ is None else environ
    return env.get("AUTOWU_MUNGE_SOCKET") or None


def encode(payload: str, socket: Optional[str] = None) -> str:
    """A fresh credential carrying ``payload`` (for autowud: the request's job id). ``socket``: munged's
    (default ``socket_path()``). Raises ``MungeError`` with MUNGE's message."""
    lib, free = _library()
    if socket is None:
        socket = socket_path()
    data = payload.encode()
    ctx = lib.munge_ctx_create()
    if not ctx:
        raise MungeError("munge_ctx_create failed (out of memory)")
    try:
        if socket is not None:
            err = lib.munge_ctx_set(ctypes.c_void_p(ctx), ctypes.c_int(_MUNGE_OPT_SOCKET),
                                    ctypes.c_char_p(os.fsencode(socket)))
            if err != 0:
                raise MungeError(f"MUNGE refused the socket {socket!r}: {_message(lib, ctx, err)}")
        _refuse_fast(lib, ctx)
        credential = ctypes.c_void_p()
        err = lib.munge_encode(ctypes.byref(credential), ctx, data, len(data))
        try:
            if err != 0:
                where = socket or "libmunge's default socket"
                raise MungeError(f"MUNGE cannot make a credential (munged at {where}; set AUTOWU_MUNGE_SOCKET for "
                                 f"another): {_message(lib, ctx, err)}")
            return ctypes.string_at(credential.value).decode("ascii")
        finally:
            if credential.value:
                free(credential)
    finally:
        lib.munge_ctx_destroy(ctx)


def _refuse_fast(lib, ctx) -> None:
    """Raises at once when munged's socket does not exist: libmunge would retry for about two seconds, and
    ``auto`` callers (status, expire, a rank choosing its credentials) only try MUNGE where it answers. (A
    connect of our own would also catch a stale socket, but munged logs every connection that sends nothing.)"""
    path = ctypes.c_char_p()
    if lib.munge_ctx_get(ctypes.c_void_p(ctx), ctypes.c_int(_MUNGE_OPT_SOCKET), ctypes.byref(path)) != 0 or not path.value:
        return
    where = os.fsdecode(path.value)
    try:
        if stat.S_ISSOCK(os.stat(where).st_mode):
            return
        reason = "not a socket"
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
    raise MungeError(f"MUNGE cannot make a credential: munged's socket {where!r} is missing ({reason}); start "
                     f"munged, or set AUTOWU_MUNGE_SOCKET to its socket")


def _message(lib, ctx, err: int) -> str:
    # The context's message is the precise one ("Failed to connect to ..."); munge_strerror the generic one.
    text = lib.munge_ctx_strerror(ctx) or lib.munge_strerror(err)
    return text.decode(errors="replace") if text else f"MUNGE error {err}"


def unavailable_reason(socket: Optional[str] = None) -> Optional[str]:
    """Why no MUNGE credential can be made here (libmunge missing, munged not answering), or None if one can."""
    try:
        encode("autowu probe", socket)
    except MungeError as e:
        return str(e)
    return None


def usable(socket: Optional[str] = None) -> bool:
    """Whether a MUNGE credential can be made here now."""
    return unavailable_reason(socket) is None


def job_id_for(job_id: str, uid: Optional[int] = None) -> str:
    """The job id a MUNGE client registers: ``u<uid>:<job id>``. autowud reserves ids ``u<uid>:...`` to that
    uid, so a neighbour who knows the job's name cannot register it first and lock its ranks out. An id that
    already carries this uid's prefix (a checkpoint's, or ``AUTOWU_JOB=u1000:run``) is kept as it is."""
    prefix = f"u{os.getuid() if uid is None else uid}:"
    return job_id if job_id.startswith(prefix) else prefix + job_id
