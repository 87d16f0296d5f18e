"""One full diagnosis of a scenario: sample, weights, decomposition over α, retrieval, attribution, calibration.

:func:`sample_for_diagnosis` draws each user's *larger* candidate pool (``pool_factor`` × m
candidates) so the retrieval oracle of :mod:`~jaxfair.diagnose.attribution` has something to
choose from, applies the scenario's own retrieval to it, and compacts the m production
candidates into an ordinary batch:

* ``toy``: the M = pool_factor·m candidates are the corpus; production = the first m of them
  that survive the toy's (covariate-dependent) retrieval — exactly a toy session.
* pool scenarios: M distinct rows of the user (fewer if the user has fewer); production = a
  uniformly random m of them (``retrieval="default"``) or the top m by one label's score
  (``"single-label"``, with M = ``retrieval_pool``) — exactly the scenario's retrieval.
* a replay of logged sessions: every logged session once (``n_users`` is ignored: resampled
  copies of a session are not new users); the retrieval oracle only re-ranks what was retrieved.
* any other scenario: its own sessions; the retrieval oracle then only re-ranks what was
  retrieved (said in the result's ``notes``).

For pool scenarios the bootstrap resamples pool users (all sessions of a drawn pool user
together), since sessions of one pool user share their covariates and candidate rows; for a
replay it resamples the logged users (all their logged sessions together). Either way the CIs
come from the real users, not from how many sessions were drawn.
"""

from __future__ import annotations

import copy
import dataclasses
import time
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair.diagnose.attribution import _top_m_mask, attribute
from jaxfair.diagnose.calibration import expected_calibration_error, lemma23_check, reliability_table
from jaxfair.diagnose.decompose import Decomposition, decompose, default_pair_reason, group_utilities
from jaxfair.diagnose.population import Population, population
from jaxfair.diagnose.retrieval import RetrievalDiagnosis, retrieval_diagnosis
from jaxfair.diagnose.weights import CrossFitWarning, OverlapWarning, SharedSpaceWeights, shared_space_weights
from jaxfair.engine.batch import Batch
from jaxfair.validation import check_prefs

__all__ = ["Diagnosis", "alpha_grid", "diagnose_scenario", "optimum_grid", "resolve_pair", "sample_for_diagnosis"]

#: Most α of the simplex grid the utility-optimal α is searched on (K >= 3: fewer points per edge).
OPTIMUM_GRID_MAX = 20_000
#: Warnings of the weights step that change what the numbers mean: recorded in the notes.
RECORDED_WARNINGS = (OverlapWarning, CrossFitWarning)


@dataclasses.dataclass
class DiagnosisSample:
    batch: Batch  # [N, m] production sessions (with features)
    wide: Batch  # [N, M] the larger pools
    production: np.ndarray  # bool [N, M]
    corpus: np.ndarray  # bool [N, M]
    m: int
    notes: list
    clusters: np.ndarray | None = None  # int [N] pool user of each session (None: sessions independent)


def _compact(wide: Batch, production: np.ndarray, m: int) -> Batch:
    """The production candidates of each user moved (in order) to the first m slots: ``[N, m]``."""
    order = jnp.argsort(~jnp.asarray(production), axis=1, stable=True)[:, :m]
    take = lambda x: jnp.take_along_axis(x, order[..., None] if x.ndim == 3 else order, axis=1)  # noqa: E731
    return Batch(
        scores=take(wide.scores),
        labels=take(wide.labels),
        mask=take(jnp.asarray(production)),
        group=wide.group,
        features=wide.features,
    )


def sample_for_diagnosis(scenario, key, n_users: int, pool_factor: int = 4) -> DiagnosisSample:
    """Sessions of ``n_users`` users with their larger candidate pools (module docstring)."""
    from jaxfair.scenarios.pool import PoolScenario
    from jaxfair.scenarios.toy import ToyScenario

    if isinstance(pool_factor, bool) or not isinstance(pool_factor, (int, np.integer)) or pool_factor < 1:
        raise ValueError(f"pool_factor: expected an int >= 1, got {pool_factor!r}")
    m = scenario.n_candidates
    k_sample, k_ret = jax.random.split(key)
    notes = []
    clusters = None
    if isinstance(scenario, ToyScenario):
        opts = dict(scenario.options, n_candidates=m * pool_factor)
        wide = ToyScenario(seed=scenario.seed, prefs=scenario.prefs, **opts).sample(k_sample, n_users)
        production = np.asarray(wide.mask) & (np.arange(m * pool_factor) < m)[None]
        corpus = np.ones(production.shape, bool)
    elif isinstance(scenario, PoolScenario):
        s = scenario.sampling
        single = s["retrieval"] == "single-label"
        width = max(s["retrieval_pool"], m) if single else m * pool_factor
        sc = copy.copy(scenario)
        sc.sampling = dict(s, n_candidates=width, retrieval="default")
        wide, clusters = sc.sample_with_users(k_sample, n_users)
        corpus = np.asarray(wide.mask)
        if single:
            prio = wide.scores[..., s["retrieval_label"]]
        else:
            prio = jax.random.uniform(k_ret, corpus.shape)
        production = np.asarray(_top_m_mask(prio, jnp.asarray(corpus), jnp.full((n_users,), m, jnp.int32)))
    elif getattr(scenario, "fixed_sessions", False):
        wide = scenario.evaluation_batch(k_sample, n_users)
        clusters = np.asarray(scenario.session_user, np.int64)  # [S] logged user of each session
        production = corpus = np.asarray(wide.mask)
        notes.append(
            f"replay: {scenario.sample_size(n_users)['text']} (no resampling); the bootstrap resamples the "
            "logged users; the retrieval oracle only re-ranks the logged retrieved candidates"
        )
    else:
        wide = scenario.sample(k_sample, n_users)
        production = corpus = np.asarray(wide.mask)
        notes.append(
            f"{type(scenario).__name__}: no larger candidate pool; the retrieval oracle only re-ranks the "
            "retrieved candidates"
        )
    if wide.features is None:
        raise ValueError(
            f"scenario: {getattr(scenario, 'name', scenario)!r} gives no user covariates "
            "(Batch.features), which the shared space S_X needs"
        )
    return DiagnosisSample(
        batch=_compact(wide, production, m),
        wide=wide,
        production=production,
        corpus=corpus,
        m=m,
        notes=notes,
        clusters=clusters,
    )


def alpha_grid(n_labels: int, n_grid: int, prefs: np.ndarray, groups: Sequence[int]) -> np.ndarray:
    """The α direction the figures run along, ``[n_grid, K]``.

    K = 2: ``(w, 1 − w)`` for w from 0 to 1 (as ``jaxfair surface``). K > 2: the segment from
    α*(g0) to α*(g1), both normalised to sum 1. K = 1: the single α = (1).
    """
    if isinstance(n_grid, bool) or not isinstance(n_grid, (int, np.integer)) or n_grid < 2:
        raise ValueError(f"grid: expected an int >= 2, got {n_grid!r}")
    if n_labels == 1:
        return np.ones((1, 1))
    t = np.linspace(0.0, 1.0, int(n_grid))[:, None]
    if n_labels == 2:
        return np.hstack([t, 1.0 - t])
    a1, a0 = (prefs[g] / prefs[g].sum() for g in groups)
    return (1 - t) * a0[None] + t * a1[None]


def optimum_grid(n_labels: int, n_grid: int, max_points: int = OPTIMUM_GRID_MAX) -> np.ndarray:
    """The simplex grid over all K labels the utility-optimal α is chosen on: ``[P, K]``.

    :func:`jaxfair.engine.grids.simplex_grid` with ``n`` points per edge, ``n`` = ``n_grid`` or the
    largest smaller value whose grid has at most ``max_points`` α (K = 3, n = 101: 5,151 α;
    K = 4: n = 49). K = 2 gives the same α as :func:`alpha_grid` (in the same order).
    """
    from math import comb

    from jaxfair.engine.grids import simplex_grid

    n = int(n_grid)
    while n > 2 and comb(n + n_labels - 2, n_labels - 1) > max_points:
        n -= 1
    return simplex_grid(n_labels, n)


def resolve_pair(groups: Sequence[Any] | None, group_names: Sequence[str]) -> tuple[int, int] | None:
    """``(g1, g0)`` from names (``("tech", "other")``) or ids.

    A Python int is a group id. A string is matched against the names exactly; a digit string
    (what a command line gives) is taken as a group id only when the groups have no names of
    their own (they are named by their ids, ``"0"`` or ``"group 0"``) — so ``--groups 1,0``
    cannot silently pick groups by position when the groups have names.
    """
    if groups is None:
        return None
    names = [str(n) for n in group_names]
    by_id = all(n == str(i) or n == f"group {i}" for i, n in enumerate(names))
    out = []
    for g in groups:
        if isinstance(g, (int, np.integer)) and not isinstance(g, bool):
            if not 0 <= int(g) < len(names):
                raise ValueError(f"groups: group id {int(g)} is not in [0, {len(names)})")
            out.append(int(g))
            continue
        text = str(g).strip()
        if text in names:
            out.append(names.index(text))
        elif by_id and text.lstrip("-").isdigit() and 0 <= int(text) < len(names):
            out.append(int(text))
        else:
            ids = f" (or their ids 0..{len(names) - 1})" if by_id else ""
            raise ValueError(f"groups: {text!r} is not a group; expected two of {names}{ids}")
    if len(out) != 2 or out[0] == out[1]:
        raise ValueError(f"groups: expected two different groups (g1, g0), got {list(groups)!r}")
    return out[0], out[1]


@dataclasses.dataclass
class Diagnosis:
    """Everything ``jaxfair diagnose`` reports (see :func:`diagnose_scenario`)."""

    scenario: Any
    title: str
    groups: tuple[int, int]
    alpha_given: np.ndarray
    alpha_best: np.ndarray
    grid: Decomposition  # along the α direction
    points: Decomposition  # rows: α given, utility-optimal α
    utility_grid: np.ndarray
    weights: SharedSpaceWeights
    retrieval: RetrievalDiagnosis
    attribution: dict  # {"given": Attribution, "best": Attribution}
    calibration: Any  # DataFrame of ECE per label and group
    reliability: Any
    lemma23: Any
    seconds: dict
    notes: list
    n_users: int  # sessions (batch rows), not users: see population
    group: np.ndarray  # int [N] group of each session
    population: Population  # sessions and real users per group (what n_users counts)
    group_utility: dict  # {group name: utility at alpha_given} for groups with sessions
    sample: dict | None = None  # Scenario.sample_size: how many real users stand behind the numbers
    pair_reason: str = ""  # why these two groups (the default pair), or "chosen by the user"
    alpha_segment_best: np.ndarray | None = None  # K >= 3: best α on the segment α*(g0)–α*(g1)
    utility_best: float = float("nan")  # global utility at alpha_best (simplex-grid optimum)
    utility_segment_best: float = float("nan")  # global utility at alpha_segment_best
    optimum_grid_size: int = 0  # α searched for the optimum
    prefs_set: Any = None  # PrefSetDiagnosis when a preference set was given

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(self.scenario.group_names)


def diagnose_scenario(
    scenario,
    *,
    n_users: int = 20_000,
    alpha: Any = None,
    n_grid: int = 101,
    groups: Sequence[int] | None = None,
    n_boot: int = 200,
    seed: int = 0,
    exact: bool = False,
    pool_factor: int = 4,
    classifier: Any = None,
    n_folds: int = 5,
    mesh: Any = None,
    prefs_set: Any = None,
) -> Diagnosis:
    """Run the whole diagnosis on ``n_users`` sampled users of ``scenario`` (a replay of logged
    sessions: on every logged session once, whatever ``n_users``).

    ``alpha``: the α to explain (default 1/K each); the utility-optimal α is the best global
    utility on a simplex grid over all K labels (:func:`optimum_grid`) together with the
    segment's points (for K = 2 the figure's grid). For K >= 3 the figure's α direction is the
    segment α*(g0)–α*(g1), and its best point
    is reported separately as ``alpha_segment_best``. ``groups``: ``(g1, g0)`` as ids or names
    (:func:`resolve_pair`); default: g1 = the best-served group at ``alpha``, g0 the worst
    (``pair_reason`` says so). ``prefs_set``: a :class:`~jaxfair.preferences.PrefSet` or a spec
    (:meth:`~jaxfair.preferences.PrefSet.for_scenario`: member 0 is made the scenario's prefs):
    every term, bound, attribution and verdict is re-computed per member
    (:mod:`~jaxfair.diagnose.prefset`).
    ``mesh``: devices for the α-grid evaluation and the decompositions (see
    :func:`~jaxfair.diagnose.decompose.decompose`; default all local devices when several).
    """
    from jaxfair.evaluate import evaluate

    if isinstance(n_users, bool) or not isinstance(n_users, (int, np.integer)) or n_users < 2:
        raise ValueError(f"users: expected an int >= 2, got {n_users!r}")
    if prefs_set is not None:  # member 0 is the scenario's prefs: the point's verdicts are theirs
        from jaxfair.preferences.prefset import PrefSet

        prefs_set = PrefSet.for_scenario(prefs_set, scenario, seed=seed, name="prefs_set")
    t0 = time.perf_counter()
    sec = {}
    key = jax.random.PRNGKey(seed)
    k_sample, k_boot = jax.random.split(key)
    smp = sample_for_diagnosis(scenario, k_sample, int(n_users), pool_factor)
    batch, prefs = smp.batch, check_prefs(scenario.prefs, scenario.n_groups, None, group_names=scenario.group_names)
    k = batch.n_labels
    a_given = np.full(k, 1.0 / k) if alpha is None else np.asarray(alpha, np.float64)
    names = tuple(scenario.group_names)
    if groups is None:
        groups, reason = default_pair_reason(batch, prefs, a_given, names)
    else:
        groups = resolve_pair(groups, names)
        reason = f"g1 = {names[groups[0]]}, g0 = {names[groups[1]]}: chosen by the user"
    # Every group's utility at the α given: --groups pairs orders each pair by it (g1 = better served).
    mu = group_utilities(batch, prefs, a_given)
    sec["sample"] = time.perf_counter() - t0
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        for category in RECORDED_WARNINGS:
            warnings.simplefilter("always", category)
        if exact:
            w = shared_space_weights(batch, groups, exact=True, scenario=scenario)
        else:
            w = shared_space_weights(batch, groups, classifier=classifier, n_folds=n_folds, seed=seed)
    notes = list(smp.notes) + [
        f"{c.category.__name__}: {c.message}" for c in caught if issubclass(c.category, RECORDED_WARNINGS)
    ]
    for c in caught:
        warnings.warn_explicit(c.message, c.category, c.filename, c.lineno)
    sec["weights"] = time.perf_counter() - t
    grid = alpha_grid(k, n_grid, prefs, groups)
    ev = evaluate(grid, batch, prefs, mesh=mesh)
    seg = int(np.nanargmax(ev.utility))
    if k == 2 or k == 1:
        opt_grid, opt_utility = grid, np.asarray(ev.utility)
    else:  # the optimum over all K labels, not only along the segment the figure shows; the
        # segment's points join the search, so the optimum is never worse than the segment's best
        # (a coarse simplex grid need not contain them)
        simplex = optimum_grid(k, n_grid)
        opt_grid = np.vstack([simplex, grid])
        opt_utility = np.concatenate([np.asarray(evaluate(simplex, batch, prefs, mesh=mesh).utility), ev.utility])
    best = int(np.nanargmax(opt_utility))
    a_best = opt_grid[best]
    t = time.perf_counter()
    # The grid and the two marked α share weights and bootstrap draws (same key).
    common = dict(
        groups=groups,
        weights=w,
        n_boot=n_boot,
        key=k_boot,
        group_names=names,
        label_names=scenario.score_names,  # names the table's α columns: α weights the scores
        clusters=smp.clusters,
        mesh=mesh,
    )
    dec_grid = decompose(grid, batch, prefs, **common)
    dec_pts = decompose(np.vstack([a_given, a_best]), batch, prefs, **common)
    sec["decompose"] = time.perf_counter() - t
    t = time.perf_counter()
    rel = reliability_table(batch, scenario.label_names, names)
    ece = expected_calibration_error(rel)
    ret = retrieval_diagnosis(
        batch, prefs, groups=groups, weights=w, n_boot=n_boot, key=k_boot, clusters=smp.clusters, ece_table=ece
    )
    # The same key and units as the decompositions: the attribution's gap CI is theirs.
    att = {
        name: attribute(
            a,
            smp.wide,
            prefs,
            groups=groups,
            m=smp.m,
            production=smp.production,
            corpus=smp.corpus,
            n_boot=n_boot,
            key=k_boot,
            clusters=smp.clusters,
        )
        for name, a in (("given", a_given), ("best", a_best))
    }
    lem = lemma23_check(
        batch, prefs, group_names=names, n_boot=n_boot, key=k_boot, clusters=smp.clusters, ece_table=ece
    )
    sec["retrieval_attribution_calibration"] = time.perf_counter() - t
    set_diag = None
    if prefs_set is not None:
        from jaxfair.diagnose.prefset import diagnose_prefs_set

        t = time.perf_counter()
        set_diag = diagnose_prefs_set(
            prefs_set,
            smp,
            np.vstack([a_given, a_best]),
            groups=groups,
            weights=w,
            n_boot=n_boot,
            key=k_boot,
            group_names=names,
            ece_table=ece,
            point_retrieval=ret,
        )
        sec["prefs_set"] = time.perf_counter() - t
    sec["total"] = time.perf_counter() - t0
    return Diagnosis(
        scenario=scenario,
        title=scenario.title,
        groups=tuple(int(g) for g in groups),
        alpha_given=a_given,
        alpha_best=a_best,
        grid=dec_grid,
        points=dec_pts,
        utility_grid=np.asarray(ev.utility),
        weights=w,
        retrieval=ret,
        attribution=att,
        calibration=ece,
        reliability=rel,
        lemma23=lem,
        seconds=sec,
        notes=notes,
        n_users=int(batch.n_users),
        group=np.asarray(batch.group),
        sample=scenario.sample_size(int(n_users)) if hasattr(scenario, "sample_size") else None,
        pair_reason=reason,
        alpha_segment_best=None if k <= 2 else grid[seg],
        utility_best=float(opt_utility[best]),
        utility_segment_best=float(np.asarray(ev.utility)[seg]),
        optimum_grid_size=int(len(opt_grid)),
        prefs_set=set_diag,
        population=population(scenario, batch.group, smp.clusters, names),
        group_utility={names[g]: float(u) for g, u in enumerate(mu) if np.isfinite(u)},
    )
