"""The study's report: docs/study.md (or another path) and its figures, generated from a results JSON."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

FINDINGS_PLACEHOLDER = "(written by the lead from the final run)"
Cell = Tuple[str, int]  # (workload, batch size)


# ============================================================================ aggregation

def load(path: Path) -> Dict[str, Any]:
    return json.loads(Path(path).read_text())


def picked(results: Dict[str, Any]) -> Dict[Tuple[str, int, int, str], Dict[str, Any]]:
    """One run per (workload, batch size, seed, method): for a tuned method, the grid peak with the best
    validation accuracy (then the lower validation loss, then the smaller peak)."""
    groups: Dict[Tuple[str, int, int, str], List[Dict[str, Any]]] = defaultdict(list)
    for r in results["runs"]:
        groups[(r["workload"], r["batch_size"], r["seed"], r["method"])].append(r)
    out = {}
    for key, runs in groups.items():
        if len(runs) == 1 and runs[0]["schedule"]["kind"] != "warmup-cosine":
            out[key] = runs[0]
        else:
            best = min(runs, key=lambda r: (-r["val_acc"], r["val_loss"] if r["val_loss"] is not None else math.inf,
                                            r["schedule"]["lr"]))
            out[key] = dict(best, grid_size=len(runs))
    return out


def is_autowu(results: Dict[str, Any], method: str) -> bool:
    spec = results["meta"].get("method_specs", {}).get(method)
    return bool(spec) and spec["base"] in ("autowu", "autowu-paper")


def is_tuned(results: Dict[str, Any], method: str) -> bool:
    spec = results["meta"].get("method_specs", {}).get(method)
    return bool(spec) and spec["base"] == "tuned"


def cells(results: Dict[str, Any]) -> List[Cell]:
    out = []
    for w, setup in results["meta"]["workloads"].items():
        for b in setup["batch_sizes"]:
            out.append((w, b))
    return out


def summarise(results: Dict[str, Any]) -> Dict[Cell, Dict[str, Dict[str, Any]]]:
    """Per cell and method: test/val accuracy mean and std over seeds, chosen LRs, switch epochs, reasons."""
    chosen = picked(results)
    table: Dict[Cell, Dict[str, Dict[str, Any]]] = defaultdict(dict)
    for (w, b) in cells(results):
        for m in results["meta"]["methods"]:
            runs = [chosen[k] for k in sorted(chosen) if k[0] == w and k[1] == b and k[3] == m]
            if not runs:
                continue
            test = np.array([r["test_acc"] for r in runs])
            s: Dict[str, Any] = dict(n=len(runs), seeds=[r["seed"] for r in runs], test_accs=[float(t) for t in test],
                                     test_mean=float(test.mean()),
                                     test_std=float(test.std(ddof=1)) if len(runs) > 1 else 0.0,
                                     val_mean=float(np.mean([r["val_acc"] for r in runs])),
                                     steps_per_epoch=runs[0]["steps_per_epoch"], epochs=runs[0]["epochs"])
            if runs[0]["schedule"]["kind"] == "autowu":
                ds = [r.get("decision") for r in runs]
                s["reasons"] = dict(Counter(d["reason"] if d else "none" for d in ds))
                got = [d for d in ds if d]
                s["switch_lr"] = [d["lr"] for d in got]
                s["switch_epoch"] = [d["switch_epoch"] for d in got]
            elif runs[0]["schedule"]["kind"] == "warmup-cosine":
                s["peaks"] = [r["schedule"]["lr"] for r in runs]
                s["grid_size"] = min(r.get("grid_size", 1) for r in runs)
            else:
                s["lr"] = runs[0]["schedule"]["lr"]
            table[(w, b)][m] = s
    return table


def tuned_reference(results: Dict[str, Any], row: Dict[str, Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    for m, s in row.items():
        if is_tuned(results, m):
            return s
    return None


# ============================================================================ the Markdown

def write_report(results_path: Path, doc_path: Path) -> Path:
    results = load(results_path)
    doc_path = Path(doc_path)
    fig_dir = doc_path.parent / "study"
    fig_dir.mkdir(parents=True, exist_ok=True)
    table = summarise(results)
    figures = []
    from . import figures as figs
    acc = figs.accuracy_vs_batch(results, table, fig_dir / "accuracy_vs_batch.png")
    if acc:
        figures.append(("Test accuracy against batch size (mean and standard deviation over seeds)", acc))
    for w in results["meta"]["workloads"]:
        p = figs.curves(results, picked(results), w, fig_dir / f"curves_{w}.png")
        if p:
            figures.append((f"{w}: training loss and LR of seed 0 at each batch size", p))
    text = render(results, table, [(t, p.relative_to(doc_path.parent)) for t, p in figures], results_path, doc_path)
    doc_path.write_text(text)
    return doc_path


def render(results, table, figures, results_path: Path, doc_path: Path) -> str:
    meta = results["meta"]
    methods = meta["methods"]
    lines: List[str] = []
    add = lines.append
    add("# The validation study")
    add("")
    add("Does AutoWU give a learning rate as good as a tuned one, without tuning? Real models trained on CPU "
        "with torch against a real `autowud`, each method on the same data, initial weights and mini-batch order "
        "per seed. This file is generated by `scripts/study` from `" + _rel(results_path, doc_path) + "`; only the "
        "Findings section is written by hand.")
    add("")
    if meta.get("quick"):
        add("**This is a `--quick` run** (one workload, one batch size, one seed, a tiny budget): it checks that the "
            "machinery works; its numbers say nothing about the methods.")
        add("")
    if not meta.get("finished", False):
        add(f"**Partial results**: {meta.get('completed_runs')} of {meta.get('planned_runs')} runs finished "
            f"({meta.get('failed_runs', 0)} failed); cells below use what finished.")
        add("")
    add("## How to run")
    add("")
    add("```sh")
    add("scripts/study                      # the full study (this run's wall time is in Setup)")
    add("scripts/study --quick              # a 2-minute smoke run (the test suite's)")
    add("scripts/study --also 'autowu[policy=hold,patience=2],autowu[test=robust,policy=paper]'   # add candidates")
    add("scripts/study --workloads digits-cnn --methods autowu,tuned --seeds 1 --out-dir /tmp/s")
    add("scripts/study --report-only bench/study/results/results.json   # regenerate this file")
    add("```")
    add("")
    add("The daemon is `--autowud PATH`, else `$AUTOWUD`, else `.build/release/autowud`, else `.build/debug/autowud`; "
        "the study starts it on free loopback ports with a temporary data directory and stops it with SIGTERM. "
        "Results go to `bench/study/results/results.json` (rewritten after every run, so an interrupted study "
        "can still be reported with `--report-only`).")
    add("")
    add("## Setup")
    add("")
    add(f"This run: `{meta.get('command', '')}`; {meta.get('completed_runs')} runs in "
        f"{_duration(meta.get('elapsed_seconds', 0))} with {meta.get('workers')} workers on {meta.get('cpus')} cores "
        f"(1-minute load average {meta.get('load_average_start', '?')} at the start, "
        f"{meta.get('load_average_end', '?')} at the end; torch {meta.get('torch')}, scikit-learn {meta.get('sklearn')}, Python {meta.get('python')}, commit "
        f"`{meta.get('git_commit', '')}`, daemon `{meta.get('autowud', '')}`). Seeds: {_seeds(meta['seeds'])}.")
    add("")
    add("| workload | data | optimizer | epochs | batch sizes (steps/epoch) | constant LR | tuned peaks |")
    add("|---|---|---|---|---|---|---|")
    spe = {(w, b): next((s["steps_per_epoch"] for s in table.get((w, b), {}).values()), None)
           for (w, b) in cells(results)}
    for w, s in meta["workloads"].items():
        grids = "; ".join(", ".join(f"{p:g}" for p in g) for g in s["tuned_grids"].values()) or "-"
        bss = ", ".join(f"{b} ({spe.get((w, b)) or '?'})" for b in s["batch_sizes"])
        opt = {"sgdm": "SGD, momentum 0.9", "adam": "AdamW", "sgd": "SGD"}.get(s["optimizer"], s["optimizer"])
        data = " ".join(s["data"].split())
        add(f"| {w}: {s['description']} | {data} | {opt}, weight decay {s['weight_decay']:g} | {s['epochs']} | "
            f"{bss} | {s['constant_lr']:g} | {grids} |")
    add("")
    add("Methods:")
    add("")
    for m in methods:
        add(f"- `{m}`: {_method_text(results, m)}")
    add("")
    add("Every run trains for the workload's fixed epoch budget on the training split (60 %, a seeded split per "
        "seed; each epoch a fresh seeded permutation, the last incomplete batch dropped) and is evaluated once at "
        "the end on the validation (20 %) and test (20 %) splits. The tuned baseline's peak is picked per seed on "
        "that seed's validation split; its test accuracy is reported. AutoWU runs are one rank each (world size "
        "1) with a unique job id; their LRs are the daemon's plan, and the switch epoch is the decision's first "
        "decay step divided by the steps per epoch. `results.json` keeps, per run, the accuracies and losses, the "
        "per-epoch mean training loss, the loss and LR in at most 256 bins of consecutive steps (each step when "
        "there are fewer), and for AutoWU the decision and the end-of-epoch verdicts seen.")
    add("")
    add("## Results")
    add("")
    add("Test accuracy in percent, mean +- standard deviation over seeds. \"gap to tuned\" is the method's mean "
        "minus the tuned baseline's, in points. For AutoWU methods: the LR it switched to and the epoch of the "
        "switch (the first decay step / steps per epoch), mean [min-max] over seeds, and the switch reasons. For "
        "tuned: the picked peaks per seed.")
    add("")
    add("| workload | batch | method | test acc % | gap to tuned | LR chosen | switch epoch | reasons |")
    add("|---|---|---|---|---|---|---|---|")
    within: Dict[str, List[int]] = {m: [0, 0] for m in methods if is_autowu(results, m) or not is_tuned(results, m)}
    for (w, b) in cells(results):
        row = table.get((w, b), {})
        ref = tuned_reference(results, row)
        for m in methods:
            s = row.get(m)
            if s is None:
                add(f"| {w} | {b} | {m} | (no run) | | | | |")
                continue
            gap = ""
            if ref is not None and not is_tuned(results, m):
                g = 100 * (s["test_mean"] - ref["test_mean"])
                gap = f"{g:+.1f}"
                within[m][1] += 1
                within[m][0] += g >= -1.0
            acc = (f"{100 * s['test_mean']:.1f} +- {100 * s['test_std']:.1f}" if s["n"] > 1 else f"{100 * s['test_mean']:.1f}")
            if s["n"] < len(meta["seeds"]):
                acc += f" ({s['n']} of {len(meta['seeds'])} seeds)"
            lr, ep, why = "", "", ""
            if "switch_lr" in s:
                lr = _range(s["switch_lr"], "{:.3g}")
                ep = _range(s["switch_epoch"], "{:.1f}")
                why = ", ".join(f"{k} {v}" for k, v in sorted(s["reasons"].items()))
            elif "peaks" in s:
                lr = "peak " + ", ".join(f"{p:g}" for p in s["peaks"])
                if s.get("grid_size", 0) and s["grid_size"] < len(meta["workloads"][w]["tuned_grids"].get(m, [])):
                    lr += f" (of {s['grid_size']} finished peaks)"
            elif "lr" in s:
                lr = f"{s['lr']:g}"
            add(f"| {w} | {b} | {m} | {acc} | {gap} | {lr} | {ep} | {why} |")
    add("")
    for m, (k, n) in within.items():
        if n:
            add(f"- `{m}`: within 1 point of tuned (or better) in {k} of {n} cells.")
    add("")
    for title, rel in figures:
        add(f"![{title}]({rel})")
        add("")
        add(f"*{title}.*")
        add("")
    grid = _grid_table(results)
    if grid:
        add("### The tuned grid")
        add("")
        add("Validation accuracy in percent (mean over seeds) of each peak of the tuned grid; **bold** is the best "
            "mean. A best peak at an end of the grid would mean the grid is too narrow.")
        add("")
        lines.extend(grid)
        add("")
    if results.get("errors"):
        add("### Failed runs")
        add("")
        for e in results["errors"]:
            r = e["run"]
            last = e["error"].strip().splitlines()[-1]
            add(f"- {r['workload']} bs{r['batch_size']} seed{r['seed']} {r['method']}: `{last}`")
        add("")
    add("## Findings")
    add("")
    add(_kept_findings(doc_path) or FINDINGS_PLACEHOLDER)
    add("")
    return "\n".join(lines)


def _kept_findings(doc_path: Path) -> Optional[str]:
    """The hand-written Findings of the report being regenerated, so that a re-run keeps them."""
    try:
        text = doc_path.read_text()
    except FileNotFoundError:
        return None
    if "## Findings" not in text:
        return None
    body = text.split("## Findings", 1)[1].strip()
    return body if body and body != FINDINGS_PLACEHOLDER else None


def _grid_table(results) -> List[str]:
    per: Dict[Tuple[str, int, str], Dict[float, List[float]]] = defaultdict(lambda: defaultdict(list))
    for r in results["runs"]:
        if r["schedule"]["kind"] == "warmup-cosine":
            per[(r["workload"], r["batch_size"], r["method"])][r["schedule"]["lr"]].append(r["val_acc"])
    if not per:
        return []
    out = []
    for (w, b, m), by_peak in sorted(per.items()):
        peaks = sorted(by_peak)
        means = [float(np.mean(by_peak[p])) for p in peaks]
        best = int(np.argmax(means))
        cellsx = [(f"**{100 * v:.1f}**" if i == best else f"{100 * v:.1f}") for i, v in enumerate(means)]
        out.append(f"- {w} bs {b} (`{m}`): " + ", ".join(f"{p:g}: {c}" for p, c in zip(peaks, cellsx)))
    return out


def _method_text(results, m: str) -> str:
    spec = results["meta"]["method_specs"][m]
    if spec["base"] == "autowu" and not spec["autowu"]:
        return "AutoWU with the daemon's defaults (no test, policy or hyper-parameter options sent)."
    if spec["base"] in ("autowu", "autowu-paper"):
        kw = ", ".join(f"{k}={v!r}" for k, v in spec["autowu"].items())
        what = "the paper-exact method" if m == "autowu-paper" else "a candidate"
        return f"AutoWU, {what}: `AutoWULR(..., {kw})`."
    if spec["base"] == "tuned":
        return ("linear warmup over the first 10 % of the steps, then cosine to 0; the peak from the grid in the "
                "setup table, picked per seed by validation accuracy.")
    return "the optimizer's customary LR, constant (no warmup, no decay)."


def _range(values: List[float], fmt: str) -> str:
    if not values:
        return "-"
    mean = float(np.mean(values))
    if len(values) == 1:
        return fmt.format(mean)
    return f"{fmt.format(mean)} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def _duration(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def _seeds(seeds: List[int]) -> str:
    return ", ".join(str(s) for s in seeds)


def _rel(path: Path, doc: Path) -> str:
    """The results file relative to the repository if it lies inside it, else its absolute path."""
    from .daemon import REPO
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(Path(path).resolve())
