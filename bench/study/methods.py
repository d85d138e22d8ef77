"""The methods compared, by name, and how a method turns into training runs.

    autowu                       the daemon's default (no test/policy/patience options sent)
    autowu-paper                 the paper-exact method: test="paper", policy="paper"
    autowu[k=v,...]              a candidate: k is a build_spec keyword (test, policy, seed, solver, decay,
                                 warmup, decision_delay_steps) or a hyper-parameter (patience, confidence,
                                 n_test, eta_min, eta_max, rho_w, cosine_fraction, divergence_factor, flat_pace)
    autowu-paper[k=v,...]        the paper's method with changes
    tuned / tuned[peaks=N]       linear warmup (10 %) + cosine to 0; the peak picked from N log-spaced values
                                 (default 8) by the validation accuracy; the test accuracy of the picked peak
    constant / constant[lr=X]    the optimizer's customary untuned LR (or X), no schedule
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

from .train import Schedule
from .workloads import Workload

_CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"
if str(_CLIENT) not in sys.path:
    sys.path.insert(0, str(_CLIENT))

from autowu.client import build_spec  # noqa: E402

SPEC_KEYS = ("test", "policy", "seed", "solver", "decay", "warmup", "decision_delay_steps")
# The Hyperparameters message's fields, so a new one is usable here at once.
HYPERPARAMETER_KEYS = tuple(f.name for f in build_spec(1, 2, 1).hyperparameters.DESCRIPTOR.fields)
DEFAULT_PEAKS = 8
# The tuned grid per optimizer family: the geometric centre and the ratio of neighbouring peaks. 8 peaks cover
# 3e-3 .. 1 for SGD + momentum and 3e-4 .. 1e-1 for AdamW; fewer peaks are the central ones of that spacing.
TUNED_GRID = {"sgdm": (math.sqrt(3e-3 * 1.0), (1.0 / 3e-3) ** (1 / 7)),
              "sgd": (math.sqrt(3e-3 * 1.0), (1.0 / 3e-3) ** (1 / 7)),
              "adam": (math.sqrt(3e-4 * 1e-1), (1e-1 / 3e-4) ** (1 / 7))}
_SYNTAX = re.compile(r"^(?P<base>[a-z][a-z0-9-]*)(?:\[(?P<args>[^\[\]]*)\])?$")


class MethodError(ValueError):
    pass


@dataclass(frozen=True)
class Method:
    name: str                          # as given (the report's label)
    base: str                          # autowu | autowu-paper | tuned | constant
    autowu: Dict[str, Any] = field(default_factory=dict)   # build_spec keyword arguments
    peaks: int = DEFAULT_PEAKS
    lr: float = float("nan")           # constant[lr=X]

    @property
    def is_autowu(self) -> bool:
        return self.base in ("autowu", "autowu-paper")

    def schedules(self, workload: Workload) -> List[Schedule]:
        """The runs this method needs on one cell: one, or one per grid peak for ``tuned``."""
        if self.is_autowu:
            return [Schedule("autowu", autowu=self.autowu)]
        if self.base == "constant":
            return [Schedule("constant", lr=self.lr if math.isfinite(self.lr) else workload.constant_lr)]
        return [Schedule("warmup-cosine", lr=p) for p in tuned_peaks(workload, self.peaks)]


def tuned_peaks(workload: Workload, n: int) -> List[float]:
    centre, ratio = TUNED_GRID[workload.optimizer]
    return [float(f"{centre * ratio ** (i - (n - 1) / 2):.4g}") for i in range(n)]


def parse_method(text: str) -> Method:
    m = _SYNTAX.match(text.strip())
    if not m:
        raise MethodError(f"cannot parse method {text!r}: expected NAME or NAME[key=value,...]")
    base, args = m.group("base"), _parse_args(text, m.group("args"))
    if base in ("autowu", "autowu-paper"):
        kwargs: Dict[str, Any] = {"test": "paper", "policy": "paper"} if base == "autowu-paper" else {}
        hyper: Dict[str, float] = {}
        for k, v in args.items():
            if k in SPEC_KEYS:
                kwargs[k] = v
            elif k in HYPERPARAMETER_KEYS:
                if not isinstance(v, (int, float)):
                    raise MethodError(f"{text}: {k} needs a number, got {v!r}")
                hyper[k] = v
            else:
                raise MethodError(f"{text}: unknown option {k!r}; known: {', '.join(SPEC_KEYS + HYPERPARAMETER_KEYS)}")
        if hyper:
            kwargs["hyperparameters"] = hyper
        try:
            build_spec(10, 100, 1, **kwargs)  # the client's own validation of names and values
        except (ValueError, TypeError, KeyError) as e:
            raise MethodError(f"{text}: {e}") from None
        return Method(text.strip(), base, autowu=kwargs)
    if base == "tuned":
        _only(text, args, ("peaks",))
        peaks = args.get("peaks", DEFAULT_PEAKS)
        if not isinstance(peaks, int) or peaks < 1:
            raise MethodError(f"{text}: peaks must be a positive integer")
        return Method(text.strip(), base, peaks=peaks)
    if base == "constant":
        _only(text, args, ("lr",))
        lr = args.get("lr", float("nan"))
        if not isinstance(lr, (int, float)) or (math.isfinite(lr) and lr <= 0):
            raise MethodError(f"{text}: lr must be a positive number")
        return Method(text.strip(), base, lr=float(lr))
    raise MethodError(f"unknown method {text!r}; known: autowu, autowu-paper, autowu[...], tuned, constant")


def parse_methods(text: str) -> List[Method]:
    """A comma-separated list; commas inside [...] belong to the method."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += (ch == "[") - (ch == "]")
        cur += ch
    parts.append(cur)
    methods = [parse_method(p) for p in parts if p.strip()]
    names = [m.name for m in methods]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise MethodError(f"method given twice: {', '.join(sorted(dup))}")
    if not methods:
        raise MethodError("no method given")
    return methods


def slug(name: str) -> str:
    """A job-id-safe form of a method name (A-Z a-z 0-9 . _ - :)."""
    return re.sub(r"[^A-Za-z0-9._:-]+", "_", name).strip("_")


def _parse_args(text: str, args: str | None) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if args is None:
        return out
    for item in args.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise MethodError(f"{text}: expected key=value, got {item.strip()!r}")
        k, v = (s.strip() for s in item.split("=", 1))
        out[k] = _value(v)
    return out


def _value(v: str) -> Any:
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v


def _only(text: str, args: Dict[str, Any], allowed: Tuple[str, ...]) -> None:
    bad = [k for k in args if k not in allowed]
    if bad:
        raise MethodError(f"{text}: unknown option {bad[0]!r}; known: {', '.join(allowed)}")
