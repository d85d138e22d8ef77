"""Run the study: every (workload, batch size, seed) cell under every method, ``workers`` training processes in
parallel against one autowud, a progress line per finished run, the results JSON rewritten after each run."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
import traceback
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .daemon import REPO, Daemon, find_binary
from .methods import Method, slug, tuned_peaks
from .train import WARMUP_FRACTION, Endpoints, RunSpec, run
from .workloads import Workload

RESULTS_NAME = "results.json"


def plan(workloads: Sequence[Workload], methods: Sequence[Method], seeds: Sequence[int],
         batch_sizes: Optional[Dict[str, Sequence[int]]] = None, epochs: Optional[Dict[str, int]] = None,
         tag: str = "") -> List[RunSpec]:
    """Every run, the longest first (mini-batches of 32 cost the most per epoch) so the pool ends evenly."""
    tag = tag or uuid.uuid4().hex[:8]
    runs = []
    for w in workloads:
        for b in (batch_sizes or {}).get(w.name, w.batch_sizes):
            for s in seeds:
                for m in methods:
                    for i, sch in enumerate(m.schedules(w)):
                        job = f"study-{tag}-{w.name}-bs{b}-s{s}-{slug(m.name)}" if sch.kind == "autowu" else ""
                        runs.append(RunSpec(w.name, b, s, m.name, sch, (epochs or {}).get(w.name, w.epochs), job))
    return sorted(runs, key=lambda r: (-r.epochs * 2048 // r.batch_size, r.schedule.kind != "autowu"))


def execute(runs: List[RunSpec], *, workers: int, binary: Optional[str], out_dir: Path,
            meta: Dict[str, Any], log=print) -> Path:
    """Start a daemon, train every run, stop the daemon; returns the results JSON's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / RESULTS_NAME
    needs_daemon = any(r.schedule.kind == "autowu" for r in runs)
    daemon = None
    started = time.monotonic()
    records: List[Dict[str, Any]] = []
    errors: List[Dict[str, Any]] = []
    meta = dict(meta, started=time.strftime("%Y-%m-%d %H:%M:%S %Z"), planned_runs=len(runs), workers=workers,
                load_average_start=round(os.getloadavg()[0], 2), **_environment())
    try:
        endpoints = None
        if needs_daemon:
            path = find_binary(binary)
            daemon = Daemon(path, log_path=out_dir / "autowud.log")
            endpoints = daemon.start()
            meta.update(autowud=str(path), autowud_endpoints=asdict(endpoints))
            log(f"autowud {path} ready: control={endpoints.control}")
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker, maxtasksperchild=None) as pool:
            for i, (spec, record, error) in enumerate(
                    pool.imap_unordered(_run_one, [(r, endpoints) for r in runs]), 1):
                elapsed = time.monotonic() - started
                if error is None:
                    records.append(record)
                    log(f"[{i:4d}/{len(runs)} {_clock(elapsed)}] {_describe(record)}")
                else:
                    errors.append(dict(run=_spec_json(spec), error=error))
                    log(f"[{i:4d}/{len(runs)} {_clock(elapsed)}] {spec.workload} bs{spec.batch_size} seed{spec.seed} "
                        f"{spec.method}: FAILED: {error.strip().splitlines()[-1]}")
                if daemon is not None and not daemon.alive():
                    raise RuntimeError(f"autowud died during the study; its log: {daemon.log_path}")
                _write(results_path, meta, records, errors, time.monotonic() - started, finished=False)
    finally:
        status = daemon.stop() if daemon is not None else None
        if daemon is not None:
            meta["autowud_exit_status"] = status
        meta["load_average_end"] = round(os.getloadavg()[0], 2)
        _write(results_path, meta, records, errors, time.monotonic() - started, finished=len(records) + len(errors) == len(runs))
    return results_path


def _init_worker() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    torch.set_num_threads(1)
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # the optimizers' first use imports torch._dynamo


def _run_one(arg):
    spec, endpoints = arg
    try:
        return spec, run(spec, endpoints), None
    except BaseException:  # noqa: BLE001 - reported with the run, the study goes on
        return spec, None, traceback.format_exc()


def _describe(r: Dict[str, Any]) -> str:
    s = (f"{r['workload']} bs{r['batch_size']} seed{r['seed']} {r['method']}"
         + (f" (peak {r['schedule']['lr']:.4g})" if r["schedule"]["kind"] == "warmup-cosine" else "")
         + f": test {r['test_acc']:.4f} val {r['val_acc']:.4f}")
    if r["schedule"]["kind"] == "autowu":
        d = r.get("decision")
        s += (f", switch at epoch {d['switch_epoch']:.2f} to lr {d['lr']:.4g} ({d['reason']})" if d
              else ", no switch")
    return s + f", {r['seconds']:.1f} s"


def _spec_json(spec: RunSpec) -> Dict[str, Any]:
    d = asdict(spec)
    d["schedule"]["lr"] = None if d["schedule"]["lr"] != d["schedule"]["lr"] else d["schedule"]["lr"]
    return d


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _write(path: Path, meta, records, errors, elapsed: float, finished: bool) -> None:
    doc = dict(meta=dict(meta, elapsed_seconds=round(elapsed, 1), finished=finished,
                         completed_runs=len(records), failed_runs=len(errors)),
               runs=records, errors=errors)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, separators=(",", ":"), allow_nan=False))
    os.replace(tmp, path)


def _environment() -> Dict[str, Any]:
    import sklearn
    import torch
    commit = ""
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return dict(python=platform.python_version(), torch=torch.__version__, sklearn=sklearn.__version__,
                cpus=os.cpu_count(), machine=platform.machine(), git_commit=commit, warmup_fraction=WARMUP_FRACTION)


def workload_setup(workloads: Sequence[Workload], methods: Sequence[Method],
                   batch_sizes: Optional[Dict[str, Sequence[int]]], epochs: Optional[Dict[str, int]]) -> Dict[str, Any]:
    """What the report's setup section states about each workload."""
    out = {}
    for w in workloads:
        grids = {m.name: tuned_peaks(w, m.peaks) for m in methods if m.base == "tuned"}
        out[w.name] = dict(description=w.description, optimizer=w.optimizer, weight_decay=w.weight_decay,
                           constant_lr=w.constant_lr, epochs=(epochs or {}).get(w.name, w.epochs),
                           batch_sizes=list((batch_sizes or {}).get(w.name, w.batch_sizes)), tuned_grids=grids,
                           data=(w.data.__doc__ or "").split("\n\n")[0].strip())
    return out
