"""Shared feature space S_X (paper eq. 3): importance weights, group propensity and overlap.

For the two groups of a comparison, ``groups = (g1, g0)`` (g1 the reference group), and the
pooled users of g1 ∪ g0 with density p(x), Bayes' rule gives
``p(x | g1) = π(x) p(x) / P(g1)`` with the propensity ``π(x) = P(G = g1 | x)``. The shared
space ``S_X(x) ∝ p(x|g1) p(x|g0) / (p(x|g1) + p(x|g0))`` then has density ratio

    S_X(x) / p(x) ∝ h(x) = a·b / (a + b),  a = π(x) / P(g1),  b = (1 − π(x)) / P(g0),

so ``E_SX[φ] = E_p[h φ] / E_p[h]``: a weighted mean over the pooled users with weights h
normalised to mean 1. ``2·E_p[h]`` (before normalising) is an overlap coefficient: 1 when
p(x | g1) = p(x | g0), 0 when the groups' covariates never co-occur.

π is estimated with K-fold cross-fitting (no user's weight comes from a model that saw it),
by default a scikit-learn logistic regression on standardised covariates; any scikit-learn
classifier with ``predict_proba`` can be passed. Where a scenario knows its densities
(``toy``: ``log_group_densities``) the weights are exact.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxfair.engine.batch import Batch
from jaxfair.utils.percent import percent

__all__ = [
    "CrossFitWarning",
    "NEGLIGIBLE_WEIGHT",
    "OverlapWarning",
    "SharedSpaceWeights",
    "check_groups",
    "check_user_weights",
    "default_classifier",
    "shared_space_weights",
    "weights_from_log_densities",
    "weights_from_propensity",
]

#: A user's weight (mean 1 over the pair) below this counts as negligible in the diagnostics.
NEGLIGIBLE_WEIGHT = 0.01
#: Below this overlap coefficient (2·E_p[h]) the shared space is empty: an error.
MIN_OVERLAP = 1e-3
#: Warn below this overlap coefficient.
POOR_OVERLAP = 0.1
#: Below this share of the S_X mass on either group's users there is no overlap: an error.
MIN_GROUP_MASS = 1e-6
#: Warn when the weights' effective sample size is below this share of the pair's users.
POOR_ESS_FRACTION = 0.1
# Propensities are clipped this far from 0 and 1 before forming h (a classifier's exact 0/1
# would make a or b exactly 0 and hide a user from S_X on one fold's whim).
_PI_CLIP = 1e-6


class OverlapWarning(UserWarning):
    """The groups' covariate distributions overlap little: S_X rests on few users."""


class CrossFitWarning(UserWarning):
    """The covariates take too few distinct values to keep users sharing them in one fold."""


@dataclasses.dataclass(frozen=True)
class SharedSpaceWeights:
    """Importance weights of S_X over the users of one batch.

    Attributes:
      weights: float64 ``[N]``; mean 1 over the users of g1 ∪ g0, 0 for every other user.
      propensity: float64 ``[N]`` π(x) = P(G = g1 | x) (NaN outside g1 ∪ g0; NaN when the
        weights were given directly).
      groups: ``(g1, g0)``.
      method: ``"exact"``, ``"given"`` or the classifier's class name.
      overlap: ``2·E_p[h]`` ∈ (0, 1] before normalising (NaN when given directly).
      ess: effective sample size ``(Σw)² / Σw²`` over the pair's users.
      ess_fraction: ``ess`` / number of the pair's users.
      negligible_share: share of the pair's users with weight < :data:`NEGLIGIBLE_WEIGHT`.
      ess_by_group: effective sample size within g1 and within g0.
    """

    weights: np.ndarray
    propensity: np.ndarray
    groups: tuple[int, int]
    method: str
    overlap: float
    ess: float
    ess_fraction: float
    negligible_share: float
    ess_by_group: tuple[float, float]
    n_folds: int = 0

    def summary(self) -> dict:
        return {
            "groups": list(self.groups),
            "method": self.method,
            "n_folds": self.n_folds,
            "overlap": _r(self.overlap),
            "ess": _r(self.ess),
            "ess_fraction": _r(self.ess_fraction),
            "ess_g1": _r(self.ess_by_group[0]),
            "ess_g0": _r(self.ess_by_group[1]),
            "negligible_share": _r(self.negligible_share),
        }


def _r(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 6)


def check_groups(group: np.ndarray, groups: Any, n_groups: int | None = None) -> tuple[int, int]:
    """Validate a pair ``(g1, g0)`` of distinct group ids, both with users in ``group``."""
    try:
        g1, g0 = (int(g) for g in groups)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"groups: expected a pair (g1, g0) of group ids, got {groups!r}") from exc
    if g1 == g0:
        raise ValueError(f"groups: expected two different groups, got {groups!r}")
    present = np.unique(group)
    if present.size < 2:
        raise ValueError(
            f"batch.group: the diagnosis compares two groups, but the batch has only group(s) "
            f"{present.tolist()} (G = 1)"
        )
    for name, g in (("g1", g1), ("g0", g0)):
        if g < 0 or (n_groups is not None and g >= n_groups):
            raise ValueError(f"groups: {name} = {g} is not a group id in [0, {n_groups})")
        if not np.any(group == g):
            raise ValueError(f"groups: {name} = {g} has no users in the batch")
    return g1, g0


def _diagnostics(h: np.ndarray, in_pair: np.ndarray, is_g1: np.ndarray) -> tuple[float, float, float, tuple]:
    w = h[in_pair]

    def ess(v):
        s2 = float(np.sum(v * v))
        return float(np.sum(v) ** 2 / s2) if s2 > 0 else 0.0

    e = ess(w)
    by = (ess(h[in_pair & is_g1]), ess(h[in_pair & ~is_g1]))
    # ESS <= n (Cauchy-Schwarz); equal weights can overshoot by an ulp, which is not a share above 1
    return e, min(e / max(in_pair.sum(), 1), 1.0), float(np.mean(w < NEGLIGIBLE_WEIGHT)), by


def _finish(
    h_raw: np.ndarray,
    group: np.ndarray,
    groups: tuple[int, int],
    propensity: np.ndarray,
    method: str,
    n_folds: int,
    name: str,
) -> SharedSpaceWeights:
    g1, g0 = groups
    in_pair = (group == g1) | (group == g0)
    mean_h = float(np.mean(h_raw[in_pair]))
    overlap = 2.0 * mean_h if method != "given" else float("nan")
    if not np.isfinite(mean_h) or mean_h <= 0 or (method != "given" and overlap < MIN_OVERLAP):
        raise ValueError(
            f"{name}: no overlap between the covariates of groups {g1} and {g0} (overlap coefficient "
            f"{overlap:.3g}; all S_X weights ~0): the shared space S_X is empty, the "
            "decomposition is undefined"
        )
    h = np.where(in_pair, h_raw / mean_h, 0.0)
    ess, frac, negl, by = _diagnostics(h, in_pair, group == g1)
    share_g1 = float(h[group == g1].sum() / h.sum())
    if min(share_g1, 1.0 - share_g1) < MIN_GROUP_MASS:
        raise ValueError(
            f"{name}: S_X weights put (almost) all mass on one group's users (share of g1 = {g1}: "
            f"{share_g1:.3g}): no overlap"
        )
    if frac < POOR_ESS_FRACTION or overlap < POOR_OVERLAP:
        warnings.warn(
            f"poor overlap between groups {g1} and {g0}: overlap coefficient {overlap:.3g}, the S_X "
            f"weights' effective sample size is {ess:.0f} of {int(in_pair.sum())} users ({percent(float(frac))}); "
            f"{percent(float(negl))} of users have negligible weight — E_SX rests on few users",
            OverlapWarning,
            stacklevel=3,
        )
    return SharedSpaceWeights(
        weights=h,
        propensity=propensity,
        groups=groups,
        method=method,
        overlap=overlap,
        ess=ess,
        ess_fraction=frac,
        negligible_share=negl,
        ess_by_group=by,
        n_folds=n_folds,
    )


def weights_from_propensity(
    propensity: Any, group: Any, groups: Sequence[int], method: str = "given propensity", n_folds: int = 0
) -> SharedSpaceWeights:
    """S_X weights from π(x) = P(G = g1 | x) ``[N]`` (values outside g1 ∪ g0 are ignored)."""
    group = np.asarray(group)
    g = check_groups(group, groups)
    pi = np.asarray(propensity, np.float64)
    if pi.shape != group.shape:
        raise ValueError(f"propensity: expected shape {group.shape} ([N]), got {pi.shape}")
    in_pair = (group == g[0]) | (group == g[1])
    if not np.all(np.isfinite(pi[in_pair])) or np.any((pi[in_pair] < 0) | (pi[in_pair] > 1)):
        raise ValueError("propensity: expected finite probabilities in [0, 1] for the users of the pair")
    p1 = float(np.mean(group[in_pair] == g[0]))
    pic = np.clip(pi, _PI_CLIP, 1 - _PI_CLIP)
    a, b = pic / p1, (1 - pic) / (1 - p1)
    h = np.where(in_pair, a * b / (a + b), 0.0)
    return _finish(h, group, g, np.where(in_pair, pi, np.nan), method, n_folds, "propensity")


def weights_from_log_densities(log_densities: Any, group: Any, groups: Sequence[int]) -> SharedSpaceWeights:
    """Exact S_X weights from ``log p(x | G = g)`` ``[N, G]`` (e.g. ``ToyScenario.log_group_densities``).

    p(x) is the pair's mixture with the batch's group shares, so ``a = p(x|g1)/p(x)`` and
    ``b = p(x|g0)/p(x)`` exactly.
    """
    group = np.asarray(group)
    g1, g0 = check_groups(group, groups)
    ld = np.asarray(log_densities, np.float64)
    if ld.ndim != 2 or ld.shape[0] != group.shape[0] or ld.shape[1] <= max(g1, g0):
        raise ValueError(f"log_densities: expected shape [{group.shape[0]}, G > {max(g1, g0)}], got {ld.shape}")
    in_pair = (group == g1) | (group == g0)
    p1 = float(np.mean(group[in_pair] == g1))
    l1, l0 = ld[:, g1], ld[:, g0]
    lmix = np.logaddexp(np.log(p1) + l1, np.log(1 - p1) + l0)
    la, lb = l1 - lmix, l0 - lmix
    h = np.exp(la + lb - np.logaddexp(la, lb))
    pi = np.exp(np.log(p1) + l1 - lmix)
    h = np.where(in_pair, h, 0.0)
    return _finish(h, group, (g1, g0), np.where(in_pair, pi, np.nan), "exact", 0, "log_densities")


def check_user_weights(weights: Any, group: Any, groups: Sequence[int]) -> SharedSpaceWeights:
    """S_X weights given directly, ``[N]`` finite and >= 0 (normalised here to mean 1 over the pair)."""
    group = np.asarray(group)
    g = check_groups(group, groups)
    w = np.asarray(weights, np.float64)
    if w.shape != group.shape:
        raise ValueError(f"weights: expected shape {group.shape} ([N]), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights: expected finite values >= 0")
    in_pair = (group == g[0]) | (group == g[1])
    return _finish(np.where(in_pair, w, 0.0), group, g, np.full(w.shape, np.nan), "given", 0, "weights")


def default_classifier():
    """Standardise, then L2-regularised logistic regression (scikit-learn defaults otherwise)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def shared_space_weights(
    batch: Batch,
    groups: Sequence[int],
    *,
    classifier: Any = None,
    n_folds: int = 5,
    seed: int = 0,
    exact: bool = False,
    scenario: Any = None,
    log_densities: Any = None,
) -> SharedSpaceWeights:
    """S_X weights of a batch's users for the pair ``groups = (g1, g0)``.

    Args:
      batch: users with covariates ``batch.features [N, d]``.
      groups: ``(g1, g0)``.
      classifier: a scikit-learn classifier (cloned per fold; default
        :func:`default_classifier`).
      n_folds: cross-fitting folds (stratified by group, shuffled with ``seed``; users with
        identical covariates share a fold), >= 2. When the covariates take fewer distinct
        values than ``n_folds`` (e.g. one binary covariate), identical covariates no longer mark
        one user sampled twice, and folds grouped by them would make every model predict a
        covariate value it never saw: the folds are then plain stratified ones, with a
        :class:`CrossFitWarning` saying so.
      exact: use the scenario's exact densities (``scenario.log_group_densities``).
      log_densities: exact ``log p(x | g)`` ``[N, G]`` given directly (implies exact).
    Raises:
      ValueError: no covariates, a group without users, too few users for the folds, no
        overlap; ``OverlapWarning`` is issued when overlap is poor.
    """
    if not isinstance(batch, Batch):
        raise ValueError(f"batch: expected a jaxfair.Batch, got {type(batch).__name__}")
    group = np.asarray(batch.group)
    g1, g0 = check_groups(group, groups)
    if exact or log_densities is not None:
        if log_densities is None:
            if scenario is None or not hasattr(scenario, "log_group_densities"):
                raise ValueError(
                    f"exact: scenario {getattr(scenario, 'name', scenario)!r} does not know its group "
                    "densities (only e.g. 'toy' does); use the estimated weights (exact=False)"
                )
            if batch.features is None:
                raise ValueError("batch.features: exact weights need the batch's covariates")
            log_densities = scenario.log_group_densities(np.asarray(batch.features))
        return weights_from_log_densities(log_densities, group, (g1, g0))
    if batch.features is None:
        raise ValueError(
            "batch.features: the batch has no user covariates X; for your own logs name the covariate "
            "columns (features= in from_frame/from_file, --features COLS on the command line), "
            "otherwise sample from a scenario that provides them or pass features= to make_batch (or "
            "give weights= directly)"
        )
    if not isinstance(n_folds, (int, np.integer)) or isinstance(n_folds, bool) or n_folds < 2:
        raise ValueError(f"n_folds: expected an int >= 2, got {n_folds!r}")
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    in_pair = np.flatnonzero((group == g1) | (group == g0))
    y = (group[in_pair] == g1).astype(int)
    smallest = int(min(y.sum(), len(y) - y.sum()))
    if smallest < n_folds:
        raise ValueError(
            f"n_folds: {n_folds} folds need >= {n_folds} users in each group, the smaller group has "
            f"{smallest} (n_folds= / --n-folds sets the folds)"
        )
    x = np.asarray(batch.features, np.float64)[in_pair]
    proto = default_classifier() if classifier is None else classifier
    if not hasattr(proto, "predict_proba"):
        raise ValueError(
            f"classifier: expected a scikit-learn classifier with predict_proba, got {type(proto).__name__}"
        )
    pi = np.full(len(group), np.nan)
    # Users with identical covariates (the same pool user sampled twice) share a fold, so no
    # user's weight comes from a model that saw the same x.
    _, same_x = np.unique(x, axis=0, return_inverse=True)
    same_x = same_x.ravel()
    n_distinct = int(same_x.max()) + 1
    if n_distinct < n_folds:
        warnings.warn(
            f"n_folds: the covariates take only {n_distinct} distinct value(s), fewer than the {n_folds} "
            "cross-fitting folds, so users sharing covariates cannot be kept in one fold; using plain "
            "stratified folds (each covariate value's propensity is then partly estimated from other users "
            "with the same value, which is harmless when each value has many users)",
            CrossFitWarning,
            stacklevel=2,
        )
    if n_distinct == len(x) or n_distinct < n_folds:  # all distinct (the grouped splitter is slow) or too few
        splits = StratifiedKFold(n_splits=int(n_folds), shuffle=True, random_state=seed).split(x, y)
    else:
        splits = StratifiedGroupKFold(n_splits=int(n_folds), shuffle=True, random_state=seed).split(x, y, same_x)
    for train, test in splits:
        model = clone(proto).fit(x[train], y[train])
        pi[in_pair[test]] = model.predict_proba(x[test])[:, list(model.classes_).index(1)]
    method = type(proto[-1] if hasattr(proto, "steps") else proto).__name__
    return weights_from_propensity(pi, group, (g1, g0), method=method, n_folds=int(n_folds))
