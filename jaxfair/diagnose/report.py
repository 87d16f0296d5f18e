"""Figures, CSV/Markdown tables and ``summary.json`` of a :class:`~jaxfair.diagnose.pipeline.Diagnosis`.

Every file is written atomically (temporary file + ``os.replace``), so an interrupted run
never leaves a half-written table that looks complete.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from jaxfair.atomic import atomic_write
from jaxfair.tables import markdown_table

__all__ = ["write_report"]

TERM_LABELS = {"term4": "(4) g1's covariates vs S_X", "term5": "(5) same users, different preferences",
               "term6": "(6) S_X vs g0's covariates"}
TERM_COLORS = {"term4": "tab:blue", "term5": "tab:orange", "term6": "tab:green"}


def _savefig(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110, bbox_inches="tight"), "wb")
    plt.close(fig)
    return path


def _x_axis(d):
    a = d.grid.alphas
    if a.shape[1] == 2:
        return a[:, 0], "w = α_0 share (α = (w, 1 − w))"
    return np.linspace(0, 1, len(a)), "t along α*(g0) → α*(g1)"


def terms_figure(d, path: Path) -> Path:
    """Stacked terms (4)/(5)/(6) with the gap on top; below each term with its CI and Thm 3.1's bound."""
    import matplotlib.pyplot as plt

    x, xlabel = _x_axis(d)
    dec = d.grid
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(8, 11), sharex=True)
    pos = np.zeros(len(x))
    neg = np.zeros(len(x))
    for i, t in enumerate(("term4", "term5", "term6")):
        v = dec.terms[:, i]
        lo = np.where(v >= 0, pos, neg)
        ax1.fill_between(x, lo, lo + v, color=TERM_COLORS[t], alpha=0.6, label=TERM_LABELS[t], step=None)
        pos, neg = np.where(v >= 0, pos + v, pos), np.where(v < 0, neg + v, neg)
    ax1.plot(x, dec.terms[:, 3], color="k", lw=2, label="raw gap E1[U1] − E0[U0]")
    ax1.fill_between(x, dec.ci[:, 3, 0], dec.ci[:, 3, 1], color="k", alpha=0.15, label=f"gap {dec.level:.0%} CI")
    ax1.axhline(0, color="grey", lw=0.5)
    ax1.set_ylabel("utility gap")
    g1, g0 = (d.group_names[g] for g in d.groups)
    ax1.set_title(f"{d.title}: gap {g1} (g1) − {g0} (g0), stacked terms")
    ax1.legend(fontsize=8, loc="best")
    for i, t in enumerate(("term4", "term5", "term6")):
        ax2.plot(x, dec.terms[:, i], color=TERM_COLORS[t], label=TERM_LABELS[t])
        ax2.fill_between(x, dec.ci[:, i, 0], dec.ci[:, i, 1], color=TERM_COLORS[t], alpha=0.2)
    lim = np.nanmax(np.abs(dec.ci[:, :3])) if np.isfinite(dec.ci).any() else np.nanmax(np.abs(dec.terms[:, :3]))
    ax2.set_ylim(-1.3 * lim, 1.3 * lim)
    # Theorem 3.1: |term 5| against its bound at the best scale, split into its three parts.
    b = dec.bound
    bottom = np.zeros(len(x))
    for i, (part, col) in enumerate(zip(("model residuals × |Δα*|", "misspecification of g0",
                                          "misspecification of g1"), ("tab:purple", "tab:olive", "tab:cyan"))):
        ax3.fill_between(x, bottom, bottom + b.optimal_parts[:, i], color=col, alpha=0.5, label=part)
        bottom = bottom + b.optimal_parts[:, i]
    ax3.plot(x, b.given, color="k", ls=":", label="bound at α as given (scale 1)")
    ax3.plot(x, np.abs(dec.terms[:, 1]), color=TERM_COLORS["term5"], lw=2, label="|term (5)|")
    ax3.set_ylabel("Theorem 3.1 (best scale of α)")
    ax3.legend(fontsize=8, loc="best")
    for a, name in ((d.alpha_given, "α given"), (d.alpha_best, "utility-optimal α")):
        xv = a[0] / a.sum() if a.shape[0] == 2 else None
        if xv is not None:
            for ax in (ax1, ax2, ax3):
                ax.axvline(xv, color="grey", ls="-." if name == "α given" else "--", lw=1)
            ax2.annotate(name, (xv, ax2.get_ylim()[1]), fontsize=8, ha="center", va="bottom")
    ax2.axhline(0, color="grey", lw=0.5)
    ax3.set_xlabel(xlabel)
    ax2.set_ylabel(f"term ({dec.level:.0%} bootstrap CI)")
    ax2.legend(fontsize=8, loc="best")
    return _savefig(fig, path)


def overlap_figure(d, path: Path) -> Path:
    """Histogram of S_X weights per group (log x), with the overlap diagnostics."""
    import matplotlib.pyplot as plt

    w = d.weights
    fig, ax = plt.subplots(figsize=(7, 4))
    grp, groups = w.weights, d.group
    pos = grp[grp > 0]
    bins = np.logspace(np.log10(max(pos.min(), 1e-4)), np.log10(pos.max()), 50) if len(pos) else 10
    for g in d.groups:
        v = grp[(groups == g)]
        ax.hist(np.maximum(v, 1e-4), bins=bins, alpha=0.5, label=f"{d.group_names[g]} (n = {len(v)})")
    ax.set_xscale("log")
    ax.set_xlabel("S_X weight h(x) (mean 1 over both groups)")
    ax.set_ylabel("users")
    ax.set_title(f"{d.title}: shared space S_X — overlap {w.overlap:.3f}, ESS {w.ess:.0f} "
                 f"({w.ess_fraction:.0%}), negligible {w.negligible_share:.1%}", fontsize=9)
    ax.legend()
    return _savefig(fig, path)


def attribution_figure(d, path: Path) -> Path:
    """Shapley shares of the gap (and of the utility loss) at the α given and the utility-optimal α."""
    import matplotlib.pyplot as plt

    comps = ("retrieval", "scoring", "serving", "residual")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.38
    xs = np.arange(len(comps))
    for j, (name, lab) in enumerate((("given", "α given"), ("best", "utility-optimal α"))):
        at = d.attribution[name]
        axes[0].bar(xs + (j - 0.5) * width, [at.gap_shares[c] for c in comps], width,
                    label=f"{lab} {np.round(at.alpha, 3).tolist()}: gap {at.gap:.4f}")
        axes[1].bar(xs[:3] + (j - 0.5) * width, [at.loss_shares[c] for c in comps[:3]], width, label=lab)
    for ax, title in zip(axes, ("share of the gap (Shapley; + residual)", "share of the utility loss vs full oracle")):
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    axes[0].set_xticks(xs, comps)
    axes[1].set_xticks(xs[:3], comps[:3])
    fig.suptitle(f"{d.title}: component attribution (oracle retrieval / scoring / serving)", fontsize=10)
    return _savefig(fig, path)


def summary_dict(d) -> dict:
    g1, g0 = (d.group_names[g] for g in d.groups)
    return {
        "scenario": d.scenario.describe() if hasattr(d.scenario, "describe") else str(d.scenario),
        "title": d.title, "standin": bool(getattr(d.scenario, "is_standin", False)), "n_users": d.n_users,
        "groups": {"g1": g1, "g0": g0, "ids": list(d.groups)},
        "alpha_given": d.points.summary(0), "alpha_utility_optimal": d.points.summary(1),
        "shared_space": d.weights.summary(),
        "retrieval": d.retrieval.summary(),
        "attribution": {k: {kk: vv for kk, vv in v.summary().items() if kk != "pipelines"}
                        for k, v in d.attribution.items()},
        "lemma23": d.lemma23.to_dict(orient="records"),
        "ece": d.calibration.to_dict(orient="records"),
        "seconds": {k: round(v, 3) for k, v in d.seconds.items()},
        "notes": d.notes,
    }


def write_report(d, out) -> dict[str, Path]:
    """Write figures, tables and ``summary.json`` to ``out``; returns ``{name: path}``."""
    out = Path(out)
    paths = {}
    paths["terms.png"] = terms_figure(d, out / "terms.png")
    paths["overlap.png"] = overlap_figure(d, out / "overlap.png")
    paths["attribution.png"] = attribution_figure(d, out / "attribution.png")
    tables = {
        "decomposition_grid": d.grid.to_frame(),
        "decomposition_points": d.points.to_frame().assign(
            point=lambda f: np.where(f["alpha_index"] == 0, "given", "utility-optimal")),
        "attribution_pipelines": pd.concat([v.pipelines.assign(point=k) for k, v in d.attribution.items()]),
        "attribution_shares": pd.concat([v.shares_frame().assign(point=k) for k, v in d.attribution.items()]),
        "calibration_ece": d.calibration,
        "lemma23": d.lemma23.assign(alpha_star=lambda f: f["alpha_star"].astype(str),
                                    best_alpha=lambda f: f["best_alpha"].astype(str)),
    }
    for name, df in tables.items():
        paths[f"{name}.csv"] = atomic_write(out / f"{name}.csv", lambda fh, df=df: df.to_csv(fh, index=False))
        if name != "decomposition_grid":  # the grid table is long: CSV only
            paths[f"{name}.md"] = atomic_write(out / f"{name}.md", lambda fh, df=df: fh.write(markdown_table(df, "{:.4f}")))
    summary = summary_dict(d)
    paths["summary.json"] = atomic_write(out / "summary.json", lambda fh: json.dump(summary, fh, indent=1, default=str))
    return paths
