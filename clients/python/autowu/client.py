"""The rank side of the autowu protocol (protocol/SPEC.md, section 8).

A ``RankClient`` is one training rank's connection to ``autowud``::

    from autowu import RankClient

    with RankClient(steps_per_epoch=len(loader), total_steps=epochs * len(loader)) as client:
        for epoch in range(epochs):
            for batch in loader:
                lr = client.lr()          # the LR of the current step; blocks only at a gate
                set_lr(optimizer, lr)
                loss = train_step(batch)
                client.step(loss)         # reports the loss, advances the step counter

The state machine (JOIN, SNAPSHOT, RUN, WAIT, DONE, FAIL) is the spec's:

* JOIN/SNAPSHOT (in the constructor): the events SUB subscribes to ``job/<id>/`` first, then the ingest PUB
  and the control DEALER are opened and ``Register`` is sent with Lazy Pirate retries. Its reply's
  ``JobState`` is the client's state.
* RUN (``lr``/``report``/``step``): queued events are applied without blocking; the LR of a step is given
  only when the plan's gate permits the step; losses are kept in a plain list and sent as one ``LossBatch``
  when ``batch_size`` of them are unsent and always at the end of an epoch. Losses of undecided epochs are
  kept (they may have to be sent again at a gate).
* WAIT (``lr`` at a step the plan does not permit): the unsent losses go out first, then
  ``Snapshot{need_epoch=e, wait_ms=1000}`` is repeated until the gate opens (by a reply or by an event). Only
  when the daemon answers ``ERROR_INCOMPLETE`` (it lacks some of this rank's losses) is the snapshot sent
  again at once with ``pending=<own losses from e*E to t-1>``. Bounded by ``total_wait`` (default 120 s),
  after which ``WaitTimeout`` is raised (FAIL).
* Every received ``JobState`` (replies and events) replaces the held one only if it is another incarnation
  (a new job under the same id) or a higher version of the same one (SPEC section 5).
* Access (SPEC section 3): a rank proves it may act on its job with the job's token, or with a MUNGE credential
  (``AUTOWU_AUTH``, see ``autowu.env.choose_auth``). With MUNGE the job id gets the prefix ``u<uid>:``, every
  Register attempt carries a fresh credential, and the token the daemon made for the job (``Reply.job_token``)
  goes with every later message. Events of a job with a token or an owner are notices (id, version,
  incarnation only): the client fetches the state they announce with a non-waiting Snapshot.

Not thread-safe: use a client from one thread (the training loop's).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import secrets
import select
import time
from typing import Callable, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import zmq
from google.protobuf.message import DecodeError

from . import _munge
from ._proto import autowu_pb2 as pb
from .curve import HandshakeWatch, handshake_error
from .env import AUTH_MODES, JobEnvironment, choose_auth, daemon_configured, endpoints_from_environ
from .errors import AutoWUError, JobIdentityError, ProtocolError, WaitTimeout
from .local_daemon import resolve_environment
from .plan import MAX_STEPS, Plan

__all__ = ["MissingLossError", "PROTOCOL_VERSION", "RankClient", "build_spec", "daemon_request", "expire_job", "ping",
           "status", "verdict_dict", "verdict_metrics"]

log = logging.getLogger("autowu")

PROTOCOL_VERSION = 1
MAX_BATCH = 65536
MAX_WAIT_MS = 10000  # the daemon refuses a longer Snapshot.wait_ms (SPEC section 4.2)
_MAX_REQUEST_ID = (1 << 64) - 1

_ERROR_NAMES = {v: k for k, v in pb.ErrorCode.items()}
_RETRY_LATER = (pb.ERROR_INTERNAL,)
_RETURNED = (pb.ERROR_TIMEOUT, pb.ERROR_INCOMPLETE, pb.ERROR_UNKNOWN_JOB)
# What _snapshot returns besides ERROR_TIMEOUT and ERROR_INCOMPLETE (error codes are > 0).
_ANSWERED, _STOPPED, _REGISTERED = 0, -1, -2
# At a gate, how long a new client waits for the daemon's ingest subscription before its held-back losses go.
_SUBSCRIPTION_WAIT = 0.5

_WARMUP = {"exponential": pb.WARMUP_EXPONENTIAL, "linear": pb.WARMUP_LINEAR}
_DECAY = {"cosine": pb.DECAY_COSINE, "constant_cosine": pb.DECAY_CONSTANT_COSINE}
_REPORTING = {"per_rank": pb.REPORTING_PER_RANK, "rank_zero": pb.REPORTING_RANK_ZERO}
_SOLVER = {"fast": pb.SOLVER_FAST, "exact": pb.SOLVER_EXACT}
_TEST = {"robust": pb.TEST_ROBUST, "paper": pb.TEST_PAPER}
_POLICY = {"hold": pb.POLICY_HOLD, "paper": pb.POLICY_PAPER}
_HYPERPARAMETERS = tuple(f.name for f in pb.Hyperparameters.DESCRIPTOR.fields)
_PHASES = {pb.PHASE_WARMUP: "warmup", pb.PHASE_DECAY: "decay", pb.PHASE_EXPIRED: "expired"}


class MissingLossError(AutoWUError):
    """A rank did not report the loss of steps whose epoch the warmup still has to test. Without it the
    daemon would close the epoch without this rank's losses (or with none at all), and the decision would
    rest on data that is not the run's: instead of training on with a wrong learning rate, this is raised."""


def _enum(table: Mapping[str, int], value: Union[str, int], what: str) -> int:
    if isinstance(value, int):
        return value
    try:
        return table[value]
    except KeyError:
        raise ValueError(f"{what} is one of {sorted(table)}, not {value!r}") from None


def build_spec(steps_per_epoch: int, total_steps: int, world_size: int, *, warmup: Union[str, int] = "exponential",
               decay: Union[str, int] = "cosine", reporting: Union[str, int] = "per_rank",
               solver: Union[str, int] = "fast", hyperparameters: Optional[Mapping[str, float]] = None,
               decision_delay_steps: Optional[int] = None, test: Union[str, int] = "robust",
               policy: Union[str, int] = "hold", seed: Optional[int] = None) -> pb.JobSpec:
    """A ``JobSpec`` from keyword arguments. ``hyperparameters`` maps ``Hyperparameters`` field names
    (eta_min, eta_max, rho_w, n_test, confidence, patience, cosine_fraction, divergence_factor, flat_pace,
    lag_steps, steps_per_decade) to values; absent ones take their defaults on the daemon. ``test="paper", policy="paper"`` is the paper's method
    exactly; ``seed`` seeds the test's subsets (default 0). Every rank of a job must build the same spec."""
    if steps_per_epoch is None or total_steps is None:
        raise ValueError("steps_per_epoch and total_steps are required (or pass spec=)")
    spec = pb.JobSpec(steps_per_epoch=int(steps_per_epoch), total_steps=int(total_steps), world_size=int(world_size),
                      warmup=_enum(_WARMUP, warmup, "warmup"), decay=_enum(_DECAY, decay, "decay"),
                      reporting=_enum(_REPORTING, reporting, "reporting"), solver=_enum(_SOLVER, solver, "solver"),
                      test=_enum(_TEST, test, "test"), policy=_enum(_POLICY, policy, "policy"))
    if seed is not None:
        if not 0 <= int(seed) < 2 ** 64:
            raise ValueError(f"seed must lie in [0, 2^64), got {seed}")
        spec.seed = int(seed)
    if decision_delay_steps is not None:
        spec.decision_delay_steps = int(decision_delay_steps)
    for name, value in (hyperparameters or {}).items():
        if name not in _HYPERPARAMETERS:
            raise ValueError(f"unknown hyper-parameter {name!r}; known: {', '.join(_HYPERPARAMETERS)}")
        setattr(spec.hyperparameters, name, value)
    return spec


class RankClient:
    """One rank's client of ``autowud``. See the module docstring.

    Identity and endpoints come from the environment (``autowu.env``); keyword arguments override it.

    :param steps_per_epoch: E (the job's spec), unless ``spec`` is given.
    :param total_steps: T, unless ``spec`` is given.
    :param start_step: the first step this process runs (a job resumed from a checkpoint); ``lr()`` and
        ``step()`` without a step argument start there.
    :param batch_size: losses per ``LossBatch`` on the ingest socket (1..65536); a batch is also sent at
        every epoch end.
    :param total_wait: seconds a gate (or the registration) may take before ``WaitTimeout`` is raised.
    :param request_timeout: Lazy Pirate's poll timeout in seconds; a waiting snapshot's attempt polls
        ``wait_ms`` longer, since the daemon may hold it that long (SPEC section 8).
    :param wait_ms: the ``Snapshot.wait_ms`` sent at a gate.
    :param auth: how the rank proves it may act on its job: ``"token"``, ``"munge"``, ``"none"`` or ``"auto"``
        (default ``AUTOWU_AUTH``, else ``"auto"``; see ``autowu.env.choose_auth``). The choice is ``self.auth``.
        With ``"munge"`` the job id is ``u<uid>:<job id>`` (``self.job_id``; an id that already starts with
        this uid's prefix is kept), so that no other user can register it first.
    :param connect: False to build the client without opening sockets (call ``connect()`` later).
    """

    def __init__(self, steps_per_epoch: Optional[int] = None, total_steps: Optional[int] = None, *,
                 env: Optional[JobEnvironment] = None, job_id: Optional[str] = None, rank: Optional[int] = None,
                 world_size: Optional[int] = None, token: Optional[str] = None, auth: Optional[str] = None,
                 control: Optional[str] = None, ingest: Optional[str] = None, events: Optional[str] = None,
                 server_key: Optional[str] = None, spec: Optional[pb.JobSpec] = None,
                 warmup: Union[str, int] = "exponential",
                 decay: Union[str, int] = "cosine", reporting: Union[str, int] = "per_rank",
                 solver: Union[str, int] = "fast", hyperparameters: Optional[Mapping[str, float]] = None,
                 decision_delay_steps: Optional[int] = None, test: Union[str, int] = "robust",
                 policy: Union[str, int] = "hold", seed: Optional[int] = None, start_step: int = 0, batch_size: int = 32,
                 total_wait: float = 120.0, request_timeout: float = 1.5, wait_ms: int = 1000,
                 close_linger_ms: int = 2000, context: Optional[zmq.Context] = None, connect: bool = True) -> None:
        # No daemon configured: the job's private one (autowu.local_daemon), started or joined here.
        endpoints_given = (control, ingest, events) != (None, None, None)
        private_daemon = env is None and not endpoints_given and not daemon_configured()
        env = resolve_environment(env, job_id=job_id, rank=rank, world_size=world_size,
                                  endpoints_given=endpoints_given)
        self.env = env.with_overrides(token=token, control=control, ingest=ingest, events=events,
                                      server_key=server_key, auth=None if auth is None else str(auth).lower())
        #: "token", "munge" or "none": how this rank proves it may act on its job (SPEC section 3).
        self.auth, self._auth_why = choose_auth(self.env, private_daemon=private_daemon)
        if self.auth == "munge":
            # u<uid>: ids are reserved to the uid: nobody else can register this job before its ranks do.
            owned = _munge.job_id_for(self.env.job_id)
            if len(owned) > 128:
                raise JobIdentityError(f"with MUNGE the job id becomes {owned!r}, longer than 128 characters: "
                                       f"shorten the job id (from {self.env.sources[0]})")
            self.env = self.env.with_overrides(job_id=owned)
        if spec is None:
            spec = build_spec(steps_per_epoch, total_steps, self.env.world_size, warmup=warmup, decay=decay,
                              reporting=reporting, solver=solver, hyperparameters=hyperparameters,
                              decision_delay_steps=decision_delay_steps, test=test, policy=policy, seed=seed)
        if not 1 <= spec.steps_per_epoch <= MAX_STEPS or not 1 <= spec.total_steps <= MAX_STEPS:
            raise ValueError("steps_per_epoch and total_steps must lie in [1, 2^40]")
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must lie in [1, {MAX_BATCH}]")
        if not 0 < wait_ms <= MAX_WAIT_MS:
            raise ValueError(f"wait_ms must lie in (0, {MAX_WAIT_MS}]")
        if request_timeout <= 0:
            raise ValueError("request_timeout must be positive")
        if start_step < 0:
            raise ValueError("start_step must be >= 0")
        self.spec: pb.JobSpec = spec
        self.job_id: str = self.env.job_id
        self.rank: int = self.env.rank
        self.token: str = self.env.token
        self.steps_per_epoch: int = spec.steps_per_epoch
        self.total_steps: int = spec.total_steps
        self.batch_size = int(batch_size)
        self.total_wait = float(total_wait)
        self.request_timeout = float(request_timeout)
        self.wait_ms = int(wait_ms)
        self.close_linger_ms = int(close_linger_ms)
        #: Counters, for logs and tests.
        self.stats = dict(batches_sent=0, losses_sent=0, batches_dropped=0, events_applied=0, events_ignored=0,
                          events_stale=0, requests=0, retries=0, reconnects=0, snapshots=0, registers=0, waits=0,
                          wait_seconds=0.0, timeouts=0, incomplete=0, pending_sent=0, pending_losses=0,
                          incarnations=0, silent_epochs=0, notices=0, notice_fetches=0)

        self._events_topic = f"job/{self.job_id}/".encode()
        self._ingest_topic = f"loss/{self.job_id}/".encode()
        self._reports_count = not (spec.reporting == pb.REPORTING_RANK_ZERO and self.rank != 0)
        if not self._reports_count:
            # REPORTING_RANK_ZERO: only rank 0 reports (autowu.proto); the others' losses would be ignored.
            self.report = self._report_ignored  # type: ignore[method-assign]

        # The held state (SNAPSHOT); a placeholder plan that permits nothing until the first JobState.
        self.state: Optional[pb.JobState] = None
        self.version: int = 0
        self.incarnation: int = 0
        self.plan: Optional[Plan] = None
        self.expired = False
        # Incarnations this client has held and replaced: their late replies and events are not taken back.
        self._retired: set = set()
        self._permit_until: float = -1
        self._plan_lr: Callable[[int], float] = self._no_plan
        # The latest notice (incarnation, version) not fetched yet: fetched outside any request in flight.
        self._notice: Optional[Tuple[int, int]] = None
        # The token is the daemon's (Reply.job_token of a MUNGE registration), not the user's.
        self._token_from_daemon = False

        # The step counter of lr()/step() without arguments.
        self._step = int(start_step)
        # The first step this process runs (and must report): a gate checks that the rank reported something
        # of the epoch it waits for, from here on (a restarted rank did not run the steps before it).
        self._start_step = int(start_step)
        self._verdict_cache: Tuple[int, int, Optional[dict]] = (-1, -1, None)
        self._earlier_run_checked = False
        self._silence_told = -1  # the last epoch whose verdict was decided without this rank, once told
        # Kept losses: _losses[i] is the loss of step _loss_first + i (None: not reported); the first _sent
        # of them went out on the ingest socket; _next is the step expected next.
        self._losses: List[Optional[float]] = []
        self._loss_first = int(start_step)
        self._sent = 0
        self._next = int(start_step)
        self._flush_at = 0
        self._update_flush_at()

        # Request ids are non-zero (0 marks a reply to a request the daemon could not read, SPEC section 2);
        # a random start keeps the ids of different clients (and of a restarted rank) apart.
        self._request_id = secrets.randbelow(1 << 62) + 1
        self._own_context = context is None
        self._ctx: Optional[zmq.Context] = context
        self._sub: Optional[zmq.Socket] = None
        self._pub: Optional[zmq.Socket] = None
        self._dealer: Optional[zmq.Socket] = None
        self._poller: Optional[zmq.Poller] = None
        self._events_ready: Callable[[], int] = lambda: 0
        self._curve: Optional[Tuple[bytes, bytes, bytes]] = None
        self._handshakes: Optional[HandshakeWatch] = None
        self._ingest_ready = False
        self._closed = False
        if connect:
            self.connect()

    # ================================================================ JOIN / SNAPSHOT

    def connect(self) -> "RankClient":
        """JOIN and SNAPSHOT: subscribe to the job's events first, open ingest and control, register."""
        if self._sub is not None:
            return self
        if self._ctx is None:
            self._ctx = zmq.Context()
        if self.env.server_key:
            if not zmq.has("curve"):
                raise AutoWUError("AUTOWU_SERVER_KEY is set but this libzmq has no CURVE support")
            if self.env.client_public_key:
                public, secret = self.env.client_public_key.encode(), self.env.client_secret_key.encode()
            else:
                public, secret = zmq.curve_keypair()
            self._curve = (self.env.server_key.encode(), public, secret)
        try:
            self._sub = self._socket(zmq.SUB, self.env.events)
            self._sub.setsockopt(zmq.SUBSCRIBE, self._events_topic)
            self._events_ready = self._make_events_check(self._sub)
            # An XPUB is a PUB on the wire that also hears the daemon's subscription: losses are held back
            # until it has arrived instead of being dropped by the slow-joiner effect (section 1).
            self._pub = self._socket(zmq.XPUB, self.env.ingest, linger=self.close_linger_ms)
            self._ingest_ready = False
            self._open_dealer()
            self._register(time.monotonic() + self.total_wait)
            self._fetch_noticed()
        except BaseException:
            self._close_sockets(linger_pub=0)
            raise
        return self

    def _tell_earlier_run(self) -> None:
        """A job named by default (``local-<script>-<hash>``, autowu.local_daemon) whose rank sends the loss of
        step 0 while the job had already trained on: most likely a new run of the same script, which would
        follow the earlier run's warmup decision. Said loudly, with what to do. Checked at the first flush (a
        run resumed from its checkpoint sends from its own step on, not from 0)."""
        self._earlier_run_checked = True
        if self._loss_first + self._sent != 0 or self.state is None or not self.job_id.startswith("local-"):
            return
        seen = int(self.state.steps_seen)
        if seen == 0:
            return
        decided = self.state.HasField("decision") and bool(self.state.decision.reason)
        what = (f"its warmup ended at step {self.state.decision.step} (LR {self.state.decision.learning_rate:.6g})"
                if decided else "its warmup is under way")
        log.warning("autowu: job %s (the default name for this script in this directory) already ran %d steps and "
                    "%s; this run starts at step 0 and continues that job. For a new run set AUTOWU_JOB to a new "
                    "name (or remove its state directory, see autowu.local_daemon); to resume, load the run's "
                    "checkpoint (AutoWULR.load_state_dict).", self.job_id, seen, what)

    def _socket(self, kind: int, endpoint: str, linger: int = 0, watch_handshakes: bool = False) -> zmq.Socket:
        sock = self._ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, linger)
        if "[" in endpoint:
            sock.setsockopt(zmq.IPV6, 1)
        if self._curve is not None:
            server, public, secret = self._curve
            sock.setsockopt(zmq.CURVE_SERVERKEY, server)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
            sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
            if watch_handshakes:
                self._handshakes = HandshakeWatch(sock)
        sock.connect(endpoint)
        return sock

    @staticmethod
    def _make_events_check(sub: zmq.Socket) -> Callable[[], object]:
        """A cheap "may an event be queued?" test for every step. libzmq's ZMQ_FD turns readable whenever the
        socket's state may have changed (edge-triggered) and is reset by ``_drain_events`` (which receives until
        EAGAIN); polling it (~0.7 us) is cheaper than ``getsockopt(ZMQ_EVENTS)`` (1.5-3 us)."""
        if hasattr(select, "poll"):
            fd_poll = select.poll()
            fd_poll.register(sub.getsockopt(zmq.FD), select.POLLIN)
            return functools.partial(fd_poll.poll, 0)
        getsockopt, EVENTS, POLLIN = sub.getsockopt, zmq.EVENTS, zmq.POLLIN
        return lambda: getsockopt(EVENTS) & POLLIN

    def _open_dealer(self) -> None:
        self._dealer = self._socket(zmq.DEALER, self.env.control, watch_handshakes=True)
        self._poller = zmq.Poller()
        self._poller.register(self._dealer, zmq.POLLIN)
        self._poller.register(self._sub, zmq.POLLIN)

    def _reopen_dealer(self) -> None:
        """Lazy Pirate: close the DEALER (linger 0) and open a new one."""
        self._poller.unregister(self._dealer)
        self._close_handshakes()
        self._dealer.close(linger=0)
        self.stats["reconnects"] += 1
        self._open_dealer()

    def _register(self, deadline: float) -> None:
        # A token the daemon made is asked for again, not shown: after a new incarnation it is another one, and
        # the daemon refuses a Register whose token is not the job's.
        token = "" if self._token_from_daemon else self.token
        body = pb.Register(job_id=self.job_id, token=token, rank=self.rank, spec=self.spec)
        self.stats["registers"] += 1
        try:
            reply = self._call("register", body, deadline, fresh=self._credential_for(self.job_id))
        except ProtocolError as e:
            if e.code != pb.ERROR_UNAUTHORIZED:
                raise
            # The daemon's message says what to do: verbatim, then what this rank sent and why.
            raise ProtocolError(e.code, e.code_name, f"{e.message} [autowu: rank {self.rank} of job {self.job_id} "
                                f"at {self.env.control} sent {self._auth_sent()}]") from None
        if reply.WhichOneof("body") != "job":
            raise self._unexpected(reply, "Register")
        if reply.job_token and reply.job_token != self.token:
            # The job's token (made by the daemon for a MUNGE job, a new one per incarnation): the losses and
            # snapshots carry no credential, only it.
            if self.token and not self._token_from_daemon:
                log.warning("autowu: job %s has another token than this rank's (AUTOWU_TOKEN): using the job's, "
                            "which the daemon gave to this rank's MUNGE credential", self.job_id)
            self.token = reply.job_token
            self._token_from_daemon = True
        elif self.auth == "munge" and not self.token:
            self._check_tokenless(deadline)
        self._offer_state(reply.job)

    def _credential_for(self, payload: str) -> Optional[Callable[[], str]]:
        """With MUNGE: what makes a fresh credential for ``payload`` at each send (munged refuses a replayed
        one, so Lazy Pirate's resend needs its own)."""
        if self.auth != "munge":
            return None
        socket = self.env.munge_socket
        return lambda: _munge.encode(payload, socket)

    def _auth_sent(self) -> str:
        if self.auth == "munge":
            token = " and the job's token" if self._token_from_daemon else " and a token" if self.token else ""
            what = f"a MUNGE credential of uid {os.getuid()}{token}"
        elif self.auth == "token":
            what = "a token and no MUNGE credential"
        else:
            what = "no token and no MUNGE credential"
        return f"{what} ({self._auth_why})"

    def _check_tokenless(self, deadline: float) -> None:
        """Registered with MUNGE, yet the daemon gave no token: the job is anonymous, or its token is one its
        other ranks brought (AUTOWU_TOKEN). In the second case this rank's losses would be dropped and its
        snapshots refused: one non-waiting Snapshot without a token tells, and the error says so now."""
        body = pb.Snapshot(job_id=self.job_id, rank=self.rank, need_epoch=-1)
        try:
            self._call("snapshot", body, deadline)
        except ProtocolError as e:
            if e.code != pb.ERROR_UNAUTHORIZED:
                raise
            raise ProtocolError(e.code, e.code_name,
                                f"job {self.job_id} was registered with a token of its ranks' own (AUTOWU_TOKEN), and "
                                f"this rank has none: give every rank the same AUTOWU_TOKEN, or none at all with "
                                f"MUNGE ({e.message})") from None

    # ================================================================ RUN

    @property
    def current_step(self) -> int:
        """The step ``lr()``/``step()`` without arguments refer to."""
        return self._step

    @current_step.setter
    def current_step(self, step: int) -> None:
        if step < 0:
            raise ValueError("steps are >= 0")
        self._step = int(step)

    def resume(self, step: int) -> None:
        """This process continues the job at ``step`` (a checkpoint's): the current step becomes ``step``, and
        the steps before it are not this process's to report (``start_step`` of the constructor, later)."""
        if step < 0:
            raise ValueError("steps are >= 0")
        self._step = self._start_step = int(step)

    @property
    def last_verdict(self) -> Optional[dict]:
        """The latest test and decision as a plain dict (``verdict_dict``), None before the first verdict.
        Recomputed only when the held state changes."""
        state = self.state
        if state is None:
            return None
        version, incarnation, cached = self._verdict_cache
        if version == self.version and incarnation == self.incarnation:
            return cached
        verdict = verdict_dict(state)
        self._verdict_cache = (self.version, self.incarnation, verdict)
        return verdict

    def lr(self, step: Optional[int] = None) -> float:
        """The LR of ``step`` (default: the current step). Applies queued events first; blocks (WAIT) when the
        plan's gate does not permit the step, and raises ``WaitTimeout`` when the total wait runs out."""
        if step is None:
            step = self._step
        if self._events_ready():
            self._take_events()
        if step < self._permit_until:
            return self._plan_lr(step)
        return self._lr_slow(step)

    def permitted_lr(self, step: int) -> Optional[float]:
        """The LR of ``step`` if the held plan permits it (after applying queued events), else None. Never
        blocks: ``lr(step)`` then waits at the gate."""
        if self._events_ready():
            self._take_events()
        if step < self._permit_until:
            return self._plan_lr(step)
        return None

    def permits(self, step: Optional[int] = None) -> bool:
        """Whether the held plan permits ``step`` now (after applying queued events); never blocks."""
        if step is None:
            step = self._step
        if self._events_ready():
            self._take_events()
        return step < self._permit_until

    def report(self, step: int, loss: float) -> None:
        """Report this rank's training loss of ``step``. NaN and infinities are legal. Steps should come in
        order; a step reported again is ignored (the daemon keeps the first value), a skipped step is simply
        missing."""
        if step == self._next:
            self._losses.append(float(loss))
            self._next = step = step + 1
            if step >= self._flush_at:
                self._flush()
            return
        self._report_out_of_order(step, loss)

    def report_many(self, first_step: int, losses: Iterable[float]) -> None:
        """``report`` for the consecutive steps ``first_step, first_step + 1, ...``."""
        step = first_step
        for loss in losses:
            self.report(step, loss)
            step += 1

    def step(self, loss: Optional[float] = None) -> None:
        """Report ``loss`` for the current step (unless None) and advance the step counter."""
        if loss is not None:
            self.report(self._step, loss)
        self._step += 1

    def flush(self) -> None:
        """Send every unsent loss now."""
        if self._sent < len(self._losses):
            self._flush()

    def restore_losses(self, first_step: int, losses: Sequence[Optional[float]]) -> None:
        """Replace the kept losses by ``losses`` of steps ``first_step, ...`` (e.g. from a checkpoint), to be
        sent again and kept for the gates; the next expected report is ``first_step + len(losses)``."""
        self._earlier_run_checked = True  # a resumed run, not a new one
        self._losses = [None if x is None else float(x) for x in losses]
        self._loss_first = int(first_step)
        self._next = self._loss_first + len(self._losses)
        self._sent = 0
        self._update_flush_at()
        self._flush()

    def kept_losses(self) -> Tuple[int, List[Optional[float]]]:
        """(first step, losses) this rank keeps for epochs not yet decided (for checkpoints)."""
        return self._loss_first, list(self._losses)

    # ---------------------------------------------------------------- reporting internals

    def _report_ignored(self, step: int, loss: float) -> None:
        pass

    def _report_out_of_order(self, step: int, loss: float) -> None:
        if step < self._next:
            return  # reported already (or skipped and now too late): the daemon keeps the first value
        if self._sent < len(self._losses):
            self._flush()
        gap = step - self._next
        if gap > self.steps_per_epoch + self.decision_delay_steps + self.batch_size:
            self._losses, self._loss_first, self._sent = [], step, 0
        else:
            self._losses.extend([None] * gap)
            self._sent = len(self._losses)
        self._next = step
        self._update_flush_at()
        self.report(step, loss)

    @property
    def decision_delay_steps(self) -> int:
        if self.plan is not None:
            return self.plan.decision_delay_steps
        return self.spec.decision_delay_steps if self.spec.HasField("decision_delay_steps") else 1

    def _update_flush_at(self) -> None:
        u = self._loss_first + self._sent  # the first unsent step
        E = self.steps_per_epoch
        self._flush_at = min(u + self.batch_size, (u // E + 1) * E)

    def _flush(self, force: bool = False) -> None:
        """Send the unsent losses, then drop the kept losses of decided epochs."""
        if not self._earlier_run_checked:
            self._tell_earlier_run()
        if not force and not self._ingest_ready and not self._ingest_subscribed():
            unsent = len(self._losses) - self._sent
            if unsent < self.steps_per_epoch + self.decision_delay_steps + self.batch_size:
                # Nobody listens yet: hold the losses back (they go with the next flush or a gate's Snapshot).
                self._flush_at = self._next + 1
                return
        first = self._loss_first
        for start, values in _runs(self._losses, self._sent, len(self._losses), first):
            self._publish(start, values)
        self._sent = len(self._losses)
        self._trim()
        self._update_flush_at()

    def _trim(self) -> None:
        plan = self.plan
        if plan is None:
            return
        keep_from = self._next if plan.final else (plan.decided_through_epoch + 1) * plan.steps_per_epoch
        k = min(keep_from - self._loss_first, self._sent)
        if k > 0:
            del self._losses[:k]
            self._loss_first += k
            self._sent -= k

    def _await_ingest_subscription(self, until: float) -> None:
        while not self._ingest_subscribed():
            remaining = until - time.monotonic()
            if remaining <= 0 or self._pub is None:
                return
            self._pub.poll(max(1, int(remaining * 1000)), zmq.POLLIN)

    def _mark_sent(self, first_step: int, end_step: int) -> None:
        """The daemon holds this rank's losses of steps ``first_step`` .. ``end_step`` - 1 (a snapshot's pending
        was merged): if the unsent ones all lie there, they need not go out on the ingest socket too."""
        unsent_from = self._loss_first + self._sent
        if first_step <= unsent_from < end_step and self._loss_first + len(self._losses) <= end_step:
            self._sent = len(self._losses)
            self._update_flush_at()

    def _ingest_subscribed(self) -> bool:
        """Whether the daemon's ingest SUB has subscribed to this client's XPUB (non-blocking)."""
        pub = self._pub
        if pub is None:
            return False
        while True:
            try:
                msg = pub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return self._ingest_ready
            if msg[:1] == b"\x01":
                self._ingest_ready = True

    def _publish(self, first_step: int, values: List[float]) -> None:
        if self._pub is None:
            return
        data = self._batch(first_step, values).SerializeToString()
        try:
            self._pub.send_multipart([self._ingest_topic, data], flags=zmq.NOBLOCK)
        except zmq.Again:
            self.stats["batches_dropped"] += 1
            return
        self.stats["batches_sent"] += 1
        self.stats["losses_sent"] += len(values)

    def _batch(self, first_step: int, values: List[float]) -> pb.LossBatch:
        return pb.LossBatch(protocol_version=PROTOCOL_VERSION, job_id=self.job_id, token=self.token,
                            rank=self.rank, first_step=first_step, losses=values)

    def _pending(self, epoch: int, step: int) -> List[pb.LossBatch]:
        """Own losses from step epoch*E to step-1, as loss batches of consecutive steps."""
        if not self._reports_count:
            return []
        lo = max(epoch * self.steps_per_epoch, self._loss_first)
        hi = min(step, self._next)
        first = self._loss_first
        return [self._batch(s, v) for s, v in _runs(self._losses, lo - first, hi - first, first)]

    # ---------------------------------------------------------------- events

    def _take_events(self) -> None:
        """Apply the queued events, then fetch the state a notice announced (no request is in flight here)."""
        self._drain_events()
        if self._notice is not None:
            self._fetch_noticed()

    def _drain_events(self) -> None:
        sub = self._sub
        while True:
            try:
                frames = sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._on_event(frames)

    def _on_event(self, frames: List[bytes]) -> None:
        if len(frames) != 2 or frames[0] != self._events_topic:
            self.stats["events_ignored"] += 1
            return
        try:
            event = pb.Event.FromString(frames[1])
        except DecodeError:
            self.stats["events_ignored"] += 1
            log.warning("autowu: ignored an event that does not parse")
            return
        if event.protocol_version != PROTOCOL_VERSION or event.job.job_id != self.job_id:
            self.stats["events_ignored"] += 1
            return
        if event.kind == pb.EVENT_NOTICE:
            # A job with a token or an owner: the event says only that the state changed (anyone who can
            # connect reads events). Its empty JobState is never a plan: the state is fetched, with the token.
            self.stats["notices"] += 1
            if self._is_news(event.job.incarnation, event.job.version):
                held = self._notice
                if held is None or self._is_news(event.job.incarnation, event.job.version, than=held):
                    self._notice = (event.job.incarnation, event.job.version)
            return
        if event.kind == pb.EVENT_JOB_EXPIRED:
            # The job was removed. Keep the plan: it stays valid for the steps it permits; the next gate's
            # Snapshot gets ERROR_UNKNOWN_JOB (SPEC sections 5 and 8). Another incarnation's expiry is not ours.
            if self._same_incarnation(event.job.incarnation):
                self.expired = True
                self.stats["events_applied"] += 1
            else:
                self.stats["events_stale"] += 1
            return
        # A plan that does not parse raises (SPEC section 8): the client must not go on with a guess.
        if self._offer_state(event.job):
            self.stats["events_applied"] += 1
        else:
            self.stats["events_stale"] += 1

    def _is_news(self, incarnation: int, version: int, than: Optional[Tuple[int, int]] = None) -> bool:
        """Whether a state (incarnation, version) would replace the held one (or ``than``), as ``_offer_state``
        decides."""
        held_incarnation, held_version = (self.incarnation, self.version) if than is None else than
        if than is None and self.state is None:
            return True
        if incarnation == held_incarnation or incarnation == 0 or held_incarnation == 0:
            return version > held_version
        return incarnation not in self._retired

    def _fetch_noticed(self) -> None:
        """Snapshot{need_epoch=-1} for the state notices announced, while one is still news (a reply or an
        earlier fetch may have brought it already); applied by the rules of any reply."""
        while self._notice is not None:
            (incarnation, version), self._notice = self._notice, None
            if self._is_news(incarnation, version):
                self._fetch_state(incarnation)

    def _fetch_state(self, incarnation: int) -> None:
        body = pb.Snapshot(job_id=self.job_id, token=self.token, rank=self.rank, need_epoch=-1)
        self.stats["notice_fetches"] += 1
        deadline = time.monotonic() + self.total_wait
        try:
            reply = self._call("snapshot", body, deadline)
        except ProtocolError as e:
            if not self._relearn_token(e, deadline):
                raise
            return
        which = reply.WhichOneof("body")
        if which == "job":
            self._offer_state(reply.job)
            return
        if which == "error" and reply.error.code == pb.ERROR_UNKNOWN_JOB:
            # The notice was the job's removal: as EVENT_JOB_EXPIRED, keep the plan for the steps it permits;
            # the next gate's snapshot decides what follows (SPEC sections 5 and 8).
            if self._same_incarnation(incarnation):
                self.expired = True
            return
        raise self._unexpected(reply, "Snapshot")

    # ---------------------------------------------------------------- state

    def _same_incarnation(self, incarnation: int) -> bool:
        """Whether ``incarnation`` is the held job's (0, unset, matches anything: versions decide alone)."""
        return incarnation == self.incarnation or incarnation == 0 or self.incarnation == 0

    def _offer_state(self, job: pb.JobState) -> bool:
        """SPEC section 5: take ``job`` when it is another incarnation than the held one (a new job under the
        same id) or a higher version of the same one; otherwise keep the held state (a reply can be older
        than an event already applied). Incarnations replaced before are never taken back (their late
        messages would undo the replacement). Returns whether ``job`` was taken."""
        if self.state is not None:
            if self._same_incarnation(job.incarnation):
                if job.version <= self.version:
                    return False
            elif job.incarnation in self._retired:
                return False
        self._apply_state(job)
        return True

    def _apply_state(self, job: pb.JobState) -> None:
        plan = Plan.from_proto(job.plan)  # raises PlanError before anything is replaced
        if self.state is not None and job.incarnation and self.incarnation and job.incarnation != self.incarnation:
            self._retired.add(self.incarnation)
            self.stats["incarnations"] += 1
            log.warning("autowu: job %s is another incarnation now (%d, was %d): taking its state",
                        self.job_id, job.incarnation, self.incarnation)
        self.state = job
        self.version = job.version
        if job.incarnation:
            self.incarnation = job.incarnation
        self.plan = plan
        self.expired = job.phase == pb.PHASE_EXPIRED
        self._plan_lr = plan.lr
        self._permit_until = plan.permit_limit
        self._tell_silence(job)

    def _tell_silence(self, job: pb.JobState) -> None:
        """A verdict decided without any loss of this rank (SPEC section 9) is said once, loudly: the rank's
        reports were lost on the way (it did send them, or ``_check_reported`` would have raised)."""
        if not self._reports_count or not job.HasField("last_verdict"):
            return
        v = job.last_verdict
        if v.epoch <= self._silence_told or self.rank not in v.silent_ranks:
            return
        self._silence_told = int(v.epoch)
        self.stats["silent_epochs"] += 1
        log.warning("autowu: the daemon closed epoch %d of job %s without any loss from rank %d (%d of %d ranks "
                    "silent): it was decided on the other ranks' losses. This rank's reports did not reach %s in "
                    "time: check the network path to the daemon's ingest socket and the daemon's log.",
                    v.epoch, self.job_id, self.rank, v.silent_rank_count, self.env.world_size, self.env.ingest)

    @staticmethod
    def _no_plan(step: int) -> float:
        raise AutoWUError("the client holds no plan: call connect() first")

    # ================================================================ WAIT

    def _lr_slow(self, step: int) -> float:
        if step < 0:
            raise ValueError(f"steps are >= 0, got {step}")
        if self._closed:
            raise AutoWUError("the client is closed")
        if self._sub is None:
            raise AutoWUError("the client is not connected: call connect() first")
        self._wait_for(step)
        if self._notice is not None:
            self._fetch_noticed()
        return self._plan_lr(step)

    def _wait_for(self, step: int) -> None:
        """WAIT (SPEC section 8): send the unsent losses, then Snapshot{need_epoch=required(t), wait_ms} until
        the plan permits ``step``; after an ERROR_INCOMPLETE the snapshot is sent again at once with
        ``pending`` = this rank's losses from e*E to t-1."""
        started = time.monotonic()
        deadline = started + self.total_wait
        self.stats["waits"] += 1
        gate_open = lambda: step < self._permit_until  # noqa: E731
        epoch = self.plan.required_epoch(step)
        self._check_reported(epoch, step)
        try:
            # First the unsent losses (they usually arrive in time: no resend). A new client may still be
            # holding them back until the daemon's ingest subscription shows up: wait for it briefly.
            if self._sent < len(self._losses) and not self._ingest_ready and self._reports_count:
                self._await_ingest_subscription(min(deadline, time.monotonic() + _SUBSCRIPTION_WAIT))
            self.flush()
            with_pending = False
            while not gate_open():
                epoch = self.plan.required_epoch(step)
                pending = None
                if with_pending:
                    batches = self._pending(epoch, step)
                    # Losses that do not fit one consecutive batch (a step never reported): the earlier runs
                    # go first, reliably, as Snapshot{need_epoch=-1, pending}; the last rides with the wait.
                    for extra in batches[:-1]:
                        self._snapshot(-1, extra, deadline, gate_open, waiting_for=epoch)
                        if gate_open():
                            return
                    # Nothing of its own left (a restarted rank without its checkpointed losses): an empty
                    # batch still tells the daemon "this is all I have", so it waits (and closes the epoch
                    # after its close timeout) instead of asking again every 20 ms.
                    pending = batches[-1] if batches else self._batch(epoch * self.steps_per_epoch, [])
                    self.stats["pending_sent"] += 1
                    self.stats["pending_losses"] += sum(len(b.losses) for b in batches)
                outcome = self._snapshot(epoch, pending, deadline, gate_open)
                if pending is not None and len(pending.losses) and outcome in (_ANSWERED, pb.ERROR_TIMEOUT):
                    self._mark_sent(epoch * self.steps_per_epoch, pending.first_step + len(pending.losses))
                with_pending = outcome == pb.ERROR_INCOMPLETE and self._reports_count
        except WaitTimeout as e:
            raise WaitTimeout(
                f"autowu: step {step} needs the verdict of epoch {epoch} of job {self.job_id}, and the daemon "
                f"({self.env.control}) did not provide it within the total wait of {self.total_wait:g} s "
                f"(held: version {self.version}, decided_through_epoch {self.plan.decided_through_epoch}). "
                f"Training must not go on with a guessed learning rate. ({e})") from None
        finally:
            self.stats["wait_seconds"] += time.monotonic() - started

    def _check_reported(self, epoch: int, step: int) -> None:
        """Before asking for the verdict of ``epoch``: this rank ran steps of it (from its first step on) and
        must have reported at least one of them, or the epoch would close without it (after the daemon's
        close timeout, as if the rank were gone) and be decided on the other ranks' losses alone, or on
        nothing. Raises ``MissingLossError``; nothing to check for ranks whose losses do not count."""
        if not self._reports_count or epoch < 0:
            return
        E = self.steps_per_epoch
        lo, hi = max(epoch * E, self._start_step), min((epoch + 1) * E, step)
        if lo >= hi:
            return  # this process did not run any step of the epoch (restarted after it)
        first = self._loss_first
        kept = self._losses[max(lo - first, 0):max(hi - first, 0)]
        if any(x is not None for x in kept):
            return
        raise MissingLossError(
            f"autowu: rank {self.rank} of job {self.job_id} reached step {step}, which needs the verdict of "
            f"epoch {epoch} (steps {epoch * E}..{(epoch + 1) * E - 1}), without having reported the loss of any "
            f"of its steps {lo}..{hi - 1}. The warmup decides from the training loss: report it every step "
            f"(RankClient.step(loss) / report(step, loss); AutoWULR.step(loss)), or use the framework "
            f"integration (autowu.lightning.AutoWUCallback, autowu.transformers.AutoWUCallback), which does. "
            f"A step without a loss can be reported as float('nan').")

    def _snapshot(self, need_epoch: int, pending: Optional[pb.LossBatch], deadline: float,
                  stop: Optional[Callable[[], bool]] = None, waiting_for: Optional[int] = None) -> int:
        """One Snapshot and its reply's state. Returns _ANSWERED (a state), _STOPPED (an event opened the
        gate meanwhile), _REGISTERED (ERROR_UNKNOWN_JOB, registered again), ERROR_TIMEOUT or ERROR_INCOMPLETE;
        raises on the other errors. ``waiting_for`` is the epoch the rank waits for (default ``need_epoch``):
        ERROR_UNKNOWN_JOB re-registers only while that is epoch 0."""
        body = pb.Snapshot(job_id=self.job_id, token=self.token, rank=self.rank, need_epoch=need_epoch,
                           wait_ms=self.wait_ms if need_epoch >= 0 else 0)
        if pending is not None:
            body.pending.CopyFrom(pending)
        self.stats["snapshots"] += 1
        try:
            reply = self._call("snapshot", body, deadline, stop)
        except ProtocolError as e:
            if not self._relearn_token(e, deadline):
                raise
            return _REGISTERED
        if reply is None:  # an event opened the gate meanwhile
            return _STOPPED
        which = reply.WhichOneof("body")
        if which == "job":
            self._offer_state(reply.job)
            return _ANSWERED
        if which == "error":
            code = reply.error.code
            if code in (pb.ERROR_TIMEOUT, pb.ERROR_INCOMPLETE):
                # "not yet" / "send your losses": both carry the job's current state
                self.stats["timeouts" if code == pb.ERROR_TIMEOUT else "incomplete"] += 1
                if reply.error.HasField("job"):
                    self._offer_state(reply.error.job)
                return code
            if code == pb.ERROR_UNKNOWN_JOB:
                self._unknown_job(need_epoch if waiting_for is None else waiting_for, reply.error.message, deadline)
                return _REGISTERED
        raise self._unexpected(reply, "Snapshot")

    def _relearn_token(self, error: ProtocolError, deadline: float) -> bool:
        """ERROR_UNAUTHORIZED with a token the daemon made: the job is another incarnation now (expired and
        registered again), whose token is another. A Register with a fresh MUNGE credential gets the job's
        current token and state. Returns whether it did (False: the error stands)."""
        if error.code != pb.ERROR_UNAUTHORIZED or self.auth != "munge" or not self._token_from_daemon:
            return False
        held = self.token
        log.warning("autowu: the daemon refused job %s's token (%s): registering again with MUNGE for the "
                    "job's current token", self.job_id, error.message)
        self._register(deadline)
        return self.token != held

    def _unknown_job(self, epoch: int, message: str, deadline: float) -> None:
        """ERROR_UNKNOWN_JOB on a snapshot: the daemon expired or lost the job (SPEC section 8). Waiting for
        epoch 0 (or for nothing), a new registration loses nothing: register, take its state, repeat. Later,
        the new job would need the losses of decided epochs, which no rank keeps: the warmup cannot go on
        consistently, so raise."""
        if epoch <= 0:
            log.warning("autowu: the daemon does not know job %s (%s): registering it again", self.job_id, message)
            self._register(deadline)
            return
        raise ProtocolError(
            pb.ERROR_UNKNOWN_JOB, "ERROR_UNKNOWN_JOB",
            f"the daemon ({self.env.control}) no longer knows job {self.job_id} ({message}) while this rank waits "
            f"for the verdict of epoch {epoch}: a job registered again would need the losses of the epochs "
            f"decided before, which the ranks no longer keep, so the warmup cannot go on consistently")

    # ================================================================ control requests (Lazy Pirate)

    def _next_request_id(self) -> int:
        rid = self._request_id
        self._request_id = 1 if rid >= _MAX_REQUEST_ID else rid + 1  # never 0
        return rid

    def _call(self, which: str, body, deadline: float, stop: Optional[Callable[[], bool]] = None,
              fresh: Optional[Callable[[], str]] = None) -> Optional[pb.Reply]:
        """One control request with the error policy of SPEC section 8: ERROR_INTERNAL is retried with
        back-off; ERROR_TIMEOUT, ERROR_INCOMPLETE and ERROR_UNKNOWN_JOB are returned to the caller; every other
        error raises ``ProtocolError``. Returns None if ``stop()`` became true while waiting. ``fresh``: makes
        the ``munge_credential`` of each send."""
        backoff = 0.05
        while True:
            reply = self._request(which, body, deadline, stop, fresh)
            if reply is None or reply.WhichOneof("body") != "error":
                return reply
            code = reply.error.code
            if code in _RETURNED:
                return reply
            if code in _RETRY_LATER:
                pause = min(backoff, deadline - time.monotonic())
                if pause <= 0:
                    raise WaitTimeout(f"autowu: the daemon kept failing ({_describe(reply.error)}) for "
                                      f"{self.total_wait:g} s")
                log.warning("autowu: %s; retrying in %.2f s", _describe(reply.error), pause)
                time.sleep(pause)
                backoff = min(backoff * 2, 2.0)
                continue
            raise ProtocolError(code, _ERROR_NAMES.get(code, f"ERROR_{code}"), reply.error.message)

    def _request(self, which: str, body, deadline: float, stop: Optional[Callable[[], bool]] = None,
                 fresh: Optional[Callable[[], str]] = None) -> Optional[pb.Reply]:
        """Lazy Pirate: send, poll up to request_timeout, on silence close and reopen the DEALER and send the
        same request (same request_id) again, until ``deadline``; with ``fresh``, each send carries a new MUNGE
        credential (munged refuses a replayed one). Events are applied while polling (notices are only noted:
        their fetch would be a request inside this one)."""
        if self._dealer is None:
            raise AutoWUError("the client is not connected")
        request = pb.Request(protocol_version=PROTOCOL_VERSION, request_id=self._next_request_id())
        getattr(request, which).CopyFrom(body)
        data = request.SerializeToString()
        self.stats["requests"] += 1
        # The daemon may hold a waiting snapshot wait_ms before it answers: never retry before that (SPEC section 8).
        window = self.request_timeout + (body.wait_ms / 1000.0 if which == "snapshot" else 0.0)
        first = True
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise WaitTimeout(
                    f"autowu: no answer to {which} (job {self.job_id}) from {self.env.control} within the total "
                    f"wait of {self.total_wait:g} s; refusing to guess the learning rate")
            if not first:
                self.stats["retries"] += 1
            first = False
            if fresh is not None:
                body.munge_credential = fresh()
                getattr(request, which).CopyFrom(body)
                data = request.SerializeToString()
            try:
                self._dealer.send_multipart([b"", data], flags=zmq.NOBLOCK)
            except zmq.Again:
                pass  # no connection yet and the queue is full: handled like a lost request
            window_end = min(now + window, deadline)
            while True:
                remaining = window_end - time.monotonic()
                if remaining <= 0:
                    break
                ready = dict(self._poller.poll(max(1, int(math.ceil(remaining * 1000)))))
                if self._sub in ready:
                    self._drain_events()
                if stop is not None and stop():
                    return None
                if self._dealer in ready:
                    reply = self._read_reply(request.request_id)
                    if reply is not None:
                        return reply
            if self._handshakes is not None and self._handshakes.failed_without_success():
                raise handshake_error(self.env.control)
            self._reopen_dealer()

    def _read_reply(self, request_id: int) -> Optional[pb.Reply]:
        while True:
            try:
                frames = self._dealer.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return None
            if len(frames) != 2 or frames[0] != b"":
                continue
            try:
                reply = pb.Reply.FromString(frames[1])
            except DecodeError:
                continue
            if reply.request_id == request_id or (reply.request_id == 0 and reply.WhichOneof("body") == "error"
                                                  and reply.error.code == pb.ERROR_MALFORMED):
                # A request id of 0 comes with ERROR_MALFORMED when the daemon could not parse the request
                # (SPEC section 2); it can only be the answer to the outstanding one.
                if reply.protocol_version != PROTOCOL_VERSION:
                    raise ProtocolError(pb.ERROR_UNSUPPORTED_VERSION, "ERROR_UNSUPPORTED_VERSION",
                                        f"the daemon answered with protocol version {reply.protocol_version}")
                return reply

    @staticmethod
    def _unexpected(reply: pb.Reply, what: str) -> AutoWUError:
        which = reply.WhichOneof("body")
        if which == "error":
            code = reply.error.code
            return ProtocolError(code, _ERROR_NAMES.get(code, f"ERROR_{code}"), reply.error.message)
        return ProtocolError(pb.ERROR_MALFORMED, "ERROR_MALFORMED", f"the daemon answered {what} with {which!r}")

    # ================================================================ other requests

    def ping(self, timeout: Optional[float] = None) -> pb.DaemonStatus:
        """Ping: the daemon's status (liveness probe)."""
        reply = self._call("ping", pb.Ping(), time.monotonic() + (self.total_wait if timeout is None else timeout))
        if reply.WhichOneof("body") != "pong":
            raise self._unexpected(reply, "Ping")
        return reply.pong

    def status(self, job_id: Optional[str] = None, timeout: Optional[float] = None) -> pb.JobList:
        """Status of ``job_id`` (default: this job; "" for every job the daemon lets this rank read), with the
        job's token and, with MUNGE, a credential of this uid."""
        job_id = self.job_id if job_id is None else job_id
        body = pb.Status(job_id=job_id, token=self.token)
        reply = self._call("status", body, time.monotonic() + (self.total_wait if timeout is None else timeout),
                           fresh=self._credential_for(job_id))
        if reply.WhichOneof("body") != "jobs":
            raise self._unexpected(reply, "Status")
        return reply.jobs

    def snapshot(self) -> pb.JobState:
        """Snapshot{need_epoch=-1}: fetch the job's state now and take it if it is newer (SPEC section 5)."""
        waiting_for = self.plan.required_epoch(self._step) if self.plan is not None else -1
        self._snapshot(-1, None, time.monotonic() + self.total_wait, waiting_for=waiting_for)
        return self.state

    # ================================================================ DONE

    @property
    def done(self) -> bool:
        """Past the last step (T - 1)."""
        return self._step >= self.total_steps

    def close(self) -> None:
        """Send the unsent losses, close the sockets (the ingest socket lingers ``close_linger_ms`` so the last
        batch gets out) and, if the client made its own ZeroMQ context, terminate it."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._pub is not None and self._sent < len(self._losses):
                if not self._ingest_subscribed() and self._pub.poll(self.close_linger_ms, zmq.POLLIN):
                    self._ingest_subscribed()
                self._flush(force=True)
        finally:
            self._close_sockets(linger_pub=self.close_linger_ms)

    def abort(self) -> None:
        """Close the sockets at once, sending nothing more (what a crash does; for tests and error paths)."""
        if not self._closed:
            self._closed = True
            self._close_sockets(linger_pub=0)

    def _close_handshakes(self) -> None:
        if self._handshakes is not None:
            self._handshakes.close()
            self._handshakes = None

    def _close_sockets(self, linger_pub: int) -> None:
        self._close_handshakes()
        for name in ("_sub", "_dealer"):
            sock = getattr(self, name)
            if sock is not None:
                sock.close(linger=0)
                setattr(self, name, None)
        if self._pub is not None:
            self._pub.close(linger=linger_pub)
            self._pub = None
        self._poller = None
        self._events_ready = lambda: 0
        if self._own_context and self._ctx is not None:
            self._ctx.term()
            self._ctx = None

    def __enter__(self) -> "RankClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # best effort; close() is the real way
        try:
            if not self._closed and self._sub is not None:
                self._close_sockets(linger_pub=0)
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"RankClient(job={self.job_id!r}, rank={self.rank}, step={self._step}, version={self.version}, "
                f"decided_through_epoch={None if self.plan is None else self.plan.decided_through_epoch}, "
                f"final={None if self.plan is None else self.plan.final})")


# ==================================================================== one-off requests (no job joined)

def daemon_request(which: str, body, *, control: Optional[str] = None, server_key: Optional[str] = None,
                   timeout: float = 5.0, attempt_timeout: float = 1.0,
                   fresh: Optional[Callable[[], str]] = None) -> pb.Reply:
    """One control request outside a rank's loop (``status``, ``ping``, ``expire_job``...), with Lazy Pirate
    retries until ``timeout`` seconds; returns the ``Reply`` (errors included, not raised). ``control`` and
    ``server_key`` default to the environment (``AUTOWU_CONTROL``/``AUTOWU_ENDPOINT``, ``AUTOWU_SERVER_KEY``).
    ``fresh``: makes the body's ``munge_credential`` for each send (a MUNGE credential is good once)."""
    if control is None:
        control = endpoints_from_environ()[0]
    if server_key is None:
        server_key = os.environ.get("AUTOWU_SERVER_KEY") or None
    ctx = zmq.Context()
    curve = None
    if server_key:
        public, secret = zmq.curve_keypair()
        curve = (server_key.encode(), public, secret)
    request = pb.Request(protocol_version=PROTOCOL_VERSION, request_id=secrets.randbelow(1 << 62) + 1)
    deadline = time.monotonic() + timeout
    sock = None
    watch = None
    try:
        while True:
            sock = ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            if curve is not None:
                sock.setsockopt(zmq.CURVE_SERVERKEY, curve[0])
                sock.setsockopt(zmq.CURVE_PUBLICKEY, curve[1])
                sock.setsockopt(zmq.CURVE_SECRETKEY, curve[2])
                watch = HandshakeWatch(sock)
            sock.connect(control)
            if fresh is not None:
                body.munge_credential = fresh()
            getattr(request, which).CopyFrom(body)
            sock.send_multipart([b"", request.SerializeToString()])
            attempt_end = min(deadline, time.monotonic() + attempt_timeout)
            while True:
                remaining = attempt_end - time.monotonic()
                if remaining <= 0 or not sock.poll(max(1, int(remaining * 1000)), zmq.POLLIN):
                    break
                frames = sock.recv_multipart()
                try:
                    reply = pb.Reply.FromString(frames[-1])
                except DecodeError:
                    continue
                if reply.request_id == request.request_id or (
                        reply.request_id == 0 and reply.WhichOneof("body") == "error"
                        and reply.error.code == pb.ERROR_MALFORMED):
                    return reply
            if watch is not None:
                failed = watch.failed_without_success()
                watch.close()
                watch = None
                if failed:
                    raise handshake_error(control)
            sock.close(linger=0)
            sock = None
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"autowu: no answer to {which} from {control} within {timeout:g} s")
    finally:
        if watch is not None:
            watch.close()
        if sock is not None:
            sock.close(linger=0)
        ctx.term()


def _query_credentials(job_id: str, token: Optional[str], auth: Optional[str], munge_socket: Optional[str]
                       ) -> Tuple[str, Optional[Callable[[], str]]]:
    """(token, maker of fresh MUNGE credentials or None) for a one-off request about ``job_id``. ``token``
    defaults to ``AUTOWU_TOKEN``, ``auth`` to ``AUTOWU_AUTH``, ``munge_socket`` to ``AUTOWU_MUNGE_SOCKET``.
    ``auto``: the token if there is one, else a MUNGE credential wherever munged makes one (an owner or admin
    reads and expires its jobs with it, Slurm or not), else neither."""
    token = os.environ.get("AUTOWU_TOKEN", "") if token is None else token
    mode = (auth if auth is not None else os.environ.get("AUTOWU_AUTH") or "auto").strip().lower()
    if mode not in AUTH_MODES:
        raise ValueError(f"AUTOWU_AUTH (or auth=) is one of {', '.join(AUTH_MODES)}, not {mode!r}")
    socket = _munge.socket_path() if munge_socket is None else munge_socket
    make = lambda: _munge.encode(job_id, socket)  # noqa: E731
    if mode == "munge":
        make()  # fail now, loudly, when MUNGE cannot make one
        return token, make
    if mode == "auto" and not token and _munge.usable(socket):
        return token, make
    if mode == "token" and not token:
        raise ValueError("AUTOWU_AUTH=token but no token is set (AUTOWU_TOKEN or token=)")
    return ("" if mode == "none" else token), None


def status(job_id: str = "", *, token: Optional[str] = None, auth: Optional[str] = None,
           munge_socket: Optional[str] = None, **kwargs) -> pb.JobList:
    """Status of ``job_id`` (every job the caller may read when empty) and the daemon's counters; raises
    ``ProtocolError`` on an error reply (``ERROR_UNKNOWN_JOB`` for a job the daemon does not know,
    ``ERROR_UNAUTHORIZED`` for one the caller may not read). The caller proves itself with ``token`` and/or a
    MUNGE credential (``auth``; see ``_query_credentials``). ``kwargs``: see ``daemon_request``."""
    token, fresh = _query_credentials(job_id, token, auth, munge_socket)
    reply = daemon_request("status", pb.Status(job_id=job_id, token=token), fresh=fresh, **kwargs)
    if reply.WhichOneof("body") != "jobs":
        raise RankClient._unexpected(reply, "Status")
    return reply.jobs


def expire_job(job_id: str, *, token: Optional[str] = None, auth: Optional[str] = None,
               munge_socket: Optional[str] = None, **kwargs) -> pb.JobState:
    """Remove job ``job_id`` from the daemon (its ranks' next gate gets ``ERROR_UNKNOWN_JOB``); returns its
    last state. Proves the caller as ``status`` does; raises ``ProtocolError`` on an error reply."""
    token, fresh = _query_credentials(job_id, token, auth, munge_socket)
    reply = daemon_request("expire_job", pb.ExpireJob(job_id=job_id, token=token), fresh=fresh, **kwargs)
    if reply.WhichOneof("body") != "jobs" or len(reply.jobs.jobs) != 1:
        raise RankClient._unexpected(reply, "ExpireJob")
    return reply.jobs.jobs[0]


def ping(**kwargs) -> pb.DaemonStatus:
    """Ping: the daemon's status (a liveness probe). ``kwargs``: see ``daemon_request``."""
    reply = daemon_request("ping", pb.Ping(), **kwargs)
    if reply.WhichOneof("body") != "pong":
        raise RankClient._unexpected(reply, "Ping")
    return reply.pong


def verdict_dict(state: pb.JobState) -> Optional[dict]:
    """A job's latest test and decision as a plain dict (JSON-able), None if no epoch was tested yet:

    ``epoch``, ``step`` (losses known), ``lr`` (of the epoch's last step), ``p_min`` (one per subset), ``votes``,
    ``streak``, ``positive``, ``diverged``, ``tested``, ``finite_points``, ``reports_missing``, ``outliers``,
    ``note``, ``holding``, ``silent_rank_count`` and ``silent_ranks`` (ranks that reported nothing in the epoch,
    at most 32 listed), ``test_micros``; ``phase`` ("warmup", "decay", "expired"); ``switched`` and, once
    switched, ``switch_step`` (the first step of the decay), ``switch_lr``, ``switch_epoch``, ``reason``
    ("gp_test", "rebound", "diverged", "max_warmup") and ``minimum_step`` (t*), else None; ``version`` of the job state."""
    decided = state.HasField("decision") and bool(state.decision.reason)
    if not state.HasField("last_verdict") and not decided:
        return None
    v = state.last_verdict
    d = state.decision
    return {
        "epoch": int(v.epoch) if state.HasField("last_verdict") else None,
        "step": int(v.step),
        "lr": float(v.lr),
        "p_min": [float(x) for x in v.p_min],
        "votes": int(v.votes),
        "streak": int(v.streak),
        "positive": bool(v.positive),
        "diverged": bool(v.diverged),
        "tested": bool(v.tested),
        "finite_points": int(v.finite_points),
        "reports_missing": int(v.reports_missing),
        "outliers": int(v.outliers),
        "note": str(v.note),
        "holding": bool(v.holding),
        "silent_rank_count": int(v.silent_rank_count),
        "silent_ranks": [int(r) for r in v.silent_ranks],
        "test_micros": int(v.test_micros),
        "phase": _PHASES.get(state.phase, str(state.phase)),
        "switched": decided,
        "switch_step": int(d.step) if decided else None,
        "switch_lr": float(d.learning_rate) if decided else None,
        "switch_epoch": int(d.epoch) if decided else None,
        "reason": str(d.reason) if decided else None,
        "minimum_step": float(d.minimum_step) if decided else None,
        "version": int(state.version),
    }


_PHASE_NUMBERS = {"warmup": 0, "decay": 1, "expired": 2}


def verdict_metrics(verdict: Optional[dict], prefix: str = "autowu/") -> dict:
    """The numbers of ``verdict_dict`` as flat ``{name: float}`` metrics for loggers (TensorBoard, Lightning's
    and the Trainer's loggers all get these keys): ``epoch``, ``p_min/<i>`` per subset, ``p_min_max``, ``votes``,
    ``streak``, ``positive``, ``holding``, ``outliers``, ``reports_missing``, ``lr`` (the tested epoch's last LR),
    ``phase`` (0 warmup, 1 decay, 2 expired) and, once switched, ``switch_step`` and ``switch_lr``. Booleans are
    0/1; the strings (``note``, ``reason``) are left to text logs."""
    if not verdict:
        return {}
    out = {}
    if verdict["epoch"] is not None:
        out.update({
            "epoch": float(verdict["epoch"]),
            "votes": float(verdict["votes"]),
            "streak": float(verdict["streak"]),
            "positive": float(verdict["positive"]),
            "holding": float(verdict["holding"]),
            "outliers": float(verdict["outliers"]),
            "reports_missing": float(verdict["reports_missing"]),
            "silent_ranks": float(verdict["silent_rank_count"]),
            "lr": verdict["lr"],
        })
        for i, p in enumerate(verdict["p_min"]):
            out[f"p_min/{i}"] = p
        if verdict["p_min"]:
            out["p_min_max"] = max(verdict["p_min"])
    out["phase"] = float(_PHASE_NUMBERS.get(verdict["phase"], -1))
    if verdict["switched"]:
        out["switch_step"] = float(verdict["switch_step"])
        out["switch_lr"] = verdict["switch_lr"]
    return {prefix + k: v for k, v in out.items()}


def _runs(values: List[Optional[float]], lo: int, hi: int, first_step: int) -> Iterable[Tuple[int, List[float]]]:
    """Maximal runs of non-None values in values[lo:hi], as (step, values), at most MAX_BATCH each."""
    lo = max(lo, 0)
    hi = min(hi, len(values))
    if lo >= hi:
        return
    chunk = values[lo:hi]
    if None not in chunk:
        for i in range(0, len(chunk), MAX_BATCH):
            yield first_step + lo + i, chunk[i:i + MAX_BATCH]
        return
    i = lo
    while i < hi:
        if values[i] is None:
            i += 1
            continue
        j = i
        while j < hi and values[j] is not None and j - i < MAX_BATCH:
            j += 1
        yield first_step + i, values[i:j]
        i = j


def _describe(error: pb.Error) -> str:
    name = _ERROR_NAMES.get(error.code, f"ERROR_{error.code}")
    return f"{name}: {error.message}" if error.message else name
