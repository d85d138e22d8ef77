"""CURVE handshake diagnostics: a socket monitor on a client's control DEALER, so that a server key that
does not fit is reported as such (``HandshakeError``) within one request timeout, instead of as silence
until the total wait runs out."""

from __future__ import annotations

import zmq
from zmq.utils.monitor import recv_monitor_message

from .errors import HandshakeError

__all__ = ["HandshakeWatch", "handshake_error"]

_FAILURES = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
             | zmq.EVENT_HANDSHAKE_FAILED_AUTH)


class HandshakeWatch:
    """The handshake events of one socket. Create it before ``connect`` so the first handshake is seen;
    close it before the socket's context is terminated (the monitor is a socket of that context)."""

    def __init__(self, sock: zmq.Socket) -> None:
        self._sock = sock
        self._monitor = sock.get_monitor_socket(_FAILURES | zmq.EVENT_HANDSHAKE_SUCCEEDED)
        self._failures = 0
        self._successes = 0

    def failed_without_success(self) -> bool:
        """Whether a handshake failed and none succeeded. A daemon that is down or slow fails no handshake
        (there is no connection to shake hands on), so an outage is not mistaken for a wrong key."""
        while True:
            try:
                event = recv_monitor_message(self._monitor, zmq.NOBLOCK)
            except zmq.Again:
                break
            if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._successes += 1
            elif event["event"] & _FAILURES:
                self._failures += 1
        return self._failures > 0 and self._successes == 0

    def close(self) -> None:
        if not self._sock.closed:
            self._sock.disable_monitor()
        self._monitor.close(linger=0)


def handshake_error(endpoint: str) -> HandshakeError:
    return HandshakeError(f"CURVE handshake with {endpoint} failed: wrong server key (AUTOWU_SERVER_KEY)?")
