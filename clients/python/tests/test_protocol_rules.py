"""The rules protocol 1.1 spells out (protocol/SPEC.md, "Changes in 1.1"), against the REAL daemon: each test
pins one answer a client written from the spec alone would otherwise have to guess.
Skipped, with the reason, when the autowud binary is missing (see tests/real_daemon.py for the paths)."""
from __future__ import annotations

import time

import pytest
import zmq

import real_daemon as rd
from autowu import RankClient
from autowu._proto import autowu_pb2 as pb
from autowu.errors import WaitTimeout

_MISSING = rd.missing_reason()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


@pytest.fixture
def daemon(tmp_path):
    d = rd.RealDaemon(tmp_path / "data")
    yield d
    d.stop()


def ask(daemon: rd.RealDaemon, request_id: int = 7, **body) -> pb.Reply:
    """One raw control request (no retry) and its reply."""
    ((which, message),) = body.items()
    request = pb.Request(protocol_version=1, request_id=request_id)
    getattr(request, which).CopyFrom(message)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(daemon.control)
        sock.send_multipart([b"", request.SerializeToString()])
        assert sock.poll(5000, zmq.POLLIN), "no reply within 5 s"
        return pb.Reply.FromString(sock.recv_multipart()[-1])
    finally:
        sock.close()
        ctx.term()


def spec(E: int = 10, T: int = 200, world: int = 4) -> pb.JobSpec:
    return pb.JobSpec(steps_per_epoch=E, total_steps=T, world_size=world)


def register(daemon, job="j", rank=0, **kw) -> pb.Reply:
    return ask(daemon, register=pb.Register(job_id=job, rank=rank, spec=spec(**kw)))


def test_a_rank_outside_world_size_is_refused_at_register_and_snapshot(daemon):
    reply = register(daemon, rank=4)
    assert reply.error.code == pb.ERROR_INVALID_ARGUMENT
    assert "world_size is 4" in reply.error.message and "0 to 3" in reply.error.message
    print(reply.error.message)
    # Nothing else changed: no job was created.
    assert ask(daemon, status=pb.Status(job_id="j")).error.code == pb.ERROR_UNKNOWN_JOB
    assert register(daemon, rank=3).WhichOneof("body") == "job"
    assert register(daemon, rank=4).error.code == pb.ERROR_INVALID_ARGUMENT  # the job exists now: same answer
    reply = ask(daemon, snapshot=pb.Snapshot(job_id="j", rank=9, need_epoch=0, wait_ms=100,
                                             pending=pb.LossBatch(first_step=0, losses=[1.0] * 5)))
    assert reply.error.code == pb.ERROR_INVALID_ARGUMENT and "rank 9" in reply.error.message
    assert daemon.status("j").steps_seen == 0  # its pending losses were not merged


def test_wait_ms_over_10000_is_refused_before_pending_is_merged(daemon):
    assert register(daemon).WhichOneof("body") == "job"
    started = time.monotonic()
    reply = ask(daemon, snapshot=pb.Snapshot(job_id="j", rank=0, need_epoch=0, wait_ms=70000,
                                             pending=pb.LossBatch(first_step=0, losses=[1.0] * 5)))
    assert time.monotonic() - started < 2
    assert reply.error.code == pb.ERROR_INVALID_ARGUMENT and "wait_ms is at most 10000" in reply.error.message
    print(reply.error.message)
    assert daemon.status("j").steps_seen == 0
    reply = ask(daemon, snapshot=pb.Snapshot(job_id="j", rank=0, need_epoch=-1, wait_ms=10000,
                                             pending=pb.LossBatch(first_step=0, losses=[1.0] * 5)))
    assert reply.WhichOneof("body") == "job"  # 10000 is allowed
    assert daemon.status("j").steps_seen == 5


def test_a_need_epoch_past_the_last_tested_one_is_answered_at_once_with_the_state_as_it_is(daemon):
    # E = 10, T = 200: W = 100, gates 11, 21, ..., 91 (epochs 0-8); epoch 9's gate 101 >= W is never tested.
    assert register(daemon).WhichOneof("body") == "job"
    started = time.monotonic()
    reply = ask(daemon, snapshot=pb.Snapshot(job_id="j", rank=0, need_epoch=9, wait_ms=5000))
    assert time.monotonic() - started < 2
    assert reply.WhichOneof("body") == "job"
    assert not reply.job.plan.final and reply.job.plan.decided_through_epoch == -1
    reply = ask(daemon, snapshot=pb.Snapshot(job_id="j", rank=0, need_epoch=8, wait_ms=200))
    assert reply.error.code == pb.ERROR_INCOMPLETE  # epoch 8 is tested: this rank's losses are asked for
    # An empty pending batch means "I have nothing more": never ERROR_INCOMPLETE, the snapshot waits.
    reply = ask(daemon, snapshot=pb.Snapshot(job_id="j", rank=0, need_epoch=8, wait_ms=200,
                                             pending=pb.LossBatch(first_step=80)))
    assert reply.error.code == pb.ERROR_TIMEOUT


def test_request_id_0_is_answered_like_any_other(daemon):
    reply = ask(daemon, request_id=0, ping=pb.Ping())
    assert reply.request_id == 0 and reply.WhichOneof("body") == "pong"


def test_status_of_an_unknown_job_is_error_unknown_job(daemon):
    reply = ask(daemon, status=pb.Status(job_id="nobody"))
    assert reply.error.code == pb.ERROR_UNKNOWN_JOB and "nobody" in reply.error.message


def test_losses_after_the_final_plan_only_advance_steps_seen(daemon):
    # E = 10, T = 20: W = 10 and epoch 0's gate 11 >= W: no test remains, the plan is final at registration.
    reply = register(daemon, T=20, world=1)
    assert reply.job.plan.final
    c = RankClient(10, 20, job_id="j", rank=0, world_size=1, batch_size=5, **daemon.endpoints())
    try:
        for t in range(20):
            c.lr(t)
            c.step(1.0)
        c.flush()
        assert c.kept_losses()[1] == []  # nothing kept for a resend: no gate remains
        deadline = time.monotonic() + 5
        while daemon.status("j").steps_seen < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        c.close()
    state = daemon.status("j")
    assert state.steps_seen == 20 and state.plan.final
    assert daemon.counters()["ingest.after_warmup"] == 20


def test_a_waiting_snapshot_is_not_retried_before_wait_ms_has_passed(daemon):
    """request_timeout 0.3 s < wait_ms 1 s: each attempt waits wait_ms + request_timeout, so the daemon's
    ERROR_TIMEOUT (after 1 s) arrives in time and no Lazy Pirate retry happens."""
    c = RankClient(10, 200, job_id="j", rank=0, world_size=2, request_timeout=0.3, wait_ms=1000, total_wait=3.5,
                   **daemon.endpoints())
    try:
        for t in range(11):
            c.lr(t)
            c.step(1.0)
        with pytest.raises(WaitTimeout):
            c.lr(11)  # rank 1 never reports: epoch 0 stays open (close timeout 30 s)
        print(c.stats)
        assert c.stats["timeouts"] >= 2 and c.stats["retries"] == 0
    finally:
        c.close()
