"""Many weighted logistic regressions on one design at once: the bootstrap's numerical core.

A bootstrap by user refits ``P(z = 1 | x) = σ(x · β)`` once per resample; every resample sees
the same rows with different weights (how many times each row's user was drawn), so the B fits
share the design ``x [n, p]`` and differ only in a weight column ``w[b]``. Each Newton iteration
is one compiled pass (numba) over rows × fits that accumulates the log-likelihood, gradient and
Hessian of every fit still running — no ``[n, B]`` temporaries, one ``exp`` and one ``log1p``
per row and fit, fits spread over the cores (``numba.prange``) — so 200 resamples of 100k
distinct rows take seconds.

The fit is unpenalised maximum likelihood (no ridge): a ridge would shrink β towards 0 and so
bias the normalised weights β / Σβ towards uniform. Where the maximum likelihood does not exist
(separation, a label constant among the resampled rows) the fit is reported as failed (NaN)
rather than returned with a made-up value.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["fit_logistic_many"]

# A Hessian this ill-conditioned means the weighted design has (numerically) lost a rank.
_MAX_COND = 1e12
# |β| beyond this on the log-odds scale is separation in practice: the likelihood has no maximum.
_MAX_ABS_BETA = 50.0


def fit_logistic_many(x, z, w, *, beta0=None, max_iter: int = 50, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logistic regressions of ``z`` on ``x``, one per weight vector.

    Newton's method from ``beta0`` (default β = 0) with step halving: a step that lowers a
    fit's weighted log-likelihood is halved until it does not (the log-likelihood is concave,
    so some fraction of a Newton step always ascends).

    Args:
        x: ``[n, p]`` float64 design (include a column of ones for an intercept).
        z: ``[n]`` outcomes in {0, 1}.
        w: ``[B, n]`` non-negative row weights, one row per fit (bootstrap counts).
        beta0: ``[p]`` starting point shared by all fits (the point estimate, for resamples).
        max_iter: Newton iterations (accepted or halved) before a fit is declared failed.
        tol: converged when every |step| <= tol · (1 + |β|).

    Returns:
        ``(beta [B, p], ok [B])``: the coefficients, and whether fit b converged to a finite
        maximum (False: a singular weighted design, separation, or no convergence; its β is NaN).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    z = np.ascontiguousarray(z, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    if x.ndim != 2 or z.shape != (x.shape[0],) or w.ndim != 2 or w.shape[1] != x.shape[0]:
        raise ValueError(f"fit_logistic_many: expected x [n, p], z [n], w [B, n]; got {x.shape}, {z.shape}, {w.shape}")
    if not (np.isfinite(w).all() and (w >= 0).all()):
        raise ValueError("fit_logistic_many: weights must be finite and >= 0")
    n, p = x.shape
    nb = w.shape[0]
    beta0 = np.zeros(p) if beta0 is None else np.asarray(beta0, dtype=np.float64)
    if beta0.shape != (p,) or not np.isfinite(beta0).all():
        raise ValueError(f"fit_logistic_many: beta0 must be {p} finite numbers, got {beta0}")
    iu, ju = np.triu_indices(p)
    xx = np.ascontiguousarray(x[:, iu] * x[:, ju])  # [n, p(p+1)/2]: the Hessian's entries sum these
    beta = np.tile(beta0, (nb, 1))  # the accepted iterate of each fit
    step = np.zeros((nb, p))
    trial = beta.copy()  # where the next pass evaluates
    ll = np.full(nb, -np.inf)
    running = np.ones(nb, dtype=bool)
    ok = np.zeros(nb, dtype=bool)
    stepped = np.zeros(nb, dtype=bool)  # the first pass only evaluates the start: nothing to converge yet
    for _ in range(max_iter + 1):
        ll_t, grad, hflat = _pass(x, xx, z, w, trial, running)
        # Accept the trial where it did not go downhill; elsewhere halve the step and retry.
        accept = running & (ll_t >= ll - 1e-12 * np.abs(ll))
        reject = running & ~accept
        step[reject] *= 0.5
        trial[reject] = beta[reject] + step[reject]
        converged = accept & stepped & (np.abs(step) <= tol * (1.0 + np.abs(trial))).all(axis=1)
        beta[accept], ll[accept] = trial[accept], ll_t[accept]
        ok |= converged
        running &= ~converged
        go = accept & running
        if go.any():
            hess = np.empty((int(go.sum()), p, p))
            hess[:, iu, ju] = hflat[go]
            hess[:, ju, iu] = hflat[go]
            bad = ~(np.linalg.cond(hess) < _MAX_COND)  # NaN cond (all-zero weights) counts as singular
            hess[bad] = np.eye(p)
            new_step = np.linalg.solve(hess, grad[go][..., None])[..., 0]
            idx = np.flatnonzero(go)
            running[idx[bad]] = False
            step[idx] = new_step
            stepped[idx] = True
            trial[idx] = beta[idx] + new_step
        running &= (np.abs(trial) <= _MAX_ABS_BETA).all(axis=1)  # running off to infinity: separation
        if not running.any():
            break
    ok &= (np.abs(beta) <= _MAX_ABS_BETA).all(axis=1) & np.isfinite(beta).all(axis=1)
    beta[~ok] = np.nan
    return beta, ok


@numba.njit(cache=True, nogil=True, parallel=True)
def _pass(x, xx, z, w, beta, running):
    """Log-likelihood ``[B]``, gradient ``[B, p]`` and Hessian entries ``[B, p(p+1)/2]`` at ``beta``."""
    n, p = x.shape
    nb = w.shape[0]
    npair = xx.shape[1]
    ll = np.zeros(nb)
    grad = np.zeros((nb, p))
    hflat = np.zeros((nb, npair))
    for b in numba.prange(nb):  # fits are independent: one thread per fit, no shared writes
        if not running[b]:
            continue
        for r in range(n):
            wr = w[b, r]
            if wr == 0.0:
                continue
            eta = 0.0
            for j in range(p):
                eta += x[r, j] * beta[b, j]
            e = np.exp(-abs(eta))  # shared by σ(η) and log σ(±η), stable for any η
            mu = 1.0 / (1.0 + e) if eta >= 0 else e / (1.0 + e)
            s = eta if z[r] == 1.0 else -eta  # log P(z | η) = log σ(s)
            ll[b] += wr * ((-np.log1p(e)) if s >= 0 else (s - np.log1p(e)))
            g = wr * (z[r] - mu)
            for j in range(p):
                grad[b, j] += g * x[r, j]
            h = wr * mu * (1.0 - mu)
            for j in range(npair):
                hflat[b, j] += h * xx[r, j]
    return ll, grad, hflat
