"""Plans: the closed-form LR segments and the gates (protocol/SPEC.md, sections 6 and 7).

``Plan.lr(step)`` reproduces the daemon's doubles bit for bit: the operations are the ones SPEC section 6
lists, in its order, in IEEE-754 binary64 (Python floats), with ``math.pow``/``math.cos`` (the C library's).
Python raises where C returns inf/NaN (division by zero, ``pow`` of a negative base); those cases are mapped
back to the IEEE-754 results so that even plans the daemon never builds evaluate like the C formula.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from ._proto import autowu_pb2 as pb
from .errors import PlanError

__all__ = [
    "MAX_STEPS",
    "PI",
    "Plan",
    "Segment",
    "constant",
    "cosine",
    "decay_segments",
    "default_plan",
    "exponential",
    "linear",
    "required_epoch",
    "segment_lr",
    "switched_plan",
    "warmup_steps",
]

#: The largest step a plan may name (SPEC section 2, limits).
MAX_STEPS = 1 << 40

#: pi as SPEC section 6 gives it: 0x400921FB54442D18.
PI = math.pi
assert PI.hex() == "0x1.921fb54442d18p+1"

_EXPONENTIAL = "exponential"
_LINEAR = "linear"
_CONSTANT = "constant"
_COSINE = "cosine"


def _div(a: float, b: float) -> float:
    """IEEE-754 division (Python raises ZeroDivisionError where C gives +-inf or NaN)."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0.0:
            return math.nan
        negative = (math.copysign(1.0, a) < 0) != (math.copysign(1.0, b) < 0)
        return -math.inf if negative else math.inf


def _pow(x: float, y: float) -> float:
    """C's pow (math.pow raises where C returns NaN or +-HUGE_VAL)."""
    try:
        return math.pow(x, y)
    except ValueError:  # a negative finite base with a non-integer exponent, or pow(0, negative)
        if x == 0.0:
            return math.copysign(math.inf, x) if float(y).is_integer() and int(y) % 2 == 1 else math.inf
        return math.nan
    except OverflowError:
        return math.copysign(math.inf, x) if x < 0 and float(y).is_integer() and int(y) % 2 == 1 else math.inf


def _progress(t: int, from_step: int, to_step: int) -> float:
    """Step 2 of SPEC section 6."""
    if to_step <= from_step:
        return 1.0
    p = (float(t) - float(from_step)) / float(to_step - from_step)
    return min(max(p, 0.0), 1.0)


class Segment:
    """One piece of a plan: ``kind`` is "exponential", "linear", "constant" or "cosine"; the fields not used
    by a kind are 0."""

    __slots__ = ("start_step", "kind", "from_step", "to_step", "from_rate", "to_rate")

    def __init__(self, start_step: int, kind: str, from_step: int = 0, to_step: int = 0,
                 from_rate: float = 0.0, to_rate: float = 0.0) -> None:
        if kind not in (_EXPONENTIAL, _LINEAR, _CONSTANT, _COSINE):
            raise PlanError(f"unknown segment kind {kind!r}")
        self.start_step = int(start_step)
        self.kind = kind
        self.from_step = int(from_step)
        self.to_step = int(to_step)
        self.from_rate = float(from_rate)
        self.to_rate = float(to_rate)

    def __repr__(self) -> str:
        if self.kind == _CONSTANT:
            return f"Segment({self.start_step}, constant, rate={self.from_rate!r})"
        if self.kind == _COSINE:
            return f"Segment({self.start_step}, cosine, {self.from_step}->{self.to_step}, {self.from_rate!r})"
        return (f"Segment({self.start_step}, {self.kind}, {self.from_step}->{self.to_step}, "
                f"{self.from_rate!r}->{self.to_rate!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Segment):
            return NotImplemented
        return all(_same(getattr(self, f), getattr(other, f)) for f in self.__slots__)

    def lr(self, t: int) -> float:
        """Step 3 of SPEC section 6 (the reference evaluation: no precomputation)."""
        return segment_lr(self.kind, self.from_step, self.to_step, self.from_rate, self.to_rate, t)

    # ---------------------------------------------------------------- wire

    def to_proto(self) -> pb.Segment:
        s = pb.Segment(start_step=self.start_step)
        if self.kind == _EXPONENTIAL:
            s.exponential.CopyFrom(pb.Exponential(from_step=self.from_step, to_step=self.to_step,
                                                  from_rate=self.from_rate, to_rate=self.to_rate))
        elif self.kind == _LINEAR:
            s.linear.CopyFrom(pb.Linear(from_step=self.from_step, to_step=self.to_step,
                                        from_rate=self.from_rate, to_rate=self.to_rate))
        elif self.kind == _CONSTANT:
            s.constant.CopyFrom(pb.Constant(rate=self.from_rate))
        else:
            s.cosine.CopyFrom(pb.Cosine(from_step=self.from_step, to_step=self.to_step, from_rate=self.from_rate))
        return s

    @classmethod
    def from_proto(cls, s: pb.Segment) -> "Segment":
        which = s.WhichOneof("formula")
        if which is None:
            raise PlanError(f"the plan segment at step {s.start_step} has no formula")
        f = getattr(s, which)
        if which == _CONSTANT:
            return cls(s.start_step, _CONSTANT, from_rate=f.rate)
        if which == _COSINE:
            return cls(s.start_step, _COSINE, f.from_step, f.to_step, f.from_rate)
        return cls(s.start_step, which, f.from_step, f.to_step, f.from_rate, f.to_rate)

    # ---------------------------------------------------------------- fast evaluation

    def _compile(self) -> Callable[[int], float]:
        """The same operations as ``lr`` with the step-independent ones done once (same doubles)."""
        kind = self.kind
        a = self.from_rate
        if kind == _CONSTANT:
            return lambda t: a
        if self.to_step <= self.from_step:  # p = 1.0 at every step
            value = self.lr(self.from_step)
            return lambda t: value
        f0 = float(self.from_step)
        den = float(self.to_step - self.from_step)
        if kind == _EXPONENTIAL:
            ratio = _div(self.to_rate, a)
            pow_ = math.pow if ratio > 0.0 and ratio != math.inf else _pow

            def exponential(t: int) -> float:
                p = (float(t) - f0) / den
                return a * pow_(ratio, min(max(p, 0.0), 1.0))

            return exponential
        if kind == _LINEAR:
            delta = self.to_rate - a

            def linear(t: int) -> float:
                p = (float(t) - f0) / den
                return a + delta * min(max(p, 0.0), 1.0)

            return linear
        half = a * 0.5
        cos = math.cos

        def cosine(t: int) -> float:
            p = (float(t) - f0) / den
            return half * (1.0 + cos(PI * min(max(p, 0.0), 1.0)))

        return cosine


def _same(x: object, y: object) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return x.hex() == y.hex() or (x != x and y != y)
    return x == y


def segment_lr(kind: str, from_step: int, to_step: int, from_rate: float, to_rate: float, t: int) -> float:
    """The LR of one segment at integer step ``t``, SPEC section 6, steps 2 and 3, operation by operation."""
    if kind == _CONSTANT:
        return from_rate
    p = _progress(t, from_step, to_step)
    if kind == _EXPONENTIAL:
        return from_rate * _pow(_div(to_rate, from_rate), p)
    if kind == _LINEAR:
        return from_rate + (to_rate - from_rate) * p
    if kind == _COSINE:
        return from_rate * 0.5 * (1.0 + math.cos(PI * p))
    raise PlanError(f"unknown segment kind {kind!r}")


def required_epoch(step: int, steps_per_epoch: int, decision_delay_steps: int, warmup_steps: int) -> int:
    """required(t) of SPEC section 7: max { e >= 0 : g(e) <= t and g(e) < W }, or -1;
    g(e) = (e + 1) * E + d."""
    E, d, W = steps_per_epoch, decision_delay_steps, warmup_steps
    if step < E + d or W - 1 - d < E:  # no e >= 0 has g(e) <= t, or none has g(e) < W
        return -1
    reached = (step - d) // E - 1          # the largest e with g(e) <= t
    last_tested = (W - 1 - d) // E - 1     # the largest e with g(e) < W
    return min(reached, last_tested)


class Plan:
    """A plan as a rank holds it: segments plus gate fields. Immutable once built."""

    __slots__ = ("segments", "steps_per_epoch", "decision_delay_steps", "warmup_steps", "decided_through_epoch",
                 "final", "_starts", "_fns", "_lo", "_hi", "_fn", "permit_limit")

    def __init__(self, segments: Sequence[Segment], steps_per_epoch: int, decision_delay_steps: int = 1,
                 warmup_steps: int = 0, decided_through_epoch: int = -1, final: bool = False) -> None:
        segments = tuple(segments)
        if not segments:
            raise PlanError("a plan needs at least one segment")
        if segments[0].start_step != 0:
            raise PlanError(f"a plan's first segment must start at step 0, not {segments[0].start_step}")
        for a, b in zip(segments, segments[1:]):
            if b.start_step <= a.start_step:
                raise PlanError(f"plan segments must start at strictly increasing steps ({a.start_step}, {b.start_step})")
        for s in segments:
            for v in (s.start_step, s.from_step, s.to_step):
                if not 0 <= v <= MAX_STEPS:
                    raise PlanError(f"a plan step ({v}) is outside [0, 2^40]")
        if not 1 <= steps_per_epoch <= MAX_STEPS:
            raise PlanError(f"steps_per_epoch must lie in [1, 2^40], got {steps_per_epoch}")
        if not 0 <= warmup_steps <= MAX_STEPS or not 0 <= decision_delay_steps <= MAX_STEPS:
            raise PlanError("a plan's warmup_steps or decision_delay_steps is outside [0, 2^40]")
        if decided_through_epoch < -1:
            raise PlanError(f"decided_through_epoch must be >= -1, got {decided_through_epoch}")
        self.segments: Tuple[Segment, ...] = segments
        self.steps_per_epoch = int(steps_per_epoch)
        self.decision_delay_steps = int(decision_delay_steps)
        self.warmup_steps = int(warmup_steps)
        self.decided_through_epoch = int(decided_through_epoch)
        self.final = bool(final)
        self._starts = [s.start_step for s in segments]
        self._fns = [s._compile() for s in segments]
        self._lo, self._hi, self._fn = 0, 0, self._fns[0]  # empty cache: [lo, hi) holds no step
        #: The first step this plan does not permit (math.inf when it permits every step): permits(t) is
        #: exactly t < permit_limit, because required(t) is non-decreasing in t.
        self.permit_limit = self._permit_limit()

    # ---------------------------------------------------------------- construction

    @classmethod
    def from_proto(cls, plan: pb.Plan) -> "Plan":
        return cls([Segment.from_proto(s) for s in plan.segments], plan.steps_per_epoch, plan.decision_delay_steps,
                   plan.warmup_steps, plan.decided_through_epoch, plan.final)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Plan":
        return cls.from_proto(pb.Plan.FromString(data))

    def to_proto(self) -> pb.Plan:
        return pb.Plan(segments=[s.to_proto() for s in self.segments], steps_per_epoch=self.steps_per_epoch,
                       decision_delay_steps=self.decision_delay_steps, warmup_steps=self.warmup_steps,
                       decided_through_epoch=self.decided_through_epoch, final=self.final)

    def replace(self, **changes) -> "Plan":
        fields = dict(segments=self.segments, steps_per_epoch=self.steps_per_epoch,
                      decision_delay_steps=self.decision_delay_steps, warmup_steps=self.warmup_steps,
                      decided_through_epoch=self.decided_through_epoch, final=self.final)
        fields.update(changes)
        return Plan(**fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Plan):
            return NotImplemented
        return (self.segments == other.segments and self.steps_per_epoch == other.steps_per_epoch
                and self.decision_delay_steps == other.decision_delay_steps
                and self.warmup_steps == other.warmup_steps
                and self.decided_through_epoch == other.decided_through_epoch and self.final == other.final)

    def __repr__(self) -> str:
        return (f"Plan({list(self.segments)!r}, E={self.steps_per_epoch}, d={self.decision_delay_steps}, "
                f"W={self.warmup_steps}, decided_through_epoch={self.decided_through_epoch}, final={self.final})")

    # ---------------------------------------------------------------- LR

    def segment_at(self, step: int) -> Segment:
        """Step 1 of SPEC section 6: the last segment with start_step <= step."""
        return self.segments[bisect_right(self._starts, step) - 1]

    def lr(self, step: int) -> float:
        """The LR of step ``step`` (an int >= 0), bit-identical to SPEC section 6. Ignores the gates: see
        ``permits``."""
        if self._lo <= step < self._hi:
            return self._fn(step)
        if step < 0:
            raise ValueError(f"steps are >= 0, got {step}")
        i = bisect_right(self._starts, step) - 1
        self._lo = self._starts[i]
        self._hi = self._starts[i + 1] if i + 1 < len(self._starts) else math.inf
        self._fn = self._fns[i]
        return self._fn(step)

    def reference_lr(self, step: int) -> float:
        """``lr`` without any precomputation (for tests and vector generation)."""
        if step < 0:
            raise ValueError(f"steps are >= 0, got {step}")
        return self.segment_at(step).lr(step)

    # ---------------------------------------------------------------- gates

    def gate(self, epoch: int) -> int:
        """g(e): the first step that needs the verdict of epoch ``epoch``."""
        return (epoch + 1) * self.steps_per_epoch + self.decision_delay_steps

    @property
    def last_tested_epoch(self) -> int:
        """The largest e with g(e) < W, or -1."""
        return required_epoch(MAX_STEPS * 4, self.steps_per_epoch, self.decision_delay_steps, self.warmup_steps)

    def required_epoch(self, step: int) -> int:
        """required(t), SPEC section 7."""
        return required_epoch(step, self.steps_per_epoch, self.decision_delay_steps, self.warmup_steps)

    def permits(self, step: int) -> bool:
        """Whether this plan alone determines the LR of ``step``: final, or decided_through_epoch >= required(t)."""
        return self.final or self.decided_through_epoch >= self.required_epoch(step)

    def _permit_limit(self) -> float:
        if self.final:
            return math.inf
        nxt = self.decided_through_epoch + 1
        if nxt > self.last_tested_epoch:
            return math.inf
        return self.gate(nxt)


# -------------------------------------------------------------------- the plans the daemon builds (SPEC 6)

def exponential(start_step: int, from_step: int, to_step: int, from_rate: float, to_rate: float) -> Segment:
    return Segment(start_step, _EXPONENTIAL, from_step, to_step, from_rate, to_rate)


def linear(start_step: int, from_step: int, to_step: int, from_rate: float, to_rate: float) -> Segment:
    return Segment(start_step, _LINEAR, from_step, to_step, from_rate, to_rate)


def constant(start_step: int, rate: float) -> Segment:
    return Segment(start_step, _CONSTANT, from_rate=rate)


def cosine(start_step: int, from_step: int, to_step: int, from_rate: float) -> Segment:
    return Segment(start_step, _COSINE, from_step, to_step, from_rate)


def warmup_steps(rho_w: float, total_steps: int) -> int:
    """W = floor(rho_w * double(T))."""
    return int(math.floor(rho_w * float(total_steps)))


def decay_segments(switch_step: int, rate: float, total_steps: int, decay: str = "cosine",
                   cosine_fraction: float = 0.2) -> List[Segment]:
    """The decay from step ``switch_step`` at ``rate``: "cosine" or "constant_cosine" (SPEC section 6)."""
    if decay == "cosine":
        return [cosine(switch_step, switch_step, total_steps, rate)]
    if decay == "constant_cosine":
        c = max(switch_step, total_steps - int(math.floor(cosine_fraction * float(total_steps))))
        pieces = [constant(switch_step, rate)] if c > switch_step else []
        return pieces + [cosine(c, c, total_steps, rate)]
    raise ValueError(f"decay is 'cosine' or 'constant_cosine', not {decay!r}")


def default_plan(total_steps: int, steps_per_epoch: int, *, eta_min: float = 1e-5, eta_max: float = 1.0,
                 rho_w: float = 0.5, warmup: str = "exponential", decay: str = "cosine",
                 cosine_fraction: float = 0.2, decision_delay_steps: int = 1,
                 decided_through_epoch: int = -1, steps_per_decade: float = 0.0) -> Plan:
    """The plan before the switch: the warmup, then the decay from s = W at r = the warmup's LR at W.
    ``steps_per_decade`` > 0 applies the climb limit of SPEC section 6 to the exponential warmup, as the daemon's
    hold policy does with its default 40; 0 (the default here) is the paper's ramp from ``eta_min``."""
    W = warmup_steps(rho_w, total_steps)
    if warmup == "exponential":
        start = eta_min
        if steps_per_decade > 0:
            limited = eta_max * _pow(10.0, -W / steps_per_decade)
            if eta_min < limited < eta_max:
                start = limited
        head = exponential(0, 0, W, start, eta_max)
    elif warmup == "linear":
        head = linear(0, 0, W, eta_min, eta_max)
    else:
        raise ValueError(f"warmup is 'exponential' or 'linear', not {warmup!r}")
    r = head.lr(W)
    tail = decay_segments(W, r, total_steps, decay, cosine_fraction)
    return Plan(_with_tail([head], W, tail), steps_per_epoch, decision_delay_steps, W, decided_through_epoch)


def switched_plan(before: Plan, switch_step: int, rate: float, total_steps: int, decay: str = "cosine",
                  cosine_fraction: float = 0.2, decided_through_epoch: Optional[int] = None) -> Plan:
    """``before`` with its tail from ``switch_step`` replaced by the decay from there at ``rate``; final."""
    tail = decay_segments(switch_step, rate, total_steps, decay, cosine_fraction)
    return before.replace(segments=_with_tail(before.segments, switch_step, tail), final=True,
                          decided_through_epoch=before.decided_through_epoch if decided_through_epoch is None
                          else decided_through_epoch)


def _with_tail(segments: Iterable[Segment], step: int, tail: List[Segment]) -> List[Segment]:
    return [s for s in segments if s.start_step < step] + tail
