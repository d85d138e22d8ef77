"""The study's figures (matplotlib, PNG): accuracy against batch size, and loss/LR curves of representative runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

_STYLE = {"autowu": dict(color="#d62728", marker="o", linestyle="-"),
          "autowu-paper": dict(color="#ff7f0e", marker="s", linestyle="--"),
          "tuned": dict(color="#1f77b4", marker="^", linestyle="-"),
          "constant": dict(color="#7f7f7f", marker="x", linestyle="-")}
_EXTRA = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def _style(results: Dict[str, Any], method: str) -> Dict[str, Any]:
    if method in _STYLE:
        return dict(_STYLE[method])
    base = results["meta"]["method_specs"].get(method, {}).get("base")
    if base in ("tuned", "constant") and not any(m == base for m in results["meta"]["methods"]):
        return dict(_STYLE[base])  # e.g. tuned[peaks=2] standing in for tuned
    extras = [m for m in results["meta"]["methods"] if m not in _STYLE]
    i = extras.index(method) if method in extras else 0
    return dict(color=_EXTRA[i % len(_EXTRA)], marker="D", linestyle="-.")


def accuracy_vs_batch(results: Dict[str, Any], table, path: Path) -> Optional[Path]:
    workloads = list(results["meta"]["workloads"])
    if not table:
        return None
    fig, axes = plt.subplots(1, len(workloads), figsize=(4.6 * len(workloads), 3.9), squeeze=False)
    for ax, w in zip(axes[0], workloads):
        bss = results["meta"]["workloads"][w]["batch_sizes"]
        methods = results["meta"]["methods"]
        for k, m in enumerate(methods):
            xs, ys, lo, hi, dots = [], [], [], [], []
            for b in bss:
                s = table.get((w, b), {}).get(m)
                if s:
                    x = b * 2 ** (0.06 * (k - (len(methods) - 1) / 2))  # apart, so error bars do not overlap
                    mean, std = 100 * s["test_mean"], 100 * s["test_std"]
                    xs.append(x)
                    ys.append(mean)
                    lo.append(mean - max(0.0, mean - std))       # the bar clipped to [0, 100]
                    hi.append(min(100.0, mean + std) - mean)
                    dots.extend((x, 100 * a) for a in s["test_accs"])
            if xs:
                st = _style(results, m)
                ax.errorbar(xs, ys, yerr=[lo, hi], label=m, capsize=3, linewidth=1.4, markersize=5, **st)
                ax.scatter([d[0] for d in dots], [d[1] for d in dots], s=14, color=st["color"], alpha=0.7,
                           linewidths=0, zorder=3)
        ax.set_xscale("log", base=2)
        ax.set_xlim(min(bss) / 1.5, max(bss) * 1.5)
        ax.set_xticks(bss)
        ax.set_xticklabels([str(b) for b in bss])
        ax.set_xlabel("batch size")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{w} (bars: mean +- std; dots: seeds)", fontsize=10)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    ncol = max(1, min(len(labels), 2 * len(workloads)))
    rows = (len(labels) - 1) // ncol + 1
    fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, fontsize=8.5)
    fig.tight_layout(rect=(0, 0.02 + 0.06 * rows * (3 / len(workloads)) ** 0.3, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curves(results: Dict[str, Any], chosen, workload: str, path: Path, seed: Optional[int] = None) -> Optional[Path]:
    """Loss (top, log scale) and LR (bottom, log scale) against the step, one column per batch size, every method's
    run of one seed (the lowest present); the tuned baseline's picked peak; a dotted line at AutoWU's switch."""
    bss = results["meta"]["workloads"][workload]["batch_sizes"]
    seeds = sorted({k[2] for k in chosen if k[0] == workload})
    if not seeds:
        return None
    seed = seeds[0] if seed is None else seed
    fig, axes = plt.subplots(2, len(bss), figsize=(5.2 * len(bss), 6.2), squeeze=False, sharex="col")
    for j, b in enumerate(bss):
        top, bottom = axes[0][j], axes[1][j]
        for m in results["meta"]["methods"]:
            r = chosen.get((workload, b, seed, m))
            if r is None:
                continue
            st = _style(results, m)
            c = r["curve"]
            steps = np.array(c["step"], dtype=float)
            loss = np.array([np.nan if v is None else v for v in c["loss"]], dtype=float)
            label = m
            if r["schedule"]["kind"] == "warmup-cosine":
                label += f" (peak {r['schedule']['lr']:g})"
            elif r["schedule"]["kind"] == "autowu" and r.get("decision"):
                d = r["decision"]
                label += f" (switch ep {d['switch_epoch']:.1f}, lr {d['lr']:.3g})"
            top.plot(steps, loss, color=st["color"], linestyle=st["linestyle"], linewidth=1.1, label=label)
            bottom.plot(steps, c["lr"], color=st["color"], linestyle=st["linestyle"], linewidth=1.3, label=label)
            if r["schedule"]["kind"] == "autowu" and r.get("decision"):
                for ax in (top, bottom):
                    ax.axvline(r["decision"]["step"], color=st["color"], linestyle=":", linewidth=1)
        top.set_yscale("log")
        top.set_ylabel("training loss (bin mean)")
        top.set_title(f"{workload}, batch {b}, seed {seed}")
        top.grid(alpha=0.3)
        bottom.set_yscale("log")
        bottom.set_ylabel("learning rate")
        bottom.set_xlabel("step")
        bottom.grid(alpha=0.3)
        top.legend(fontsize=7.5, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
