#!/usr/bin/env python3
"""Generates the protocol's test vectors: plans.json, gates.json and messages.json (SPEC section 10).

    python protocol/vectors/generate.py           # (re)write the three files next to this script
    python protocol/vectors/generate.py --check   # exit 1 if a file differs from what would be written

Needs the Python client package (clients/python, imported from this checkout) and its dependencies
(protobuf, pyzmq). The output is deterministic: keys sorted, lists in a fixed order, floats as the
shortest repr that round-trips, LRs and losses also as the hex of their IEEE-754 bit pattern.

The LR of each vector is computed twice and must agree bit for bit: by ``spec_lr`` below, written from
SPEC section 6 alone, and by the package's ``autowu.plan.Plan.lr``. Gates likewise: ``spec_required`` is
the definition of SPEC section 7 checked by brute force (or, for huge steps, by checking that e satisfies
the condition and e + 1 does not), against ``autowu.plan.required_epoch``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))

from google.protobuf import json_format  # noqa: E402

from autowu import plan as P  # noqa: E402
from autowu._proto import autowu_pb2 as pb  # noqa: E402

T40 = 1 << 40
PI = float.fromhex("0x1.921fb54442d18p+1")  # 0x400921FB54442D18


# ============================================================================ helpers

def hex64(x: float) -> str:
    """"0x" + the 16 hex digits of the IEEE-754 binary64 bit pattern (big-endian)."""
    return "0x" + struct.pack(">d", x).hex()


def from_hex64(s: str) -> float:
    return struct.unpack(">d", bytes.fromhex(s[2:]))[0]


def to_json(msg) -> dict:
    """The proto3 JSON mapping (lowerCamelCase names, 64-bit integers as strings, enums by name)."""
    return json_format.MessageToDict(msg)


def to_hex(msg) -> str:
    return msg.SerializeToString(deterministic=True).hex()


def dump(obj) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


# ============================================================================ SPEC section 6, literally

def spec_lr(plan: pb.Plan, t: int) -> float:
    """The LR of step t: SPEC section 6, operation by operation."""
    # 1. the last segment with start_step <= t
    chosen = None
    for seg in plan.segments:
        if seg.start_step <= t:
            chosen = seg
    assert chosen is not None, "plans start at step 0"
    kind = chosen.WhichOneof("formula")
    f = getattr(chosen, kind)
    if kind == "constant":
        return f.rate
    # 2. p
    if f.to_step <= f.from_step:
        p = 1.0
    else:
        p = (float(t) - float(f.from_step)) / float(f.to_step - f.from_step)
        p = min(max(p, 0.0), 1.0)
    # 3. the formula
    if kind == "exponential":
        return f.from_rate * math.pow(f.to_rate / f.from_rate, p)
    if kind == "linear":
        return f.from_rate + (f.to_rate - f.from_rate) * p
    if kind == "cosine":
        return f.from_rate * 0.5 * (1.0 + math.cos(PI * p))
    raise AssertionError(kind)


# ============================================================================ SPEC section 7, literally

def spec_required(t: int, E: int, d: int, W: int) -> int:
    """required(t) = max { e >= 0 : g(e) <= t and g(e) < W }, or -1; g(e) = (e + 1) * E + d."""
    g = lambda e: (e + 1) * E + d  # noqa: E731
    ok = lambda e: g(e) <= t and g(e) < W  # noqa: E731
    if max(t, W) // E < 100000:  # brute force
        best = -1
        e = 0
        while g(e) <= max(t, W):
            if ok(e):
                best = e
            e += 1
        return best
    e = P.required_epoch(t, E, d, W)
    if e >= 0:
        assert ok(e) and not ok(e + 1), (t, E, d, W, e)
    else:
        assert not ok(0), (t, E, d, W)
    return e


# ============================================================================ plans

def seg_exp(start, t0, t1, r0, r1):
    return pb.Segment(start_step=start, exponential=pb.Exponential(from_step=t0, to_step=t1, from_rate=r0, to_rate=r1))


def seg_lin(start, t0, t1, r0, r1):
    return pb.Segment(start_step=start, linear=pb.Linear(from_step=t0, to_step=t1, from_rate=r0, to_rate=r1))


def seg_const(start, r):
    return pb.Segment(start_step=start, constant=pb.Constant(rate=r))


def seg_cos(start, t0, t1, r0):
    return pb.Segment(start_step=start, cosine=pb.Cosine(from_step=t0, to_step=t1, from_rate=r0))


def make_plan(segments, E, d, W, decided=-1, final=False) -> pb.Plan:
    return pb.Plan(segments=segments, steps_per_epoch=E, decision_delay_steps=d, warmup_steps=W,
                   decided_through_epoch=decided, final=final)


def warmup_steps(rho_w: float, T: int) -> int:
    return int(math.floor(rho_w * float(T)))


def decay(s: int, r: float, T: int, kind: str, f: float = 0.2) -> list:
    """SPEC section 6: the decay from step s at rate r."""
    if kind == "cosine":
        return [seg_cos(s, s, T, r)]
    c = max(s, T - int(math.floor(f * float(T))))
    out = [seg_const(s, r)] if c > s else []
    return out + [seg_cos(c, c, T, r)]


def warmup_segment(shape: str, W: int, eta_min: float, eta_max: float) -> pb.Segment:
    return seg_exp(0, 0, W, eta_min, eta_max) if shape == "exponential" else seg_lin(0, 0, W, eta_min, eta_max)


def before_switch(T, E, d, rho_w, eta_min, eta_max, shape="exponential", kind="cosine", f=0.2, decided=-1):
    """The plan the daemon publishes before the switch: warmup, then the decay from W at the warmup's LR at W."""
    W = warmup_steps(rho_w, T)
    head = warmup_segment(shape, W, eta_min, eta_max)
    r = spec_lr(make_plan([head], E, d, W), W)
    return make_plan([head] + decay(W, r, T, kind, f), E, d, W, decided), W


def after_switch(T, E, d, rho_w, eta_min, eta_max, s, r, shape="exponential", kind="cosine", f=0.2, decided=0):
    """The plan after the switch at step s with rate r: the warmup's segments before s, then the decay."""
    W = warmup_steps(rho_w, T)
    head = warmup_segment(shape, W, eta_min, eta_max)
    segments = ([head] if s > 0 else []) + decay(s, r, T, kind, f)
    return make_plan(segments, E, d, W, decided, final=True), W


def lr_at_fraction(eta_min: float, eta_max: float, W: int, x: float) -> float:
    """The warmup's LR at a fractional step x (how the daemon gets the switch rate from t*)."""
    p = min(max(x / float(W), 0.0), 1.0)
    return eta_min * math.pow(eta_max / eta_min, p)


def interesting_steps(plan: pb.Plan, T: Optional[int], extra=()) -> List[int]:
    E, d, W = plan.steps_per_epoch, plan.decision_delay_steps, plan.warmup_steps
    pts = {0, 1, 2, E - 1, E, E + 1, E + d - 1, E + d, E + d + 1, W - 1, W, W + 1, W // 3, 2 * W, T40, T40 + 1}
    for seg in plan.segments:
        s = seg.start_step
        pts |= {s - 1, s, s + 1}
        kind = seg.WhichOneof("formula")
        if kind != "constant":
            f = getattr(seg, kind)
            pts |= {f.from_step - 1, f.from_step, f.from_step + 1, f.to_step - 1, f.to_step, f.to_step + 1,
                    (f.from_step + f.to_step) // 2}
    if T is not None:
        pts |= {T - 2, T - 1, T, T + 1, 2 * T, (W + T) // 2}
    pts |= set(extra)
    return sorted(p for p in pts if p >= 0)


def plan_cases() -> List[dict]:
    cases = []

    def add(name, description, plan, T=None, extra=()):
        cases.append(dict(name=name, description=description, plan=plan, total_steps=T,
                          steps=interesting_steps(plan, T, extra)))

    # ---- exponential warmup (before the switch), various T and rho_w
    plan, W = before_switch(1000, 10, 1, 0.5, 1e-5, 1.0)
    add("exp_warmup_paper_T1000", "Exponential warmup, the paper's eta_min=1e-5, eta_max=1.0, rho_w=0.5, T=1000 "
        "(W=500), then cosine from W at the warmup's LR at W (0x3fefffffffffffff, not 1.0).", plan, 1000)
    plan, W = before_switch(12345, 100, 3, 0.3, 1e-5, 0.0123, kind="constant_cosine")
    add("exp_warmup_T12345_rho0.3_eta_max0.0123_constant_cosine",
        "Exponential warmup to 0.0123, rho_w=0.3, T=12345; constant-then-cosine tail (f=0.2) from W.", plan, 12345)
    plan, W = before_switch(97, 4, 2, 0.1, 1e-5, 1.0)
    add("exp_warmup_T97_rho0.1", "A short run: T=97, rho_w=0.1 (W=9), E=4, d=2.", plan, 97)
    plan, W = before_switch(3, 1, 1, 0.7, 1e-5, 1.0)
    add("exp_warmup_T3_rho0.7", "The smallest: T=3, rho_w=0.7 (W=2), E=1.", plan, 3)
    plan, W = before_switch(7777, 50, 1, 0.33, 1e-7, 3.0)
    add("exp_warmup_T7777_rho0.33_eta1e-7_to_3", "Exponential warmup from 1e-7 to 3.0, rho_w=0.33, T=7777.", plan, 7777)
    plan, W = before_switch(T40, 1 << 20, 1, 0.5, 1e-5, 1.0)
    add("exp_warmup_huge_T2^40", "T=2^40 (the limit), E=2^20, W=2^39: huge steps.", plan, T40,
        extra=(12345678901, (1 << 39) - 12345, (1 << 39) + 12345, T40 - 12345))

    # ---- linear warmup
    plan, W = before_switch(1000, 10, 1, 0.25, 1e-5, 1.0, shape="linear")
    add("linear_warmup_T1000_rho0.25", "WARMUP_LINEAR from 1e-5 to 1.0, rho_w=0.25 (W=250), cosine tail.", plan, 1000)
    plan, W = before_switch(5000, 100, 1, 0.4, 1e-5, 0.0123, shape="linear", kind="constant_cosine")
    add("linear_warmup_T5000_eta_max0.0123_constant_cosine",
        "WARMUP_LINEAR to 0.0123, rho_w=0.4 (W=2000), constant-then-cosine tail (c=4000).", plan, 5000)

    # ---- after the switch
    r = lr_at_fraction(1e-5, 1.0, 500, 290.7)
    plan, W = after_switch(1000, 10, 1, 0.5, 1e-5, 1.0, 317, r, decided=30)
    add("cosine_from_switch_317", "Switched at s=317 (a gp_test decision) at the warmup's LR at t*=290.7; cosine "
        "to T=1000. Final.", plan, 1000, extra=(316, 317, 318))
    plan, W = after_switch(1000, 10, 1, 0.5, 1e-5, 1.0, 300, 0.0123, kind="constant_cosine", decided=28)
    add("constant_cosine_switch_300", "Constant-then-cosine switched at s=300 at 0.0123: Constant at 300, Cosine "
        "from c=max(300, 1000-200)=800. Final.", plan, 1000)
    plan, W = after_switch(1000, 10, 1, 0.95, 1e-5, 1.0, 900, 0.5, kind="constant_cosine", decided=88)
    add("constant_cosine_switch_in_last_fifth", "Constant-then-cosine switched at s=900, inside the last fifth "
        "(T - floor(0.2 T) = 800 < 900): no Constant segment, Cosine from 900. Final.", plan, 1000)
    plan, W = before_switch(1000, 10, 1, 0.5, 1e-5, 1.0, kind="constant_cosine", decided=12)
    add("constant_cosine_before_switch", "The default tail of constant-then-cosine: Constant from W=500, Cosine "
        "from 800; decided_through_epoch=12.", plan, 1000)
    r = spec_lr(make_plan([seg_exp(0, 0, 500, 1e-5, 1.0)], 10, 1, 500), 500)
    plan, W = after_switch(1000, 10, 1, 0.5, 1e-5, 1.0, 500, r, kind="cosine", decided=48)
    add("switch_at_max_warmup", "max_warmup decision: the switch at W=500 at the warmup's LR at W. Final.", plan, 1000)
    plan, W = after_switch(1000, 10, 1, 0.5, 1e-5, 1.0, 999, 0.25, decided=48)
    add("cosine_switch_at_T_minus_1", "A switch at T-1: a one-step cosine span.", plan, 1000)
    s = (1 << 39) + 12345
    plan, W = after_switch(T40, 1 << 20, 1, 0.6, 1e-5, 1.0, s, 0.0123, kind="constant_cosine", decided=400000)
    add("huge_steps_constant_cosine", "T=2^40, switched at 2^39+12345 at 0.0123, constant-then-cosine: c = 2^40 - "
        "floor(0.2 * 2^40).", plan, T40, extra=(T40 - 219902325555 - 1, T40 - 219902325555, T40 - 7))

    # ---- formulas at their edges
    plan = make_plan([seg_exp(0, 0, 0, 1e-5, 1.0), seg_lin(10, 7, 3, 0.5, 0.25), seg_cos(20, 30, 30, 1.0),
                      seg_exp(40, 50, 50, 1.0, 1e-5), seg_lin(60, 60, 60, 0.1, 0.2), seg_cos(70, 70, 69, 0.0123)],
                     10, 1, 0)
    add("degenerate_spans", "Segments with to_step <= from_step: p = 1.0 at every step (0 -> 0 exponential, 7 -> 3 "
        "linear, 30 -> 30 cosine, ...).", plan, None, extra=range(0, 80, 3))
    plan = make_plan([seg_const(0, 1e-5), seg_const(5, 1.0), seg_lin(10, 10, 20, 0.0, 0.0123),
                      seg_cos(20, 20, 30, 0.0), seg_exp(30, 30, 40, 0.0123, 1.0), seg_cos(40, 40, 50, 1.0),
                      seg_const(50, 0.0), seg_lin(60, 60, 70, 1.0, 1e-5), seg_exp(70, 70, 80, 1.0, 0.0123)],
                     5, 1, 0)
    add("rates_1e-5_1.0_0.0123_0.0", "Rates 1e-5, 1.0, 0.0123 and 0.0 in every formula (decreasing ones too).",
        plan, None, extra=range(0, 90))
    plan = make_plan([seg_lin(0, 10, 20, 0.1, 0.2), seg_cos(25, 30, 40, 0.5), seg_exp(50, 100, 200, 1e-3, 1e-1)],
                     10, 1, 0)
    add("clamp_before_from_step", "Segments in force before their from_step (p < 0 clamps to 0) and after their "
        "to_step (p > 1 clamps to 1).", plan, None, extra=range(0, 60, 2))
    return cases


def build_plans() -> dict:
    out = []
    for case in plan_cases():
        plan: pb.Plan = case["plan"]
        mine = P.Plan.from_proto(plan)
        lrs = []
        for t in case["steps"]:
            x = spec_lr(plan, t)
            y = mine.lr(t)
            z = mine.reference_lr(t)
            assert hex64(x) == hex64(y) == hex64(z), (case["name"], t, x, y, z)
            lrs.append({"step": t, "lr": hex64(x), "lr_repr": repr(x)})
        entry = {"name": case["name"], "description": case["description"], "plan": to_json(plan),
                 "plan_binary_hex": to_hex(plan), "lrs": lrs}
        if case["total_steps"] is not None:
            entry["total_steps"] = case["total_steps"]
        out.append(entry)
    assert len(out) >= 12
    return {
        "about": "SPEC section 6: for each plan, the LR of chosen steps as the hex of the IEEE-754 binary64 bit "
                 "pattern (struct.pack('>d', x).hex()); lr_repr is Python's repr, for reading only. 'plan' is the "
                 "proto3 JSON mapping of autowu.v1.Plan, 'plan_binary_hex' its binary encoding (use it to get the "
                 "rates' exact bits). Gate fields are ignored by the LR. Generated by generate.py.",
        "plans": out,
    }


# ============================================================================ gates

def gate_cases() -> List[dict]:
    cases = []

    def add(name, E, d, W, decided=-1, final=False, extra=()):
        pts = {0, 1, E - 1, E, E + 1, E + d - 1, E + d, E + d + 1, 2 * E + d - 1, 2 * E + d, 2 * E + d + 1,
               W - 1, W, W + 1, 2 * W, T40}
        last = P.required_epoch(4 * T40, E, d, W)
        for e in {0, 1, decided, decided + 1, decided + 2, last - 1, last, last + 1}:
            if e >= 0:
                g = (e + 1) * E + d
                pts |= {g - 1, g, g + 1}
        pts |= set(extra)
        cases.append(dict(name=name, E=E, d=d, W=W, decided=decided, final=final,
                          steps=sorted(p for p in pts if p >= 0)))

    add("paper_E10_d1_W500_undecided", 10, 1, 500)
    add("paper_E10_d1_W500_decided3", 10, 1, 500, decided=3)
    add("paper_E10_d1_W500_all_decided", 10, 1, 500, decided=48)
    add("paper_E10_d1_W500_final", 10, 1, 500, decided=5, final=True)
    add("final_undecided", 10, 1, 500, decided=-1, final=True)
    add("no_delay_d0", 10, 0, 100, decided=2)
    add("delay_longer_than_epoch", 4, 9, 50, decided=1)
    add("warmup_shorter_than_first_gate", 100, 1, 50)
    add("W_equals_a_gate", 10, 1, 491, decided=46)
    add("E1_d1_W5", 1, 1, 5, decided=0)
    add("W0", 10, 1, 0)
    add("decided_beyond_last_tested", 10, 1, 500, decided=1000)
    add("huge_E2^20_W2^39", 1 << 20, 1, 1 << 39, decided=12345,
        extra=((1 << 39) - 1, (1 << 39) - (1 << 20) - 1, 12346 * (1 << 20) + 1, 12347 * (1 << 20) + 1))
    add("huge_E1_W2^40", 1, 1, T40, decided=T40 - 10, extra=(T40 - 2, T40 - 3, T40 - 9, T40 - 8))
    return cases


def build_gates() -> dict:
    out = []
    for c in gate_cases():
        mine = P.Plan([P.constant(0, 1.0)], c["E"], c["d"], c["W"], c["decided"], c["final"])
        rows = []
        for t in c["steps"]:
            req = spec_required(t, c["E"], c["d"], c["W"])
            assert req == mine.required_epoch(t), (c["name"], t)
            permits = c["final"] or c["decided"] >= req
            assert permits == mine.permits(t) == (t < mine.permit_limit), (c["name"], t)
            rows.append({"step": t, "required": req, "permits": permits})
        out.append({"name": c["name"], "steps_per_epoch": c["E"], "decision_delay_steps": c["d"],
                    "warmup_steps": c["W"], "decided_through_epoch": c["decided"], "final": c["final"],
                    "cases": rows})
    return {
        "about": "SPEC section 7: required(t) = max { e >= 0 : (e+1)*E + d <= t and (e+1)*E + d < W } or -1, and "
                 "permits = final or decided_through_epoch >= required(t), for plans' gate fields (E = "
                 "steps_per_epoch, d = decision_delay_steps, W = warmup_steps). Generated by generate.py.",
        "gates": out,
    }


# ============================================================================ messages

JOB = "slurm-4242"
TOKEN = "b3c1f0e2a9d84c17"
# JobState.incarnation: random and non-zero on the daemon; a value >= 2^63 here (a 10-byte varint).
INCARNATION = 0xD1B54A32D192ED03

NAN_BITS = ["0x7ff8000000000000", "0xfff8000000000000", "0x7ff800000000beef"]
LOSSES = ([2.5, 2.4375, -0.0, 0.0] + [from_hex64(b) for b in NAN_BITS]
          + [math.inf, -math.inf, 5e-324, 1.7976931348623157e308, 0.1])


def job_spec(full: bool) -> pb.JobSpec:
    if not full:
        return pb.JobSpec(steps_per_epoch=391, total_steps=78200, world_size=8)
    spec = pb.JobSpec(steps_per_epoch=391, total_steps=78200, world_size=8, decay=pb.DECAY_CONSTANT_COSINE,
                      warmup=pb.WARMUP_LINEAR, reporting=pb.REPORTING_RANK_ZERO, solver=pb.SOLVER_EXACT,
                      hyperparameters=pb.Hyperparameters(eta_min=1e-5, eta_max=0.0123, rho_w=0.5, n_test=5,
                                                         confidence=0.95, patience=3, cosine_fraction=0.2,
                                                         divergence_factor=100.0))
    spec.decision_delay_steps = 0  # explicitly present with the value 0 (proto3 optional): must be encoded
    return spec


def job_state(final: bool) -> pb.JobState:
    T, E = 78200, 391
    if final:
        plan, _ = after_switch(T, E, 1, 0.5, 1e-5, 1.0, 8211, lr_at_fraction(1e-5, 1.0, 39100, 7000.25),
                               kind="cosine", decided=20)
        return pb.JobState(
            job_id=JOB, version=23, spec=job_spec(False), plan=plan, phase=pb.PHASE_DECAY,
            last_verdict=pb.Verdict(epoch=20, step=8211, lr=0.00019, p_min=[0.97, 0.12, 0.99, 0.96, 0.98],
                                    argmin_x=[7000.25, 8100.0, 6999.5, 7001.0, 7000.0], votes=4, positive=True,
                                    streak=3, diverged=False, finite_points=8211, tested=True, test_micros=18234,
                                    reports_missing=2),
            decision=pb.Decision(reason="gp_test", epoch=20, step=8211, learning_rate=plan.segments[1].cosine.from_rate,
                                 minimum_step=7000.25),
            steps_seen=8213, incarnation=INCARNATION)
    plan, _ = before_switch(T, E, 1, 0.5, 1e-5, 1.0, decided=-1)
    return pb.JobState(job_id=JOB, version=1, spec=job_spec(False), plan=plan, phase=pb.PHASE_WARMUP,
                       incarnation=INCARNATION)


def message_cases() -> List[dict]:
    cases = []

    def add(name, msg, description, topic=None, frames=None, losses=None):
        cases.append(dict(name=name, msg=msg, description=description, topic=topic, frames=frames, losses=losses))

    def request(request_id, **body):
        return pb.Request(protocol_version=1, request_id=request_id, **body)

    def reply(request_id, **body):
        return pb.Reply(protocol_version=1, request_id=request_id, **body)

    ctl_req = "control, client to daemon: frames [\"\", Request]"
    ctl_rep = "control, daemon to client: frames [\"\", Reply]"
    batch = pb.LossBatch(protocol_version=1, job_id=JOB, token=TOKEN, rank=3, first_step=1564, losses=LOSSES)

    add("request_register_full", request(1, register=pb.Register(job_id=JOB, token=TOKEN, rank=3, spec=job_spec(True))),
        "Register with every JobSpec field and every hyper-parameter set; decision_delay_steps present and 0.",
        frames=ctl_req)
    add("request_register_minimal", request(2, register=pb.Register(job_id="torchrun-4f0c2a", rank=0,
                                                                     spec=job_spec(False))),
        "Register with only steps_per_epoch, total_steps, world_size (no token).", frames=ctl_req)
    add("request_snapshot_now", request(3, snapshot=pb.Snapshot(job_id=JOB, token=TOKEN, rank=3, need_epoch=-1)),
        "Snapshot{need_epoch=-1}: answer now (an int64 -1 is a 10-byte varint).", frames=ctl_req)
    add("request_snapshot_wait", request(4, snapshot=pb.Snapshot(
        job_id=JOB, token=TOKEN, rank=3, need_epoch=4, wait_ms=1000)),
        "Snapshot at the gate of epoch 4 as a rank first sends it: without pending (SPEC 4.2, 8).", frames=ctl_req)
    add("request_snapshot_gate", request(18446744073709551615, snapshot=pb.Snapshot(
        job_id=JOB, token=TOKEN, rank=3, need_epoch=4, wait_ms=1000, pending=batch)),
        "The same snapshot sent again after ERROR_INCOMPLETE, with pending losses (NaN, inf, -0.0 among them); "
        "request_id 2^64-1 (the largest).",
        frames=ctl_req, losses=LOSSES)
    add("request_status_job", request(5, status=pb.Status(job_id=JOB)), "Status of one job.", frames=ctl_req)
    add("request_status_all", request(6, status=pb.Status()), "Status of every job (empty body).", frames=ctl_req)
    add("request_expire_job", request(7, expire_job=pb.ExpireJob(job_id=JOB, token=TOKEN)), "ExpireJob.",
        frames=ctl_req)
    add("request_ping", request(8, ping=pb.Ping()), "Ping: an empty but present body (field 14, length 0).",
        frames=ctl_req)
    add("request_ping_id_0", request(0, ping=pb.Ping()),
        "A request with request_id 0 (legal, not recommended: SPEC 2): answered like any other, reply_pong_id_0.",
        frames=ctl_req)

    add("reply_job_warmup", reply(1, job=job_state(False)), "A Register reply: the JobState at version 1, with its "
        "incarnation (field 9).", frames=ctl_rep)
    add("reply_job_switched", reply(3, job=job_state(True)),
        "A Snapshot reply after the switch: final plan, verdict, decision.", frames=ctl_rep)
    add("reply_error_timeout", reply(18446744073709551615, error=pb.Error(
        code=pb.ERROR_TIMEOUT, message="epoch 4 not decided within 1000 ms", job=job_state(False))),
        "ERROR_TIMEOUT with the job's current state.", frames=ctl_rep)
    add("reply_error_incomplete", reply(4, error=pb.Error(
        code=pb.ERROR_INCOMPLETE, message="some losses of rank 3 up to epoch 4 are missing: send them as pending",
        job=job_state(False))),
        "ERROR_INCOMPLETE (code 10) with the job's current state: send the snapshot again at once with pending.",
        frames=ctl_rep)
    add("reply_error_unknown_job", reply(12, error=pb.Error(code=pb.ERROR_UNKNOWN_JOB,
                                                            message="no job \"slurm-4242\" is registered")),
        "ERROR_UNKNOWN_JOB to a Snapshot, ExpireJob or Status{job_id} of a job the daemon does not "
        "know (expired, lost, or never registered; SPEC 4.3, 8).", frames=ctl_rep)
    add("reply_error_malformed", reply(0, error=pb.Error(code=pb.ERROR_MALFORMED,
                                                         message="the request does not parse")),
        "ERROR_MALFORMED to a request that does not parse: request_id 0.", frames=ctl_rep)
    add("reply_error_invalid_argument", reply(9, error=pb.Error(
        code=pb.ERROR_INVALID_ARGUMENT, message="rho_w must lie in (0, 1) — got 1.5")),
        "ERROR_INVALID_ARGUMENT; the message has non-ASCII UTF-8.", frames=ctl_rep)
    add("reply_error_rank_outside_world", reply(10, error=pb.Error(
        code=pb.ERROR_INVALID_ARGUMENT,
        message="rank 4 is not a rank of job \"slurm-4242\": its world_size is 4, so its ranks are 0 to 3")),
        "A Register or Snapshot from a rank >= world_size is refused (SPEC 4.1, 4.2); nothing else changes.",
        frames=ctl_rep)
    add("reply_error_wait_too_long", reply(11, error=pb.Error(
        code=pb.ERROR_INVALID_ARGUMENT,
        message="wait_ms is at most 10000, got 70000: send the snapshot again after ERROR_TIMEOUT instead")),
        "A Snapshot with wait_ms > 10000 is refused before its pending losses are merged (SPEC 4.2).",
        frames=ctl_rep)
    status = pb.DaemonStatus(version="autowud 0.1.0", uptime_ms=86400123,
                             counters={"batches_in": 123456, "losses_late": 7, "tests_run": 250, "errors_malformed": 0})
    add("reply_jobs", reply(5, jobs=pb.JobList(jobs=[job_state(False), job_state(True)], daemon=status)),
        "A Status reply: two jobs and the daemon's counters (a map: encoded sorted by key, as "
        "deterministic serialization does).", frames=ctl_rep)
    add("reply_pong", reply(8, pong=status), "A Ping reply.", frames=ctl_rep)
    add("reply_pong_id_0", reply(0, pong=status), "The reply to request_ping_id_0: request_id 0 echoed.",
        frames=ctl_rep)

    add("loss_batch", batch, "LossBatch on the ingest socket: NaNs (quiet, negative, with a payload), +-inf, -0.0, "
        "the smallest subnormal and the largest finite double. JSON cannot tell the NaNs apart: losses_hex has "
        "the exact bits.", topic=f"loss/{JOB}/", losses=LOSSES)
    add("loss_batch_huge_step", pb.LossBatch(protocol_version=1, job_id=JOB, rank=65535, first_step=T40 - 3,
                                             losses=[1.0, 0.5, 0.25]),
        "LossBatch near step 2^40, no token.", topic=f"loss/{JOB}/")
    add("event_plan", pb.Event(protocol_version=1, kind=pb.EVENT_PLAN, job=job_state(False)),
        "EVENT_PLAN after registration (kind 0: not encoded).", topic=f"job/{JOB}/")
    add("event_phase_switch", pb.Event(protocol_version=1, kind=pb.EVENT_PHASE_SWITCH, job=job_state(True)),
        "EVENT_PHASE_SWITCH with the final plan.", topic=f"job/{JOB}/")
    expired = job_state(True)
    expired.version, expired.phase = 24, pb.PHASE_EXPIRED
    add("event_job_expired", pb.Event(protocol_version=1, kind=pb.EVENT_JOB_EXPIRED, job=expired),
        "EVENT_JOB_EXPIRED.", topic=f"job/{JOB}/")
    return cases


def build_messages() -> dict:
    out = []
    for c in message_cases():
        msg = c["msg"]
        data = msg.SerializeToString(deterministic=True)
        assert type(msg).FromString(data).SerializeToString(deterministic=True) == data
        entry = {"name": c["name"], "type": msg.DESCRIPTOR.full_name, "description": c["description"],
                 "json": to_json(msg), "binary_hex": data.hex()}
        if c["topic"] is not None:
            entry["topic"] = c["topic"]
        if c["frames"] is not None:
            entry["frames"] = c["frames"]
        if c["losses"] is not None:
            entry["losses_hex"] = [hex64(x) for x in c["losses"]]
        out.append(entry)
    return {
        "about": "SPEC section 10: one message of each kind. 'json' is the proto3 JSON mapping "
                 "(google.protobuf.json_format.MessageToDict: lowerCamelCase names, 64-bit integers as strings, "
                 "enums by name, NaN/Infinity as strings); 'binary_hex' the binary encoding (deterministic: fields "
                 "by number, map entries sorted by key). Where a message carries losses, 'losses_hex' gives their "
                 "exact bits (JSON cannot carry NaN payloads or signs). 'topic' is the first frame on the ingest/"
                 "events socket. Decoding binary_hex must give the json value (with losses_hex for the losses); "
                 "encoding it again must give binary_hex. Generated by generate.py.",
        "messages": out,
    }


# ============================================================================ main

def outputs() -> Dict[str, str]:
    return {"plans.json": dump(build_plans()), "gates.json": dump(build_gates()),
            "messages.json": dump(build_messages())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    parser.add_argument("--out", default=HERE, help="output directory (default: next to this script)")
    args = parser.parse_args(argv)
    differ = []
    for name, text in outputs().items():
        path = os.path.join(args.out, name)
        if args.check:
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() != text:
                        differ.append(name)
            except FileNotFoundError:
                differ.append(name)
        else:
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
    if differ:
        print("out of date: " + ", ".join(differ), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
