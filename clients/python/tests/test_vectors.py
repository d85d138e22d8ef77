"""The protocol's test vectors (protocol/vectors): plans bit for bit, gates, messages."""

import json
import os
import struct
import subprocess
import sys

import pytest
from google.protobuf import json_format

from autowu import Plan
from autowu._proto import autowu_pb2 as pb

VECTORS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "protocol", "vectors")


def load(name):
    with open(os.path.join(VECTORS, name), encoding="utf-8") as f:
        return json.load(f)


def hex64(x):
    return "0x" + struct.pack(">d", x).hex()


def from_hex64(s):
    return struct.unpack(">d", bytes.fromhex(s[2:]))[0]


PLANS = load("plans.json")["plans"]
GATES = load("gates.json")["gates"]
MESSAGES = load("messages.json")["messages"]


def test_enough_vectors():
    assert len(PLANS) >= 12
    names = {p["name"] for p in PLANS}
    assert len(names) == len(PLANS)
    kinds = {k for p in PLANS for s in p["plan"]["segments"] for k in s if k != "startStep"}
    assert kinds == {"exponential", "linear", "constant", "cosine"}
    assert {m["type"] for m in MESSAGES} == {"autowu.v1.Request", "autowu.v1.Reply", "autowu.v1.LossBatch",
                                             "autowu.v1.Event"}
    by_name = {m["name"]: m for m in MESSAGES}
    # the protocol's later additions: ERROR_INCOMPLETE, JobState.incarnation, request id 0 answered like any other
    assert by_name["reply_error_incomplete"]["json"]["error"]["code"] == "ERROR_INCOMPLETE"
    assert by_name["reply_error_incomplete"]["json"]["error"]["job"]["incarnation"] != "0"
    assert pb.Reply.FromString(bytes.fromhex(by_name["reply_job_warmup"]["binary_hex"])).job.incarnation >= 1 << 63
    assert "pending" not in by_name["request_snapshot_wait"]["json"]["snapshot"]
    assert "requestId" not in by_name["request_ping_id_0"]["json"] and "requestId" not in by_name["reply_pong_id_0"]["json"]


@pytest.mark.parametrize("case", PLANS, ids=[p["name"] for p in PLANS])
def test_plan_lrs_bit_for_bit(case):
    binary = pb.Plan.FromString(bytes.fromhex(case["plan_binary_hex"]))
    from_json = json_format.ParseDict(case["plan"], pb.Plan())
    assert from_json.SerializeToString(deterministic=True).hex() == case["plan_binary_hex"]
    assert binary == from_json
    plan = Plan.from_proto(binary)
    fast = [hex64(plan.lr(row["step"])) for row in case["lrs"]]
    assert fast == [row["lr"] for row in case["lrs"]]
    # again in reverse order (exercises the segment cache both ways) and with the reference evaluation
    for row in reversed(case["lrs"]):
        assert hex64(plan.lr(row["step"])) == row["lr"], row
        assert hex64(plan.reference_lr(row["step"])) == row["lr"], row


@pytest.mark.parametrize("case", GATES, ids=[g["name"] for g in GATES])
def test_gates(case):
    from autowu.plan import constant

    plan = Plan([constant(0, 1.0)], case["steps_per_epoch"], case["decision_delay_steps"], case["warmup_steps"],
                case["decided_through_epoch"], case["final"])
    for row in case["cases"]:
        assert plan.required_epoch(row["step"]) == row["required"], row
        assert plan.permits(row["step"]) == row["permits"], row
        assert (row["step"] < plan.permit_limit) == row["permits"], row


@pytest.mark.parametrize("case", MESSAGES, ids=[m["name"] for m in MESSAGES])
def test_messages_decode_and_reencode(case):
    cls = getattr(pb, case["type"].split(".")[-1])
    data = bytes.fromhex(case["binary_hex"])
    msg = cls.FromString(data)
    assert msg.SerializeToString(deterministic=True) == data
    assert json_format.MessageToDict(msg) == case["json"]
    # from the JSON (with the exact loss bits where JSON cannot carry them) to the same bytes
    parsed = json_format.ParseDict(case["json"], cls())
    if "losses_hex" in case:
        exact = [from_hex64(h) for h in case["losses_hex"]]
        target = parsed.snapshot.pending if case["type"] == "autowu.v1.Request" else parsed
        del target.losses[:]
        target.losses.extend(exact)
        decoded = msg.snapshot.pending if case["type"] == "autowu.v1.Request" else msg
        assert [hex64(x) for x in decoded.losses] == case["losses_hex"]
    assert parsed.SerializeToString(deterministic=True) == data


def test_generator_is_deterministic_and_up_to_date():
    script = os.path.join(VECTORS, "generate.py")
    result = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
