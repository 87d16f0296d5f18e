"""The diagnosis over a preference set (SPEC §9): every term, bound, share and verdict per member.

Given the served items, everything the diagnosis reports is linear in the preferences α*:
a user's utility is α*(g)·y with y = Σ_r v_r Y[j_r(α)] the position-weighted labels of the
slate served at α, and serving at a fixed α does not depend on α*. So the users are served
**once** per α (:func:`served_labels`: ``y``, ``f`` float64 ``[P, N, K]``), the weighted sums
over users and over every bootstrap resample are formed once per label
(``[3, P, K]``, ``[B, 3, P, K]``), and each member's terms (4)–(6), gap and Theorem 3.1 parts
are einsums of those sums with its α*(g1), α*(g0) — no re-simulation, and **the same
resamples** for every member (the point diagnosis's: same key, same units).

What does depend on a member's prefs through the served item, and is therefore re-served
(one kernel call for all members):

* the attribution's **serving oracle** (each user served with its own group's α*(g)): the
  4 retrieval × scoring variants are served at every member's α*(g) rows at once;
* **Theorem 3.3** (term (4) at α = α*(g1)): its premises that do not involve α* (ε's CI,
  calibration) are checked once; only where they hold is it re-run per member
  (:func:`~jaxfair.diagnose.retrieval.retrieval_diagnosis`), otherwise every member gets the
  same "does not apply";
* **Lemma 2.3** (utility at α*(g) vs the best grid α): the grid is served once; each member's
  α*(g) is re-served (one call for all members), then the same rule as
  :func:`~jaxfair.diagnose.calibration.lemma23_check` (where calibration fails: "does not
  apply" for all, no serving).

A statement ("term (5) at α given is positive", "blames scoring", "Theorem 3.1 holds") is
**robust** only when it holds for every member; otherwise it "holds for X % (n/Q) of the
preference set" (SPEC §9). Member 0 of a Dirichlet or box set is the point itself, so its
rows reproduce the single-prefs diagnosis (to float32 summation rounding, ~1e-6: the point
diagnosis sums α*·Y in float32 inside the kernel, this module sums Y in float64).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxfair.diagnose.attribution import COMPONENTS, _interval, _shares, blame_verdict, oracle_retrieval_mask
from jaxfair.diagnose.bound import bound_from_sums, label_range, max_abs_term5
from jaxfair.diagnose.decompose import _terms, bootstrap_counts
from jaxfair.diagnose.decomposition import TERMS
from jaxfair.engine.kernels import slate_serve_kernel
from jaxfair.utils.percent import percent

__all__ = ["PrefSetDiagnosis", "diagnose_prefs_set", "robustness_label", "served_labels", "set_terms"]

POINTS = ("given", "best")
POINT_NAMES = {"given": "α given", "best": "utility-optimal α"}


@partial(jax.jit, static_argnames=("k", "with_scores"))
def _served_ranks(alphas, scores, labels, mask, k: int, with_scores: bool):
    """Labels (and scores) of the k ranked candidates: float32 ``[k, P, N, K]`` each, 0 for empty ranks."""
    idx = slate_serve_kernel(alphas, scores, mask, k)  # [P, N, k]
    rows = jnp.arange(scores.shape[0])[None, :, None]
    ok = (idx >= 0)[..., None]
    safe = jnp.maximum(idx, 0)
    y = jnp.moveaxis(jnp.where(ok, labels[rows, safe], 0.0), 2, 0)
    f = jnp.moveaxis(jnp.where(ok, scores[rows, safe], 0.0), 2, 0) if with_scores else None
    return y, f


def served_labels(
    alphas: Any, scores: Any, labels: Any, mask: Any, slate_weights: Sequence[float] = (1.0,), with_scores=True
):
    """Position-weighted labels and scores of the slate served at each α: float64 ``([P, N, K], [P, N, K])``.

    ``y[p, n] = Σ_r v_r Y[n, j_r(α_p)]`` (0 for empty ranks), ``f`` the same with the scores
    (None unless ``with_scores``); serving by :func:`jaxfair.engine.kernels.slate_serve_kernel` (ties:
    lowest index; SPEC §7), the gather compiled with it, the rank sums in float64.
    Args: alphas ``[P, K]``; scores, labels ``[N, m, K]``; mask bool ``[N, m]``; slate_weights v_1..v_k.
    """
    k = len(slate_weights)
    yr, fr = _served_ranks(
        jnp.asarray(alphas, jnp.float32), jnp.asarray(scores), jnp.asarray(labels), jnp.asarray(mask), k, with_scores
    )

    def total(ranks):
        ranks = np.asarray(ranks, np.float64)
        return sum(v * ranks[r] for r, v in enumerate(slate_weights))

    return total(yr), (total(fr) if with_scores else None)


def set_terms(y, f, members, groups, user_w, counts, level: float = 0.95) -> dict:
    """Terms (4)–(6) and the gap per member from served labels (module docstring), float64.

    Args:
      y, f: ``[P, N, K]`` (:func:`served_labels`); members: ``[Q, G, K]``; groups ``(g1, g0)``.
      user_w: ``[3, N]`` 1[g1], S_X weight, 1[g0]; counts: ``[B, N]`` bootstrap multiplicities.
    Returns:
      dict: ``terms [Q, P, 4]``, ``ci [Q, P, 4, 2]``, ``boot_terms [Q, B, P, 4]``,
      ``residual [Q, P]`` (E_SX Σ_k |Δα*_k||Y_k − f_k|), ``f_mean [P, K]``.
    """
    g1, g0 = groups
    a1, a0 = members[:, g1], members[:, g0]  # [Q, K]
    den = user_w.sum(1)  # [3]
    sums = np.einsum("in,pnk->ipk", user_w, y)  # [3, P, K]
    e = _expectations(sums / den[:, None, None], a1, a0)  # [Q, P, 4]
    terms = _terms(e)
    resid = np.einsum("n,pnk->pk", user_w[1], np.abs(y - f)) / den[1]  # [P, K]
    out = {
        "terms": terms,
        "residual": np.einsum("pk,qk->qp", resid, np.abs(a1 - a0)),
        "f_mean": np.einsum("n,pnk->pk", user_w[1], f) / den[1],
    }
    if counts.shape[0]:
        cw = counts[:, None, :] * user_w[None]  # [B, 3, N]
        bsums = np.einsum("bin,pnk->bipk", cw, y) / cw.sum(-1)[..., None, None]  # [B, 3, P, K]
        boot = _terms(_expectations(bsums, a1, a0))  # [B, Q, P, 4]
        q = (1 - level) / 2
        out["ci"] = np.moveaxis(np.quantile(boot, [q, 1 - q], axis=0), 0, -1)
        out["boot_terms"] = np.moveaxis(boot, 1, 0)
    else:
        out["ci"] = np.full(terms.shape + (2,), np.nan)
        out["boot_terms"] = np.zeros((terms.shape[0], 0) + terms.shape[1:])
    return out


def _expectations(means, a1, a0):
    """``means [..., 3, P, K]`` (g1, S_X, g0 means of y) → ``[..., Q, P, 4]`` E1[U1], ESX[U1], ESX[U0], E0[U0]."""
    m1, ms, m0 = means[..., 0, :, :], means[..., 1, :, :], means[..., 2, :, :]

    def dot(m, a):
        return np.einsum("...pk,qk->...qp", m, a)

    return np.stack([dot(m1, a1), dot(ms, a1), dot(ms, a0), dot(m0, a0)], axis=-1)


def term_verdict(lo: float, hi: float) -> str:
    """A term's sign by its CI: ``positive`` / ``negative`` / ``inconclusive`` (no CI: ``no CI``)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "no CI"
    return "positive" if lo > 0 else ("negative" if hi < 0 else "inconclusive")


def robustness_label(n_hold: int, n: int) -> str:
    """``"robust (64/64 members)"`` when every member agrees, else ``"holds for 60.9 % (39/64) of the
    preference set"`` (:func:`~jaxfair.utils.percent.percent`)."""
    if n_hold == n:
        return f"robust ({n}/{n} members)"
    return f"holds for {percent(n_hold, of=n)} ({n_hold}/{n}) of the preference set"


@dataclasses.dataclass
class PrefSetDiagnosis:
    """Per-member results of the diagnosis over a preference set.

    Attributes:
      prefs_set: the :class:`~jaxfair.preferences.PrefSet`; alphas ``[2, K]`` (given, best).
      table: DataFrame ``member, point, term, estimate, ci_low, ci_high, verdict`` (terms,
        ``theorem31`` bound, attribution shares ``share_<component>`` and ``attribution``,
        ``theorem33``, ``lemma23_<group>``).
      statements: list of dicts ``statement, point_verdict, n_hold, n_members, label`` — one per
        verdict of the point (member 0), with the share of members giving the same verdict.
    """

    prefs_set: Any
    alphas: np.ndarray
    groups: tuple[int, int]
    table: pd.DataFrame
    statements: list

    def summary(self) -> dict:
        return {
            "prefs_set": self.prefs_set.describe(),
            "groups": list(self.groups),
            "statements": self.statements,
            "rule": "a verdict is 'robust' only if every member of the set gives it; otherwise the share of "
            "members that do (terms: sign by the 95 % bootstrap CI, same resamples for every member)",
        }


def diagnose_prefs_set(
    prefs_set,
    smp,
    alphas: np.ndarray,
    *,
    groups: tuple[int, int],
    weights,
    n_boot: int,
    key,
    group_names: Sequence[str],
    level: float = 0.95,
    ece_table: Any = None,
    point_retrieval: Any = None,
) -> PrefSetDiagnosis:
    """Re-run the diagnosis's terms, bound, attribution and verdicts for every member (module docstring).

    ``smp``: the :class:`~jaxfair.diagnose.pipeline.DiagnosisSample` of the point diagnosis;
    ``alphas``: ``[2, K]`` α given and the utility-optimal α; ``weights``: its S_X weights;
    ``key``/``n_boot``: its bootstrap (so every member sees the point's resamples);
    ``ece_table``: its calibration table; ``point_retrieval``: its
    :class:`~jaxfair.diagnose.retrieval.RetrievalDiagnosis` (recomputed when not given).
    """
    from jaxfair.diagnose.calibration import calibration_premise

    members = np.asarray(prefs_set.values, np.float64)
    q_n, g_n, k_n = members.shape
    batch = smp.batch
    if (g_n, k_n) != (len(group_names), batch.n_labels):
        raise ValueError(
            f"prefs_set: members are [G, K] = [{g_n}, {k_n}], the scenario has {len(group_names)} groups and "
            f"{batch.n_labels} labels"
        )
    g1, g0 = groups
    group = np.asarray(batch.group)
    counts = (
        np.asarray(bootstrap_counts(key, group, int(n_boot), smp.clusters), np.float64)
        if n_boot
        else np.zeros((0, batch.n_users))
    )
    user_w = np.stack([(group == g1), weights.weights, (group == g0)]).astype(np.float64)
    y, f = served_labels(alphas, batch.scores, batch.labels, batch.mask)
    st = set_terms(y, f, members, groups, user_w, counts, level)
    lo, hi = label_range(batch.labels, batch.mask)
    rows = []
    bound_verdicts = np.empty((q_n, len(alphas)), object)
    for q in range(q_n):
        a1, a0 = members[q, g1], members[q, g0]
        b = bound_from_sums(
            alphas, a1, a0, st["residual"][q], st["f_mean"], st["terms"][q, :, 1], None, max_abs_term5(a1, a0, lo, hi)
        )
        for p, pname in enumerate(POINTS):
            for i, t in enumerate(TERMS):
                lo_, hi_ = st["ci"][q, p, i]
                rows.append((q, pname, t, st["terms"][q, p, i], lo_, hi_, term_verdict(lo_, hi_)))
            bound_verdicts[q, p] = b.verdict(p).split(" (")[0]
            rows.append((q, pname, "theorem31", float(b.optimal[p]), np.nan, np.nan, bound_verdicts[q, p]))
    # Theorem 3.1 premise (f >= 0) is prefs-free: the point's bound says whether it applies.
    if not bool(np.all(np.asarray(batch.scores) >= 0)):
        for r in range(len(rows)):
            if rows[r][2] == "theorem31":
                rows[r] = rows[r][:3] + (np.nan, np.nan, np.nan, "does not apply")
    att_rows = _attribution_rows(smp, alphas, members, groups, counts, level)
    rows += att_rows
    calibrated, _ = calibration_premise(batch, table=ece_table)
    rows += _theorem33_rows(smp, members, groups, weights, n_boot, key, calibrated, point_retrieval)
    rows += _lemma23_rows(smp, members, group_names, counts, calibrated, level)
    table = pd.DataFrame(rows, columns=["member", "point", "term", "estimate", "ci_low", "ci_high", "verdict"])
    table = table.astype({"estimate": np.float64, "ci_low": np.float64, "ci_high": np.float64})
    return PrefSetDiagnosis(prefs_set, np.asarray(alphas), (g1, g0), table, _statements(table, q_n))


def _attribution_rows(smp, alphas, members, groups, counts, level) -> list:
    """Shapley shares and the blame verdict per member at each α (module docstring).

    The 8 pipelines' group means for every member and resample, without a ``[N, Q·8]`` matrix:
    production serving is linear in α* given the served labels, so its sums are the prefs-free
    ``Σ_n c_bn 1[g_n = g] y_n`` (``[B, G, K]``) dotted with each member's α*(g); the serving
    oracle (each user at its own α*(g)) is re-served for all members at once and summed per
    group, ``[B, Q, G]`` — it does not depend on α, so once for both points. Row 0 of the
    multiplicities is all ones: the point estimate.
    """
    wide = smp.wide
    q_n, g_n, _ = members.shape
    group = np.asarray(wide.group)
    n = len(group)
    g1, g0 = groups
    oracle = oracle_retrieval_mask(wide.labels, smp.corpus, int(smp.m))
    onehot = (group[:, None] == np.arange(g_n)[None, :]).astype(np.float64)  # [N, G]
    mult = np.vstack([np.ones((1, n)), counts])  # [1 + B, N]
    size = mult @ onehot  # [1 + B, G] users per group in each resample
    n_max = int(onehot.sum(0).max())
    prod = {p: [] for p in range(len(alphas))}  # per variant: group sums [1 + B, Q, G]
    star = []
    for r, s in itertools.product((False, True), repeat=2):
        scores = wide.labels if s else wide.scores
        mask = jnp.asarray(oracle if r else smp.production)
        y_prod, _ = served_labels(alphas, scores, wide.labels, mask, with_scores=False)  # [P, N, K]
        for p in range(len(alphas)):
            by_group = (mult @ (onehot[:, :, None] * y_prod[p][:, None, :]).reshape(n, -1)).reshape(len(mult), g_n, -1)
            prod[p].append(np.einsum("bgk,qgk->bqg", by_group, members))
        u_star = np.zeros((q_n, n))
        for g in range(g_n):  # each user only needs its own group's α* of every member: Q rows, not Q·G
            users = np.flatnonzero(group == g)
            if len(users):  # padded (by repeating users) to one size for every group: one compiled shape
                take = jnp.asarray(np.resize(users, n_max))
                sub = [jnp.asarray(x)[take] for x in (scores, wide.labels, mask)]
                y_g, _ = served_labels(members[:, g], *sub, with_scores=False)  # [Q, n_max, K]
                u_star[:, users] = np.einsum("qnk,qk->qn", y_g[:, : len(users)], members[:, g])
        star.append((mult @ (u_star.T[:, :, None] * onehot[:, None, :]).reshape(n, -1)).reshape(len(mult), q_n, g_n))
    out = []
    for p, pname in enumerate(POINTS):
        sums = np.stack([x for pair in zip(prod[p], star, strict=True) for x in pair], axis=2)  # [1+B, Q, 8, G]
        mu = np.stack(
            [
                sums[..., g1] / size[:, None, None, g1],
                sums[..., g0] / size[:, None, None, g0],
                sums.sum(-1) / size.sum(-1)[:, None, None],
            ],
            axis=-1,
        )  # [1 + B, Q, 8, 3] in attribute()'s pipeline order
        for q in range(q_n):
            gap_sh, _, gap = _shares(mu[:, q])
            shares = dict(zip((*COMPONENTS, "residual"), gap_sh[0], strict=True))
            if counts.shape[0]:
                bg, bgap = gap_sh[1:], gap[1:]
                ci = _interval(bg, level)
                blamed, _ = blame_verdict(gap[0], shares, bgap, bg, level)
            else:
                ci, blamed = np.full((4, 2), np.nan), None
            for i, c in enumerate((*COMPONENTS, "residual")):
                out.append((q, pname, f"share_{c}", shares[c], ci[i, 0], ci[i, 1], ""))
            out.append(
                (q, pname, "attribution", np.nan, np.nan, np.nan, f"blames {blamed}" if blamed else "inconclusive")
            )
    return out


def _theorem33_rows(smp, members, groups, weights, n_boot, key, calibrated, base) -> list:
    """Theorem 3.3 per member: its α*-free premises once; re-run per member only where they hold."""
    from jaxfair.diagnose.retrieval import retrieval_diagnosis

    if base is None:
        base = retrieval_diagnosis(
            smp.batch, members[0], groups=groups, weights=weights, n_boot=n_boot, key=key, clusters=smp.clusters
        )
    eps_ok = bool(n_boot) and base.epsilon_ci[0] > 0
    out = []
    for q in range(members.shape[0]):
        if not n_boot:  # as the point's retrieval diagnosis says it: no CI to judge ε by
            verdict = "not checked"
        elif not (eps_ok and calibrated):
            verdict = "does not apply"
        else:
            r = retrieval_diagnosis(
                smp.batch, members[q], groups=groups, weights=weights, n_boot=n_boot, key=key, clusters=smp.clusters
            )
            verdict = r.verdict.split(" (")[0]
        out.append((q, "alpha_star_g1", "theorem33", np.nan, np.nan, np.nan, verdict))
    return out


def _lemma23_rows(smp, members, group_names, counts, calibrated, level, n_grid: int = 101, seed: int = 0) -> list:
    """Lemma 2.3 per member and group, as :func:`~jaxfair.diagnose.calibration.lemma23_check` judges it.

    The grid of directions (K = 2: 101 points (w, 1 − w); K > 2: unit vectors + Dirichlet(1)
    draws from the same seeded stream) does not depend on α*, so it is served once; only each
    member's own α*(g) (the grid's row 0 there) is re-served, all members in one call. Every
    user is valued with α*(g) (Y | X is group-free), as in ``lemma23_check``.
    """
    from jaxfair.diagnose.calibration import _direction_grid

    batch = smp.batch
    q_n, g_n, k = members.shape
    if not calibrated:
        return [
            (q, "alpha_star", f"lemma23_{g}", np.nan, np.nan, np.nan, "does not apply")
            for q in range(q_n)
            for g in group_names
        ]
    rng = np.random.default_rng(seed)
    grids = [_direction_grid(k, int(n_grid), rng, np.zeros((0, k))) for _ in range(g_n)]  # same draws as lemma23_check
    served, grid_means = {}, {}
    for grid in grids:
        key = grid.tobytes()
        if key not in served:
            served[key] = served_labels(grid, batch.scores, batch.labels, batch.mask)[0]  # [P, N, K]
            grid_means[key] = served[key].mean(1)  # [P, K]
    stars = members / members.sum(-1, keepdims=True)
    y_star = served_labels(stars.reshape(q_n * g_n, k), batch.scores, batch.labels, batch.mask)[0]
    qq = (1 - level) / 2
    out = []
    for q in range(q_n):
        for g, name in enumerate(group_names):
            star = members[q, g]
            grid_y = served[grids[g].tobytes()]
            # the best direction from the means (linear in α*), per-user values only for the two compared
            means = np.concatenate([y_star[q * g_n + g].mean(0)[None], grid_means[grids[g].tobytes()]]) @ star
            best = int(np.argmax(means))
            at_best = (y_star[q * g_n + g] if best == 0 else grid_y[best - 1]) @ star
            at_star = y_star[q * g_n + g] @ star
            if not np.all(star > 0):
                verdict = "does not apply"
            elif not counts.shape[0]:
                verdict = "not checked"
            else:
                diff = counts @ (at_best - at_star) / counts.sum(1)
                lo = float(np.quantile(diff, qq))
                verdict = "holds" if best == 0 or lo <= 0 else "violated"
            out.append((q, "alpha_star", f"lemma23_{name}", np.nan, np.nan, np.nan, verdict))
    return out


def _statements(table: pd.DataFrame, q_n: int) -> list:
    """One statement per (point, verdict row): member 0's verdict and how many members give the same one."""
    out = []
    judged = table[table["verdict"] != ""]
    for (pname, term), sub in judged.groupby(["point", "term"], sort=False):
        sub = sub.sort_values("member")
        v0 = sub["verdict"].iloc[0]
        n_hold = int((sub["verdict"] == v0).sum())
        where = POINT_NAMES.get(pname, {"alpha_star_g1": "α = α*(g1)", "alpha_star": "α = α*(g)"}.get(pname, pname))
        out.append(
            {
                "point": pname,
                "term": term,
                "statement": f"{term} at {where}: {v0}",
                "point_verdict": v0,
                "n_hold": n_hold,
                "n_members": q_n,
                "label": robustness_label(n_hold, q_n),
            }
        )
    return out
