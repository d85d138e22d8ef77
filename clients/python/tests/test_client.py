"""RankClient's state machine (SPEC section 8) against a fake daemon (tests/fake_daemon.py)."""

import math
import struct
import threading
import time

import pytest
import zmq

from autowu import HandshakeError, Plan, PlanError, ProtocolError, RankClient, WaitTimeout
from autowu._proto import autowu_pb2 as pb
from autowu.plan import default_plan
from fake_daemon import FakeDaemon, ignore

E, T = 10, 200  # W = 100, d = 1: gates at 11, 21, ..., 91


def loss_of(t):
    return 1.0 / (t + 1)


def run(client, first, last):
    """Train steps first..last-1: lr, then report; returns the LRs."""
    lrs = []
    for t in range(first, last):
        lrs.append(client.lr(t))
        client.report(t, loss_of(t))
    return lrs


def bits(x):
    return struct.pack(">d", x).hex()


# ------------------------------------------------------------------------------------------------ JOIN, RUN

def test_join_registers_after_subscribing_and_holds_the_plan(daemon, make_client):
    c = make_client()
    assert daemon.kinds() == ["register"]
    reg = daemon.requests[0]
    assert reg.protocol_version == 1 and reg.request_id != 0
    assert c.incarnation == daemon.state.incarnation != 0
    assert reg.register.job_id == "test-job" and reg.register.token == "secret" and reg.register.rank == 0
    assert reg.register.spec.steps_per_epoch == E and reg.register.spec.total_steps == T
    assert reg.register.spec.world_size == 1
    assert c.version == 1 and c.plan == Plan.from_proto(daemon.state.plan)
    # the SUB subscribed before the Register was sent (JOIN), so it had reached the daemon by now or soon
    assert daemon.subscribed.wait(2)


def test_run_whole_job_lrs_match_plans_and_losses_batched(daemon, make_client):
    daemon.auto_decide = True
    daemon.switch_at_epoch = 4  # switch at g(4) = 51
    c = make_client(batch_size=4)
    lrs = run(c, 0, T + 5)
    c.flush()
    final = Plan.from_proto(daemon.state.plan)
    assert final.final and c.plan.final
    before = default_plan(T, E)
    for t, lr in enumerate(lrs):
        expected = before.lr(t) if t < 51 else final.lr(t)
        assert bits(lr) == bits(expected), t
    assert daemon.wait_for(lambda: len(daemon.received_losses()) == T + 5)
    got = daemon.received_losses()
    assert all(bits(got[t]) == bits(loss_of(t)) for t in range(T + 5))
    # batches: at most 4 losses, never across an epoch end
    for b in daemon.batches:
        assert 1 <= len(b.losses) <= 4 and b.protocol_version == 1 and b.token == "secret" and b.job_id == "test-job"
        assert (b.first_step // E) == ((b.first_step + len(b.losses) - 1) // E)
    # undecided losses only are kept
    first, kept = c.kept_losses()
    assert len(kept) <= E + 1 + 4


def test_epoch_end_always_flushes(daemon, make_client):
    c = make_client(batch_size=1000)
    run(c, 0, E)  # exactly one epoch: its last step flushes
    assert daemon.wait_for(lambda: len(daemon.batches) == 1)
    assert daemon.batches[0].first_step == 0 and len(daemon.batches[0].losses) == E
    run(c, E, E + 1)
    time.sleep(0.1)
    assert len(daemon.batches) == 1  # mid-epoch: kept back until the batch fills or the epoch ends


def test_step_convenience_and_start_step(daemon, make_client):
    c = make_client(start_step=5)
    assert c.current_step == 5
    lr = c.lr()
    assert lr == c.plan.lr(5)
    for _ in range(5):
        c.step(2.0)
    assert c.current_step == 10
    assert daemon.wait_for(lambda: len(daemon.batches) == 1)
    assert daemon.batches[0].first_step == 5 and list(daemon.batches[0].losses) == [2.0] * 5


# ------------------------------------------------------------------------------------------------ WAIT

def test_gate_waits_for_a_late_answer_without_resending_losses(daemon, make_client):
    c = make_client(batch_size=100, wait_ms=1000, request_timeout=1.5)
    assert daemon.subscribed.wait(2)
    run(c, 0, E + 1)  # steps 0..10 need no verdict; step 10 is still unsent (mid-epoch, batch not full)
    assert daemon.kinds() == ["register"]
    threading.Timer(0.5, lambda: daemon.decide(0, publish=False)).start()
    started = time.monotonic()
    lr = c.lr(E + 1)  # g(0) = 11
    waited = time.monotonic() - started
    assert waited >= 0.4
    assert lr == c.plan.lr(E + 1) and c.plan.decided_through_epoch == 0
    snaps = daemon.snapshots()
    assert len(snaps) == 1, "the client must ask for the verdict, once"
    s = snaps[0].snapshot
    assert (s.need_epoch, s.wait_ms, s.job_id, s.token, s.rank) == (0, 1000, "test-job", "secret", 0)
    # the first waiting snapshot carries no pending (SPEC 4.2/8): the unsent loss of step 10 went out first
    assert not s.HasField("pending")
    assert daemon.received_losses() == {t: loss_of(t) for t in range(E + 1)}
    assert c.stats["incomplete"] == 0 and c.stats["pending_sent"] == 0


def test_incomplete_resends_the_snapshot_at_once_with_pending(daemon, make_client):
    daemon.drop_ingest = True  # the ingest socket loses everything
    c = make_client(batch_size=4, wait_ms=1000, request_timeout=1.5)
    run(c, 0, E + 1)
    threading.Timer(0.5, lambda: daemon.decide(0, publish=False)).start()
    started = time.monotonic()
    assert c.lr(E + 1) == c.plan.lr(E + 1)
    snaps = [r.snapshot for r in daemon.snapshots()]
    assert [s.need_epoch for s in snaps] == [0, 0]
    assert not snaps[0].HasField("pending")
    # pending: own losses from e*E = 0 to t-1 = 10, exactly, on the immediate repeat
    p = snaps[1].pending
    assert p.first_step == 0 and p.protocol_version == 1 and p.job_id == "test-job" and p.rank == 0
    assert [bits(x) for x in p.losses] == [bits(loss_of(t)) for t in range(E + 1)]
    assert c.stats["incomplete"] == 1 and c.stats["pending_sent"] == 1
    assert daemon.received_losses() == {t: loss_of(t) for t in range(E + 1)}
    assert time.monotonic() - started >= 0.4
    # the next gate: the daemon has the losses of epoch 1 except what the ingest lost again
    daemon.drop_ingest = False
    run(c, E + 1, 2 * E + 1)
    daemon.decide(1, publish=False)
    assert c.lr(2 * E + 1) == c.plan.lr(2 * E + 1)
    assert c.stats["incomplete"] == 1  # losses 11..20 arrived over ingest: no resend


def test_losses_held_back_for_want_of_a_subscriber_go_as_pending(daemon, make_client):
    ctx = zmq.Context()
    s = ctx.socket(zmq.ROUTER)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    s.close(0)
    ctx.term()
    # nobody subscribes on this ingest endpoint: the XPUB holds every loss back
    c = make_client(batch_size=4, wait_ms=1000, request_timeout=1.5, ingest=f"tcp://127.0.0.1:{port}")
    run(c, 0, E + 1)
    assert c.stats["batches_sent"] == 0
    threading.Timer(0.8, lambda: daemon.decide(0, publish=False)).start()
    started = time.monotonic()
    assert c.lr(E + 1) == c.plan.lr(E + 1)
    assert time.monotonic() - started >= 0.5  # it waited for the subscription first (in vain)
    snaps = [r.snapshot for r in daemon.snapshots()]
    assert not snaps[0].HasField("pending") and snaps[1].pending.first_step == 0
    assert len(snaps[1].pending.losses) == E + 1 and c.stats["incomplete"] == 1
    # the daemon has them now: they are not sent again on the ingest socket
    assert c._sent == len(c._losses) and c.stats["batches_sent"] == 0


def test_incomplete_with_nothing_kept_sends_an_empty_pending(daemon, make_client):
    daemon.drop_ingest = True
    c = make_client(start_step=E + 1, wait_ms=1000, request_timeout=1.5)  # restarted, its losses not restored
    threading.Timer(0.4, lambda: daemon.decide(0, publish=False)).start()
    assert c.lr(E + 1) == c.plan.lr(E + 1)
    snaps = [r.snapshot for r in daemon.snapshots()]
    assert len(snaps) == 2 and not snaps[0].HasField("pending")
    assert snaps[1].HasField("pending") and snaps[1].pending.first_step == 0 and len(snaps[1].pending.losses) == 0


def test_error_timeout_then_success(daemon, make_client):
    def timeout_once(d, ident, req):
        if req.WhichOneof("body") == "snapshot" and req.snapshot.need_epoch >= 0:
            d.error(ident, req, pb.ERROR_TIMEOUT, "not yet", with_job=True)
            d.script.append(decide_then_default)
            return True
        return False

    def decide_then_default(d, ident, req):
        d._decide(0, switch=False, publish=False)
        return False

    c = make_client()
    daemon.script.append(timeout_once)
    run(c, 0, E + 1)
    assert c.lr(E + 1) == c.plan.lr(E + 1)
    snaps = daemon.snapshots()
    assert len(snaps) == 2
    assert snaps[0].request_id != snaps[1].request_id  # a repeat after an answer is a new request
    assert c.plan.decided_through_epoch == 0


def test_missed_event_is_made_up_by_a_snapshot(daemon, make_client):
    c = make_client()
    run(c, 0, E)
    daemon.decide(0, publish=False)  # the event is lost
    assert c.version == 1
    assert c.lr(E + 1) == c.plan.lr(E + 1)
    assert c.version == 2 and len(daemon.snapshots()) == 1


def test_event_opens_the_gate_without_a_snapshot(daemon, make_client):
    c = make_client()
    assert daemon.subscribed.wait(2)
    run(c, 0, E + 1)
    daemon.decide(0, publish=True)
    assert daemon.wait_for(lambda: c.permits(E + 1))
    assert c.lr(E + 1) == c.plan.lr(E + 1)
    assert daemon.snapshots() == [] and c.version == 2


def test_event_arriving_while_waiting_opens_the_gate(daemon, make_client):
    c = make_client(request_timeout=3.0, wait_ms=2000)
    assert daemon.subscribed.wait(2)
    run(c, 0, E + 1)
    daemon.script.append(ignore_snapshot)
    threading.Timer(0.3, lambda: daemon.decide(0, publish=True)).start()
    started = time.monotonic()
    assert c.lr(E + 1) == c.plan.lr(E + 1)
    assert time.monotonic() - started < 2.0  # did not sit out the request timeout
    assert len(daemon.snapshots()) == 1 and c.stats["reconnects"] == 0


def ignore_snapshot(d, ident, req):
    return req.WhichOneof("body") == "snapshot"


def test_older_events_and_other_jobs_are_ignored(daemon, make_client):
    c = make_client()
    assert daemon.subscribed.wait(2)
    old = pb.JobState()
    old.CopyFrom(daemon.state)
    old.plan.decided_through_epoch = 5  # a tempting plan, but not a newer version
    daemon.publish_raw([b"job/test-job/", pb.Event(protocol_version=1, job=old).SerializeToString()])
    daemon.publish_raw([b"job/test-job/", b"\xff\xff not protobuf"])
    other = pb.JobState()
    other.CopyFrom(old)
    other.version, other.job_id = 99, "test-job-2"
    daemon.publish_raw([b"job/test-job/", pb.Event(protocol_version=1, job=other).SerializeToString()])
    time.sleep(0.2)
    assert not c.permits(E + 1)
    assert c.version == 1 and c.stats["events_ignored"] == 2 and c.stats["events_stale"] >= 1


def test_job_expired_event(daemon, make_client):
    c = make_client()
    assert daemon.subscribed.wait(2)
    state = pb.JobState()
    state.CopyFrom(daemon.state)
    state.version, state.phase = 2, pb.PHASE_EXPIRED
    state.ClearField("plan")
    daemon.publish_raw([b"job/test-job/", pb.Event(protocol_version=1, kind=pb.EVENT_JOB_EXPIRED,
                                                   job=state).SerializeToString()])
    assert daemon.wait_for(lambda: (c.permits(0), c.expired)[1])
    assert c.plan is not None and c.lr(0) == c.plan.lr(0)
    # at the gate the daemon says it does not know the job: the client registers again
    daemon.lose_job()
    run(c, 0, E + 1)
    daemon.script.append(lambda d, i, r: (d._decide(0, False, False) if r.WhichOneof("body") == "snapshot"
                                          and d.state is not None else None) and False)
    threading.Timer(0.3, lambda: daemon.decide(0)).start()
    assert c.lr(E + 1) == c.plan.lr(E + 1)
    assert daemon.kinds()[:3] == ["register", "snapshot", "register"]
    assert not c.expired


def test_unknown_job_at_the_first_gate_registers_again(daemon, make_client):
    c = make_client()
    first = c.incarnation
    run(c, 0, E + 1)
    daemon.lose_job()
    threading.Timer(0.4, lambda: daemon.decide(0)).start()
    assert c.lr(E + 1) == c.plan.lr(E + 1)
    kinds = daemon.kinds()
    assert kinds[:4] == ["register", "snapshot", "register", "snapshot"]
    assert c.version == 2 and c.incarnation == daemon.state.incarnation != first
    assert c.stats["incarnations"] == 1


def test_unknown_job_at_a_later_gate_raises_without_registering(daemon, make_client):
    c = make_client()
    run(c, 0, E + 1)
    daemon.decide(0, publish=False)
    run(c, E + 1, 2 * E + 1)
    daemon.lose_job()
    with pytest.raises(ProtocolError) as info:
        c.lr(2 * E + 1)  # waits for epoch 1: the lost job's epoch 0 cannot be made up
    assert info.value.code == pb.ERROR_UNKNOWN_JOB and "epoch 1" in str(info.value)
    assert daemon.kinds().count("register") == 1


def test_a_reply_older_than_an_applied_event_is_not_taken(daemon, make_client):
    c = make_client()
    assert daemon.subscribed.wait(2)
    stale = pb.JobState()
    stale.CopyFrom(daemon.state)  # version 1, the same incarnation

    def answer_with_the_stale_state(d, ident, req):
        if req.WhichOneof("body") != "snapshot":
            return False
        d._decide(0, switch=False, publish=True)  # version 2 is published first...
        time.sleep(0.1)
        d.reply(ident, req, job=stale)  # ...then the (older) reply arrives
        return True

    run(c, 0, E + 1)
    daemon.script.append(answer_with_the_stale_state)
    assert c.lr(E + 1) == c.plan.lr(E + 1)
    assert c.version == 2 and c.plan.decided_through_epoch == 0
    assert daemon.kinds() == ["register", "snapshot"]  # no re-registration: same incarnation, lower version


def test_another_incarnation_replaces_the_state_whatever_its_version(daemon, make_client):
    c = make_client()
    assert daemon.subscribed.wait(2)
    for e in range(3):  # version 4 through events
        daemon.decide(e, publish=True)
    assert daemon.wait_for(lambda: (c.permits(0), c.version)[1] == 4)
    old = pb.JobState()
    old.CopyFrom(daemon.state)
    old_incarnation = c.incarnation
    # the job expired and was registered again by someone else: a new incarnation at version 1
    daemon.call(lambda: daemon._create(daemon.state.spec, "test-job"))
    assert daemon.wait_for(lambda: (c.permits(0), c.incarnation)[1] == daemon.state.incarnation)
    assert c.version == 1 and c.plan.decided_through_epoch == -1 and c.stats["incarnations"] == 1
    # a late event of the replaced incarnation (a higher version!) is not taken back
    old.version = 9
    daemon.publish_raw([b"job/test-job/", pb.Event(protocol_version=1, kind=pb.EVENT_TEST_RESULT,
                                                   job=old).SerializeToString()])
    time.sleep(0.2)
    assert not c.permits(E + 1)
    assert c.incarnation != old_incarnation and c.version == 1 and c.stats["events_stale"] >= 1


def test_an_unparsable_plan_raises(daemon, make_client):
    c = make_client()
    assert daemon.subscribed.wait(2)
    bad = pb.JobState()
    bad.CopyFrom(daemon.state)
    bad.version = 2
    bad.plan.segments[0].start_step = 5  # a plan must start at step 0
    daemon.publish_raw([b"job/test-job/", pb.Event(protocol_version=1, kind=pb.EVENT_TEST_RESULT,
                                                   job=bad).SerializeToString()])
    with pytest.raises(PlanError):
        daemon.wait_for(lambda: c.permits(0) and False, timeout=2)
    assert c.version == 1


# ------------------------------------------------------------------------------------------------ Lazy Pirate

def test_daemon_restart_lazy_pirate_resends_the_same_request(daemon, make_client):
    seen = []

    def restart_on_snapshot(d, ident, req):
        if req.WhichOneof("body") != "snapshot":
            return False
        seen.append(req.request_id)
        d._restart(down_for=1.0)  # no answer; every socket closed; the same ports again in 1 s
        return True

    c = make_client(request_timeout=0.3, wait_ms=100)
    run(c, 0, E + 1)
    daemon.script.append(restart_on_snapshot)
    daemon.script.append(lambda d, i, r: (seen.append(r.request_id), d._decide(0, False, False))[0] is None
                         and False)
    started = time.monotonic()
    assert c.lr(E + 1) == c.plan.lr(E + 1)
    assert time.monotonic() - started >= 0.9
    assert len(seen) == 2 and seen[0] == seen[1], seen  # Lazy Pirate: same request id
    assert c.stats["reconnects"] >= 2 and c.stats["retries"] >= 2
    # after the restart the events SUB and the ingest PUB reconnect by themselves
    assert daemon.subscribed.wait(3)
    daemon.decide(1)
    assert daemon.wait_for(lambda: c.permits(2 * E + 1))
    run(c, E + 1, 2 * E + 1)
    assert daemon.wait_for(lambda: 2 * E - 1 in daemon.received_losses())


def test_request_ids_are_non_zero_and_new_per_request(daemon, make_client):
    c = make_client()
    c._request_id = (1 << 64) - 1  # the last id before the wrap
    c.ping()
    c.ping()
    ids = [r.request_id for r in daemon.requests]
    assert ids[1:] == [(1 << 64) - 1, 1] and all(ids)
    make_client(job_id="test-job")
    assert daemon.requests[-1].request_id not in ids  # random start: two clients' ids differ


def test_replies_to_other_requests_are_discarded(daemon, make_client):
    def wrong_id_first(d, ident, req):
        d.send(ident, pb.Reply(protocol_version=1, request_id=req.request_id + 1000,
                               error=pb.Error(code=pb.ERROR_CONFLICT, message="not for you")))
        d.send(ident, pb.Reply(protocol_version=1, request_id=0,
                               error=pb.Error(code=pb.ERROR_TIMEOUT, message="stale")))
        return False  # then the real answer

    daemon.script.append(wrong_id_first)
    c = make_client()
    assert c.version == 1


def test_internal_error_is_retried_with_backoff(daemon, make_client):
    def internal(d, ident, req):
        d.error(ident, req, pb.ERROR_INTERNAL, "database is locked")
        return True

    daemon.script.extend([internal, internal])
    c = make_client()
    assert daemon.kinds() == ["register"] * 3
    ids = [r.request_id for r in daemon.requests]
    assert len(set(ids)) == 3 and c.version == 1


@pytest.mark.parametrize("code", [pb.ERROR_MALFORMED, pb.ERROR_UNSUPPORTED_VERSION, pb.ERROR_INVALID_ARGUMENT,
                                  pb.ERROR_CONFLICT, pb.ERROR_UNAUTHORIZED, pb.ERROR_TOO_LARGE])
def test_fatal_errors_raise_with_the_daemons_message(daemon, make_client, code):
    daemon.script.append(lambda d, ident, req: d.error(ident, req, code, "rho_w must lie in (0, 1)") or True)
    with pytest.raises(ProtocolError) as info:
        make_client()
    assert info.value.code == code
    assert info.value.code_name == pb.ErrorCode.Name(code)
    assert "rho_w must lie in (0, 1)" in str(info.value)


def test_fatal_error_at_a_gate_raises(daemon, make_client):
    c = make_client()
    run(c, 0, E + 1)
    daemon.call(lambda: setattr(daemon, "token", "rotated"))
    with pytest.raises(ProtocolError, match="ERROR_UNAUTHORIZED"):
        c.lr(E + 1)


def test_malformed_with_request_id_zero_is_the_answer(daemon, make_client):
    def garbage(d, ident, req):
        d.send(ident, pb.Reply(protocol_version=1, request_id=0,
                               error=pb.Error(code=pb.ERROR_MALFORMED, message="does not parse")))
        return True

    daemon.script.append(garbage)
    with pytest.raises(ProtocolError, match="does not parse"):
        make_client()


def test_total_wait_bound_raises(daemon, make_client):
    c = make_client(total_wait=1.0, request_timeout=0.3, wait_ms=100)
    run(c, 0, E + 1)
    daemon.script.extend([ignore] * 50)
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        c.lr(E + 1)
    assert 0.9 <= time.monotonic() - started < 3.0
    assert "epoch 0" in str(info.value) and "guess" in str(info.value)


def test_total_wait_bound_on_timeouts_too(daemon, make_client):
    c = make_client(total_wait=1.0, request_timeout=0.3, wait_ms=100)
    run(c, 0, E + 1)
    with pytest.raises(WaitTimeout):
        c.lr(E + 1)  # the daemon answers ERROR_TIMEOUT forever
    assert len(daemon.snapshots()) >= 5


def test_no_daemon_at_all():
    ctx = zmq.Context()
    s = ctx.socket(zmq.ROUTER)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    s.close(0)  # a port nobody listens on
    ctx.term()
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match="register"):
        RankClient(E, T, job_id="j", control=f"tcp://127.0.0.1:{port}", ingest=f"tcp://127.0.0.1:{port}",
                   events=f"tcp://127.0.0.1:{port}", total_wait=0.8, request_timeout=0.3, wait_ms=100)
    assert time.monotonic() - started < 3.0


# ------------------------------------------------------------------------------------------------ reporting

def test_pending_skips_unreported_steps_and_splits_runs(daemon, make_client):
    daemon.drop_ingest = True
    c = make_client(batch_size=100)
    for t in range(0, E + 1):
        c.lr(t)
        if t not in (3, 4):
            c.report(t, loss_of(t))
    c.report(2, 99.0)  # again: ignored
    threading.Timer(0.3, lambda: daemon.decide(0, publish=False)).start()
    c.lr(E + 1)
    snaps = daemon.snapshots()
    # after ERROR_INCOMPLETE: the run before the gap goes first (need_epoch -1), the run up to t-1 with the
    # repeated need_epoch snapshot
    assert [s.snapshot.need_epoch for s in snaps][:3] == [0, -1, 0]
    assert not snaps[0].snapshot.HasField("pending")
    assert snaps[1].snapshot.pending.first_step == 0 and list(snaps[1].snapshot.pending.losses) == [
        loss_of(t) for t in range(3)]
    assert snaps[2].snapshot.pending.first_step == 5
    assert list(snaps[2].snapshot.pending.losses) == [loss_of(t) for t in range(5, E + 1)]


def test_resumed_rank_pending_starts_at_its_first_step(daemon, make_client):
    daemon.drop_ingest = True
    start = 2 * E + 3
    c = make_client(start_step=start)
    daemon.decide(0, publish=False)
    daemon.decide(1, publish=False)
    c.snapshot()
    assert c.plan.decided_through_epoch == 1
    run(c, start, 3 * E + 1)
    def decide_once_the_pending_losses_came():  # not on a timer: a loaded machine must not change the order
        daemon.wait_for(lambda: any(r.snapshot.HasField("pending") for r in daemon.snapshots()), timeout=60)
        daemon.decide(2, publish=False)

    threading.Thread(target=decide_once_the_pending_losses_came, daemon=True).start()
    c.lr(3 * E + 1)
    s = daemon.snapshots()[-1].snapshot
    assert s.need_epoch == 2 and s.pending.first_step == start
    assert len(s.pending.losses) == 3 * E + 1 - start


def test_nan_inf_and_negative_zero_losses_travel_exactly(daemon, make_client):
    c = make_client(batch_size=4)
    values = [math.nan, math.inf, -math.inf, -0.0]
    for t, v in enumerate(values):
        c.lr(t)
        c.report(t, v)
    assert daemon.wait_for(lambda: len(daemon.batches) == 1)
    assert [bits(x) for x in daemon.batches[0].losses] == [bits(v) for v in values]


def test_rank_zero_mode_other_ranks_do_not_report(daemon, make_client):
    c0 = make_client(reporting="rank_zero", rank=0, world_size=2)
    c1 = make_client(reporting="rank_zero", rank=1, world_size=2)
    run(c1, 0, E)
    run(c0, 0, E)
    assert daemon.wait_for(lambda: len(daemon.batches) == 1)
    time.sleep(0.1)
    assert [b.rank for b in daemon.batches] == [0]


def test_close_flushes_unsent_losses(daemon, make_client):
    c = make_client(batch_size=100)
    run(c, 0, 3)
    c.close()
    assert daemon.wait_for(lambda: len(daemon.received_losses()) == 3)
    c.close()  # idempotent


def test_context_manager(daemon):
    with RankClient(E, T, job_id="cm", **daemon.endpoints()) as c:
        assert c.ping().version == "fake"
        assert [j.job_id for j in c.status().jobs] == ["cm"]
    assert c._sub is None


def test_curve(monkeypatch):
    if not zmq.has("curve"):
        pytest.skip("libzmq without CURVE")
    public, secret = zmq.curve_keypair()
    d = FakeDaemon(curve_secret_key=secret)
    try:
        monkeypatch.setenv("AUTOWU_SERVER_KEY", public.decode())
        monkeypatch.setenv("AUTOWU_JOB", "curvy")
        with RankClient(E, T, total_wait=5, request_timeout=0.4, wait_ms=200, **d.endpoints()) as c:
            assert c.version == 1
            run(c, 0, E)
            assert d.wait_for(lambda: len(d.received_losses()) == E)
        monkeypatch.setenv("AUTOWU_SERVER_KEY", zmq.curve_keypair()[0].decode())  # the wrong server key
        with pytest.raises(HandshakeError, match="wrong server key"):
            RankClient(E, T, total_wait=0.8, request_timeout=0.3, wait_ms=100, **d.endpoints())
    finally:
        d.close()


# ------------------------------------------------------------------------------------------------ overhead

def test_per_step_overhead_is_small(daemon, make_client):
    c = make_client(steps_per_epoch=1000, total_steps=1 << 30, batch_size=32)
    daemon.decide(1 << 20, publish=False)
    c.snapshot()  # every step permitted
    n = 100_000
    step = c.step
    started = time.perf_counter()
    for _ in range(n):
        step(0.5)
    per_step = (time.perf_counter() - started) / n * 1e6
    lr = c.lr
    started = time.perf_counter()
    for _ in range(n):
        lr()
        step(0.5)
    per_iteration = (time.perf_counter() - started) / n * 1e6
    print(f"step(): {per_step:.2f} us; lr() + step(): {per_iteration:.2f} us")
    # generous bounds (shared CI machines); the target is < 5 us for step()
    assert per_step < 25 and per_iteration < 50


def test_a_burst_of_events_is_applied_in_order(daemon, make_client):
    c = make_client()
    assert daemon.subscribed.wait(2)
    for e in range(5):
        daemon.decide(e, publish=True)
    assert daemon.wait_for(lambda: (c.permits(0), c.version)[1] == 6)
    assert c.plan.decided_through_epoch == 4
    lrs = run(c, 0, 5 * E + 2)
    assert lrs == [c.plan.lr(t) for t in range(5 * E + 2)]
    assert daemon.snapshots() == []
