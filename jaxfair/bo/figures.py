"""Figures of a study: Pareto frontier (paper Fig. 4), hypervolume per evaluation, scalarised
summary (Fig. 3) and, with three objectives, the pairwise projections of the 3-D fronts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from jaxfair.bo.objectives import objective_label
from jaxfair.bo.pareto import pareto_front, pareto_mask
from jaxfair.bo.statistics import bo_rows, objective_columns
from jaxfair.utils.curves import same_as, same_curve_label, staggered_style

__all__ = ["scalarised_ylabel", "study_figures"]


def _ratio_line(metrics: pd.DataFrame) -> str:
    """Title line: median final worst/best group utility ratio per method (DER alone misleads)."""
    if "final_worst_best_ratio" not in metrics.columns:
        return ""
    med = metrics.groupby("method")["final_worst_best_ratio"].median()
    return "\nworst/best group utility at the final α (median): " + ", ".join(f"{m} {v:.3f}" for m, v in med.items())


def study_figures(rows, hv, front, metrics, out: Path, titles: dict, prefs: dict | None = None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outside = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8)
    paths = []
    for sc in sorted(rows["scenario"].unique()):
        title = titles.get(sc, sc)
        methods = sorted(rows.loc[rows["scenario"] == sc, "method"].unique())
        colors = {m: f"C{i}" for i, m in enumerate(methods)}
        if len(objective_columns(rows)) == 3:
            paths.append(
                _pairs_figure(plt, rows[rows["scenario"] == sc], methods, colors, title, out / f"pairs_{sc}.png")
            )
        srows = rows[rows["scenario"] == sc]
        n_trials = srows["trial"].nunique()
        # Fig. 4: frontier
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        for m in methods:
            f = front[(front["scenario"] == sc) & (front["method"] == m)]
            ax.plot(f["utility_mean"], f["der"], color=colors[m], label=f"{m}: mean frontier")
            ax.fill_betweenx(
                f["der"],
                f["utility_mean"] - f["utility_sd"],
                f["utility_mean"] + f["utility_sd"],
                color=colors[m],
                alpha=0.12,
                lw=0,
            )
            pts = np.concatenate(
                [
                    pareto_front(bo_rows(g)[objective_columns(rows)[:2]].to_numpy())
                    for _, g in srows[srows["method"] == m].groupby("trial")
                ]
            )
            ax.errorbar(
                pts[:, 0].mean(),
                pts[:, 1].mean(),
                xerr=pts[:, 0].std(),
                yerr=pts[:, 1].std(),
                color=colors[m],
                marker="o",
                capsize=3,
                ls="none",
                label=f"{m}: centroid ± 1 sd of the trials' Pareto points",
            )
            ax.scatter(pts[:, 0], pts[:, 1], color=colors[m], s=6, alpha=0.4)
        u_col, d_col = objective_columns(rows)[:2]
        ax.set_xlabel(objective_label(u_col))
        ax.set_ylabel(objective_label(d_col))
        ax.set_title(
            f"{title}: Pareto frontier, mean ± 1 sd over {n_trials} trials (shaded)\n"
            "drawn at DER levels at least half of the trials reach; dots: Pareto points"
            + _ratio_line(metrics[metrics["scenario"] == sc])
            + (f"\n{prefs[sc]}" if prefs and sc in prefs else ""),
            fontsize=9,
        )
        ax.legend(**outside)
        p = out / f"frontier_{sc}.png"
        fig.savefig(p, dpi=110, bbox_inches="tight")  # the legend sits outside the axes
        plt.close(fig)
        paths.append(p)
        # hypervolume per evaluation: every trial (thin) and the mean (thick). No ± sd band: over a
        # handful of trials it reaches below 0, which a hypervolume cannot.
        fig, ax = plt.subplots(figsize=(6.5, 4))
        subs = {m: hv[(hv["scenario"] == sc) & (hv["method"] == m)] for m in methods}
        means = {m: sub.groupby("eval")["hv"].mean() for m, sub in subs.items()}
        # Methods that found the same hypervolumes draw one line over the other: each mean gets
        # its own dash and staggered markers, and the legend names the curve it lies on.
        # Hypervolumes can be ~1e-6: "the same" is relative to the largest one.
        scale = max((float(np.abs(mu.to_numpy()).max()) for mu in means.values() if len(mu)), default=0.0)
        curves = [np.column_stack([mu.index, mu.to_numpy() / (scale or 1.0)]) for mu in means.values()]
        twins = same_as(curves, methods)
        for i, m in enumerate(methods):
            sub, mu = subs[m], means[m]
            for _, g in sub.groupby("trial"):
                ax.plot(g["eval"], g["hv"], color=colors[m], lw=0.6, alpha=0.35)
            style = dict(staggered_style(i, len(methods), len(mu), color=colors[m]), lw=2)
            n = sub["trial"].nunique()
            name = f"{m}: mean of {n} trial{'s' if n != 1 else ''}"
            ax.plot(mu.index, mu.values, label=same_curve_label(name, twins[i]), **style)
        n_init = int(srows.loc[srows["iteration"] == 0, "eval"].max()) if (srows["iteration"] == 0).any() else None
        if n_init is not None:
            ax.axvline(n_init + 0.5, color="grey", ls=":", lw=1, label="end of the shared initial design")
        ax.set_xlabel("evaluation (initial design, then BO iterations)")
        ax.set_ylabel(
            "hypervolume of exact ("
            + ", ".join(objective_label(c[: -len("_exact")], short=True) for c in objective_columns(rows))
            + ")"
        )
        ax.set_title(f"{title}: hypervolume per evaluation (thin: each trial)", fontsize=10)
        ax.legend(**outside)
        p = out / f"hypervolume_{sc}.png"
        fig.savefig(p, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(p)
        # Fig. 3: scalarised summary — every trial as a point beside the box (a box of a few
        # trials alone hides how few there are).
        fig, ax = plt.subplots(figsize=(5.5, 4))
        data = [
            metrics[(metrics["scenario"] == sc) & (metrics["method"] == m)]["scalarised"].to_numpy() for m in methods
        ]
        ax.boxplot(data, tick_labels=methods, medianprops={"color": "k"})
        for i, v in enumerate(data, start=1):
            jitter = np.linspace(-0.12, 0.12, len(v)) if len(v) > 1 else np.zeros(len(v))
            ax.scatter(i + jitter, v, color=colors[methods[i - 1]], s=14, zorder=3)
        ax.set_ylabel(scalarised_ylabel(objective_columns(rows)), fontsize=9)
        ax.set_title(f"{title}: scalarised outcome per trial ({n_trials} trials, dots)", fontsize=10)
        fig.tight_layout()
        p = out / f"summary_{sc}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def scalarised_ylabel(cols: list[str]) -> str:
    """The summary figure's y-label: exactly the sum it plots (each term min–max normalised to [0, 1])."""
    terms = " + ".join(f"norm. {objective_label(c[: -len('_exact')], short=True)}" for c in cols)
    return f"best over BO iterations of\n{terms}\n(each term in [0, 1]; sum of {len(cols)}, at most {len(cols)})"


def _label(col: str) -> str:
    return "viewer DER (exact)" if col == "der_exact" else objective_label(col)


def _pairs_figure(plt, srows: pd.DataFrame, methods, colors, title: str, path: Path) -> Path:
    """Three pairwise projections of every trial's 3-D Pareto front (BO evaluations), per method."""
    cols = objective_columns(srows)
    pairs = [(0, 1), (0, 2), (1, 2)]
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.3))
    for m in methods:
        fronts = [bo_rows(h)[cols].to_numpy() for _, h in srows[srows["method"] == m].groupby("trial")]
        pts = np.concatenate([f[pareto_mask(f)] for f in fronts])
        for ax, (a, b) in zip(axes, pairs, strict=True):
            ax.scatter(pts[:, a], pts[:, b], color=colors[m], s=9, alpha=0.35)
            ax.errorbar(
                pts[:, a].mean(),
                pts[:, b].mean(),
                xerr=pts[:, a].std(),
                yerr=pts[:, b].std(),
                color=colors[m],
                marker="o",
                capsize=3,
                label=m,
            )
    for ax, (a, b) in zip(axes, pairs, strict=True):
        ax.set_xlabel(_label(cols[a]))
        ax.set_ylabel(_label(cols[b]))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(methods), bbox_to_anchor=(0.5, 0.99), frameon=False)
    fig.suptitle(f"{title}: 3-D Pareto fronts of every trial, pairwise (dot: mean ± 1 sd)", y=0.9)
    fig.tight_layout(rect=(0, 0, 1, 0.86))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
