"""``python -m bench.study`` (``scripts/study``): run the validation study and write docs/study.md."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .daemon import REPO, DaemonError
from .methods import MethodError, parse_methods
from .workloads import WORKLOADS, get_workload

DEFAULT_METHODS = "autowu,autowu-paper,tuned,constant"
QUICK_METHODS = "autowu,autowu-paper,constant,tuned[peaks=2]"
QUICK_WORKLOAD, QUICK_BATCH, QUICK_EPOCHS = "tabular-mlp", 128, 10
DEFAULT_OUT = REPO / "bench" / "study" / "results"
DEFAULT_DOC = REPO / "docs" / "study.md"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scripts/study", description=__doc__.splitlines()[0],
        epilog="Methods: autowu, autowu-paper, autowu[key=value,...] (build_spec keywords test, policy, seed, ... "
               "or hyper-parameters patience, confidence, ...), tuned[peaks=N], constant[lr=X]. "
               f"Workloads: {', '.join(WORKLOADS)}.")
    p.add_argument("--quick", action="store_true",
                   help=f"one workload ({QUICK_WORKLOAD}), batch size {QUICK_BATCH}, seed 0, {QUICK_EPOCHS} epochs, "
                        f"methods {QUICK_METHODS}; results and doc under --out-dir (default {DEFAULT_OUT}/quick)")
    p.add_argument("--workers", type=int, default=2, help="training processes in parallel (default 2)")
    p.add_argument("--methods", default=None, help=f"comma-separated (default {DEFAULT_METHODS})")
    p.add_argument("--also", default="", metavar="METHODS", help="methods added to the default (or --methods) list")
    p.add_argument("--workloads", default=None, help=f"comma-separated (default all: {','.join(WORKLOADS)})")
    p.add_argument("--batch-sizes", default=None, metavar="SIZES",
                   help="comma-separated batch sizes for every workload instead of its own (a check on other "
                        "batch sizes than the study's)")
    p.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 3; 1 with --quick)")
    p.add_argument("--out-dir", default=None, help=f"where results.json and the daemon's log go (default {DEFAULT_OUT})")
    p.add_argument("--doc", default=None,
                   help=f"the Markdown report (figures in a study/ directory beside it); default {DEFAULT_DOC} for "
                        "a default full run, else OUT_DIR/study.md")
    p.add_argument("--autowud", default=None,
                   help="the daemon binary (default $AUTOWUD, else .build/release/autowud, else .build/debug/autowud)")
    p.add_argument("--report-only", default=None, metavar="RESULTS_JSON",
                   help="do not train: regenerate the report from an existing results JSON")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from .report import write_report   # matplotlib only when a report is written

    if args.report_only:
        results = Path(args.report_only)
        if not results.is_file():
            print(f"scripts/study: no such results file: {results}", file=sys.stderr)
            return 2
        doc = Path(args.doc) if args.doc else DEFAULT_DOC
        print(f"report: {write_report(results, doc)}")
        return 0

    try:
        methods = parse_methods((args.methods or (QUICK_METHODS if args.quick else DEFAULT_METHODS))
                                + ("," + args.also if args.also else ""))
        names = (args.workloads or (QUICK_WORKLOAD if args.quick else ",".join(WORKLOADS))).split(",")
        workloads = [get_workload(n.strip()) for n in names if n.strip()]
    except (MethodError, ValueError) as e:
        print(f"scripts/study: {e}", file=sys.stderr)
        return 2
    if not workloads:
        print("scripts/study: no workload given", file=sys.stderr)
        return 2
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    if seeds < 1 or args.workers < 1:
        print("scripts/study: --seeds and --workers must be at least 1", file=sys.stderr)
        return 2
    batch_sizes = {w.name: (QUICK_BATCH,) for w in workloads} if args.quick else None
    if args.batch_sizes:
        try:
            sizes = tuple(int(b) for b in args.batch_sizes.split(",") if b.strip())
        except ValueError:
            sizes = ()
        if not sizes or min(sizes) < 1:
            print(f"scripts/study: --batch-sizes wants positive integers, got {args.batch_sizes!r}", file=sys.stderr)
            return 2
        batch_sizes = {w.name: sizes for w in workloads}
    epochs = {w.name: QUICK_EPOCHS for w in workloads} if args.quick else None
    out_dir = Path(args.out_dir) if args.out_dir else (DEFAULT_OUT / "quick" if args.quick else DEFAULT_OUT)
    default_full = not args.quick and args.out_dir is None
    doc = Path(args.doc) if args.doc else (DEFAULT_DOC if default_full else out_dir / "study.md")

    from .runner import execute, plan, workload_setup
    runs = plan(workloads, methods, range(seeds), batch_sizes, epochs)
    meta = dict(command="scripts/study " + " ".join(sys.argv[1:] if argv is None else argv), quick=args.quick,
                methods=[m.name for m in methods], method_specs={m.name: dict(base=m.base, autowu=m.autowu)
                                                                  for m in methods},
                workloads=workload_setup(workloads, methods, batch_sizes, epochs), seeds=list(range(seeds)))
    print(f"study: {len(runs)} runs ({len(workloads)} workloads, {len(methods)} methods, {seeds} seeds), "
          f"{args.workers} workers; results in {out_dir}")
    t0 = time.monotonic()
    try:
        results = execute(runs, workers=args.workers, binary=args.autowud, out_dir=out_dir, meta=meta)
    except DaemonError as e:
        print(f"scripts/study: {e}", file=sys.stderr)
        return 2
    report = write_report(results, doc)
    print(f"results: {results}\nreport: {report}\nelapsed: {time.monotonic() - t0:.0f} s")
    return 0
