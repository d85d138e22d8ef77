"""A fake autowud for the client's tests: the daemon's side of protocol/SPEC.md, scripted.

It binds a ROUTER (control), a SUB (ingest) and an XPUB (events; a PUB that also tells when a subscription
arrives) on 127.0.0.1 ephemeral ports and serves them from a thread. Its job logic is a toy: registration
builds the default plan; epochs are decided only when the test says so (``decide``), or automatically when
``auto_decide`` is set (an epoch is decided as soon as every step of it has a loss, or when a snapshot waits for
it). ``script`` is a queue of one-shot handlers that see requests before the default logic and may answer them
differently (errors, silence, a restart...).

Like autowud, a waiting snapshot without ``pending`` from a rank whose losses of the open epochs up to
``need_epoch`` are not all in, and still are not 20 ms later, is answered with ``ERROR_INCOMPLETE`` (SPEC
section 4.2); ``drop_ingest`` makes the ingest socket lose everything (the losses then only arrive as pending).
Every registration gets a random non-zero incarnation.
"""

from __future__ import annotations

import collections
import queue
import random
import threading
import time
from typing import Callable, Deque, Dict, List, Optional, Tuple

import zmq

from autowu import plan as P
from autowu._proto import autowu_pb2 as pb

Handler = Callable[["FakeDaemon", bytes, pb.Request], bool]


class FakeDaemon:
    def __init__(self, auto_decide: bool = False, switch_at_epoch: Optional[int] = None,
                 curve_secret_key: Optional[bytes] = None) -> None:
        self.ctx = zmq.Context()
        self.auto_decide = auto_decide
        self.switch_at_epoch = switch_at_epoch
        self.switch_rate = 0.0123
        self.curve_secret_key = curve_secret_key
        self.publish_events = True
        self.drop_ingest = False
        self.incomplete_grace = 0.02
        self.state: Optional[pb.JobState] = None
        self.token: Optional[str] = None
        self.requests: List[pb.Request] = []
        self.batches: List[pb.LossBatch] = []
        self.losses: Dict[Tuple[int, int], float] = {}  # (rank, step) -> first loss
        self.script: Deque[Handler] = collections.deque()
        self.waiting: List[Tuple[bytes, pb.Request, float, Optional[float]]] = []
        self.subscribed = threading.Event()
        self.events_published = 0
        self._commands: "queue.Queue[Tuple[Callable, threading.Event, list]]" = queue.Queue()
        self._lock = threading.Lock()
        self._running = True
        self._down_until = 0.0
        self.ports: Dict[str, int] = {}
        self._bind(random_ports=True)
        self._thread = threading.Thread(target=self._loop, daemon=True, name="fake-autowud")
        self._thread.start()

    # ---------------------------------------------------------------- endpoints

    @property
    def control(self) -> str:
        return f"tcp://127.0.0.1:{self.ports['control']}"

    @property
    def ingest(self) -> str:
        return f"tcp://127.0.0.1:{self.ports['ingest']}"

    @property
    def events(self) -> str:
        return f"tcp://127.0.0.1:{self.ports['events']}"

    def endpoints(self) -> Dict[str, str]:
        return dict(control=self.control, ingest=self.ingest, events=self.events)

    def _socket(self, kind: int) -> zmq.Socket:
        s = self.ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        if self.curve_secret_key is not None:
            s.setsockopt(zmq.CURVE_SERVER, 1)
            s.setsockopt(zmq.CURVE_SECRETKEY, self.curve_secret_key)
        return s

    def _bind(self, random_ports: bool) -> None:
        self.router = self._socket(zmq.ROUTER)
        self.ingest_sub = self._socket(zmq.SUB)
        self.ingest_sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.xpub = self._socket(zmq.XPUB)
        self.xpub.setsockopt(zmq.XPUB_VERBOSE, 1)
        for name, sock in (("control", self.router), ("ingest", self.ingest_sub), ("events", self.xpub)):
            if random_ports:
                self.ports[name] = sock.bind_to_random_port("tcp://127.0.0.1")
            else:
                for _ in range(100):  # the old socket's port can take a moment to be free again
                    try:
                        sock.bind(f"tcp://127.0.0.1:{self.ports[name]}")
                        break
                    except zmq.ZMQError:
                        time.sleep(0.02)
                else:
                    raise RuntimeError(f"cannot rebind {name}")
        self.poller = zmq.Poller()
        for sock in (self.router, self.ingest_sub, self.xpub):
            self.poller.register(sock, zmq.POLLIN)

    def _unbind(self) -> None:
        for sock in (self.router, self.ingest_sub, self.xpub):
            sock.close(linger=0)
        self.poller = None

    # ---------------------------------------------------------------- test-thread API

    def call(self, fn: Callable[[], object], timeout: float = 5.0) -> object:
        """Run fn in the daemon's thread (sockets are not thread-safe) and return its result."""
        done = threading.Event()
        box: list = []
        self._commands.put((fn, done, box))
        if not done.wait(timeout):
            raise TimeoutError("the fake daemon did not run the command")
        if box and isinstance(box[0], BaseException):
            raise box[0]
        return box[0] if box else None

    def decide(self, epoch: int, switch: bool = False, publish: Optional[bool] = None) -> None:
        self.call(lambda: self._decide(epoch, switch, self.publish_events if publish is None else publish))

    def restart(self, down_for: float) -> None:
        """Close every socket now and bind the same ports again after ``down_for`` seconds (the job is kept,
        like the daemon's store keeps it)."""
        self.call(lambda: self._restart(down_for))

    def lose_job(self) -> None:
        self.call(lambda: setattr(self, "state", None))

    def kinds(self) -> List[str]:
        with self._lock:
            return [r.WhichOneof("body") for r in self.requests]

    def snapshots(self) -> List[pb.Request]:
        with self._lock:
            return [r for r in self.requests if r.WhichOneof("body") == "snapshot"]

    def received_losses(self, rank: int = 0) -> Dict[int, float]:
        with self._lock:
            return {s: v for (r, s), v in self.losses.items() if r == rank}

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.005)
        return predicate()

    def close(self) -> None:
        self._running = False
        self._thread.join(5)
        if self.poller is not None:
            self._unbind()
        self.ctx.term()

    # ---------------------------------------------------------------- daemon-thread logic

    def _loop(self) -> None:
        while self._running:
            while True:
                try:
                    fn, done, box = self._commands.get_nowait()
                except queue.Empty:
                    break
                try:
                    box.append(fn())
                except BaseException as e:  # noqa: BLE001
                    box.append(e)
                done.set()
            if self.poller is None:
                if time.monotonic() >= self._down_until:
                    self._bind(random_ports=False)
                else:
                    time.sleep(0.005)
                    continue
            ready = dict(self.poller.poll(5))
            if self.xpub in ready:
                msg = self.xpub.recv()
                if msg[:1] == b"\x01":
                    self.subscribed.set()
            if self.ingest_sub in ready:
                self._on_ingest(self.ingest_sub.recv_multipart())
            if self.router in ready:
                frames = self.router.recv_multipart()
                self._on_control(frames)
            self._serve_waiting()

    def _restart(self, down_for: float) -> None:
        self._unbind()
        self.subscribed.clear()
        self.waiting.clear()
        self._down_until = time.monotonic() + down_for

    def send(self, ident: bytes, reply: pb.Reply) -> None:
        if self.poller is not None:
            self.router.send_multipart([ident, b"", reply.SerializeToString()])

    def reply(self, ident: bytes, req: pb.Request, **body) -> None:
        self.send(ident, pb.Reply(protocol_version=1, request_id=req.request_id, **body))

    def error(self, ident: bytes, req: pb.Request, code: int, message: str = "", with_job: bool = False) -> None:
        err = pb.Error(code=code, message=message)
        if with_job and self.state is not None:
            err.job.CopyFrom(self.state)
        self.reply(ident, req, error=err)

    def _on_control(self, frames: List[bytes]) -> None:
        if len(frames) != 3 or frames[1] != b"":
            return
        ident = frames[0]
        try:
            req = pb.Request.FromString(frames[2])
        except Exception:  # noqa: BLE001
            self.send(ident, pb.Reply(protocol_version=1, request_id=0,
                                      error=pb.Error(code=pb.ERROR_MALFORMED, message="does not parse")))
            return
        with self._lock:
            self.requests.append(req)
        if self.script:
            handler = self.script.popleft()
            if handler(self, ident, req):
                return
        self.handle_default(ident, req)

    def handle_default(self, ident: bytes, req: pb.Request) -> None:
        kind = req.WhichOneof("body")
        if kind == "register":
            body = req.register
            if self.state is None:
                self.token = body.token
                self._create(body.spec, body.job_id)
            elif body.spec != self.state.spec:
                return self.error(ident, req, pb.ERROR_CONFLICT, "registered before with another spec")
            if body.token != self.token:
                return self.error(ident, req, pb.ERROR_UNAUTHORIZED, "token")
            self.reply(ident, req, job=self.state)
        elif kind == "snapshot":
            body = req.snapshot
            if self.state is None:
                return self.error(ident, req, pb.ERROR_UNKNOWN_JOB, f"no job {body.job_id}")
            if body.token != self.token:
                return self.error(ident, req, pb.ERROR_UNAUTHORIZED, "token")
            if body.HasField("pending"):
                self._merge(body.pending)
            if body.need_epoch < 0 or self._decided(body.need_epoch):
                return self.reply(ident, req, job=self.state)
            now = time.monotonic()
            check = None if body.HasField("pending") or self._has_everything(body.rank, body.need_epoch) \
                else now + self.incomplete_grace
            self.waiting.append((ident, req, now + body.wait_ms / 1000.0, check))
            if self.auto_decide:
                self._auto(body.need_epoch, force=True)
        elif kind == "ping":
            self.reply(ident, req, pong=pb.DaemonStatus(version="fake"))
        elif kind == "status":
            self.reply(ident, req, jobs=pb.JobList(jobs=[self.state] if self.state else []))
        else:
            self.error(ident, req, pb.ERROR_MALFORMED, "unsupported")

    def _create(self, spec: pb.JobSpec, job_id: str) -> None:
        h = spec.hyperparameters
        plan = P.default_plan(
            spec.total_steps, spec.steps_per_epoch,
            eta_min=h.eta_min if h.HasField("eta_min") else 1e-5,
            eta_max=h.eta_max if h.HasField("eta_max") else 1.0,
            rho_w=h.rho_w if h.HasField("rho_w") else 0.5,
            warmup="linear" if spec.warmup == pb.WARMUP_LINEAR else "exponential",
            decay="constant_cosine" if spec.decay == pb.DECAY_CONSTANT_COSINE else "cosine",
            decision_delay_steps=spec.decision_delay_steps if spec.HasField("decision_delay_steps") else 1)
        self.state = pb.JobState(job_id=job_id, version=1, spec=spec, plan=plan.to_proto(), phase=pb.PHASE_WARMUP,
                                 incarnation=random.getrandbits(64) or 1)
        self._publish(pb.EVENT_PLAN)

    def _has_everything(self, rank: int, epoch: int) -> bool:
        """Whether every loss ``rank`` owes for the open epochs up to ``epoch`` is in (autowud's rule)."""
        spec = self.state.spec
        ranks = 1 if spec.reporting == pb.REPORTING_RANK_ZERO else (spec.world_size or 1)
        if rank >= ranks:
            return True
        E = self.state.plan.steps_per_epoch
        first_open = self.state.plan.decided_through_epoch + 1
        with self._lock:
            return all((rank, s) in self.losses for s in range(first_open * E, (epoch + 1) * E))

    def _decided(self, epoch: int) -> bool:
        return self.state.plan.final or self.state.plan.decided_through_epoch >= epoch

    def _decide(self, epoch: int, switch: bool, publish: bool) -> None:
        plan = P.Plan.from_proto(self.state.plan)
        plan = plan.replace(decided_through_epoch=max(epoch, plan.decided_through_epoch))
        kind = pb.EVENT_TEST_RESULT
        if switch and not plan.final:
            spec = self.state.spec
            s = plan.gate(epoch)
            plan = P.switched_plan(plan, s, self.switch_rate, spec.total_steps,
                                   "constant_cosine" if spec.decay == pb.DECAY_CONSTANT_COSINE else "cosine")
            self.state.phase = pb.PHASE_DECAY
            self.state.decision.CopyFrom(pb.Decision(reason="gp_test", epoch=epoch, step=s,
                                                     learning_rate=self.switch_rate))
            kind = pb.EVENT_PHASE_SWITCH
        self.state.plan.CopyFrom(plan.to_proto())
        self.state.version += 1
        if publish:
            self._publish(kind)

    def _publish(self, kind: int) -> None:
        if self.poller is None:
            return
        event = pb.Event(protocol_version=1, kind=kind, job=self.state)
        self.xpub.send_multipart([f"job/{self.state.job_id}/".encode(), event.SerializeToString()])
        self.events_published += 1

    def publish_raw(self, frames: List[bytes]) -> None:
        self.call(lambda: self.xpub.send_multipart(frames))

    def _merge(self, batch: pb.LossBatch) -> None:
        with self._lock:
            for i, x in enumerate(batch.losses):
                self.losses.setdefault((batch.rank, batch.first_step + i), x)

    def _on_ingest(self, frames: List[bytes]) -> None:
        if len(frames) != 2:
            return
        batch = pb.LossBatch.FromString(frames[1])
        with self._lock:
            self.batches.append(batch)
        if self.drop_ingest:
            return
        if self.state is None or batch.token != self.token:
            return
        self._merge(batch)
        if self.auto_decide:
            self._auto(None, force=False)

    def _auto(self, need: Optional[int], force: bool) -> None:
        plan = self.state.plan
        if plan.final:
            return
        E = plan.steps_per_epoch
        last = P.required_epoch(P.MAX_STEPS * 4, E, plan.decision_delay_steps, plan.warmup_steps)
        e = plan.decided_through_epoch + 1
        ranks = self.state.spec.world_size or 1
        while e <= last and not self.state.plan.final:
            complete = all((r, s) in self.losses for r in range(ranks) for s in range(e * E, (e + 1) * E))
            if not (complete or (force and need is not None and e <= need)):
                break
            self._decide(e, switch=self.switch_at_epoch is not None and e >= self.switch_at_epoch,
                         publish=self.publish_events)
            e += 1

    def _serve_waiting(self) -> None:
        if not self.waiting:
            return
        now = time.monotonic()
        keep = []
        for ident, req, deadline, check in self.waiting:
            if self.state is not None and self._decided(req.snapshot.need_epoch):
                self.reply(ident, req, job=self.state)
            elif check is not None and now >= check and self.state is not None and not self._has_everything(
                    req.snapshot.rank, req.snapshot.need_epoch):
                self.error(ident, req, pb.ERROR_INCOMPLETE, "send your losses as pending", with_job=True)
            elif now >= deadline:
                self.error(ident, req, pb.ERROR_TIMEOUT, "not decided yet", with_job=True)
            else:
                keep.append((ident, req, deadline, None if check is not None and now >= check else check))
        self.waiting = keep


def ignore(daemon: FakeDaemon, ident: bytes, req: pb.Request) -> bool:
    """A script handler: swallow the request (no reply)."""
    return True


def passthrough(daemon: FakeDaemon, ident: bytes, req: pb.Request) -> bool:
    return False
