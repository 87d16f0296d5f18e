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
    best = np.array([max([labels[i, j].sum() for j in range(mask.shape[1]) if mask[i, j]], default=0.0)
                     for i in range(mask.shape[0])])
    return group_means_ref(best, group, n_groups)


def oracle_ref(scores, labels, mask, group, prefs):
    u = np.zeros(len(group))
    for i in range(len(group)):
        u[i] = user_utility_ref(prefs[group[i]], scores[i:i + 1], labels[i:i + 1], mask[i:i + 1], group[i:i + 1], prefs)[0]
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
