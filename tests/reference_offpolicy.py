"""Plain NumPy float64 references of the off-policy kernels (SPEC §10): loops, no cleverness."""

from __future__ import annotations

import numpy as np
from reference import serve_ref
from scipy.special import betainc


def slate_ref(alpha, scores, mask, k):
    """Candidate per position ``[N, k]`` (score desc, index asc; −1 for empty ranks)."""
    n, m, _ = scores.shape
    out = np.full((n, k), -1, np.int64)
    for i in range(n):
        s = [(-float(np.dot(alpha, scores[i, j].astype(np.float64))), j) for j in range(m) if mask[i, j]]
        for r, (_, j) in enumerate(sorted(s)[:k]):
            out[i, r] = j
    return out


def epsilon_ref(scores, mask, center, eps, k=1):
    """P(j at r) ``[N, m, k]`` for epsilon logging, one session at a time."""
    n, m, _ = scores.shape
    top = slate_ref(np.asarray(center, np.float64), scores, mask, k)
    out = np.zeros((n, m, k))
    for i in range(n):
        ret = [j for j in range(m) if mask[i, j]]
        for r in range(min(k, len(ret))):
            for j in ret:
                out[i, j, r] += eps / len(ret)
            out[i, top[i, r], r] += 1.0 - eps
    return out


def _crossings(f, keep):
    """0, 1 and every w in (0, 1) where the lines w·f0 + (1 − w)·f1 of two kept candidates cross, sorted."""
    m = len(f)
    cuts = {0.0, 1.0}
    for j in range(m):
        for i2 in range(m):
            d = (f[j, 0] - f[j, 1]) - (f[i2, 0] - f[i2, 1])
            if d != 0 and keep[j] and keep[i2]:
                w = (f[i2, 1] - f[j, 1]) / d
                if 0 < w < 1:
                    cuts.add(w)
    return sorted(cuts)


def dirichlet_k2_ref(scores, mask, a0, a1):
    """Exact top-1 propensities ``[N, m]`` under w ~ Beta(a0, a1): every pairwise crossing of the lines
    w·f0 + (1 − w)·f1 is a candidate breakpoint; the served item at each interval's midpoint owns it."""
    n, m, _ = scores.shape
    out = np.zeros((n, m))
    for i in range(n):
        if not mask[i].any():
            continue
        cuts = _crossings(scores[i].astype(np.float64), np.ones(m, bool))
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            mid = (lo + hi) / 2
            j = serve_ref(np.array([mid, 1 - mid]), scores[i : i + 1], mask[i : i + 1])[0]
            out[i, j] += betainc(a0, a1, hi) - betainc(a0, a1, lo)
    return out


def dirichlet_k2_slate_ref(scores, mask, a0, a1, k):
    """Exact slate propensities ``[N, m, k]`` under w ~ Beta(a0, a1): the slate at each piece's midpoint
    between consecutive pairwise crossings owns the piece's Beta mass."""
    n, m, _ = scores.shape
    out = np.zeros((n, m, k))
    for i in range(n):
        if not mask[i].any():
            continue
        cuts = _crossings(scores[i].astype(np.float64), mask[i])
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            mid = (lo + hi) / 2
            sl = slate_ref(np.array([mid, 1 - mid]), scores[i : i + 1], mask[i : i + 1], k)[0]
            for r, j in enumerate(sl):
                if j >= 0:
                    out[i, j, r] += betainc(a0, a1, hi) - betainc(a0, a1, lo)
    return out


def estimate_ref(alpha, scores, mask, group, n_groups, shown, prop, y_shown, v, estimator, yhat=None, clip=None):
    """Per-label group means ``[G, K]`` of one α (SPEC §10 verbatim, module docstring of
    ``jaxfair.offpolicy.estimate``): shown ``[N, k]``, prop ``[N, k]``, y_shown ``[N, k, K]``, v ``[k]``."""
    n, m, n_lab = scores.shape
    k = shown.shape[1]
    served = slate_ref(np.asarray(alpha, np.float64), scores, mask, k)
    out = np.zeros((n_groups, n_lab))
    for g in range(n_groups):
        rows = [i for i in range(n) if group[i] == g]
        if not rows:
            continue
        if estimator == "snips":
            for r in range(k):
                num, den, filled = np.zeros(n_lab), 0.0, 0
                for i in rows:
                    if shown[i, r] < 0:
                        continue
                    filled += 1
                    if served[i, r] == shown[i, r]:
                        rho = 1.0 / prop[i, r] if clip is None else min(1.0 / prop[i, r], clip)
                        num += rho * y_shown[i, r]
                        den += rho
                if den > 0:
                    out[g] += v[r] * filled / len(rows) * num / den
            continue
        tot = np.zeros(n_lab)
        for i in rows:
            for r in range(k):
                if estimator in ("dm", "dr") and served[i, r] >= 0:
                    tot += v[r] * yhat[i, served[i, r]]
                if shown[i, r] < 0 or estimator == "dm":
                    continue
                if served[i, r] == shown[i, r]:
                    rho = 1.0 / prop[i, r] if clip is None else min(1.0 / prop[i, r], clip)
                    resid = y_shown[i, r] - (yhat[i, shown[i, r]] if estimator == "dr" else 0.0)
                    tot += v[r] * rho * resid
        out[g] = tot / len(rows)
    return out


def ess_ref(alpha, scores, mask, group, n_groups, shown, prop, clip=None):
    """Top-1 ESS ``[G]`` = (Σρ)²/Σρ² (0 without a match)."""
    served = serve_ref(np.asarray(alpha, np.float64), scores, mask)
    out = np.zeros(n_groups)
    for g in range(n_groups):
        rho = []
        for i in range(len(group)):
            if group[i] == g and shown[i, 0] >= 0 and served[i] == shown[i, 0]:
                rho.append(1.0 / prop[i, 0] if clip is None else min(1.0 / prop[i, 0], clip))
        rho = np.array(rho)
        out[g] = rho.sum() ** 2 / (rho**2).sum() if len(rho) else 0.0
    return out
