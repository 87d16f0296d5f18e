"""The surface of an impression log (SPEC §10): off-policy estimates over a grid of α.

An impression log (:class:`jaxfair.scenarios.impressions.ImpressionScenario`) holds outcomes
only for the shown items, so each α's group utilities are estimated off-policy
(:func:`jaxfair.offpolicy.estimate`: IPS, SNIPS, DM or DR, bootstrap CIs over logged users) and
each (α, group) cell says whether the log identifies it (ESS, matched sessions, mean weight,
support deficiency). A cell that is not identified has no point estimate (NaN in every table),
is drawn hatched and is never the recommended α: ``best_utility`` is chosen among the α whose
every group is identified, and the summary says how much of the grid is identified and why the
rest is not.

K = 2: the direction w = α₁/(α₁+α₂) (``--grid`` points, default 101; an argmax policy depends
on the direction only); K ≥ 3: a simplex grid. A preference set (SPEC §9) is applied to the one
pass's label means (:func:`jaxfair.preferences.over_set.set_evaluation_from_label_means`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import numpy as np
import pandas as pd

from jaxfair.engine.grids import direction_grid, simplex_grid
from jaxfair.named_prefs import prefs_record
from jaxfair.offpolicy import ImpressionLog, LoggingPolicy, estimate
from jaxfair.offpolicy.estimate import DEFICIENT_MAX, logging_propensities
from jaxfair.preferences.over_set import set_evaluation_from_label_means
from jaxfair.preferences.prefset import PrefSet
from jaxfair.surface.compute import default_grid
from jaxfair.utils.alpha_names import alpha_columns, alpha_names_for, alpha_record

__all__ = ["SLATE_ASSUMPTION", "OffPolicySurface", "compute_offpolicy_surface", "impression_check", "impression_log"]

SLATE_ASSUMPTION = (
    "independent-position IPS: assumes an item's outcome depends only on the item and its position "
    "(not on the other items of the slate)"
)


@dataclasses.dataclass
class OffPolicySurface:
    """Off-policy surface tables for one impression log.

    Attributes:
      table: one row per α (``OffPolicyEstimate.metrics``): K = 2 with ``w`` first (the direction),
        K ≥ 3 the simplex grid; estimates and CIs NaN where the row is not identified.
      summary: estimator, logging, clip, sessions, identified share and why the rest is not,
        the best identified α (or why there is none), the preference set's numbers.
      over_set: with a preference set: per α, min / median / max over the set (NaN where not identified).
      estimate: the :class:`jaxfair.offpolicy.OffPolicyEstimate` behind the tables.
    """

    table: pd.DataFrame
    summary: dict
    title: str
    label_names: tuple[str, ...]
    group_names: tuple[str, ...]
    n_grid: int
    over_set: pd.DataFrame | None = None
    estimate: Any = None
    score_names: tuple[str, ...] = ()

    @property
    def n_labels(self) -> int:
        return len(self.label_names)

    @property
    def alpha_names(self) -> tuple[str, ...]:
        """What α's columns and axes are named by (:mod:`jaxfair.utils.alpha_names`): the scores it weights."""
        return alpha_names_for(self.score_names, self.label_names)

    @property
    def direction(self) -> pd.DataFrame | None:
        return self.table if self.n_labels == 2 else None


def impression_log(scenario: Any, *, flag: str = "logging", mc: int = 4096, seed: int = 0) -> Any:
    """The :class:`jaxfair.offpolicy.ImpressionLog` of an impression scenario, built once and kept
    in ``scenario.log``. Parses the declared logging (its K against the scores; ``flag`` names it
    in errors) and, with a declared D0, checks a propensity column against the propensities D0 gives
    (ValueError naming the worst session and both values) and refuses shown items D0 never serves."""
    if scenario.log is not None:
        return scenario.log
    policy = scenario.logging
    if policy is not None and not isinstance(policy, LoggingPolicy):
        policy = LoggingPolicy.parse(str(policy), scenario.n_labels, name=flag)
    log = ImpressionLog(
        batch=scenario.batch,
        shown=scenario.shown,
        observed=scenario.observed,
        user=scenario.user,
        propensity=scenario.propensity,
        logging=policy,
        group_names=scenario.group_names,
        label_names=scenario.label_names,
        position_weights=scenario.position_weights,
        info=dict(scenario.info, session_ids=scenario.session_ids),
    )
    exact = policy is not None and policy.kind == "dirichlet" and log.slate_k == 1 and scenario.n_labels == 2
    if policy is not None and (log.propensity is not None or exact):
        # Checked here, before anything is printed (estimate checks again): a propensity column must agree
        # with the declared D0, and a shown item that D0 never serves (exact propensity 0; Monte Carlo counts
        # the logged draw, never 0) means the log was not logged under it.
        logging_propensities(log, mc=mc, key=jax.random.PRNGKey(seed))
    scenario.info.setdefault("impressions", {})["logging"] = None if policy is None else policy.describe()
    scenario.log = log
    return log


def impression_check(args: Any, flag: str = "--logging"):
    """For the command line: a ``check`` for :func:`jaxfair.scenarios.cliargs.scenario_from_args` that
    builds an impression log's :func:`impression_log` (the ``--logging`` spec and its K, a propensity
    column against the declared D0) before anything is printed; None without ``--shown``/``--position``."""
    if getattr(args, "shown", None) is None and getattr(args, "position", None) is None:
        return None
    from jaxfair.utils.cliargs import estimator_options

    def check(scenario) -> None:
        impression_log(scenario, flag=flag, mc=estimator_options(args)["mc"], seed=getattr(args, "seed", 0))

    return check


def compute_offpolicy_surface(
    scenario: Any,
    *,
    n_grid: int | None = None,
    seed: int = 0,
    estimator: str = "dr",
    estimator_default: bool = False,
    clip: float | None = None,
    n_boot: int = 200,
    min_ess: float = 30.0,
    p_min: float = 1e-3,
    mc: int = 4096,
    level: float = 0.95,
    prefs_set: Any = None,
    progress: bool = False,
) -> OffPolicySurface:
    """Estimate the surface of an impression log (module docstring).

    Args:
      scenario: an :class:`~jaxfair.scenarios.impressions.ImpressionScenario`.
      n_grid: K = 2: points along w (default 101, >= 3); K ≥ 3: points per simplex edge
        (default :func:`jaxfair.surface.compute.default_grid`).
      seed: the bootstrap's (and Monte Carlo propensities') PRNG seed; a ``dirichlet``/``box``
        preference set given as a spec is drawn with it too.
      estimator, clip, n_boot, min_ess, p_min, mc, level: :func:`jaxfair.offpolicy.estimate`.
      estimator_default: the estimator was not chosen by the user (the summary says "default").
      prefs_set: a :class:`~jaxfair.preferences.PrefSet` or a spec (``dirichlet:C[:Q]``, ...).
    """
    if not hasattr(scenario, "observed"):
        raise ValueError(f"scenario: expected an impression log (ImpressionScenario), got {type(scenario).__name__}")
    log = impression_log(scenario, mc=mc, seed=seed)
    k_labels = scenario.n_labels
    if k_labels < 2:
        raise ValueError(f"scenario: a surface compares labels and needs K >= 2, got K = {k_labels}")
    n_grid = default_grid(k_labels) if n_grid is None else n_grid
    lo = 3 if k_labels == 2 else 2
    if isinstance(n_grid, bool) or not isinstance(n_grid, (int, np.integer)) or n_grid < lo:
        raise ValueError(f"n_grid: expected an int >= {lo}, got {n_grid!r}")
    n_grid = int(n_grid)
    grid = direction_grid(n_grid) if k_labels == 2 else simplex_grid(k_labels, n_grid)
    pset = None if prefs_set is None else PrefSet.for_scenario(prefs_set, scenario, seed=seed)
    t0 = time.perf_counter()
    est = estimate(
        grid,
        log,
        estimator=estimator,
        clip=clip,
        n_boot=n_boot,
        key=jax.random.PRNGKey(seed),
        level=level,
        min_ess=min_ess,
        p_min=p_min,
        mc=mc,
        progress=progress,
    )
    t_est = time.perf_counter() - t0
    # The worst/best group ratio is named as in every other surface table.
    scores = tuple(scenario.score_names)
    table = est.metrics(scenario.prefs, scores).rename(
        columns=lambda c: "worst_best_" + c if c.startswith("ratio") else c
    )
    if k_labels == 2:
        table.insert(0, "w", np.asarray(grid)[:, 0])
    identified = table["identified"].to_numpy(bool)
    summary = {
        "scenario": scenario.name,
        "title": scenario.title,
        "impression_log": True,
        "prefs": prefs_record(scenario.group_names, scenario.label_names, scenario.prefs),
        "estimator": est.estimator,
        "estimator_chosen": "default" if estimator_default else "given",
        "logging": _logging_record(scenario),
        "propensity": dict(est.propensity_info),
        "outcome_model": None if est.outcome_info is None else dict(est.outcome_info),
        "clip": clip,
        "level": level,
        "n_boot": int(n_boot),
        "thresholds": {"min_ess": float(min_ess), "p_min": float(p_min), "deficient_share_max": DEFICIENT_MAX},
        "n_sessions": int(log.n_sessions),
        "n_users": int(log.n_users),
        "sample": scenario.sample_size(),
        "group_sessions": dict(zip(scenario.group_names, np.asarray(est.group_sessions).tolist(), strict=True)),
        "n_candidates": scenario.n_candidates,
        "n_labels": k_labels,
        "labels": list(scenario.label_names),
        "scores": list(scores),
        "seed": int(seed),
        "grid": {
            "n": n_grid,
            "n_alpha": int(len(grid)),
            "kind": "direction" if k_labels == 2 else "simplex",
            "step": 1.0 / (n_grid - 1),
        },
        "slate": int(log.slate_k),
        "position_weights": np.asarray(log.position_weights, np.float64).tolist(),
        **({"slate_assumption": SLATE_ASSUMPTION} if log.slate_k > 1 else {}),
        "identified_share": float(identified.mean()),
        "identified_share_by_group": {
            g: float(np.mean(np.asarray(est.identified)[:, i])) for i, g in enumerate(scenario.group_names)
        },
        "not_identified": _why_not(est, scenario.group_names, min_ess),
        "best_utility": _best(table, identified, scores, scenario.group_names),
        "seconds": {"estimate": t_est},
    }
    if summary["best_utility"] is not None:
        summary["best_utility"]["indistinguishable"] = _indistinguishable(est, scenario.prefs, table, identified)
        summary["best_utility"]["at_edge"] = _at_edge(np.asarray(grid, np.float64), identified, table, n_grid)
    if summary["best_utility"] is None:
        summary["best_utility_note"] = (
            "no α of the grid is identified for every group, so none is recommended: the log cannot tell "
            "(see not_identified; a wider logging randomisation or more sessions would)"
        )
    over_set = None
    if pset is not None:
        res = set_evaluation_from_label_means(grid, est.label_means, est.group_sessions, pset)
        over_set = _over_set_table(res, table, identified, scores, k_labels)
        summary["prefs_set"] = pset.describe()
        summary["over_set"] = _set_summary(over_set, identified)
    return OffPolicySurface(
        table=table,
        summary=summary,
        title=scenario.title,
        label_names=tuple(scenario.label_names),
        group_names=tuple(scenario.group_names),
        n_grid=n_grid,
        over_set=over_set,
        estimate=est,
        score_names=scores,
    )


def _logging_record(scenario) -> dict:
    cols = scenario.info.get("impressions", {})
    policy = scenario.log.logging
    return {
        "text": scenario.logging_text(),
        "propensity_column": cols.get("propensity"),
        "declared": None if policy is None else policy.describe(),
        "shown_column": cols.get("shown"),
        "position_column": cols.get("position"),
    }


def _why_not(est, group_names, min_ess: float) -> dict:
    """How many α each group leaves unidentified, and for which reason (SPEC §10 thresholds)."""
    ident = np.asarray(est.identified, bool)
    ess = np.asarray(est.ess, np.float64)
    deficient = None if est.deficient_share is None else np.asarray(est.deficient_share, np.float64)
    by_group = {}
    for i, g in enumerate(group_names):
        rec = {"not_identified": int((~ident[:, i]).sum()), "ess_below_min": int((ess[:, i] < min_ess).sum())}
        if deficient is not None:
            rec["support_deficient"] = int((deficient[:, i] > DEFICIENT_MAX).sum())
        by_group[g] = rec
    reasons = [r for r in est.reasons if r]
    return {
        "n_alpha": int(ident.shape[0]),
        "n_not_identified": int((~ident.all(axis=1)).sum()),
        "by_group": by_group,
        "examples": reasons[:3],
    }


def _best(table: pd.DataFrame, identified: np.ndarray, scores, groups) -> dict | None:
    """The best global-utility α among the identified rows (None when no row is identified)."""
    u = table["global_utility"].to_numpy(np.float64)
    if not identified.any() or not np.isfinite(u[identified]).any():
        return None
    i = int(np.nanargmax(np.where(identified, u, np.nan)))
    r = table.iloc[i]
    rec = {"w": float(r["w"])} if len(scores) == 2 else {}
    rec["alpha"] = alpha_record(scores, r[alpha_columns(scores)].to_numpy(np.float64))
    for name in ("global_utility", "der", "worst_best_ratio"):
        key = "utility" if name == "global_utility" else name
        rec[key] = _with_ci(r, name)
    rec["by_group"] = {g: _with_ci(r, f"utility_{g}") for g in groups}
    rec["ess_by_group"] = {g: float(r[f"ess_{g}"]) for g in groups}
    rec["chosen_among"] = "identified α only"
    return rec


def _indistinguishable(est, prefs, table: pd.DataFrame, identified: np.ndarray) -> dict:
    """How many identified α the log cannot tell apart from the best: those whose paired bootstrap
    CI of (global utility at the best − at α) reaches 0 — "best" is a point estimate, this is its backing."""
    from jaxfair.offpolicy.result import interval

    mu, boot = est.group_utility(prefs)  # [P, G], [B, P, G]
    counts = np.asarray(est.group_sessions, np.float64)
    share = counts / counts.sum()
    glob, glob_b = mu @ share, boot @ share  # [P], [B, P]
    i = int(np.nanargmax(np.where(identified, glob, np.nan)))
    lo, _ = interval(glob_b[:, [i]] - glob_b, glob[i] - glob, est.level, int(np.sum(est.group_users)))
    tied = identified & ~(lo > 0)  # NaN (too few resamples) counts as "cannot tell"
    rec = {
        "n": int(tied.sum()),
        "of": int(identified.sum()),
        "means": f"identified α whose paired {100 * est.level:g} % bootstrap CI of (global utility at the best "
        "minus at α) includes 0: the log cannot tell them from the best",
    }
    if "w" in table.columns:
        w = table["w"].to_numpy(np.float64)[tied]
        rec["w_range"] = [float(w.min()), float(w.max())]
    return rec


def _at_edge(grid: np.ndarray, identified: np.ndarray, table: pd.DataFrame, n_grid: int) -> bool:
    """Whether the best identified α has a not-identified grid neighbour (one grid step away): the
    best may then lie beyond the identified region, where the log cannot tell."""
    u = table["global_utility"].to_numpy(np.float64)
    i = int(np.nanargmax(np.where(identified, u, np.nan)))
    if grid.shape[1] == 2:  # along w: the points before and after
        near = np.zeros(len(grid), bool)
        near[[j for j in (i - 1, i + 1) if 0 <= j < len(grid)]] = True
    else:  # on the simplex: one step moves 1/(n-1) from one component to another (L1 distance 2/(n-1))
        near = np.isclose(np.abs(grid - grid[i]).sum(axis=1), 2.0 / (n_grid - 1))
    return bool((near & ~identified).any())


def _with_ci(row, name: str) -> dict:
    out = {"estimate": float(row[name])}
    for side in ("ci_low", "ci_high"):
        if f"{name}_{side}" in row.index:
            out[side] = float(row[f"{name}_{side}"])
    return out


def _over_set_table(res, table: pd.DataFrame, identified: np.ndarray, scores, k_labels: int) -> pd.DataFrame:
    cols = {"w": table["w"].to_numpy()} if k_labels == 2 else {}
    cols |= {c: table[c].to_numpy() for c in alpha_columns(scores)}
    for metric in ("utility", "der", "worst_best_ratio"):
        for stat, values in res.summary(metric).items():
            cols[f"{metric}_{stat}"] = np.where(identified, values, np.nan)
    cols["identified"] = identified
    return pd.DataFrame(cols)


def _set_summary(over_set: pd.DataFrame, identified: np.ndarray) -> dict:
    """Where the median-over-the-set utility peaks among identified α, and its spread there."""
    med = over_set["utility_median"].to_numpy(np.float64)
    if not identified.any() or not np.isfinite(med).any():
        return {"best_median_utility": None}
    i = int(np.nanargmax(med))
    row = over_set.iloc[i]
    at = {c: float(row[c]) for c in over_set.columns if c == "w" or c.startswith("alpha_")}
    return {
        "best_median_utility": {
            **at,
            **{f"utility_{s}": float(row[f"utility_{s}"]) for s in ("min", "median", "max")},
            **{f"der_{s}": float(row[f"der_{s}"]) for s in ("min", "median", "max")},
            "note": "min / median / max over the preference set at the point estimates (not a CI)",
        }
    }
