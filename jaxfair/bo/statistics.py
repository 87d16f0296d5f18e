"""Statistics of a study: hypervolume, per-trial metrics, frontiers, Wilcoxon tests (paper §5).

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
With fewer than 6 pairs no two-sided p-value can fall below 0.05 (5 pairs: p >= 0.0625): the
table's ``note`` column says so beside the p-value.

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

import numpy as np
import pandas as pd
from scipy import stats

from jaxfair.bo.objectives import quantile_of
from jaxfair.bo.pareto import hypervolume, hypervolume_2d, pareto_front, reference_point
from jaxfair.bo.rows import alpha_columns, group_utility_columns
from jaxfair.ratio import worst_best_ratio

__all__ = [
    "bo_rows",
    "completeness",
    "hypervolume_trace",
    "mean_frontier",
    "method_recommendations",
    "objective_columns",
    "partial_notes",
    "recommended_alpha",
    "summary_table",
    "trial_metrics",
    "wilcoxon_note",
    "wilcoxon_table",
]

_FOCUS = "fair-ehvi"
_BASELINES = ("random", "ei", "parego")


def objective_columns(rows: pd.DataFrame) -> list[str]:
    """Exact objective columns of the study: 2 (utility, DER) or 3 (+ provider DER).

    A robust study (:mod:`jaxfair.bo.objectives`) has ``utility_q{q}_exact`` / ``der_min_exact``
    in place of ``utility_exact`` / ``der_exact``: its metrics are in the space it optimised.
    """
    robust_u = sorted(c for c in rows.columns if c.endswith("_exact") and quantile_of(c[: -len("_exact")]) is not None)
    has_min = "der_min_exact" in rows.columns and rows["der_min_exact"].notna().any()
    cols = [robust_u[0] if robust_u else "utility_exact", "der_min_exact" if has_min else "der_exact"]
    if "provider_der_exact" in rows.columns and rows["provider_der_exact"].notna().any():
        cols.append("provider_der_exact")
    return cols


def bo_rows(g: pd.DataFrame) -> pd.DataFrame:
    bo = g[g["iteration"] > 0]
    return bo if len(bo) else g


def _trial_refs(rows: pd.DataFrame) -> dict[tuple[str, int], np.ndarray]:
    refs = {}
    for (sc, t), g in rows[rows["phase"] == "init"].groupby(["scenario", "trial"]):
        first = g[g["method"] == g["method"].iloc[0]]
        refs[(sc, t)] = reference_point(first[objective_columns(rows)].to_numpy(), 0.1)
    return refs


def hypervolume_trace(rows: pd.DataFrame) -> pd.DataFrame:
    """Hypervolume after each evaluation: columns scenario, method, trial, eval, iteration, hv."""
    refs = _trial_refs(rows)
    cols = objective_columns(rows)
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
    three = len(objective_columns(rows)) == 3
    u_col, d_col = objective_columns(rows)[:2]
    out = []
    for sc, srows in rows.groupby("scenario"):
        for (m, t), g in srows.groupby(["method", "trial"]):
            g = g.sort_values("eval")
            bo = bo_rows(g)
            s = _scalarised(bo, srows)
            rec = dict(
                scenario=sc,
                method=m,
                trial=int(t),
                final_utility=float(g[u_col].iloc[-1]),
                final_der=float(g[d_col].iloc[-1]),
                **_ratios(g, bo),
                mean_utility=float(bo[u_col].mean()),
                mean_der=float(bo[d_col].mean()),
                best_der=float(bo[d_col].max()),
                best_utility=float(bo[u_col].max()),
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
    for c in objective_columns(srows):
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
    acols = alpha_columns(rows)
    cols = objective_columns(rows)
    per = []
    for sc, srows in rows.groupby("scenario"):
        for (m, t), g in srows.groupby(["method", "trial"]):
            bo = bo_rows(g.sort_values("eval"))
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


def method_recommendations(rows: pd.DataFrame) -> pd.DataFrame:
    """The α each method recommends, one row per (scenario, method), from the study's own rows.

    Each trial recommends one α (:func:`recommended_alpha`: its BO evaluation with the best sum
    of min–max normalised exact objectives). The method's recommendation is the trial
    recommendation with the **median** score over its trials (an even count: the lower of the
    two middle ones), so it is an α a run of the method actually found, not a mix of several;
    the α's range over the trials says how much the trials agree.

    Returns:
      columns ``scenario, method, trials, trial, eval``, the α columns, ``utility_exact``,
      ``der_exact`` (under the point prefs), the study's other objectives, ``scalarised``, and
      ``<α column>_min`` / ``_max`` over the method's trials.
    """
    per, _ = recommended_alpha(rows)
    acols = alpha_columns(rows)
    point = [c for c in ("utility_exact", "der_exact") if c not in per.columns]
    if point:  # robust objectives: the point values come from the rows themselves
        per = per.merge(
            rows[["scenario", "method", "trial", "eval", *point]], on=["scenario", "method", "trial", "eval"]
        )
    out = []
    for (sc, m), g in per.groupby(["scenario", "method"], sort=False):
        g = g.sort_values(["scalarised", "trial"], kind="stable")
        pick = g.iloc[(len(g) - 1) // 2]
        rec = dict(scenario=sc, method=m, trials=len(g), trial=int(pick["trial"]), eval=int(pick["eval"]))
        rec.update({c: float(pick[c]) for c in acols})
        rec.update({c: float(pick[c]) for c in ("utility_exact", "der_exact")})
        rec.update({c: float(pick[c]) for c in objective_columns(rows) if c not in rec})
        rec["scalarised"] = float(pick["scalarised"])
        for c in acols:
            rec.update({f"{c}_min": float(g[c].min()), f"{c}_max": float(g[c].max())})
        out.append(rec)
    return pd.DataFrame(out)


def mean_frontier(rows: pd.DataFrame, levels: int = 50) -> pd.DataFrame:
    """Mean ± sd frontier per (scenario, method): columns scenario, method, der, utility_mean,
    utility_sd, n_trials (see module docstring)."""
    out = []
    for sc, srows in rows.groupby("scenario"):
        fronts = {}
        for (m, _t), g in srows.groupby(["method", "trial"]):
            fronts.setdefault(m, []).append(pareto_front(bo_rows(g)[objective_columns(rows)[:2]].to_numpy()))
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


#: The fewest pairs with which a two-sided exact Wilcoxon signed-rank test can reach p < 0.05
#: (with 5 pairs all of one sign, the smallest possible p is 2 / 2^5 = 0.0625).
WILCOXON_MIN_PAIRS = 6


def wilcoxon_note(n_pairs: int) -> str:
    """Why a p-value cannot be significant with ``n_pairs`` pairs ("" when it can)."""
    if n_pairs >= WILCOXON_MIN_PAIRS:
        return ""
    if n_pairs < 2:
        return f"{n_pairs} pair(s): no test"
    smallest = 2.0 / 2**n_pairs
    return f"{n_pairs} pairs: p >= {smallest:.3g} whatever the data (p < 0.05 needs >= {WILCOXON_MIN_PAIRS} pairs)"


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
                        note=wilcoxon_note(len(pair)),
                    )
                )
    return pd.DataFrame(out)


def _ratios(g: pd.DataFrame, bo: pd.DataFrame) -> dict:
    """Final and mean (over BO iterations) worst/best group utility ratio of a trial (beside DER)."""
    mu = group_utility_columns(g, exact=True)
    if not mu:  # rows of an older study without per-group utilities
        return {}
    return dict(
        final_worst_best_ratio=float(worst_best_ratio(g[mu].to_numpy(np.float64))[-1]),
        mean_worst_best_ratio=float(worst_best_ratio(bo[mu].to_numpy(np.float64)).mean()),
    )


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


def partial_notes(status: pd.DataFrame, missing: list[str]) -> list[str]:
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
