"""Plain NumPy/float64 references of every kernel: loops, no cleverness, SPEC §1–2 verbatim."""

from __future__ import annotations

import numpy as np


def serve_ref(alpha, scores, mask):
    """Served index per user (lowest index on ties; −1 if nothing retrieved)."""
    n, m, _ = scores.shape
    out = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        best = None
        for j in range(m):
            if not mask[i, j]:
                continue
            s = float(np.dot(np.asarray(alpha, np.float64), scores[i, j].astype(np.float64)))
            if best is None or s > best:
                best, out[i] = s, j
    return out


def user_utility_ref(alpha, scores, labels, mask, group, prefs):
    idx = serve_ref(alpha, scores, mask)
    u = np.zeros(len(idx))
    for i, j in enumerate(idx):
        if j >= 0:
            u[i] = float(np.dot(prefs[group[i]], labels[i, j]))
    return u


def group_means_ref(u, group, n_groups):
    return np.array([u[group == g].mean() if np.any(group == g) else np.nan for g in range(n_groups)])


def der_ref(mu):
    mu = np.asarray(mu, np.float64)
    g = len(mu)
    if np.any(np.isnan(mu)):
        return np.nan
    tot = mu.sum()
    if tot == 0:
        return 1.0
    return 1.0 - g / (g - 1) * sum((x / tot - 1.0 / g) ** 2 for x in mu)


def evaluate_ref(alphas, scores, labels, mask, group, prefs):
    """(utility [P], der [P], group_utility [P, G], n_unserved) by brute force."""
    g = prefs.shape[0]
    util, ders, mus = [], [], []
    for a in alphas:
        u = user_utility_ref(a, scores, labels, mask, group, prefs)
        mu = group_means_ref(u, group, g)
        util.append(u.mean())
        mus.append(mu)
        ders.append(der_ref(mu))
    return np.array(util), np.array(ders), np.array(mus), int((~mask.any(1)).sum())


def retrieval_quality_ref(labels, mask, group, n_groups):
    best = np.array(
        [
            max([labels[i, j].sum() for j in range(mask.shape[1]) if mask[i, j]], default=0.0)
            for i in range(mask.shape[0])
        ]
    )
    return group_means_ref(best, group, n_groups)


def oracle_ref(scores, labels, mask, group, prefs):
    u = np.zeros(len(group))
    for i in range(len(group)):
        u[i] = user_utility_ref(
            prefs[group[i]], scores[i : i + 1], labels[i : i + 1], mask[i : i + 1], group[i : i + 1], prefs
        )[0]
    return group_means_ref(u, group, prefs.shape[0])


def near_tie(alpha, scores, mask, rtol=1e-5):
    """Users whose top two retrieved scores are within float32 rounding (SPEC §2 dtypes)."""
    s = np.where(mask, scores.astype(np.float64) @ np.asarray(alpha, np.float64), -np.inf)
    srt = np.sort(s, axis=1)
    if s.shape[1] < 2:
        return np.zeros(len(s), bool)
    top, second = srt[:, -1], srt[:, -2]
    scale = np.abs(scores).max(axis=(1, 2)) * np.abs(alpha).sum() + 1e-30
    return np.isfinite(second) & (top - second <= rtol * scale)


# --- diagnosis (issue #9): decomposition, Theorem 3.1, S_X weights, attribution -------------


def decomposition_ref(alpha, scores, labels, mask, group, prefs, g1, g0, h):
    """Expectations (E1[U1], ESX[U1], ESX[U0], E0[U0]), terms (4, 5, 6, gap), R and F_k of Thm 3.1.

    ``h [N]``: S_X weights (any positive scale; users outside the pair are ignored).
    """
    idx = serve_ref(alpha, scores, mask)
    n, _, k = scores.shape
    a1, a0 = np.asarray(prefs[g1], np.float64), np.asarray(prefs[g0], np.float64)
    u1, u0, resid, f = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros((n, k))
    for i, j in enumerate(idx):
        if j < 0:
            continue
        y, s = labels[i, j].astype(np.float64), scores[i, j].astype(np.float64)
        u1[i], u0[i] = a1 @ y, a0 @ y
        resid[i] = np.sum(np.abs(a1 - a0) * np.abs(y - s))
        f[i] = s
    in1, in0 = group == g1, group == g0
    ws = np.where(in1 | in0, np.asarray(h, np.float64), 0.0)
    e = np.array([u1[in1].mean(), ws @ u1 / ws.sum(), ws @ u0 / ws.sum(), u0[in0].mean()])
    terms = np.array([e[0] - e[1], e[1] - e[2], e[2] - e[3], e[0] - e[3]])
    return e, terms, ws @ resid / ws.sum(), ws @ f / ws.sum()


def theorem31_bound_ref(c, alpha, a1, a0, resid, f_mean):
    """Theorem 3.1's bound at c·α from R and F_k, term by term."""
    total = resid
    for kk in range(len(alpha)):
        total += f_mean[kk] * (abs(c * alpha[kk] - a0[kk]) + abs(c * alpha[kk] - a1[kk]))
    return total


def shared_space_h_ref(pi, p1):
    """h(x) = a·b/(a + b), a = π/p1, b = (1 − π)/(1 − p1), one user at a time."""
    out = []
    for p in pi:
        a, b = p / p1, (1 - p) / (1 - p1)
        out.append(a * b / (a + b) if a + b > 0 else 0.0)
    return np.array(out)


def shapley3_ref(value):
    """Shapley values of 3 players from ``value(frozenset) -> float`` by the permutation formula."""
    from itertools import permutations

    phi = np.zeros(3)
    perms = list(permutations(range(3)))
    for order in perms:
        s = frozenset()
        for p in order:
            phi[p] += value(s | {p}) - value(s)
            s = s | {p}
    return phi / len(perms)


def oracle_retrieval_ref(labels, corpus, m):
    """Per user the m corpus candidates with the highest Σ_k Y_k (ties: lowest index)."""
    n, mm = corpus.shape
    out = np.zeros((n, mm), bool)
    for i in range(n):
        cand = [j for j in range(mm) if corpus[i, j]]
        cand.sort(key=lambda j: (-float(labels[i, j].astype(np.float64).sum()), j))
        for j in cand[:m]:
            out[i, j] = True
    return out


def keep_ref(scores, mask, strict, k=1):
    """The dominance rules of jaxfair.engine.prune, pair by pair in float64: ``[N, m]`` bool,
    candidates dominated by fewer than ``k`` retrieved candidates (k = 1: by none)."""
    n, m, kk = scores.shape
    f = scores.astype(np.float64)
    tau = (kk + 2) * 2.0**-23
    keep = mask.copy()
    for u in range(n):
        for j in range(m):
            count = 0
            for i in range(m):
                if i == j or not mask[u, i]:
                    continue
                if i < j and np.all(f[u, i] >= f[u, j]):
                    count += 1
                elif (
                    strict
                    and i > j
                    and np.all(
                        (f[u, i] - f[u, j] >= tau * (np.abs(f[u, i]) + np.abs(f[u, j])) + 2.0**-40)
                        & (np.abs(f[u, i]) <= 2.0**20)
                        & (np.abs(f[u, j]) <= 2.0**20)
                    )
                ):
                    count += 1
            if count >= k:
                keep[u, j] = False
    return keep


def apply_prefs_ref(lm, prefs):
    """μ[q, p, g] = Σ_k L[p, g, k] · α*_q(g, k) for label means ``[P, G, K]`` and Q preference
    matrices ``[Q, G, K]``: plain float64 loops, products added in label order."""
    p, g, k = lm.shape
    q = prefs.shape[0]
    mu = np.empty((q, p, g))
    for a in range(q):
        for b in range(p):
            for c in range(g):
                acc = lm[b, c, 0] * prefs[a, c, 0]
                for j in range(1, k):
                    acc = acc + lm[b, c, j] * prefs[a, c, j]
                mu[a, b, c] = acc
    return mu
