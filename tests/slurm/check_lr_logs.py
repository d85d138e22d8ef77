#!/usr/bin/env python3
"""Checks the per-rank LR logs of one Slurm job of the test (exit status 1 and ``FAIL: ...`` lines if any
check fails, else one ``ok: ...`` line).

Two log formats:
  * ``--format trace`` (tests/slurm/trace_ranks.py): ``<dir>/rank<R>.log`` with lines ``<step> <lr hex>`` and
    ``# start step=S restarts=R ... incarnation=I`` at every (re)start of the rank, ``# done ...`` at its end;
    plus ``<dir>/rank<R>.summary.json`` (the daemon's decision as the rank saw it at the end).
  * ``--format digits`` (examples/digits_ddp.py --lr-log): ``<dir>/rank<R>.txt`` with lines
    ``<step> <lr hex> <lr repr>``; a resumed run rewrites the file, keeping the lines before its first step.
    The switch step is given with ``--switch-step`` (from the job's output) or inferred.

Checks:
  * every rank 0..N-1 logged every step 0..T-1;
  * every LR logged for a step, by any rank and in any run of the job (before and after a requeue), is the
    same double: no disagreement;
  * the warmup ended by the daemon's AutoWU test inside the warmup (trace: every rank's summary shows the same
    decision), and the LR sequence has exactly one switch, there: rising before it (or held: the hold
    policy keeps the LR flat while a minimum is confirmed), non-increasing from it on (no second warmup);
  * ``--restarts K`` (trace format): each rank's log has K+1 runs; a run after a requeue starts at a step > 0
    (resumed from a checkpoint, not from scratch), before the switch (the requeue came mid-warmup), and no
    later than one past the last step the previous run logged (nothing skipped); all runs saw the same job
    incarnation (the requeued job's new daemon loaded the job's state instead of registering it anew);
  * ``--reference DIR``: the LR sequence equals, bit for bit, that of an undisturbed run of the same job id.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

START = re.compile(r"# start step=(\d+) restarts=(\d+)(?: .*?incarnation=(\S+))?")
LOG_NAME = {"trace": "rank{}.log", "digits": "rank{}.txt"}


def read_log(path):
    """A list of runs: {start, restarts, incarnation, steps: [(t, hex)], done}."""
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                m = START.match(line)
                if m:
                    runs.append({"start": int(m.group(1)), "restarts": int(m.group(2)),
                                 "incarnation": m.group(3), "steps": [], "done": False})
                elif line.startswith("# done") and runs:
                    runs[-1]["done"] = True
                continue
            fields = line.split()
            if not runs:
                runs.append({"start": None, "restarts": None, "incarnation": None, "steps": [], "done": False})
            runs[-1]["steps"].append((int(fields[0]), fields[1]))
    return runs


def sequence(lr_dir, ranks, total_steps, fmt, fails, label, from_step=0):
    """{step: lr hex} over all ranks and runs; disagreements and gaps go to fails."""
    seq = {}
    disagreements = 0
    for r in range(ranks):
        path = os.path.join(lr_dir, LOG_NAME[fmt].format(r))
        if not os.path.exists(path):
            fails.append(f"{label}: rank {r} wrote no LR log ({path})")
            continue
        for run in read_log(path):
            for t, lr in run["steps"]:
                if t in seq and seq[t] != lr:
                    disagreements += 1
                    if disagreements <= 5:
                        fails.append(f"{label}: step {t}: rank {r} used LR {float.fromhex(lr)!r} but "
                                     f"{float.fromhex(seq[t])!r} was logged for it before (by this or another rank)")
                seq.setdefault(t, lr)
    if disagreements > 5:
        fails.append(f"{label}: ... {disagreements} disagreements in all")
    missing = [t for t in range(from_step, total_steps) if t not in seq]
    if missing:
        fails.append(f"{label}: {len(missing)} of the steps {from_step}..{total_steps - 1} never logged, the first "
                     f"{missing[:5]}")
    return seq, disagreements


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("lr_dir")
    p.add_argument("--format", choices=sorted(LOG_NAME), default="trace")
    p.add_argument("--ranks", type=int, required=True)
    p.add_argument("--total-steps", type=int, required=True)
    p.add_argument("--warmup-steps", type=int, required=True, help="W: the switch must come before it")
    p.add_argument("--switch-step", type=int, help="digits format: the switch step the job reported")
    p.add_argument("--restarts", type=int, default=0, help="trace format: requeues the job went through")
    p.add_argument("--reference", help="LR log directory of an undisturbed run of the same job id")
    p.add_argument("--reference-until", type=int, default=None,
                   help="compare with the reference only before this step (default: every step)")
    p.add_argument("--from-step", type=int, default=0,
                   help="steps before this one may be missing from the logs (a run that lost them)")
    p.add_argument("--json", help="write a short summary here")
    args = p.parse_args(argv)
    fails = []
    label = args.lr_dir
    T = args.total_steps

    seq, disagreements = sequence(args.lr_dir, args.ranks, T, args.format, fails, label, args.from_step)
    first = args.from_step  # the first step of the run of consecutive steps logged up to the end
    while first > 0 and first - 1 in seq:
        first -= 1
    complete = all(t in seq for t in range(first, T)) and disagreements == 0
    # lrs[i] is the LR of step first + i
    lrs = [float.fromhex(seq[t]) for t in range(first, T)] if complete else None

    # ---- the decision
    decision = None
    if args.format == "trace":
        decisions = {}
        for r in range(args.ranks):
            path = os.path.join(args.lr_dir, f"rank{r}.summary.json")
            if not os.path.exists(path):
                fails.append(f"{label}: rank {r} wrote no summary (it did not finish)")
                continue
            with open(path) as f:
                decisions[r] = json.load(f).get("decision")
        if len({json.dumps(d, sort_keys=True) for d in decisions.values()}) > 1:
            fails.append(f"{label}: the ranks saw different decisions: {decisions}")
        elif decisions:
            decision = next(iter(decisions.values()))
            if not decision:
                fails.append(f"{label}: no switch: the daemon never decided that the warmup is over")
            elif decision.get("reason") not in ("gp_test", "rebound"):
                fails.append(f"{label}: the warmup ended by {decision.get('reason')!r}, not by the AutoWU test")
                decision = None
    elif lrs is not None:
        # The step the job reported; else the first step whose LR falls below its predecessor's (a hold
        # keeps it flat, the decay makes it fall).
        s = args.switch_step if args.switch_step is not None else \
            next((t for t in range(first + 1, T) if lrs[t - first] < lrs[t - first - 1]), None)
        if s is None:
            fails.append(f"{label}: the LR rises to the end: no switch")
        else:
            decision = {"reason": "inferred", "step": s, "lr": lrs[s - first].hex(), "epoch": None}
            if args.switch_step is not None and args.switch_step != s:
                fails.append(f"{label}: the job reported the switch at step {args.switch_step}, the LR logs "
                             f"show it at step {s}")
        if args.switch_step is None:
            fails.append(f"{label}: the job did not report a switch")
    switch = decision["step"] if decision else None
    if switch is not None and not 0 < switch < args.warmup_steps:
        fails.append(f"{label}: the switch step {switch} is not inside the warmup (W={args.warmup_steps})")

    # ---- exactly one switch; no second warmup
    if lrs is not None and switch is not None and switch > first:
        ups = [t for t in range(first + 1, switch) if not lrs[t - first] >= lrs[t - first - 1]]
        if switch - 1 > first and not lrs[switch - 1 - first] > lrs[0]:
            ups.append(switch - 1)
        downs = [t for t in range(switch + 1, T) if lrs[t - first] > lrs[t - first - 1]]
        if ups:
            fails.append(f"{label}: the LR does not rise at steps {ups[:5]}, before the switch at {switch}")
        if downs:
            fails.append(f"{label}: the LR rises again at steps {downs[:5]}, after the switch at {switch} "
                         "(a second warmup?)")
        if switch < T and float.fromhex(decision["lr"]) != lrs[switch - first]:
            fails.append(f"{label}: the LR at the switch step {switch} is {lrs[switch - first]!r}, the decision says "
                         f"{float.fromhex(decision['lr'])!r}")

    # ---- the runs of each rank (requeues)
    runs_info = {}
    incarnations = set()
    if args.format == "trace":
        for r in range(args.ranks):
            path = os.path.join(args.lr_dir, LOG_NAME["trace"].format(r))
            if not os.path.exists(path):
                continue
            runs = read_log(path)
            runs_info[r] = [(run["start"], run["steps"][-1][0] if run["steps"] else None) for run in runs]
            if len(runs) != args.restarts + 1:
                fails.append(f"{label}: rank {r} has {len(runs)} runs in its log, expected {args.restarts + 1}: "
                             f"(first, last step) {runs_info[r]}")
                continue
            for i, run in enumerate(runs):
                if run["incarnation"]:
                    incarnations.add(run["incarnation"])
                if run["restarts"] != i:
                    fails.append(f"{label}: rank {r}, run {i} had SLURM_RESTART_COUNT {run['restarts']}")
                if i == 0:
                    if run["start"] != 0:
                        fails.append(f"{label}: rank {r} did not start at step 0 (a checkpoint left over?)")
                    continue
                prev_last = runs[i - 1]["steps"][-1][0] if runs[i - 1]["steps"] else -1
                if run["start"] == 0:
                    fails.append(f"{label}: rank {r} started from scratch after the requeue (no checkpoint)")
                if run["start"] > prev_last + 1:
                    fails.append(f"{label}: rank {r} resumed at step {run['start']}, but its run before logged "
                                 f"only up to step {prev_last}: steps skipped")
                if runs[i - 1]["done"]:
                    fails.append(f"{label}: rank {r} had finished before the requeue: nothing was interrupted")
                if switch is not None and run["start"] >= switch:
                    fails.append(f"{label}: rank {r} resumed at step {run['start']}, after the switch at "
                                 f"{switch}: the requeue was not mid-warmup")
        if len(incarnations) > 1:
            fails.append(f"{label}: the job's incarnation changed across runs or ranks {sorted(incarnations)}: "
                         "the daemon lost the job's state and registered it anew")

    # ---- against an undisturbed run
    if args.reference:
        ref_fails = []
        ref, _ = sequence(args.reference, args.ranks, T, args.format, ref_fails, "reference")
        until = T if args.reference_until is None else min(T, args.reference_until)
        if ref_fails:
            fails.append(f"{label}: the reference run is unusable: {ref_fails[0]}")
        elif complete:
            diff = [t for t in range(first, until) if seq[t] != ref[t]]
            if diff:
                t = diff[0]
                fails.append(f"{label}: the LR sequence differs from the undisturbed run's at {len(diff)} steps, "
                             f"the first {t}: {float.fromhex(seq[t])!r} vs {float.fromhex(ref[t])!r}")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"decision": decision, "runs": runs_info, "steps": len(seq),
                       "incarnations": sorted(incarnations)}, f)
    for x in fails:
        print(f"FAIL: {x}")
    if fails:
        return 1
    how = decision["reason"] + (f", epoch {decision['epoch']}" if decision.get("epoch") is not None else "")
    steps = f"{T} steps" if first == 0 else f"steps {first}..{T - 1}"
    msg = (f"ok: {args.ranks} ranks x {steps}, the same LR bit for bit at every step; one switch at step "
           f"{switch} ({how}) to LR {float.fromhex(decision['lr']):.6g}")
    if runs_info and args.restarts:
        msg += f"; rank 0's runs (first, last step): {runs_info.get(0)}"
    if args.reference:
        msg += "; equal to the undisturbed run" + (f" before step {args.reference_until}" if args.reference_until else "")
    print(msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
