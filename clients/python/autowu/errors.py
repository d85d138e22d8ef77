"""Exceptions raised by the autowu client."""

from __future__ import annotations

__all__ = [
    "AutoWUError",
    "HandshakeError",
    "JobIdentityError",
    "LocalDaemonError",
    "PlanError",
    "ProtocolError",
    "WaitTimeout",
]


class AutoWUError(Exception):
    """Base class of every error this package raises."""


class HandshakeError(AutoWUError, ConnectionError):
    """The CURVE handshake with the daemon failed and none succeeded: most likely ``AUTOWU_SERVER_KEY`` is
    not the daemon's public key. Retrying cannot fix that, so it is raised within one request timeout."""


class JobIdentityError(AutoWUError, ValueError):
    """The environment does not tell which job (or which rank) this process is, or tells it wrongly."""


class PlanError(AutoWUError, ValueError):
    """A plan received from the daemon (or built by hand) breaks the rules of SPEC section 6/7."""


class ProtocolError(AutoWUError):
    """The daemon answered with an error the client must not paper over (SPEC section 8): a bug or a
    misconfiguration. ``code`` is the ``autowu.v1.ErrorCode`` number, ``code_name`` its name, ``message``
    the daemon's message."""

    def __init__(self, code: int, code_name: str, message: str) -> None:
        super().__init__(f"{code_name}: {message}" if message else code_name)
        self.code = code
        self.code_name = code_name
        self.message = message


class WaitTimeout(AutoWUError, TimeoutError):
    """The total wait bound ran out (SPEC section 8, FAIL): the daemon did not answer, or did not decide
    the epoch a gate needs, in time. Training must not go on with a guessed learning rate."""


class LocalDaemonError(AutoWUError, RuntimeError):
    """The job's private daemon (``autowu.local_daemon``: no daemon configured) cannot be used: a job on
    several nodes, no ``autowud`` binary, or the daemon did not come up. The message says what to do."""
