"""Plain NumPy/float64 references for slates and provider exposure (SPEC §7): loops, verbatim."""

from __future__ import annotations

import numpy as np
from reference import der_ref, group_means_ref


def position_weights_ref(k, model="dcg", gamma=0.8):
    if model == "dcg":
        return np.array([1.0 / np.log2(1.0 + r) for r in range(1, k + 1)])
    if model == "geometric":
        return np.array([gamma ** (r - 1) for r in range(1, k + 1)])
    if model == "uniform":
        return np.ones(k)
    return np.asarray(model, np.float64)


def slate_ref(alpha, scores, mask, k):
    """Per user the k retrieved candidates by (score desc, index asc), −1 for empty ranks: [N, k]."""
    n, m, _ = scores.shape
    out = np.full((n, k), -1, dtype=np.int64)
    a = np.asarray(alpha, np.float64)
    for i in range(n):
        cand = [j for j in range(m) if mask[i, j]]
        cand.sort(key=lambda j: (-float(np.dot(a, scores[i, j].astype(np.float64))), j))
        for r, j in enumerate(cand[:k]):
            out[i, r] = j
    return out


def slate_utility_ref(slate, labels, group, prefs, v):
    """u_n = Σ_r v_r α*(g_n)·Y[n, j_r]: [N]."""
    n, k = slate.shape
    u = np.zeros(n)
    for i in range(n):
        for r in range(k):
            j = slate[i, r]
            if j >= 0:
                u[i] += v[r] * float(np.dot(np.asarray(prefs[group[i]], np.float64), labels[i, j].astype(np.float64)))
    return u


def exposure_ref(slate, item_group, v, h_groups):
    """E_h = Σ_n Σ_r v_r 1{item_group[n, j_r] = h}: [H]."""
    e = np.zeros(h_groups)
    for i in range(slate.shape[0]):
        for r in range(slate.shape[1]):
            j = slate[i, r]
            if j >= 0:
                e[item_group[i, j]] += v[r]
    return e


def merit_ref(labels, mask, group, prefs, item_group, h_groups):
    """M_h = Σ_n Σ_j I[n,j] 1{item_group = h} α*(g_n)·Y[n,j]: [H]."""
    m_h = np.zeros(h_groups)
    for i in range(labels.shape[0]):
        for j in range(labels.shape[1]):
            if mask[i, j]:
                m_h[item_group[i, j]] += float(
                    np.dot(np.asarray(prefs[group[i]], np.float64), labels[i, j].astype(np.float64))
                )
    return m_h


def provider_der_ref(e, m_h):
    """DER of ρ_h = (E_h/ΣE)/(M_h/ΣM); NaN when some M_h = 0 or ΣE = 0."""
    if e.sum() <= 0 or np.any(m_h <= 0):
        return np.nan
    rho = (e / e.sum()) / (m_h / m_h.sum())
    return der_ref(rho)


def evaluate_slate_ref(alphas, scores, labels, mask, group, prefs, k, v, item_group=None, h_groups=0):
    """(utility [P], der [P], group_utility [P, G], exposure_share [P, H], provider_der [P])."""
    g = prefs.shape[0]
    util, ders, mus, shares, pders = [], [], [], [], []
    m_h = merit_ref(labels, mask, group, prefs, item_group, h_groups) if item_group is not None else None
    for a in alphas:
        sl = slate_ref(a, scores, mask, k)
        u = slate_utility_ref(sl, labels, group, prefs, v)
        mu = group_means_ref(u, group, g)
        util.append(u.mean())
        mus.append(mu)
        ders.append(der_ref(mu))
        if item_group is not None:
            e = exposure_ref(sl, item_group, v, h_groups)
            shares.append(e / e.sum() if e.sum() > 0 else np.full(h_groups, np.nan))
            pders.append(provider_der_ref(e, m_h))
    return (
        np.array(util),
        np.array(ders),
        np.array(mus),
        np.array(shares) if shares else None,
        np.array(pders) if pders else None,
    )


def oracle_slate_ref(labels, mask, group, prefs, k, v):
    """Full-information oracle: each user's slate ranked by α*(g)·Y (ties: lowest index): μ_g [G]."""
    n = labels.shape[0]
    u = np.zeros(n)
    for i in range(n):
        sl = slate_ref(prefs[group[i]], labels[i : i + 1], mask[i : i + 1], k)
        u[i] = slate_utility_ref(sl, labels[i : i + 1], group[i : i + 1], prefs, v)[0]
    return group_means_ref(u, group, prefs.shape[0])


def near_tie_slate(alpha, scores, mask, k, rtol=1e-5):
    """Users where some two retrieved scores among the top k + 1 are within float32 rounding."""
    s = np.where(mask, scores.astype(np.float64) @ np.asarray(alpha, np.float64), -np.inf)
    srt = -np.sort(-s, axis=1)[:, : k + 1]
    scale = np.abs(scores).max(axis=(1, 2)) * np.abs(alpha).sum() + 1e-30
    d = srt[:, :-1] - srt[:, 1:]
    close = np.isfinite(srt[:, 1:]) & (d <= rtol * scale[:, None])
    return close.any(axis=1)


def label_means_ref(alphas, scores, labels, mask, group, n_groups, k, v):
    """L[p, g, :] = mean over g's users of Σ_r v_r Y[n, j_r(α_p), :] (SPEC §9): [P, G, K]; NaN rows for empty groups."""
    p, kl = len(alphas), labels.shape[2]
    out = np.zeros((p, n_groups, kl))
    counts = np.array([np.sum(group == g) for g in range(n_groups)], np.float64)
    for i, alpha in enumerate(alphas):
        slate = slate_ref(alpha, scores, mask, k)
        for n in range(len(group)):
            for r in range(k):
                j = slate[n, r]
                if j >= 0:
                    out[i, group[n]] += v[r] * labels[n, j].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts[None, :, None] > 0, out / np.maximum(counts, 1.0)[None, :, None], np.nan)
