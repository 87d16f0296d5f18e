"""Preferences revealed by a satisfaction signal (SPEC §9 "Estimation from a satisfaction signal").

Input: logged *served* sessions, one row each — the user, the user's group, the served item's K
outcome labels y (0/1 or probabilities) and a satisfaction signal z ∈ {0, 1} (returned, rated
>= 4, a survey answer). Model, per group g::

    P(z = 1 | y) = σ(a_g + b_g · Σ_k w_gk y_k),   w_g on the simplex, b_g > 0

fitted as an ordinary (unpenalised) logistic regression of z on y, whose slopes are
β_g = b_g · w_g; hence α̂*(g) = β_g / Σ_k β_gk. Confidence intervals come from a bootstrap **by
user** within each group (a user is drawn with all their sessions: sessions of one user are not
independent), normal intervals from the bootstrap SD at ``level`` (:mod:`jaxfair.preferences.intervals`
says why: percentile and BCa limits from 200 draws under-cover; both remain available).

A group is **not identified** — no point estimate, the reason instead — when it has fewer than
``min_sessions`` sessions; a label (or z) is constant in it, or the labels are collinear; the
logistic fit has no maximum (separation) in the data or in any resample; the CI of Σ_k β_gk
contains 0 (satisfaction does not detectably move with the labels, so their ratios mean
nothing); or some β_gk's CI reaches below 0 (the data cannot rule out that label k *lowers*
satisfaction, which preferences on the simplex cannot express).

Bootstrap draws are put on the simplex as max(β, 0) / Σ max(β, 0) (only a draw in the CI's
tails has a negative coefficient when the group is identified; how many were clipped is
reported); the α̂ CIs are computed from those draws (clipped to [0, 1]), which
:meth:`PrefEstimate.prefset` returns as a :class:`~jaxfair.preferences.PrefSet` (member 0 = the
point estimate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from jaxfair.preferences.columns import check_one_group_per_user, label_matrix, natural_key, satisfaction_vector
from jaxfair.preferences.intervals import (
    INTERVALS,
    bca_interval,
    logistic_user_influence,
    normal_interval,
    percentile_interval,
)
from jaxfair.preferences.logistic import fit_logistic_many
from jaxfair.preferences.prefset import PrefSet

__all__ = ["GroupFit", "PrefEstimate", "estimate"]

_FRAME_COLUMNS = ["group", "label", "estimate", "ci_low", "ci_high", "identified", "n_sessions", "reason"]


@dataclass(frozen=True)
class GroupFit:
    """One group's fit. ``beta*`` are ``[K+1]`` (intercept first); ``alpha*`` are ``[K]`` (NaN if not identified)."""

    group: str
    n_sessions: int
    n_users: int
    identified: bool
    reason: str
    beta: np.ndarray
    beta_low: np.ndarray
    beta_high: np.ndarray
    sum_beta: tuple[float, float, float]  # point, ci_low, ci_high of Σ_k β_k
    alpha: np.ndarray
    alpha_low: np.ndarray
    alpha_high: np.ndarray
    draws: np.ndarray | None  # [B, K] bootstrap α draws on the simplex (identified groups only)
    n_clipped: int  # draws with a negative β_k set to 0 before normalising
    n_failed: int  # resamples whose fit failed


@dataclass(frozen=True)
class PrefEstimate:
    """What :func:`estimate` found: one :class:`GroupFit` per group, in ``groups`` order."""

    groups: tuple[str, ...]
    labels: tuple[str, ...]
    fits: tuple[GroupFit, ...]
    level: float
    n_boot: int
    seed: int
    min_sessions: int
    params: dict = field(default_factory=dict)

    @property
    def identified(self) -> dict[str, bool]:
        return {f.group: f.identified for f in self.fits}

    def to_frame(self):
        """One row per group × label: ``group, label, estimate, ci_low, ci_high, identified, n_sessions, reason``."""
        import pandas as pd

        rows = [
            (f.group, lab, f.alpha[k], f.alpha_low[k], f.alpha_high[k], f.identified, f.n_sessions, f.reason)
            for f in self.fits
            for k, lab in enumerate(self.labels)
        ]
        return pd.DataFrame(rows, columns=_FRAME_COLUMNS)

    def coefficients(self):
        """The logistic coefficients behind the estimate: group, term (``intercept``, labels, ``sum``), beta, CI."""
        import pandas as pd

        rows = []
        for f in self.fits:
            for t, term in enumerate(("intercept", *self.labels)):
                rows.append((f.group, term, f.beta[t], f.beta_low[t], f.beta_high[t]))
            rows.append((f.group, "sum", *f.sum_beta))
        return pd.DataFrame(rows, columns=["group", "term", "beta", "ci_low", "ci_high"])

    def prefset(self, fallback: Mapping[str, Sequence[float]] | None = None) -> PrefSet:
        """The bootstrap draws as a :class:`PrefSet` ``[B+1, G, K]``; member 0 is the point estimate.

        A group that is not identified has no draws: the set is refused (ValueError naming the
        groups) unless ``fallback`` gives each such group a row, which is then held fixed in every
        member — an assumption, not an estimate, recorded in ``params["fallback"]``.
        """
        fallback = {str(k): v for k, v in (fallback or {}).items()}
        unknown = sorted(set(fallback) - set(self.groups))
        if unknown:
            raise ValueError(f"fallback: no such group(s) {unknown}; the groups are {list(self.groups)}")
        missing = [f.group for f in self.fits if not f.identified and f.group not in fallback]
        if missing:
            why = "; ".join(f"{f.group}: {f.reason}" for f in self.fits if f.group in missing)
            raise ValueError(
                f"preferences of group(s) {missing} are not identified ({why}); pass fallback={{group: row}} to "
                "hold a row fixed for them"
            )
        k = len(self.labels)
        values = np.empty((self.n_boot + 1, len(self.groups), k))
        used = {}
        for gi, f in enumerate(self.fits):
            if f.identified:
                values[0, gi] = f.alpha
                values[1:, gi] = f.draws
            else:
                row = np.asarray(fallback[f.group], dtype=np.float64)
                if row.shape != (k,):
                    raise ValueError(f"fallback[{f.group!r}]: expected {k} values, got shape {row.shape}")
                values[:, gi] = row
                used[f.group] = row.tolist()
        params = {"n_boot": self.n_boot, "seed": self.seed, "level": self.level, "member_0": "point estimate"}
        if used:
            params["fallback"] = used
        return PrefSet(values, self.groups, self.labels, "estimate", params)

    def summary(self) -> dict:
        """A JSON-ready record: settings, and per group the estimate, the coefficients and the reason."""

        def fl(a):
            return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, dtype=float)]

        return {
            "model": "P(z=1|y) = sigmoid(a_g + beta_g . y), unpenalised logistic MLE per group; "
            "alpha = beta / sum(beta)",
            "bootstrap": f"by user within group, {self.params.get('interval', 'normal')} intervals",
            "level": self.level,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "min_sessions": self.min_sessions,
            "labels": list(self.labels),
            **self.params,
            "groups": {
                f.group: {
                    "identified": f.identified,
                    "reason": f.reason,
                    "n_sessions": f.n_sessions,
                    "n_users": f.n_users,
                    "alpha": fl(f.alpha),
                    "alpha_ci": [fl(f.alpha_low), fl(f.alpha_high)],
                    "beta": dict(zip(("intercept", *self.labels), fl(f.beta), strict=True)),
                    "beta_ci": [fl(f.beta_low), fl(f.beta_high)],
                    "sum_beta": fl(f.sum_beta),
                    "draws_clipped": f.n_clipped,
                    "resamples_failed": f.n_failed,
                }
                for f in self.fits
            },
        }


def estimate(
    frame,
    *,
    user: str,
    group: str,
    labels: Sequence[str],
    satisfaction: str,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    min_sessions: int = 50,
    group_names: Sequence[str] | None = None,
    interval: str = "normal",
) -> PrefEstimate:
    """Estimate α*(g) per group from served sessions and a satisfaction signal (see the module doc).

    Args:
        frame: a pandas DataFrame, one row per served session.
        user, group, satisfaction: column names (satisfaction must be 0/1 or boolean).
        labels: the K label columns of the served item (values in [0, 1]).
        n_boot: bootstrap resamples B (>= 20: fewer give no usable standard error or 95 % limits).
        seed: seed of the resampling (group g uses the stream ``(seed, g)``).
        level: the CI's coverage, in (0, 1).
        min_sessions: groups with fewer sessions are not identified.
        group_names: the groups' order (must name exactly the groups in the data); default sorted.
        interval: ``"normal"`` (estimate ± c·bootstrap SD, c the t quantile for the group's users
            with the clustered small-sample factor; the default), ``"percentile"`` or ``"bca"``.

    Returns:
        a :class:`PrefEstimate`; ``to_frame()`` is the table, ``prefset()`` the bootstrap draws.
    """
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"frame: expected a pandas DataFrame, got {type(frame).__name__}")
    labels = [labels] if isinstance(labels, str) else list(labels)
    if not labels or len(set(labels)) != len(labels):
        raise ValueError(f"labels: expected distinct column names, got {labels}")
    cols = [user, group, *labels, satisfaction]
    missing = [c for c in dict.fromkeys(cols) if c not in frame.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}; the data has {list(frame.columns)}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 20:
        raise ValueError(f"n_boot: expected an integer >= 20, got {n_boot!r}")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"level: expected a number in (0, 1), got {level!r}")
    if isinstance(min_sessions, bool) or not isinstance(min_sessions, (int, np.integer)) or min_sessions < 1:
        raise ValueError(f"min_sessions: expected an integer >= 1, got {min_sessions!r}")
    if interval not in INTERVALS:
        raise ValueError(f"interval: expected one of {list(INTERVALS)}, got {interval!r}")
    if frame.empty:
        raise ValueError("frame: no sessions")
    for c in (user, group):
        if frame[c].isna().any():
            raise ValueError(f"column {c!r}: {int(frame[c].isna().sum())} missing value(s)")
    y = label_matrix(frame, labels)
    z = satisfaction_vector(frame[satisfaction], satisfaction)
    g_str = frame[group].astype(str).to_numpy()
    users = pd.factorize(frame[user])[0]
    check_one_group_per_user(users, g_str, frame[user])
    found = sorted(set(g_str), key=natural_key)
    if group_names is None:
        groups = found
    else:
        groups = [str(x) for x in group_names]
        extra, absent = sorted(set(found) - set(groups)), sorted(set(groups) - set(found))
        if extra or absent or len(set(groups)) != len(groups):
            raise ValueError(
                f"group_names: {groups} must name each group in column {group!r} once; in the data but not named: "
                f"{extra}; named but absent from the data: {absent}"
            )
    fits = []
    for gi, name in enumerate(groups):
        rows = g_str == name
        rng = np.random.default_rng([int(seed), gi])
        fits.append(_fit_group(name, users[rows], y[rows], z[rows], labels, n_boot, rng, level, min_sessions, interval))
    return PrefEstimate(
        tuple(groups),
        tuple(labels),
        tuple(fits),
        float(level),
        int(n_boot),
        int(seed),
        int(min_sessions),
        {
            "columns": {"user": user, "group": group, "labels": labels, "satisfaction": satisfaction},
            "interval": interval,
        },
    )


def _nan_fit(name, n, n_users, k, reason, beta=None, lo=None, hi=None, sums=(np.nan,) * 3, n_failed=0) -> GroupFit:
    nan_b = np.full(k + 1, np.nan)
    nan_a = np.full(k, np.nan)
    return GroupFit(
        name,
        n,
        n_users,
        False,
        reason,
        nan_b if beta is None else beta,
        nan_b if lo is None else lo,
        nan_b if hi is None else hi,
        tuple(float(s) for s in sums),
        nan_a,
        nan_a,
        nan_a,
        None,
        0,
        n_failed,
    )


def _fit_group(name, users, y, z, labels, n_boot, rng, level, min_sessions, interval) -> GroupFit:
    n, k = y.shape
    users = np.unique(users, return_inverse=True)[1]
    n_users = int(users.max()) + 1
    if n < min_sessions:
        return _nan_fit(name, n, n_users, k, f"only {n} session(s), fewer than min_sessions={min_sessions}")
    if z.min() == z.max():
        return _nan_fit(name, n, n_users, k, f"the satisfaction signal is always {int(z[0])} in this group")
    constant = [lab for j, lab in enumerate(labels) if y[:, j].min() == y[:, j].max()]
    if constant:
        return _nan_fit(name, n, n_users, k, f"label(s) {constant} constant in this group")
    x = np.column_stack([np.ones(n), y])
    rank = np.linalg.matrix_rank(x)
    if rank < k + 1:
        return _nan_fit(
            name, n, n_users, k, f"labels collinear in this group (the design [1, y] has rank {rank} < {k + 1})"
        )
    if n_users < 2:
        return _nan_fit(name, n, n_users, k, "a single user: a bootstrap by user cannot measure the uncertainty")
    # The log-likelihood is a sum over rows, and rows with the same (y, z) contribute the same
    # term whoever they belong to: each distinct row is fitted once, weighted by how often it
    # occurs in the (resampled) data — exact, and for 0/1 labels it leaves at most 2^(K+1) rows.
    # A resample's weight of row r is Σ_u (times user u was drawn) · (u's rows equal to r).
    uniq, row_of = np.unique(np.column_stack([y, z]), axis=0, return_inverse=True)
    row_of = row_of.ravel()
    per_user = sparse.csr_matrix((np.ones(n), (users, row_of)), shape=(n_users, len(uniq)))  # [U, R]
    x_u = np.column_stack([np.ones(len(uniq)), uniq[:, :k]])
    z_u = uniq[:, k]
    w0 = np.asarray(per_user.sum(axis=0)).ravel()
    beta_pt, ok_pt = fit_logistic_many(x_u, z_u, w0[None, :])
    point = beta_pt[0]
    if not ok_pt[0]:
        return _nan_fit(
            name,
            n,
            n_users,
            k,
            "the logistic fit has no maximum (separation: the labels predict satisfaction perfectly)",
        )
    counts = rng.multinomial(n_users, np.full(n_users, 1.0 / n_users), size=n_boot)  # [B, U]: users drawn
    w = np.asarray(per_user.T @ counts.T, dtype=np.float64).T  # [B, R]
    beta_b, ok_b = fit_logistic_many(x_u, z_u, w, beta0=point)  # resamples start at the point estimate
    n_failed = int((~ok_b).sum())
    if n_failed:
        return _nan_fit(
            name,
            n,
            n_users,
            k,
            f"the fit failed in {n_failed} of {n_boot} resamples (a label constant or "
            "separation among the resampled users): too little data",
            beta=point,
            n_failed=n_failed,
        )
    # Every CI below is of one kind, on the same draws: β_k, Σβ and α = β / Σβ (BCa also needs
    # each user's influence on the statistic: its gradient times the user's influence on β).
    infl = logistic_user_influence(x_u, z_u, per_user, point) if interval == "bca" else None

    def ci(draws, est, influence):
        if interval == "normal":
            return normal_interval(draws, est, level, n_users)
        if interval == "percentile":
            return percentile_interval(draws, level)
        return bca_interval(draws, est, influence, level)

    lo, hi = ci(beta_b, point, infl)
    sums_b = beta_b[:, 1:].sum(axis=1)
    total_pt = point[1:].sum()
    infl_sum = None if infl is None else infl[:, 1:].sum(axis=1, keepdims=True)  # [U, 1]
    s_lo, s_hi = (v[0] for v in ci(sums_b[:, None], np.array([total_pt]), infl_sum))
    sums = (total_pt, s_lo, s_hi)
    common = dict(beta=point, lo=lo, hi=hi, sums=sums)
    if s_lo <= 0 <= s_hi:
        return _nan_fit(
            name,
            n,
            n_users,
            k,
            f"the CI of sum(beta) [{s_lo:.3g}, {s_hi:.3g}] contains 0: satisfaction "
            "does not detectably move with the labels",
            **common,
        )
    if s_hi < 0:
        return _nan_fit(
            name,
            n,
            n_users,
            k,
            f"the CI of sum(beta) [{s_lo:.3g}, {s_hi:.3g}] is below 0: satisfaction falls as the labels rise",
            **common,
        )
    neg = [(lab, lo[1 + j], hi[1 + j]) for j, lab in enumerate(labels) if lo[1 + j] < 0 or point[1 + j] < 0]
    if neg:
        what = ", ".join(f"{lab} [{a:.3g}, {b:.3g}]" for lab, a, b in neg)
        below = [lab for lab, _, b in neg if b < 0]
        why = (
            f"label(s) {below} lower satisfaction (CI below 0), which preferences on the simplex cannot express"
            if below
            else "the data cannot rule out that the label lowers satisfaction"
        )
        return _nan_fit(name, n, n_users, k, f"the CI of beta includes negative values for {what}: {why}", **common)
    pos = np.clip(beta_b[:, 1:], 0.0, None)
    total = pos.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        return _nan_fit(
            name, n, n_users, k, f"{int((total <= 0).sum())} resample(s) have no positive coefficient", **common
        )
    draws = pos / total
    alpha_pt = point[1:] / total_pt
    infl_alpha = None if infl is None else (infl[:, 1:] - alpha_pt * infl_sum) / total_pt
    a_lo, a_hi = ci(draws, alpha_pt, infl_alpha)
    a_lo, a_hi = np.clip(a_lo, 0.0, 1.0), np.clip(a_hi, 0.0, 1.0)  # a normal interval can leave [0, 1]
    return GroupFit(
        name,
        n,
        n_users,
        True,
        "",
        point,
        lo,
        hi,
        tuple(float(s) for s in sums),
        alpha_pt,
        a_lo,
        a_hi,
        draws,
        int((beta_b[:, 1:] < 0).any(axis=1).sum()),
        0,
    )
