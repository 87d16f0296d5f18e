"""The K = 2 top-1 off-policy sums, served by the engine's exact envelope walk (SPEC §10).

For K = 2 an argmax policy depends on the direction w = α₀/(α₀+α₁) only, and each session's served candidate
is piecewise constant in w along its upper envelope: the walk of :func:`jaxfair.engine.sweep.user_envelopes`,
which the full-information K = 2 surface (:func:`jaxfair.engine.sweep.sweep2`) and the exact logging
propensities (:func:`jaxfair.offpolicy.propensity.dirichlet_k2`) walk too — once per log here
(:func:`log_envelopes`). Ties are SPEC §2's: the float32 scores compared exactly in float64, the lowest index
at a breakpoint, so a grid α that sits on a crossing is served as the sweep serves it.

Every channel of :mod:`jaxfair.offpolicy.channels` is, for top-1, a value of the served candidate j:
``V[n, j] = base[n, j] + 1[j = a_n] · bonus[n]`` (base: v·Ŷ[n, j] for DM/DR, the support flag
1[p₀(j) < p_min]; bonus: v·ρY (IPS), ρY (SNIPS), ρ, ρ², 1, v·ρ(Y − Ŷ[a_n]) (DR)). A session's channels
change only at the grid points where its served candidate changes (h − 1 of them for an envelope of h
lines, typically 2–5, not P): the kernel adds each change (new − old value) at its grid point, per group
and — times the user's row of B resampling counts (:func:`jaxfair.offpolicy.bootstrap.user_multiplicities`)
— per replicate, and prefix sums over the sorted grid give every α's sums. O(S·(P + h·C·B)) in all, where
the grid kernel serves S·m·P scores and the bootstrap takes a dense [B, S] × [S, P·C] product.
"""

from __future__ import annotations

import dataclasses
import os
import weakref
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from jaxfair.engine.sweep import directions, user_envelopes
from jaxfair.offpolicy.channels import BOOT_CHANNELS, SUMMED

__all__ = ["Envelopes", "envelope_mass", "envelope_sums", "log_envelopes"]

#: Kernel tasks: consecutive ranges of sessions (at least 1024 each), on threads, their float64 sums added in
#: task order. Fixed (not per machine), so the sums are the same bits whatever the number of threads.
ENVELOPE_TASKS = 8
_NONE, _SUPPORT = -1, -2  # a channel's base: none, or the support flag (else the Ŷ label it reads)


@dataclasses.dataclass(frozen=True, eq=False)
class Envelopes:
    """Every session's upper envelope over w ∈ [0, 1] (:func:`jaxfair.engine.sweep.user_envelopes`).

    Attributes:
      starts: int64 ``[S + 1]``: session n's events are ``starts[n]:starts[n + 1]`` (none: nothing retrieved).
      user, w, point, right: the events ``[E]``, by session then w (the first at w = 0): from ``w`` the session
        is served ``right`` (up to its next event), exactly at ``w`` it is served ``point``.
    """

    starts: np.ndarray
    user: np.ndarray
    w: np.ndarray
    point: np.ndarray
    right: np.ndarray


#: Each K = 2 log's envelopes, kept while the log lives (propensities and estimates walk them again).
_ENVELOPES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def log_envelopes(log) -> Envelopes:
    """The envelopes of a K = 2 :class:`~jaxfair.offpolicy.log.ImpressionLog` (walked once per log)."""
    if log not in _ENVELOPES:
        scores, mask = np.asarray(log.batch.scores), np.asarray(log.batch.mask)
        if scores.shape[2] != 2:
            raise ValueError(f"log: envelopes need K = 2 scores, got K = {scores.shape[2]}")
        user, w, _, point, right = user_envelopes(scores[..., 0], scores[..., 1], mask)
        starts = np.searchsorted(user, np.arange(scores.shape[0] + 1))
        _ENVELOPES[log] = Envelopes(starts, user, w, point, right)
    return _ENVELOPES[log]


def envelope_mass(user, w, right, shape, a0: float, a1: float) -> np.ndarray:
    """Exact top-1 propensities ``[S, m]`` under w ~ Beta(a0, a1) from the walked envelope events (``user``,
    ``w``, ``right`` ``[E]``; see :func:`jaxfair.offpolicy.propensity.dirichlet_k2`): each event's candidate owns
    the Beta mass up to the session's next event (or 1)."""
    from scipy.special import betainc

    s, m = shape
    same = user[1:] == user[:-1]
    inside = np.flatnonzero(w > 0)  # every session's first event is at w = 0, where the CDF is 0
    cdf = np.zeros_like(w)
    # SciPy's ufunc releases the GIL: pieces on threads, one per core (elementwise, so the same bits).
    pieces = np.array_split(inside, max(1, min(os.cpu_count() or 1, len(inside) // 4096)))
    with ThreadPoolExecutor(max_workers=len(pieces)) as pool:
        for piece, values in zip(pieces, pool.map(lambda i: betainc(a0, a1, w[i]), pieces), strict=True):
            cdf[piece] = values
    # The interval's upper end is the session's next event (its CDF is already computed) or 1.
    cdf_next = np.full_like(cdf, betainc(a0, a1, 1.0))
    cdf_next[:-1] = np.where(same, cdf[1:], cdf_next[:-1])
    mass = cdf_next - cdf
    return np.bincount(user * m + right, weights=mass, minlength=s * m).reshape(s, m)


@numba.njit(cache=True, nogil=True)
def _changes(
    n0,
    n1,
    starts,
    ev_w,
    ev_point,
    ev_right,
    grid,
    shown,
    yhat,
    support,
    src,
    base_scale,
    bonus,
    group,
    n_groups,
    rows,
    counts,
    n_boot_channels,
):  # pragma: no cover - compiled; tested through envelope_sums
    """Sessions ``n0:n1``: each change of a session's channels along the sorted ``grid [P]``, added at its
    grid point per group (``[G, P, C]``) and, for the first ``n_boot_channels``, times the session's user's
    resampling counts (``[G, P, C_b, B]``). See the module docstring for the value of a channel."""
    n_p, n_c, n_b = grid.shape[0], src.shape[0], counts.shape[1]
    dsum = np.zeros((n_groups, n_p, n_c))
    dboot = np.zeros((n_groups, n_p, n_boot_channels, n_b))
    prev = np.zeros(n_c)
    val = np.zeros(n_c)
    for n in range(n0, n1):
        e0, e1 = starts[n], starts[n + 1]
        if e0 == e1:  # nothing retrieved: worth 0 (SPEC §2)
            continue
        g, row = group[n], rows[n]
        prev[:] = 0.0
        served = -1
        e = e0
        for p in range(n_p):
            wp = grid[p]
            while e + 1 < e1 and ev_w[e + 1] <= wp:
                e += 1
            j = ev_point[e] if ev_w[e] == wp else ev_right[e]
            if j == served:
                continue
            served = j
            for c in range(n_c):
                s = src[c]
                v = 0.0
                if s == _SUPPORT:
                    v = base_scale[c] if support[n, j] else 0.0
                elif s >= 0:
                    v = base_scale[c] * np.float64(yhat[n, j, s])
                if j == shown[n]:
                    v += bonus[n, c]
                val[c] = v
            for c in range(n_c):
                d = val[c] - prev[c]
                prev[c] = val[c]
                dsum[g, p, c] += d
                if c < n_boot_channels and d != 0.0:
                    for b in range(n_b):
                        dboot[g, p, c, b] += counts[row, b] * d
    return dsum, dboot


def _layout(estimator: str, n_lab: int, with_def: bool) -> list[tuple[str, tuple]]:
    """The channels in kernel order: the estimator's bootstrapped ones first (:data:`BOOT_CHANNELS`), then the
    rest of its :data:`SUMMED` (``deficient`` only with a declared D₀), each with its top-1 shape."""
    shapes = {"ips": (n_lab,), "dm": (n_lab,), "dr": (n_lab,), "num": (1, n_lab), "w": (1,), "w2": (1,)}
    shapes.update(match=(1,), deficient=(1,))
    names = [n for n in SUMMED[estimator] if n != "deficient" or with_def]
    boot = list(BOOT_CHANNELS[estimator])
    return [(n, shapes[n]) for n in boot + [n for n in names if n not in boot]]


def _channel_values(layout, n_lab, rho, y_shown, yhat_shown, v0):
    """``(src [C], base_scale [C], bonus [S, C])`` of the module docstring's V = base + 1[j = a]·bonus."""
    src, scale, bonus = [], [], []
    for name, shape in layout:
        size = int(np.prod(shape))
        if name in ("dm", "dr"):
            src += list(range(n_lab))
            scale += [v0] * n_lab
        else:
            src += [_SUPPORT if name == "deficient" else _NONE] * size
            scale += [1.0] * size
        if name in ("ips", "num", "dr"):
            scale_bonus = v0 if name != "num" else 1.0
            per = scale_bonus * rho[:, None] * (y_shown - yhat_shown if name == "dr" else y_shown)
        elif name == "dm" or name == "deficient":
            per = np.zeros((len(rho), size))
        else:
            per = {"w": rho, "w2": rho * rho, "match": np.ones_like(rho)}[name][:, None]
        bonus.append(per)
    return np.asarray(src, np.int64), np.asarray(scale, np.float64), np.ascontiguousarray(np.concatenate(bonus, 1))


def envelope_sums(a, log, rho, yhat, yhat_shown, support, boot, n_boot: int, estimator: str, progress=False) -> dict:
    """The off-policy sums of a K = 2 top-1 log, in the form :func:`jaxfair.offpolicy.estimate` reads: float64
    ``total[name] [P, G, ...]`` per channel of :data:`SUMMED` and ``total["boot_" + name] [B, P, G, ...]`` per
    bootstrapped channel.

    Args:
      a: checked ``[P, 2]`` α (only the direction matters; rounded to float32 as the engine sees it).
      log: the log; rho: float64 ``[S, 1]`` (clipped) inverse propensities of the shown items (0: none shown).
      yhat: float32 ``[S, m, 2]`` outcome model, or None (IPS, SNIPS); yhat_shown ``[S, 1, 2]`` it at the shown item.
      support: bool ``[S, m]`` 1[p₀(j) < p_min] (declared D₀), or None.
      boot: :func:`jaxfair.offpolicy.bootstrap.user_multiplicities`'s ``(row [S], counts [U, B])``.
      progress: show a progress bar (by sessions).
    """
    s, _, n_lab = log.batch.shape
    g = log.n_groups
    env = log_envelopes(log)
    w = directions(a)
    order = np.argsort(w, kind="stable")
    grid = np.ascontiguousarray(w[order])
    layout = _layout(estimator, n_lab, support is not None)
    rho1 = np.asarray(rho, np.float64)[:, 0]
    y_shown = log.shown_labels()[:, 0, :]
    yh_shown = np.zeros_like(y_shown) if yhat is None else np.asarray(yhat_shown, np.float64)[:, 0, :]
    src, scale, bonus = _channel_values(layout, n_lab, rho1, y_shown, yh_shown, float(log.position_weights[0]))
    n_boot_channels = sum(int(np.prod(shape)) for name, shape in layout if name in BOOT_CHANNELS[estimator])
    row, counts = boot
    counts = counts if n_boot else np.zeros((len(counts), 0), np.float32)
    args = (
        env.starts,
        env.w,
        env.point,
        env.right,
        grid,
        np.asarray(log.shown[:, 0], np.int64),
        np.zeros((0, 0, 0), np.float32) if yhat is None else np.ascontiguousarray(yhat, np.float32),
        np.zeros((0, 0), bool) if support is None else np.ascontiguousarray(support, bool),
        src,
        scale,
        bonus,
        np.asarray(log.batch.group, np.int64),
        g,
        np.asarray(row, np.int64),
        counts,
        n_boot_channels,
    )
    bounds = np.linspace(0, s, min(ENVELOPE_TASKS, max(1, s // 1024)) + 1).astype(np.int64)

    bar = None
    if progress:
        from jaxfair.utils.progress import progress_bar

        bar = progress_bar(total=s, desc="off-policy", unit="session", leave=False)
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(len(bounds) - 1, os.cpu_count() or 1))) as pool:
            parts = []
            for i, part in enumerate(
                pool.map(lambda i: _changes(bounds[i], bounds[i + 1], *args), range(len(bounds) - 1))
            ):
                parts.append(part)
                if bar is not None:
                    bar.update(int(bounds[i + 1] - bounds[i]))
    finally:
        if bar is not None:
            bar.close()
    dsum, dboot = parts[0]
    for part, part_boot in parts[1:]:
        dsum += part
        dboot += part_boot
    unsort = np.empty_like(order)
    unsort[order] = np.arange(len(order))
    sums = np.cumsum(dsum, axis=1)[:, unsort]  # [G, P, C]
    boot_sums = np.cumsum(dboot, axis=1)[:, unsort]  # [G, P, C_b, B]
    total, c0 = {}, 0
    for name, shape in layout:
        size = int(np.prod(shape))
        total[name] = np.moveaxis(sums[..., c0 : c0 + size], 0, 1).reshape((len(w), g) + shape)
        if n_boot and c0 < n_boot_channels:
            x = np.moveaxis(boot_sums[:, :, c0 : c0 + size], (3, 0), (0, 2))  # [B, P, G, size]
            total["boot_" + name] = x.reshape((n_boot, len(w), g) + shape)
        c0 += size
    return total
