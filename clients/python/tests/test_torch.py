"""autowu.torch.AutoWULR against the fake daemon. Skipped when torch is not importable."""

import struct
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")

from autowu import Plan  # noqa: E402
from autowu.plan import default_plan  # noqa: E402
from autowu.torch import AutoWULR  # noqa: E402

E, EPOCHS = 10, 20
T = E * EPOCHS


def bits(x):
    return struct.pack(">d", x).hex()


def model_and_optimizer(lrs=(0.1, 0.05)):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 1))
    groups = [{"params": model[0].parameters(), "lr": lrs[0]}, {"params": model[1].parameters(), "lr": lrs[1]}]
    return model, torch.optim.SGD(groups, lr=lrs[0])


@pytest.fixture
def make_scheduler(daemon):
    made = []

    def make(optimizer, **kw):
        kw.setdefault("job_id", "torch-job")
        kw.setdefault("request_timeout", 0.4)
        kw.setdefault("wait_ms", 200)
        kw.setdefault("total_wait", 10.0)
        for name, value in daemon.endpoints().items():
            kw.setdefault(name, value)
        s = AutoWULR(optimizer, E, total_epochs=EPOCHS, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def train(model, optimizer, scheduler, steps, losses_out=None):
    x = torch.randn(16, 4)
    y = torch.randn(16, 1)
    lrs = []
    for _ in range(steps):
        lrs.append([g["lr"] for g in optimizer.param_groups])
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if losses_out is not None:
            losses_out.append(loss.detach().double().item())
        scheduler.step(loss)
    return lrs


def test_importing_autowu_does_not_import_torch():
    code = "import sys, autowu, autowu.client, autowu.plan, autowu.env; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lrs_follow_the_plan_with_group_ratios(daemon, make_scheduler, monkeypatch):
    daemon.auto_decide = True
    daemon.switch_at_epoch = 6
    model, opt = model_and_optimizer()
    sched = make_scheduler(opt, batch_size=4)
    # no host sync per step: .item() / float() on a tensor would fail here
    monkeypatch.setattr(torch.Tensor, "item", lambda self: pytest.fail("item() called"))
    monkeypatch.setattr(torch.Tensor, "__float__", lambda self: pytest.fail("float() called"))
    flushes = []
    real_flush = sched._flush_device

    def counting_flush():
        if sched._buf_n:
            flushes.append(sched._buf_n)
        real_flush()

    monkeypatch.setattr(sched, "_flush_device", counting_flush)
    lrs = train(model, opt, sched, T)
    monkeypatch.undo()
    final = Plan.from_proto(daemon.state.plan)
    before = default_plan(T, E)
    switch = final.gate(6)
    for t, (lr0, lr1) in enumerate(lrs):
        expected = before.lr(t) if t < switch else final.lr(t)
        assert bits(lr0) == bits(expected), t
        assert lr1 == expected * 0.5
    assert sched.last_epoch == T and sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
    # one transfer per 4 losses, or at an epoch end (never per step)
    assert all(n <= 4 for n in flushes) and sum(flushes) == T
    assert len(flushes) <= T // 4 + EPOCHS
    assert daemon.wait_for(lambda: len(daemon.received_losses()) == T)


def test_losses_reported_exactly(daemon, make_scheduler):
    model, opt = model_and_optimizer()
    sched = make_scheduler(opt, batch_size=8)
    daemon.decide(EPOCHS, publish=False)
    sched.client.snapshot()
    losses = []
    train(model, opt, sched, 2 * E, losses)
    assert daemon.wait_for(lambda: len(daemon.received_losses()) == 2 * E)
    got = daemon.received_losses()
    assert [bits(got[t]) for t in range(2 * E)] == [bits(x) for x in losses]


def test_gate_flushes_the_device_buffer_into_pending(daemon, make_scheduler):
    daemon.drop_ingest = True  # the losses reach the daemon only as a snapshot's pending
    model, opt = model_and_optimizer()
    sched = make_scheduler(opt, batch_size=32, wait_ms=1000, request_timeout=1.5)
    losses = []
    import threading

    threading.Timer(0.5, lambda: daemon.decide(0, publish=False)).start()
    train(model, opt, sched, E + 1, losses)  # the last step() sets the LR of step 11 = g(0): waits
    first, second = [r.snapshot for r in daemon.snapshots()][:2]
    assert first.need_epoch == 0 and not first.HasField("pending")  # ERROR_INCOMPLETE follows
    assert second.need_epoch == 0 and second.pending.first_step == 0
    assert [bits(x) for x in second.pending.losses] == [bits(x) for x in losses]


def test_resume_from_checkpoint_does_not_warm_up_again(daemon, make_scheduler):
    daemon.auto_decide = True
    model, opt = model_and_optimizer()
    sched = make_scheduler(opt, batch_size=4)
    train(model, opt, sched, 25)
    state = sched.state_dict()
    lr_at_25 = opt.param_groups[0]["lr"]
    assert state["last_epoch"] == 25
    assert state["autowu"]["kept_first_step"] <= 25
    sched.close()
    blob = {"sched": state}
    buffer = __import__("io").BytesIO()
    torch.save(blob, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)["sched"]

    model2, opt2 = model_and_optimizer()
    sched2 = make_scheduler(opt2, batch_size=4)  # a new process: same job id, new client
    assert opt2.param_groups[0]["lr"] == default_plan(T, E).lr(0)  # before loading: step 0
    sched2.load_state_dict(state)
    assert sched2.last_epoch == 25
    assert opt2.param_groups[0]["lr"] == lr_at_25 == Plan.from_proto(daemon.state.plan).lr(25)
    before = len(daemon.requests)
    lrs = train(model2, opt2, sched2, 10)
    plan = Plan.from_proto(daemon.state.plan)
    assert [bits(l[0]) for l in lrs] == [bits(plan.lr(t)) for t in range(25, 35)]
    assert all(r.WhichOneof("body") != "register" for r in daemon.requests[before:])
    sched2.close()  # 34 may still be in the device buffer
    assert daemon.wait_for(lambda: 34 in daemon.received_losses())


def test_state_dict_rejects_another_run(daemon, make_scheduler):
    model, opt = model_and_optimizer()
    sched = make_scheduler(opt)
    state = sched.state_dict()
    state["autowu"]["total_steps"] = 999
    with pytest.raises(ValueError, match="total_steps"):
        sched.load_state_dict(state)


def test_zero_base_lr_gives_every_group_autowus_lr(daemon, make_scheduler):
    model, opt = model_and_optimizer(lrs=(0.0, 0.3))
    sched = make_scheduler(opt)
    assert [g["lr"] for g in opt.param_groups] == [sched.autowu_lr] * 2


def test_arguments():
    model, opt = model_and_optimizer()
    with pytest.raises(ValueError):
        AutoWULR(opt, E)
    with pytest.raises(ValueError):
        AutoWULR(opt, E, total_epochs=2, total_steps=3)


def test_non_scalar_loss_is_refused(daemon, make_scheduler):
    model, opt = model_and_optimizer()
    sched = make_scheduler(opt)
    with pytest.raises(ValueError, match="scalar"):
        sched.step(torch.ones(3))


def test_float_losses_work_too(daemon, make_scheduler):
    model, opt = model_and_optimizer()
    sched = make_scheduler(opt, batch_size=2)
    for t in range(4):
        sched.step(torch.tensor(float(t)) if t % 2 else float(t))
    sched.close()  # flushes the device buffer and the client
    assert daemon.wait_for(lambda: len(daemon.received_losses()) == 4)
    assert daemon.received_losses() == {0: 0.0, 1: 1.0, 2: 2.0, 3: 3.0}


def test_step_overhead(daemon, make_scheduler):
    model, opt = model_and_optimizer()
    sched = make_scheduler(opt, batch_size=32)
    daemon.decide(EPOCHS, publish=False)
    sched.client.snapshot()
    loss = torch.tensor(0.5, requires_grad=True) * 2
    n = 5000
    sched.last_epoch = 0
    started = time.perf_counter()
    for _ in range(n):
        sched.step(loss)
    per_step = (time.perf_counter() - started) / n * 1e6
    print(f"AutoWULR.step(loss): {per_step:.1f} us")
    assert per_step < 200


# ==================================================================== no silent failure (issue 10)

def test_step_without_a_loss_during_the_warmup_raises_at_once(daemon, make_scheduler):
    from autowu.client import MissingLossError

    model, opt = model_and_optimizer()
    sched = make_scheduler(opt)
    train(model, opt, sched, 3)
    lr_before = opt.param_groups[0]["lr"]
    with pytest.raises(MissingLossError) as info:
        sched.step()  # what Lightning, the HF Trainer and DeepSpeed do
    message = str(info.value)
    assert "step 3" in message and "scheduler.step(loss)" in message
    assert "autowu.lightning.AutoWUCallback" in message and "autowu.transformers.AutoWUCallback" in message
    # nothing moved: the same step can be reported properly
    assert sched.last_epoch == 3 and opt.param_groups[0]["lr"] == lr_before
    sched.step(torch.tensor(0.5))
    assert sched.last_epoch == 4
    assert not daemon.snapshots()  # it raised before anything went to the daemon


def test_step_without_a_loss_is_fine_once_the_warmup_is_final(daemon, make_scheduler):
    model, opt = model_and_optimizer()
    sched = make_scheduler(opt)
    train(model, opt, sched, 2)
    daemon.decide(0, switch=True)  # published: the plan is final from the event on
    deadline = time.monotonic() + 5
    while not sched.warmup_final and time.monotonic() < deadline:
        sched.client.permits(0)  # applies queued events
        time.sleep(0.01)
    assert sched.warmup_final
    plan = Plan.from_proto(daemon.state.plan)
    for t in range(2, 2 + 3 * E):
        sched.step()
        assert sched.last_epoch == t + 1 and bits(opt.param_groups[0]["lr"]) == bits(plan.lr(t + 1))


def test_rank_zero_mode_other_ranks_need_no_loss(daemon, make_scheduler):
    model, opt = model_and_optimizer()
    sched = make_scheduler(opt, rank=1, world_size=2, reporting="rank_zero")
    daemon.decide(1, publish=False)
    sched.client.snapshot()
    for _ in range(2 * E):
        sched.step()
    assert sched.last_epoch == 2 * E


def test_accumulated_losses_are_summed_on_the_device_and_reported_by_step(daemon, make_scheduler, monkeypatch):
    model, opt = model_and_optimizer()
    sched = make_scheduler(opt, batch_size=4)
    daemon.decide(EPOCHS, publish=False)
    sched.client.snapshot()
    micro = [[torch.tensor(v, dtype=torch.float32) for v in (0.25, 0.5, 0.125)],
             [torch.tensor(1.5)], [torch.tensor(0.75), torch.tensor(0.25)], [torch.tensor(2.0)]]
    monkeypatch.setattr(torch.Tensor, "item", lambda self: pytest.fail("item() called"))
    monkeypatch.setattr(torch.Tensor, "__float__", lambda self: pytest.fail("float() called"))
    for step_losses in micro[:3]:
        for loss in step_losses:
            sched.accumulate_loss(loss)
        sched.step()  # the framework's call, without arguments
    monkeypatch.undo()
    sched.accumulate_loss(0.5)  # floats work too
    sched.accumulate_loss(torch.tensor(1.0))
    sched.step()
    sched.close()
    assert daemon.wait_for(lambda: len(daemon.received_losses()) == 4)
    assert daemon.received_losses() == {0: 0.875, 1: 1.5, 2: 1.0, 3: 1.5}
    with pytest.raises(ValueError, match="one way"):
        sched.accumulate_loss(torch.tensor(1.0))
        sched.step(torch.tensor(1.0))


# ==================================================================== checkpoints you can't mix up

def test_state_dict_records_the_jobs_identity(daemon, make_scheduler):
    model, opt = model_and_optimizer()
    sched = make_scheduler(opt, rank=1, world_size=2)
    extra = sched.state_dict()["autowu"]
    assert (extra["job_id"], extra["rank"], extra["world_size"]) == ("torch-job", 1, 2)
    assert extra["incarnation"] == daemon.state.incarnation != 0


def test_another_ranks_or_jobs_state_is_refused(daemon, make_scheduler):
    from autowu.torch import StateMismatchError

    model, opt = model_and_optimizer()
    rank0 = make_scheduler(opt, rank=0, world_size=2, batch_size=4)
    train(model, opt, rank0, 5)
    state0 = rank0.state_dict()
    _, opt1 = model_and_optimizer()
    rank1 = make_scheduler(opt1, rank=1, world_size=2)
    with pytest.raises(StateMismatchError, match="rank 0 .* this is rank 1"):
        rank1.load_state_dict(state0)
    assert rank1.last_epoch == 0  # untouched
    other_job = dict(state0, autowu=dict(state0["autowu"], job_id="someone-else"))
    with pytest.raises(StateMismatchError, match="someone-else"):
        rank0.load_state_dict(other_job)
    other_incarnation = dict(state0, autowu=dict(state0["autowu"], incarnation=12345))
    with pytest.raises(StateMismatchError, match="incarnation"):
        rank0.load_state_dict(other_incarnation)
    other_world = dict(state0, autowu=dict(state0["autowu"], world_size=4))
    with pytest.raises(StateMismatchError, match="4 ranks"):
        rank0.load_state_dict(other_world)
    rank0.load_state_dict(state0)  # its own: fine
    assert rank0.last_epoch == 5


def test_gathered_states_give_each_rank_its_own_losses(daemon, make_scheduler):
    from autowu.torch import gather_state_dicts

    daemon.drop_ingest = True  # the daemon keeps nothing: the checkpoint's losses are all there is
    scheds, opts = [], []
    for r in range(2):
        _, o = model_and_optimizer()
        opts.append(o)
        scheds.append(make_scheduler(o, rank=r, world_size=2, batch_size=4))
    for t in range(7):
        for r, s in enumerate(scheds):
            s.step(torch.tensor(float(10 * r + t)))
    gathered = gather_state_dicts([scheds[1].state_dict(), scheds[0].state_dict()])
    assert gathered["autowu"]["rank"] is None and sorted(gathered["autowu"]["ranks"]) == [0, 1]
    buffer = __import__("io").BytesIO()
    torch.save(gathered, buffer)  # weights_only-loadable, as frameworks load checkpoints
    buffer.seek(0)
    gathered = torch.load(buffer, weights_only=True)
    for s in scheds:
        s.client.abort()
    resumed = []
    for r in range(2):
        _, o = model_and_optimizer()
        s = make_scheduler(o, rank=r, world_size=2, batch_size=4)
        s.load_state_dict(gathered)
        resumed.append(s)
        assert s.last_epoch == 7
        first, kept = s.client.kept_losses()
        assert first == 0 and kept == [float(10 * r + t) for t in range(7)]
    with pytest.raises(Exception, match="differ"):
        gather_state_dicts([resumed[0].state_dict(), dict(resumed[1].state_dict(), last_epoch=3)])


# ==================================================================== the latest verdict

def test_last_verdict_is_a_plain_dict_and_metrics_have_stable_keys(daemon, make_scheduler):
    from autowu._proto import autowu_pb2 as pb
    from autowu.client import verdict_metrics

    model, opt = model_and_optimizer()
    sched = make_scheduler(opt)
    assert sched.last_verdict is None and verdict_metrics(None) == {}

    def add_verdict():
        daemon.state.last_verdict.CopyFrom(pb.Verdict(
            epoch=4, step=50, lr=0.003, p_min=[0.97, 0.99, 0.5, 0.96, 0.98], votes=4, positive=True, streak=2,
            tested=True, outliers=3, note="", holding=True, reports_missing=0))
        daemon.state.version += 1

    daemon.call(add_verdict)
    sched.client.snapshot()
    v = sched.last_verdict
    assert v["epoch"] == 4 and v["votes"] == 4 and v["streak"] == 2 and v["positive"] is True
    assert v["outliers"] == 3 and v["holding"] is True and v["note"] == "" and v["phase"] == "warmup"
    assert v["p_min"] == [0.97, 0.99, 0.5, 0.96, 0.98] and v["switched"] is False and v["switch_step"] is None
    assert __import__("json").loads(__import__("json").dumps(v)) == v  # plain data
    m = verdict_metrics(v)
    assert m["autowu/epoch"] == 4.0 and m["autowu/votes"] == 4.0 and m["autowu/holding"] == 1.0
    assert m["autowu/p_min/2"] == 0.5 and m["autowu/p_min_max"] == 0.99 and m["autowu/phase"] == 0.0
    assert "autowu/switch_step" not in m and all(isinstance(x, float) for x in m.values())

    daemon.decide(5, switch=True, publish=False)
    sched.client.snapshot()
    v = sched.last_verdict
    assert v["switched"] and v["phase"] == "decay" and v["reason"] == "gp_test"
    assert v["switch_step"] == (5 + 1) * E + 1 and v["switch_lr"] == daemon.switch_rate
    m = verdict_metrics(v)
    assert m["autowu/switch_step"] == float((5 + 1) * E + 1) and m["autowu/phase"] == 1.0


# ==================================================================== RankClient: a gate reached without reports
# (RankClient tests; here because this file is the one this change owns: they need no torch)

def test_a_rank_that_reported_nothing_of_an_epoch_raises_at_its_gate_before_asking(daemon, make_client):
    from autowu.client import MissingLossError

    c = make_client()
    for t in range(E + 1):
        c.lr(t)  # runs the steps, reports nothing
    with pytest.raises(MissingLossError, match=r"epoch 0 .*without having reported the loss of any of its steps "
                                               r"0\.\.9"):
        c.lr(E + 1)  # g(0) = 11
    assert not daemon.snapshots()  # raised before asking: the daemon was not made to wait for this rank


def test_one_reported_loss_of_the_epoch_is_enough_and_restarted_ranks_are_not_blamed(daemon, make_client):
    daemon.auto_decide = True
    c = make_client()
    for t in range(E + 1):
        c.lr(t)
        if t == 3:
            c.report(t, 1.0)  # the other steps are missing: the daemon closes the epoch with what it has
    c.lr(E + 1)
    # a rank restarted at step 2E + 5 ran no step of epoch 1 before it: its gate for epoch 2 checks 25..29
    late = make_client(start_step=2 * E + 5, job_id="test-job")
    for t in range(2 * E + 5, 3 * E + 1):
        late.lr(t)
        late.report(t, 2.0)
    late.lr(3 * E + 1)
    assert late.plan.decided_through_epoch >= 2


# ==================================================================== the TensorBoard example, real daemon

def test_tensorboard_example_logs_every_verdict(tmp_path):
    import os

    import real_daemon as rd

    if rd.missing_reason():
        pytest.skip(rd.missing_reason())
    pytest.importorskip("tensorboard", reason="pip install tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from autowu.client import verdict_metrics

    daemon = rd.RealDaemon(tmp_path / "data")
    try:
        env = daemon.environment()
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(rd.REPO / "clients" / "python"),
                                                          env.get("PYTHONPATH")]))
        done = subprocess.run([sys.executable, str(rd.REPO / "examples" / "tensorboard_verdicts.py"), "--log-dir",
                               str(tmp_path / "tb"), "--job-id", "tb-example"], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        state = daemon.status("tb-example")
    finally:
        daemon.stop()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    from autowu.client import verdict_dict

    assert set(verdict_metrics(verdict_dict(state))) <= set(scalars)
    epochs = [int(e.value) for e in events.Scalars("autowu/epoch")]
    assert state.decision.reason == "gp_test" and epochs == list(range(state.decision.epoch + 1))
    assert [e.value for e in events.Scalars("autowu/switch_step")] == [state.decision.step]
    plan = Plan.from_proto(state.plan)
    lrs = events.Scalars("lr")  # stored as float32 by TensorBoard
    assert [e.step for e in lrs] == list(range(8 * 30))
    assert all(e.value == pytest.approx(plan.lr(e.step), rel=1e-6) for e in lrs)
    assert "autowu/decision" in "".join(events.Tags()["tensors"])
