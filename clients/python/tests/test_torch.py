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
