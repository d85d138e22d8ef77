"""autowu.plan beyond the vectors: validation, IEEE edge cases, gates by brute force."""

import math
import random

import pytest

from autowu import Plan, PlanError
from autowu._proto import autowu_pb2 as pb
from autowu.plan import (_div, _pow, constant, cosine, decay_segments, default_plan, exponential, linear,
                         required_epoch, switched_plan, warmup_steps)


def bits(x):
    return x.hex() if x == x else "nan"


def test_validation():
    with pytest.raises(PlanError):
        Plan([], 10)
    with pytest.raises(PlanError, match="step 0"):
        Plan([constant(1, 1.0)], 10)
    with pytest.raises(PlanError, match="strictly increasing"):
        Plan([constant(0, 1.0), constant(0, 2.0)], 10)
    with pytest.raises(PlanError, match="steps_per_epoch"):
        Plan([constant(0, 1.0)], 0)
    with pytest.raises(PlanError, match="2\\^40"):
        Plan([cosine(0, 0, (1 << 40) + 1, 1.0)], 10)
    with pytest.raises(PlanError, match="decided_through_epoch"):
        Plan([constant(0, 1.0)], 10, decided_through_epoch=-2)
    with pytest.raises(PlanError, match="no formula"):
        Plan.from_proto(pb.Plan(segments=[pb.Segment(start_step=0)], steps_per_epoch=1))
    with pytest.raises(ValueError):
        Plan([constant(0, 1.0)], 10).lr(-1)


def test_proto_round_trip():
    plan = default_plan(1000, 10, decay="constant_cosine", decided_through_epoch=3)
    again = Plan.from_bytes(plan.to_proto().SerializeToString())
    assert again == plan
    assert [bits(again.lr(t)) for t in range(0, 1100, 7)] == [bits(plan.lr(t)) for t in range(0, 1100, 7)]


def test_ieee_division_and_pow():
    assert _div(1.0, 0.0) == math.inf and _div(-1.0, 0.0) == -math.inf and _div(1.0, -0.0) == -math.inf
    assert math.isnan(_div(0.0, 0.0)) and math.isnan(_div(math.nan, 0.0))
    assert math.isnan(_pow(-2.0, 0.5))
    assert _pow(math.inf, 0.5) == math.inf and _pow(math.inf, 0.0) == 1.0
    # an exponential from rate 0 (never built by the daemon) evaluates like C: 0 * pow(inf, p)
    plan = Plan([exponential(0, 0, 10, 0.0, 1.0)], 10)
    assert plan.lr(0) == 0.0 * 1.0 and math.isnan(plan.lr(5))
    assert bits(plan.lr(5)) == bits(plan.reference_lr(5))
    neg = Plan([exponential(0, 0, 10, -1.0, 1.0)], 10)
    assert math.isnan(neg.lr(5)) and neg.lr(10) == -1.0 * -1.0


def test_fast_equals_reference_randomly():
    rng = random.Random(7)
    for _ in range(200):
        T = rng.randint(1, 1 << rng.randint(1, 40))
        rho = rng.uniform(0.01, 0.99)
        if warmup_steps(rho, T) < 1:
            continue
        plan = default_plan(T, max(1, T // rng.randint(1, 50)), eta_min=10 ** rng.uniform(-8, -2),
                            eta_max=10 ** rng.uniform(-1.5, 0.5), rho_w=rho,
                            warmup=rng.choice(["exponential", "linear"]),
                            decay=rng.choice(["cosine", "constant_cosine"]), cosine_fraction=rng.uniform(0.01, 1.0))
        if rng.random() < 0.5:
            plan = switched_plan(plan, rng.randint(1, T), rng.uniform(0, 1), T,
                                 rng.choice(["cosine", "constant_cosine"]))
        for t in [rng.randint(0, 2 * T) for _ in range(30)]:
            assert bits(plan.lr(t)) == bits(plan.reference_lr(t)), (plan, t)


def test_required_epoch_brute_force():
    for E in (1, 2, 3, 7, 10):
        for d in (0, 1, 2, 5, 11):
            for W in (0, 1, 5, 10, 23, 50):
                for t in range(0, 80):
                    expect = max([e for e in range(0, 100) if (e + 1) * E + d <= t and (e + 1) * E + d < W],
                                 default=-1)
                    assert required_epoch(t, E, d, W) == expect, (t, E, d, W)
                for decided in (-1, 0, 1, 3, 100):
                    plan = Plan([constant(0, 1.0)], E, d, W, decided)
                    for t in range(0, 80):
                        assert plan.permits(t) == (t < plan.permit_limit) == (decided >= required_epoch(t, E, d, W))


def test_decay_segments():
    assert decay_segments(300, 0.5, 1000, "constant_cosine") == [constant(300, 0.5), cosine(800, 800, 1000, 0.5)]
    assert decay_segments(900, 0.5, 1000, "constant_cosine") == [cosine(900, 900, 1000, 0.5)]
    assert decay_segments(300, 0.5, 1000, "constant_cosine", 1.0) == [cosine(300, 300, 1000, 0.5)]
    assert decay_segments(300, 0.5, 1000, "cosine") == [cosine(300, 300, 1000, 0.5)]


def test_default_plan_shape():
    plan = default_plan(1000, 10)
    assert plan.warmup_steps == 500 and plan.permit_limit == 11 and not plan.final
    assert plan.segments[0] == exponential(0, 0, 500, 1e-5, 1.0)
    assert plan.lr(500) == 1e-5 * math.pow(1.0 / 1e-5, 1.0)
    lin = default_plan(1000, 10, warmup="linear", rho_w=0.25)
    assert lin.segments[0] == linear(0, 0, 250, 1e-5, 1.0) and lin.lr(250) == 1.0
    final = switched_plan(plan, 317, 0.01, 1000)
    assert final.final and final.permit_limit == math.inf and final.lr(317) == 0.01 and final.lr(1000) == 0.0
    assert final.lr(316) == plan.lr(316)


def test_default_plan_with_the_climb_limit():
    # W = 80 at 40 steps per decade: the ramp starts at 1e-2 (SPEC section 6, "Climb limit"); W = 200 keeps 1e-5
    plan = default_plan(160, 4, steps_per_decade=40)
    assert plan.segments[0] == exponential(0, 0, 80, 1.0 * _pow(10.0, -80 / 40), 1.0)
    assert plan.lr(0) == pytest.approx(0.01, rel=1e-15) and plan.lr(40) == pytest.approx(0.1, rel=1e-14)
    assert default_plan(400, 4, steps_per_decade=40).lr(0) == 1e-5
    assert default_plan(160, 4).lr(0) == 1e-5  # off unless asked for
    assert default_plan(160, 4, warmup="linear", steps_per_decade=40).lr(0) == 1e-5  # exponential only
