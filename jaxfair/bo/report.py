"""Statistics and figures of a study (paper Fig. 3 and 4, and the Wilcoxon tests).

All metrics use the noise-free ``*_exact`` columns. Per (scenario, method, trial):

* **hypervolume** after each evaluation: area dominated by the exact (utility, DER) of the
  evaluations so far (initial design included), w.r.t. the trial's reference point = nadir
  of the exact initial-design values minus 10 % of their range. The initial design is the
  same for every method, so the reference is shared and the comparison is paired.
* **final**: exact utility and DER at the last evaluation (what the method tests last).
* **mean DER / mean utility**: over the BO iterations (the paper aggregates over iterations).
* **scalarised** (Fig. 3): each objective min–max normalised over all exact values of the
  scenario (all methods, trials, evaluations), summed with equal weights,
  ``s = (u − u_min)/(u_max − u_min) + (D − D_min)/(D_max − D_min)``; the trial's score is the
  best ``s`` among its BO evaluations (the best trade-off the method found).
* **frontier** (Fig. 4): per trial, the Pareto front of its BO evaluations; the mean ± 1 sd
  frontier is, at each DER level d, the mean ± sd over trials of the best utility with
  DER ≥ d (levels reached by fewer than half of the trials are dropped).

Wilcoxon signed-rank tests (two-sided, scipy), paired by trial: ``fair-ehvi`` vs ``random``
and vs ``ei`` (and vs ``parego`` when the study has it) on mean DER, final DER and final hypervolume.

**Unfinished studies.** A (method, trial) with fewer evaluations than the study planned
(``n_init + iterations`` from ``study.json``; for a DataFrame, the most any trial has) is
*unfinished*: its "final" values are those of its last evaluation so far. The report marks
it (``finished``/``evaluations`` in ``trials``, ``unfinished_trials`` in ``summary``,
``n_unfinished`` in ``wilcoxon``), says in ``notes`` (and ``notes.md``) that the comparison is
partial, and lists planned trials that have no rows yet.

Three objectives (a study run with ``objectives=("utility", "der", "provider_der")``, i.e.
rows with ``provider_der_exact``): the hypervolume is 3-D (exact, w.r.t. the 3-D reference
point built the same way), the scalarised score sums the three normalised objectives, the
tables gain ``*_provider_der`` columns (also tested by Wilcoxon), ``recommended.csv`` gives
per trial the α of the evaluation with the best scalarised score and its median / range over
trials, and ``pairs_<scenario>.png`` shows the three pairwise projections of every trial's
3-D Pareto front. Two-objective output is unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from jaxfair.atomic import atomic_write_text
from jaxfair.bo.pareto import hypervolume, hypervolume_2d, pareto_front, pareto_mask, reference_point
from jaxfair.bo.study import load_rows
from jaxfair.named_prefs import prefs_title
from jaxfair.ratio import worst_best_ratio
from jaxfair.tables import markdown_table as to_markdown

__all__ = [
    "report",
    "trial_metrics",
    "hypervolume_trace",
    "mean_frontier",
    "recommended_alpha",
    "wilcoxon_table",
    "to_markdown",
]

_FOCUS = "fair-ehvi"
_BASELINES = ("random", "ei", "parego")


def _objective_columns(rows: pd.DataFrame) -> list[str]:
    """Exact objective columns of the study: 2 (utility, DER) or 3 (+ provider DER)."""
    cols = ["utility_exact", "der_exact"]
    if "provider_der_exact" in rows.columns and rows["provider_der_exact"].notna().any():
        cols.append("provider_der_exact")
    return cols


def _bo_rows(g: pd.DataFrame) -> pd.DataFrame:
    bo = g[g["iteration"] > 0]
    return bo if len(bo) else g


def _trial_refs(rows: pd.DataFrame) -> dict[tuple[str, int], np.ndarray]:
    refs = {}
    for (sc, t), g in rows[rows["phase"] == "init"].groupby(["scenario", "trial"]):
        first = g[g["method"] == g["method"].iloc[0]]
        refs[(sc, t)] = reference_point(first[_objective_columns(rows)].to_numpy(), 0.1)
    return refs


def hypervolume_trace(rows: pd.DataFrame) -> pd.DataFrame:
    """Hypervolume after each evaluation: columns scenario, method, trial, eval, iteration, hv."""
    refs = _trial_refs(rows)
    cols = _objective_columns(rows)
    hv_fn = hypervolume_2d if len(cols) == 2 else hypervolume
    out = []
    for (sc, m, t), g in rows.groupby(["scenario", "method", "trial"]):
        g = g.sort_values("eval")
        pts = g[cols].to_numpy()
        ref = refs[(sc, t)]
        for i, (e, it) in enumerate(zip(g["eval"], g["iteration"], strict=False)):
            out.append(
                dict(scenario=sc, method=m, trial=t, eval=int(e), iteration=int(it), hv=hv_fn(pts[: i + 1], ref))
            )
    return pd.DataFrame(out)


def trial_metrics(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (scenario, method, trial): final/mean utility and DER, final hv, scalarised."""
    hv = hypervolume_trace(rows)
    final_hv = hv.sort_values("eval").groupby(["scenario", "method", "trial"])["hv"].last()
    three = len(_objective_columns(rows)) == 3
    out = []
    for sc, srows in rows.groupby("scenario"):
        for (m, t), g in srows.groupby(["method", "trial"]):
            g = g.sort_values("eval")
            bo = _bo_rows(g)
            s = _scalarised(bo, srows)
            rec = dict(
                scenario=sc,
                method=m,
                trial=int(t),
                final_utility=float(g["utility_exact"].iloc[-1]),
                final_der=float(g["der_exact"].iloc[-1]),
                **_ratios(g, bo),
                mean_utility=float(bo["utility_exact"].mean()),
                mean_der=float(bo["der_exact"].mean()),
                best_der=float(bo["der_exact"].max()),
                best_utility=float(bo["utility_exact"].max()),
                hv=float(final_hv[(sc, m, t)]),
                scalarised=float(s.max()),
            )
            if three:
                rec.update(
                    final_provider_der=float(g["provider_der_exact"].iloc[-1]),
                    mean_provider_der=float(bo["provider_der_exact"].mean()),
                    best_provider_der=float(bo["provider_der_exact"].max()),
                )
            out.append(rec)
    return pd.DataFrame(out)


def _scalarised(bo: pd.DataFrame, srows: pd.DataFrame) -> pd.Series:
    """Sum of the objectives of ``bo``, each min–max normalised over the scenario's rows ``srows``."""
    s = 0.0
    for c in _objective_columns(srows):
        v = srows[c]
        s = s + (bo[c] - v.min()) / max(v.max() - v.min(), 1e-12)
    return s


def recommended_alpha(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The α each trial recommends: its BO evaluation with the best scalarised score.

    Returns:
      (per trial: scenario, method, trial, eval, alpha*, the exact objectives, scalarised;
      per (scenario, method): median, min and max over trials of each α component and
      objective).
    """
    acols = sorted((c for c in rows.columns if c.startswith("alpha")), key=lambda c: int(c[5:]))
    cols = _objective_columns(rows)
    per = []
    for sc, srows in rows.groupby("scenario"):
        for (m, t), g in srows.groupby(["method", "trial"]):
            bo = _bo_rows(g.sort_values("eval"))
            s = _scalarised(bo, srows)
            best = bo.loc[s.idxmax()]
            per.append(
                dict(
                    scenario=sc,
                    method=m,
                    trial=int(t),
                    eval=int(best["eval"]),
                    **{c: float(best[c]) for c in acols + cols},
                    scalarised=float(s.max()),
                )
            )
    per = pd.DataFrame(per)
    agg = []
    for (sc, m), g in per.groupby(["scenario", "method"]):
        rec = dict(scenario=sc, method=m, trials=len(g))
        for c in acols + cols:
            rec.update(
                {f"{c}_median": float(g[c].median()), f"{c}_min": float(g[c].min()), f"{c}_max": float(g[c].max())}
            )
        agg.append(rec)
    return per, pd.DataFrame(agg)


def mean_frontier(rows: pd.DataFrame, levels: int = 50) -> pd.DataFrame:
    """Mean ± sd frontier per (scenario, method): columns scenario, method, der, utility_mean,
    utility_sd, n_trials (see module docstring)."""
    out = []
    for sc, srows in rows.groupby("scenario"):
        fronts = {}
        for (m, _t), g in srows.groupby(["method", "trial"]):
            fronts.setdefault(m, []).append(pareto_front(_bo_rows(g)[["utility_exact", "der_exact"]].to_numpy()))
        allf = np.concatenate([f for fs in fronts.values() for f in fs])
        grid = np.linspace(allf[:, 1].min(), allf[:, 1].max(), levels)
        for m, fs in fronts.items():
            best = np.full((len(fs), levels), np.nan)
            for i, f in enumerate(fs):
                for j, lvl in enumerate(grid):
                    ok = f[:, 1] >= lvl
                    if ok.any():
                        best[i, j] = f[ok, 0].max()
            n = np.sum(~np.isnan(best), axis=0)
            for j, lvl in enumerate(grid):
                if n[j] * 2 >= len(fs) and n[j] > 0:
                    col = best[~np.isnan(best[:, j]), j]
                    out.append(
                        dict(
                            scenario=sc,
                            method=m,
                            der=float(lvl),
                            utility_mean=float(col.mean()),
                            utility_sd=float(col.std(ddof=1)) if col.size > 1 else 0.0,
                            n_trials=int(n[j]),
                        )
                    )
    return pd.DataFrame(out)


def _wilcoxon(x: np.ndarray, y: np.ndarray) -> float:
    diff = x - y
    if diff.size < 2 or np.all(diff == 0):
        return float("nan")  # undefined: no non-zero paired difference
    return float(stats.wilcoxon(x, y, alternative="two-sided").pvalue)


def wilcoxon_table(
    metrics: pd.DataFrame,
    focus: str = _FOCUS,
    baselines=_BASELINES,
    columns=("mean_der", "final_der", "hv", "final_utility"),
) -> pd.DataFrame:
    """Paired (by trial) Wilcoxon signed-rank p-values of ``focus`` vs each baseline."""
    out = []
    for sc, g in metrics.groupby("scenario"):
        piv = {c: g.pivot(index="trial", columns="method", values=c) for c in columns}
        for b in baselines:
            if focus not in g["method"].values or b not in g["method"].values:
                continue
            for c in columns:
                pair = piv[c][[focus, b]].dropna()
                out.append(
                    dict(
                        scenario=sc,
                        comparison=f"{focus} vs {b}",
                        metric=c,
                        n_trials=len(pair),
                        median_focus=float(pair[focus].median()),
                        median_baseline=float(pair[b].median()),
                        median_diff=float((pair[focus] - pair[b]).median()),
                        p_value=_wilcoxon(pair[focus].to_numpy(), pair[b].to_numpy()),
                    )
                )
    return pd.DataFrame(out)


def _ratios(g: pd.DataFrame, bo: pd.DataFrame) -> dict:
    """Final and mean (over BO iterations) worst/best group utility ratio of a trial (beside DER)."""
    mu = [c for c in g.columns if c.startswith("group_utility_exact_")]
    if not mu:  # rows of an older study without per-group utilities
        return {}
    return dict(
        final_worst_best_ratio=float(worst_best_ratio(g[mu].to_numpy(np.float64))[-1]),
        mean_worst_best_ratio=float(worst_best_ratio(bo[mu].to_numpy(np.float64)).mean()),
    )


def _ratio_line(metrics: pd.DataFrame) -> str:
    """Title line: median final worst/best group utility ratio per method (DER alone misleads)."""
    if "final_worst_best_ratio" not in metrics.columns:
        return ""
    med = metrics.groupby("method")["final_worst_best_ratio"].median()
    return "\nworst/best group utility at the final α (median): " + ", ".join(f"{m} {v:.3f}" for m, v in med.items())


def summary_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Median (and IQR-free mean ± sd of hv) per (scenario, method) over trials."""
    extra: dict = {}
    # The worst/best group utility ratio sits beside DER (SPEC §9).
    ratio = "final_worst_best_ratio" in metrics.columns
    final_ratio = {"median_final_worst_best_ratio": ("final_worst_best_ratio", "median")} if ratio else {}
    mean_ratio = {"median_mean_worst_best_ratio": ("mean_worst_best_ratio", "median")} if ratio else {}
    if "final_provider_der" in metrics.columns:
        extra.update(
            median_final_provider_der=("final_provider_der", "median"),
            median_mean_provider_der=("mean_provider_der", "median"),
        )
    agg = metrics.groupby(["scenario", "method"]).agg(
        trials=("trial", "nunique"),
        median_final_der=("final_der", "median"),
        **final_ratio,
        median_final_utility=("final_utility", "median"),
        median_mean_der=("mean_der", "median"),
        **mean_ratio,
        median_mean_utility=("mean_utility", "median"),
        median_hv=("hv", "median"),
        mean_hv=("hv", "mean"),
        sd_hv=("hv", "std"),
        median_scalarised=("scalarised", "median"),
        **extra,
    )
    return agg.reset_index()


def _write_table(df: pd.DataFrame, path_stem: Path) -> list[Path]:
    csv, md = path_stem.with_suffix(".csv"), path_stem.with_suffix(".md")
    for p, text in ((csv, df.to_csv(index=False)), (md, to_markdown(df))):
        atomic_write_text(p, text)
    return [csv, md]


def _figures(rows, hv, front, metrics, out: Path, titles: dict, prefs: dict | None = None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outside = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8)
    paths = []
    for sc in sorted(rows["scenario"].unique()):
        title = titles.get(sc, sc)
        methods = sorted(rows.loc[rows["scenario"] == sc, "method"].unique())
        colors = {m: f"C{i}" for i, m in enumerate(methods)}
        if len(_objective_columns(rows)) == 3:
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
                    pareto_front(_bo_rows(g)[["utility_exact", "der_exact"]].to_numpy())
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
        ax.set_xlabel("global utility (exact)")
        ax.set_ylabel("DER (1 = equal)")
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
        for m in methods:
            sub = hv[(hv["scenario"] == sc) & (hv["method"] == m)]
            for _, g in sub.groupby("trial"):
                ax.plot(g["eval"], g["hv"], color=colors[m], lw=0.6, alpha=0.35)
            mu = sub.groupby("eval")["hv"].mean()
            ax.plot(mu.index, mu.values, color=colors[m], lw=2, label=f"{m}: mean of {sub['trial'].nunique()} trials")
        n_init = int(srows.loc[srows["iteration"] == 0, "eval"].max()) if (srows["iteration"] == 0).any() else None
        if n_init is not None:
            ax.axvline(n_init + 0.5, color="grey", ls=":", lw=1, label="end of the shared initial design")
        ax.set_xlabel("evaluation (initial design, then BO iterations)")
        ax.set_ylabel(
            "hypervolume of exact (utility, DER" + (", provider DER)" if len(_objective_columns(rows)) == 3 else ")")
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
        ax.set_ylabel("best normalised utility + normalised DER")
        ax.set_title(f"{title}: scalarised outcome per trial ({n_trials} trials, dots)", fontsize=10)
        fig.tight_layout()
        p = out / f"summary_{sc}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def completeness(rows: pd.DataFrame, config: dict | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Evaluations done vs planned per (scenario, method, trial), and planned units with no rows.

    Returns:
      ``(status, missing)``: status has columns scenario, method, trial, evaluations, planned,
      finished; missing names the planned ``method trial t`` units absent from ``rows``.
    """
    n = rows.groupby(["scenario", "method", "trial"])["eval"].nunique().rename("evaluations").reset_index()
    if config and {"n_init", "iterations"} <= set(config):
        n["planned"] = int(config["n_init"]) + int(config["iterations"])
    else:
        n["planned"] = n.groupby("scenario")["evaluations"].transform("max")
    n["finished"] = n["evaluations"] >= n["planned"]
    missing = []
    if config and {"methods", "trials"} <= set(config):
        have = set(zip(n["method"], n["trial"].astype(int), strict=True))
        missing = [
            f"{m} trial {t}" for t in range(int(config["trials"])) for m in config["methods"] if (m, t) not in have
        ]
    return n, missing


def _partial_notes(status: pd.DataFrame, missing: list[str]) -> list[str]:
    cut = status[~status["finished"]]
    if not len(cut) and not missing:
        return []
    notes = []
    if len(cut):
        shown = ", ".join(
            f"{r.method} trial {r.trial} ({r.evaluations} of {r.planned} evaluations)" for r in cut.head(6).itertuples()
        )
        more = f" and {len(cut) - 6} more" if len(cut) > 6 else ""
        notes.append(
            f"unfinished: {len(cut)} of {len(status)} trials were cut short: {shown}{more}; their final "
            "values are from their last evaluation so far"
        )
    if missing:
        notes.append(
            f"not started: {len(missing)} planned trial(s) have no rows: {', '.join(missing[:6])}"
            + (" ..." if len(missing) > 6 else "")
        )
    notes.append(
        "the comparison is partial: rerun `jaxfair bo` with the same arguments to finish the study, then report again"
    )
    return notes


_LABELS = {
    "utility_exact": "global utility (exact)",
    "der_exact": "viewer DER (exact)",
    "provider_der_exact": "provider DER (exact)",
}


def _pairs_figure(plt, srows: pd.DataFrame, methods, colors, title: str, path: Path) -> Path:
    """Three pairwise projections of every trial's 3-D Pareto front (BO evaluations), per method."""
    cols = _objective_columns(srows)
    pairs = [(0, 1), (0, 2), (1, 2)]
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 4.3))
    for m in methods:
        fronts = [_bo_rows(h)[cols].to_numpy() for _, h in srows[srows["method"] == m].groupby("trial")]
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
        ax.set_xlabel(_LABELS[cols[a]])
        ax.set_ylabel(_LABELS[cols[b]])
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(methods), bbox_to_anchor=(0.5, 0.99), frameon=False)
    fig.suptitle(f"{title}: 3-D Pareto fronts of every trial, pairwise (dot: mean ± 1 sd)", y=0.9)
    fig.tight_layout(rect=(0, 0, 1, 0.86))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report(results: Any, out: str | os.PathLike | None = None, *, figures: bool = True) -> dict[str, Any]:
    """Tables (CSV + Markdown) and figures (PNG) of a study.

    Args:
      results: a study directory (from :func:`jaxfair.bo.run_study`) or its rows DataFrame.
      out: output directory (default ``<results>/report``; required for a DataFrame).
      figures: also draw the PNG figures.
    Returns:
      dict with DataFrames ``metrics``, ``summary``, ``wilcoxon``, ``hypervolume``,
      ``frontier``, ``paths`` (files written), ``partial`` (some planned trial is unfinished
      or missing) and ``notes`` (what is unfinished; empty when complete).
    """
    titles = {}
    prefs = {}  # scenario → "prefs: group=(w,w) ...", the preference rows every number rests on
    config = None
    if isinstance(results, pd.DataFrame):
        rows = results
        if out is None:
            raise ValueError("out: required when results is a DataFrame")
    else:
        rows = load_rows(results)
        out = Path(results) / "report" if out is None else out
        cfg = Path(results) / "study.json"
        if cfg.exists():
            import json

            c = json.loads(cfg.read_text())
            titles[c["scenario"]] = c["scenario"]
            if "prefs" in c and len(c.get("group_names", [])) == len(c["prefs"]):
                prefs[c["scenario"]] = prefs_title(c["group_names"], c["prefs"])
            config = c
    required = {"scenario", "method", "trial", "eval", "iteration", "phase", "utility_exact", "der_exact"}
    missing = sorted(required - set(rows.columns))
    if missing:
        raise ValueError(f"results: missing columns {missing}")
    if rows[_objective_columns(rows)].isna().any().any():
        raise ValueError(f"results: NaN in {'/'.join(_objective_columns(rows))}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    hv = hypervolume_trace(rows)
    metrics = trial_metrics(rows)
    front = mean_frontier(rows)
    status, missing = completeness(rows, config)
    metrics = metrics.merge(
        status[["scenario", "method", "trial", "evaluations", "finished"]],
        on=["scenario", "method", "trial"],
        how="left",
    )
    summary = summary_table(metrics)
    if prefs:
        summary["prefs"] = [prefs.get(sc, "") for sc in summary["scenario"]]
    unfinished = (~metrics["finished"]).groupby([metrics["scenario"], metrics["method"]]).sum()
    summary["unfinished_trials"] = [
        int(unfinished.get((sc, m), 0)) for sc, m in zip(summary["scenario"], summary["method"], strict=True)
    ]
    three = len(_objective_columns(rows)) == 3
    wil = wilcoxon_table(
        metrics,
        columns=("mean_der", "final_der", "hv", "final_utility")
        + (("mean_provider_der", "final_provider_der") if three else ()),
    )
    if len(wil):
        cut = set(
            zip(metrics.loc[~metrics["finished"], "scenario"], metrics.loc[~metrics["finished"], "trial"], strict=True)
        )
        wil["n_unfinished"] = [
            sum((sc, t) in cut for t in metrics.loc[metrics["scenario"] == sc, "trial"].unique())
            for sc in wil["scenario"]
        ]
    notes = _partial_notes(status, missing)
    paths: list[Path] = []
    paths += _write_table(summary, out / "summary")
    paths += _write_table(wil, out / "wilcoxon")
    paths += _write_table(metrics, out / "trials")
    hv_it = hv.groupby(["scenario", "method", "eval", "iteration"])["hv"].agg(["mean", "std", "median"]).reset_index()
    paths += _write_table(hv_it, out / "hypervolume")
    paths += _write_table(front, out / "frontier")
    rec = None
    if three:
        rec_trials, rec = recommended_alpha(rows)
        paths += _write_table(rec_trials, out / "recommended_trials")
        paths += _write_table(rec, out / "recommended")
    if figures:
        paths += _figures(rows, hv, front, metrics, out, titles, prefs)
    notes_path = out / "notes.md"
    if notes:
        atomic_write_text(notes_path, "# This study is unfinished\n\n" + "".join(f"* {n}\n" for n in notes))
        paths.append(notes_path)
    elif notes_path.exists():
        notes_path.unlink()  # left by a report of the study before it finished
    out_dict = dict(
        metrics=metrics,
        summary=summary,
        wilcoxon=wil,
        hypervolume=hv,
        frontier=front,
        paths=paths,
        partial=bool(notes),
        notes=notes,
    )
    if rec is not None:
        out_dict["recommended"] = rec
    return out_dict
