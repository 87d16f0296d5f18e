"""Compute a surface: utility, DER and the worst/best group ratio over a grid of α.

K = 2: the (α₁, α₂) box and the direction w = α₁/(α₁+α₂) (exact sweep or the grid kernel).
K ≥ 3: a simplex grid (:mod:`jaxfair.surface.simplex`). With a preference set (SPEC §9) the
same grid is evaluated under every member from one prefs-free pass and every statement gets a
"robust" / "holds for X % of the set" label (:mod:`jaxfair.surface.sensitivity`).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np
import pandas as pd

from jaxfair.engine.grids import box_grid, direction_grid, simplex_grid
from jaxfair.engine.metrics import oracle_utility, retrieval_quality
from jaxfair.engine.slate import as_slate
from jaxfair.engine.sweep import sweep2
from jaxfair.evaluate import Evaluation, evaluate
from jaxfair.named_prefs import prefs_record
from jaxfair.preferences.over_set import evaluate_set
from jaxfair.preferences.prefset import PrefSet
from jaxfair.ratio import worst_best_ratio
from jaxfair.scenarios.base import Scenario
from jaxfair.surface.sensitivity import analyse_set, flat_set_part
from jaxfair.surface.simplex import best_per_der_level, marginal_curves
from jaxfair.utils.alpha_names import alpha_columns, alpha_names_for, alpha_record
from jaxfair.validation import UnnormalisedPrefs, check_prefs

__all__ = ["Surface", "compute_surface", "default_grid"]


@dataclasses.dataclass
class Surface:
    """Surface tables for one scenario and batch.

    Attributes:
      box: K = 2: tidy table over the ``n × n`` box ``[0, 1]²`` (origin NaN: α = 0 is undefined);
        None for K ≥ 3.
      direction: K = 2: table along w ∈ [0, 1], α = (w, 1 − w); None for K ≥ 3.
      summary: best-utility α, best-DER α, oracle and retrieval quality per group, sizes; with
        a preference set also the set, the robust numbers and each statement with its share.
        A flat surface (every α gives every group the same utility) has ``best_utility`` and
        ``best_der`` None, no frontier, statements or robust choice, and ``flat``: why, and what
        every α gives (None otherwise).
      simplex: K ≥ 3: table over the simplex grid (``alpha_<label>``, utility, DER, ratio, groups).
      over_set: with a preference set: per α of the direction (K = 2) or simplex grid (K ≥ 3),
        utility / DER / ratio min, median, max over the set and robust DER.
      optima: with a preference set: per member, its best-utility α and its DER-best α.
      frontier: K ≥ 3: the best-utility α per DER level, the levels chosen from the grid's own
        DER range (``summary["frontier_levels"]`` says how); marginals: K ≥ 3: the largest
        utility over the grid as a function of each α_k.
    """

    box: pd.DataFrame | None
    direction: pd.DataFrame | None
    summary: dict
    title: str
    label_names: tuple[str, ...]
    group_names: tuple[str, ...]
    n_grid: int
    simplex: pd.DataFrame | None = None
    over_set: pd.DataFrame | None = None
    optima: pd.DataFrame | None = None
    frontier: pd.DataFrame | None = None
    marginals: pd.DataFrame | None = None
    score_names: tuple[str, ...] = ()

    @property
    def n_labels(self) -> int:
        return len(self.label_names)

    @property
    def alpha_names(self) -> tuple[str, ...]:
        """What α's columns and axes are named by (:mod:`jaxfair.utils.alpha_names`): the scores it weights."""
        return alpha_names_for(self.score_names, self.label_names)


def default_grid(n_labels: int) -> int:
    """Points per axis (K = 2) or per simplex edge (K ≥ 3): 101 for K ≤ 3 (5,151 α at K = 3),
    21 for K = 4 (1,771 α), 11 beyond (1,001 α at K = 5, 19,448 at K = 8)."""
    return 101 if n_labels <= 3 else 21 if n_labels == 4 else 11


def _resolve_set(prefs_set, scenario: Scenario, seed: int) -> PrefSet | None:
    if prefs_set is None:
        return None
    if not isinstance(prefs_set, (str, PrefSet)):
        raise ValueError(f"prefs_set: expected a PrefSet or a spec such as 'dirichlet:50', got {prefs_set!r}")
    return PrefSet.for_scenario(prefs_set, scenario, seed=seed)


def compute_surface(
    scenario: Scenario,
    *,
    n_users: int = 20_000,
    n_grid: int | None = None,
    seed: int = 0,
    method: str | None = None,
    progress: bool = False,
    slate=1,
    position_weights="dcg",
    gamma: float = 0.8,
    prefs_set=None,
    robust_q: float = 0.1,
    robust_tau: float = 0.9,
) -> Surface:
    """Evaluate the scenario over a grid of α (K = 2: the box and the direction; K ≥ 3: a simplex grid).

    Args:
      scenario: a scenario with K >= 2 labels.
      n_users: users in the (single, fixed) batch; a replay of logged sessions ignores it and
        evaluates every logged session once (``summary["sample"]`` says what stands behind the numbers).
      n_grid: K = 2: points per axis of the box ``[0, 1]²`` (the direction table has
        ``4·n_grid + 1`` points); K ≥ 3: points per edge of :func:`jaxfair.engine.grids.simplex_grid`.
        Default :func:`default_grid`.
      seed: PRNG seed of the batch (and of a ``dirichlet``/``box`` preference set given as a spec).
      method: K = 2: ``"sweep"`` (exact, :func:`sweep2`, the default) or ``"grid"`` (the compiled
        grid kernel). Slates (``slate > 1``) always use the grid (:func:`sweep2` is top-1 only);
        the sweep has no provider exposure, so provider DER needs the grid at ``slate=1`` too.
        K ≥ 3: ``"grid"`` only (the default there).
      slate, position_weights, gamma: slate size k and position weights (SPEC §7; see
        :func:`jaxfair.evaluate`).
      prefs_set: a :class:`jaxfair.preferences.PrefSet` or a spec ``dirichlet:C[:Q]``,
        ``box:D[:Q]``, ``file:PATH`` around the scenario's prefs (member 0 is the scenario's
        prefs: :meth:`PrefSet.with_point`): adds the evaluation over the set (one prefs-free
        pass on the point's serving, the sweep or the grid kernel, so a member equal to the
        prefs reproduces the point's tables), its statements' shares and the robust choice.
      robust_q, robust_tau: the robust choice's utility quantile and robust-DER floor
        (:func:`jaxfair.preferences.robust_alpha`).
    """
    k_labels = scenario.n_labels
    if k_labels < 2:
        raise ValueError(f"scenario: a surface compares labels and needs K >= 2, got K = {k_labels} ({scenario.name})")
    if method is None:
        method = "sweep" if k_labels == 2 else "grid"
    if method not in ("sweep", "grid"):
        raise ValueError(f"method: expected 'sweep' or 'grid', got {method!r}")
    if method == "sweep" and k_labels != 2:
        raise ValueError(f"method: the exact sweep is for K = 2 labels; K = {k_labels} uses 'grid'")
    n_grid = default_grid(k_labels) if n_grid is None else n_grid
    lo = 3 if k_labels == 2 else 2
    if isinstance(n_grid, bool) or not isinstance(n_grid, (int, np.integer)) or n_grid < lo:
        raise ValueError(f"n_grid: expected an int >= {lo}, got {n_grid!r}")
    n_grid = int(n_grid)
    sl = as_slate(slate, position_weights, gamma, scenario.n_candidates)  # the one slate resolution
    prefs = check_prefs(scenario.prefs, scenario.n_groups, k_labels, group_names=scenario.group_names)
    pset = _resolve_set(prefs_set, scenario, seed)
    if sl.k > 1:
        method = "grid"
    scores = scenario.score_names
    # The engine's label_names only name α's table columns: α weights the scores, so their names.
    names = dict(group_names=scenario.group_names, label_names=scores)
    t0 = time.perf_counter()
    batch = scenario.evaluation_batch(jax.random.PRNGKey(seed), n_users)
    sample = scenario.sample_size(n_users)
    t_sample = time.perf_counter() - t0
    t0 = time.perf_counter()
    tables: dict = {}
    if k_labels == 2:
        box = box_grid(2, n_grid, 0.0, 1.0)
        grid = direction_grid(4 * n_grid + 1)
        step = 1.0 / (4 * n_grid)
        if method == "sweep":
            sw = sweep2(batch, prefs, **names)
            ev_box, ev = sw.evaluate(box), sw.evaluate(grid)
            n_breakpoints = int(sw.breakpoints.size)
        else:
            ev_box = evaluate(box, batch, prefs, progress=progress, slate=sl, **names)
            ev = evaluate(grid, batch, prefs, progress=progress, slate=sl, **names)
            n_breakpoints = None
        tables["box"] = _with_ratio(_with_origin(ev_box, scenario), scenario.group_names)
        dir_df = _with_ratio(ev.to_frame(), scenario.group_names)
        dir_df.insert(0, "w", grid[:, 0])
        tables["direction"] = dir_df
        n_alpha = len(box)
    else:
        grid = simplex_grid(k_labels, n_grid)
        step = 1.0 / (n_grid - 1)
        ev = evaluate(grid, batch, prefs, progress=progress, slate=sl, **names)
        n_breakpoints = None
        table = ev.to_frame()
        tables["simplex"] = table
        tables["frontier"], frontier_levels = best_per_der_level(table, scores)
        tables["marginals"] = marginal_curves(table, scores)
        n_alpha = len(grid)
    t_eval = time.perf_counter() - t0
    i_u, i_d = int(np.nanargmax(ev.utility)), int(np.nanargmax(ev.der))
    oracle = oracle_utility(batch, prefs, slate=sl)
    oracle_full = oracle_utility(batch, prefs, full_information=True, slate=sl)
    best_u = _best_record(ev, i_u, scores)
    flat = _flat_record(ev, batch, scores)
    if flat is not None:  # every α serves alike: nothing is best, and no α, frontier or choice is named
        tables.pop("frontier", None)
    summary = {
        "scenario": scenario.name,
        "title": scenario.title,
        # Which preference row went to which group (SPEC §9): every number below rests on it.
        "prefs": prefs_record(scenario.group_names, scenario.label_names, prefs),
        "prefs_normalised": not isinstance(prefs, UnnormalisedPrefs),
        "standin": scenario.is_standin,
        # Sessions evaluated (a batch row is a session); the real users behind them are in `sample`.
        "n_sessions": int(batch.n_users),
        "sample": sample,
        "n_candidates": scenario.n_candidates,
        "n_labels": k_labels,
        "labels": list(scenario.label_names),
        "scores": list(scores),  # what α weights: its records and columns are named by these
        "seed": int(seed),
        "method": method,
        "grid": {
            "n": n_grid,
            "step": step,
            "n_alpha": n_alpha,
            "kind": "box and direction" if k_labels == 2 else "simplex",
        },
        "n_alpha_box": int(n_alpha),
        "n_breakpoints": n_breakpoints,
        "n_unserved": int(ev.n_unserved),
        "group_counts": ev.group_counts.tolist(),
        # A flat surface (every α gives every group the same utility) names no best α: "flat" says why.
        "flat": flat,
        "best_utility": None if flat else best_u,
        "best_der": None if flat else _best_record(ev, i_d, scores),
        "slate": sl.k,
        "position_weights": sl.weights.tolist(),
        "slate_spec": sl.to_dict(),
        "oracle_by_group": dict(zip(scenario.group_names, oracle.tolist(), strict=True)),
        "oracle_full_information_by_group": dict(zip(scenario.group_names, oracle_full.tolist(), strict=True)),
        # per-group regret at the best-utility α: own-α* oracle and full-information oracle minus μ_g
        "regret_at_best_utility_by_group": {
            g: {"own_alpha": float(o - best_u["by_group"][g]), "full_information": float(f - best_u["by_group"][g])}
            for g, o, f in zip(scenario.group_names, oracle, oracle_full, strict=True)
        },
        "provider": None if flat else _provider_summary(ev, k_labels),
        "retrieval_quality_by_group": dict(
            zip(scenario.group_names, retrieval_quality(batch, scenario.n_groups).tolist(), strict=True)
        ),
        "seconds": {"sample": t_sample, "evaluate": t_eval},
        "scenario_options": scenario.describe()["options"],
    }
    if k_labels >= 3 and flat is None:
        summary["frontier_levels"] = frontier_levels  # how the DER levels were chosen, and the DER range
        summary["frontier"] = tables["frontier"].to_dict(orient="records")
    if pset is not None:
        t0 = time.perf_counter()
        # The set is served as the point was (the sweep or the grid kernel): one serving, one rule.
        res = evaluate_set(
            grid,
            batch,
            pset,
            slate=sl,
            progress=progress,
            method=method,
            group_names=scenario.group_names,
            label_names=scenario.label_names,
            score_names=scores,
        )
        if flat is None:
            part, over_set, optima = analyse_set(
                res, best_utility=i_u, best_der=i_d, step=step, q=robust_q, tau=robust_tau, w_axis=k_labels == 2
            )
        else:  # the set's numbers are written; statements about a best α and a robust choice are not
            part, over_set, optima = flat_set_part(res), res.to_frame(), None
            if k_labels == 2:
                over_set.insert(0, "w", grid[:, 0])
        summary["seconds"]["evaluate_set"] = time.perf_counter() - t0
        summary.update(part)
        tables["over_set"], tables["optima"] = over_set, optima
    return Surface(
        summary=summary,
        title=scenario.title,
        label_names=tuple(scenario.label_names),
        group_names=tuple(scenario.group_names),
        n_grid=n_grid,
        score_names=tuple(scores),
        box=tables.pop("box", None),
        direction=tables.pop("direction", None),
        **tables,
    )


def _best_record(ev: Evaluation, i: int, score_names) -> dict:
    r = ev.report(i)
    k_labels = len(score_names)
    rec = {"w": float(r.alpha[0])} if k_labels == 2 else {}
    rec |= {
        "alpha": alpha_record(score_names, r.alpha),
        "utility": r.overall,
        "der": r.der,
        "worst_best_ratio": worst_best_ratio(r.by_group.to_numpy()),
        "by_group": r.by_group.to_dict(),
    }
    return rec


#: Largest spread over the grid (of global and every group's utility, DER, provider DER) still
#: called flat: float64 sums of the same served candidates agree far below this.
FLAT_TOL = 1e-12


def _flat_record(ev: Evaluation, batch, score_names) -> dict | None:
    """None, or what every α gives and why, when the surface is flat (:data:`FLAT_TOL`)."""
    cols = [ev.utility, ev.der, *np.asarray(ev.group_utility).T]
    if ev.n_item_groups:
        cols.append(ev.provider_der)
    for c in cols:
        c = np.asarray(c, np.float64)
        ok = c[np.isfinite(c)]
        if np.isfinite(c).any() != np.isfinite(c).all() or (ok.size and np.ptp(ok) > FLAT_TOL):
            return None
    mask = np.asarray(batch.mask)
    n = int(mask.shape[0])
    n_choice = int((mask.sum(axis=1) >= 2).sum())
    if n_choice == 0:
        why = f"every one of the {n:,} sessions has at most one retrieved candidate, so every α serves the same item"
    else:
        why = (
            f"{n_choice:,} of {n:,} sessions have two or more retrieved candidates, but the one served at each α has "
            "the same outcomes for every group (e.g. one candidate leads on every score)"
        )
    rec = _best_record(ev, 0, score_names)
    rec.pop("alpha")
    rec.pop("w", None)
    return {
        "flat": "every α on the grid gives each group the same utility",
        "reason": why,
        "recommendation": None,  # no α is better than another here
        "n_sessions_with_a_choice": n_choice,
        **rec,
    }


def _provider_summary(ev: Evaluation, k_labels: int) -> dict | None:
    if not (ev.n_item_groups and np.isfinite(ev.provider_der).any()):
        return None
    i = int(np.nanargmax(ev.provider_der))
    best = {"w": float(ev.alphas[i, 0])} if k_labels == 2 else {}
    best |= {
        "alpha": [float(a) for a in ev.alphas[i]],
        "provider_der": float(ev.provider_der[i]),
        "der": float(ev.der[i]),
        "utility": float(ev.utility[i]),
    }
    return {
        "n_item_groups": int(ev.n_item_groups),
        "merit_share": ev.merit_share.tolist(),
        "best_provider_der": best,
        "provider_der_at_best_utility": float(ev.provider_der[int(np.nanargmax(ev.utility))]),
    }


def _with_origin(ev: Evaluation, scenario: Scenario) -> pd.DataFrame:
    df = ev.to_frame()
    origin = {c: np.nan for c in df.columns}
    origin.update(alpha_columns(scenario.score_names, np.zeros(len(scenario.score_names))))
    return pd.concat([pd.DataFrame([origin]), df], ignore_index=True)


def _with_ratio(df: pd.DataFrame, group_names) -> pd.DataFrame:
    """Insert ``worst_best_ratio`` (min_g μ_g / max_g μ_g) right after the ``der`` column
    (``Evaluation.to_frame`` already carries it; the exact-sweep frames do not)."""
    if "worst_best_ratio" in df.columns:
        return df
    ratio = worst_best_ratio(df[[f"utility_{g}" for g in group_names]].to_numpy())
    df.insert(df.columns.get_loc("der") + 1, "worst_best_ratio", ratio)
    return df
