"""Exact K = 2 sweep: utility, group utilities and DER as functions of the direction of α.

For K = 2 only the direction of α matters; write α ∝ (w, 1 − w), w = α₀/(α₀ + α₁) ∈ [0, 1].
Candidate j's score is the line ``f₁[j] + w · (f₀[j] − f₁[j])``, so the served candidate of
each user is piecewise constant in w: it follows the user's upper envelope (upper
convex-hull chain) of lines and changes only where two candidates tie. We walk every
user's envelope at once (vectorised over users, at most m steps), turn each change into an
event "at w_e the user's utility jumps by Δ", and aggregate events of all users by sorting
and prefix sums. Exact ties are resolved as the grid kernel does (lowest index wins), which
needs a point value at each breakpoint besides the values on the open intervals.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import numba
import numpy as np
import pandas as pd

from jaxfair.engine import kernels
from jaxfair.engine.api import finish_evaluation
from jaxfair.engine.batch import Batch
from jaxfair.engine.checks import check_alphas, check_batch, check_batch_prefs
from jaxfair.engine.results import Evaluation

__all__ = ["Sweep", "directions", "sweep2", "sweep2_label_means", "user_envelopes"]

_true_value_jit = jax.jit(kernels.true_value)


@numba.njit(cache=True, nogil=True, error_model="numpy")  # numpy semantics: no zero-division checks
def _walk_envelopes(
    scores, mask, value, group, n_groups, cap
):  # pragma: no cover - compiled; tested through user_envelopes
    """Compiled walk of every user's upper envelope (see :func:`user_envelopes`).

    ``scores`` float32 ``[N, m, 2]`` (compared in float64: exact), ``value`` float32
    ``[N, m]`` (or ``[0, 0]``: no values wanted). Writes at most ``cap`` events; returns
    ``n_events`` (−1 when ``cap`` was too small: the caller retries with room for m per user)
    and the event arrays ``user [E]``, ``w [E]``, ``(left, point, right) [3, E]`` and, with
    values, packed rows ``[E, 4]`` = (w, group, right − left value, point − left value). With
    ``n_groups > 0`` the w = 0 events are not written but summed per group (``group [N]``) into
    ``at0 [2, G]``: (Σ right value, Σ point − left value).
    """
    n, m = mask.shape
    with_values = value.shape[0] > 0
    ev_user = np.empty(cap, np.int64)
    ev_w = np.empty(cap, np.float64)
    ev_idx = np.empty((3, cap), np.int64)  # left, point, right
    # Per event, packed for the aggregation: (w, group, right − left value, point − left value).
    ev_val = np.zeros((cap if with_values else 0, 4), np.float64)
    at0 = np.zeros((2, max(n_groups, 1)), np.float64)
    d = np.empty(m, np.float64)
    f1 = np.empty(m, np.float64)
    wj = np.empty(m, np.float64)
    e = 0
    for u in range(n):
        top = -np.inf
        any_served = False
        for j in range(m):
            f1[j] = np.float64(scores[u, j, 1])
            d[j] = np.float64(scores[u, j, 0]) - f1[j]  # exact: two float32 in float64
            if mask[u, j]:
                any_served = True
                if f1[j] > top:
                    top = f1[j]
        if not any_served:
            continue
        # w = 0: the point winner is the lowest index among max f1; the right winner is,
        # among those, the one with the largest slope (then lowest index).
        point = -1
        right = -1
        for j in range(m):
            if mask[u, j] and f1[j] == top:
                if point < 0:
                    point = j
                if right < 0 or d[j] > d[right]:
                    right = j
        left = right
        w_here = 0.0
        cur = right
        while True:  # each step moves to a strictly steeper line: at most m − 1 steps
            if n_groups > 0 and w_here == 0.0:  # in user order, as an event sum would be
                at0[0, group[u]] += np.float64(value[u, right])
                at0[1, group[u]] += np.float64(value[u, point]) - np.float64(value[u, left])
            else:
                if e >= cap:
                    return -1, ev_user, ev_w, ev_idx, ev_val, at0
                ev_user[e], ev_w[e] = u, w_here
                ev_idx[0, e], ev_idx[1, e], ev_idx[2, e] = left, point, right
                if with_values:
                    vl = np.float64(value[u, left])
                    ev_val[e, 0], ev_val[e, 1] = w_here, group[u]
                    ev_val[e, 2] = np.float64(value[u, right]) - vl
                    ev_val[e, 3] = np.float64(value[u, point]) - vl
                e += 1
            w_next = np.inf
            for j in range(m):
                den = d[j] - d[cur]
                wj[j] = np.inf
                if mask[u, j] and den > 0:
                    wj[j] = (f1[cur] - f1[j]) / den
                    if wj[j] < w_next:
                        w_next = wj[j]
            if not w_next <= 1.0:
                break
            first_tied = -1
            right = -1
            for j in range(m):  # all lines through the crossing point
                if wj[j] == w_next:
                    if first_tied < 0:
                        first_tied = j
                    if right < 0 or d[j] > d[right]:
                        right = j
            left, point, w_here = cur, min(first_tied, cur), w_next
            cur = right
    return e, ev_user, ev_w, ev_idx, ev_val, at0


#: Users per envelope-walk task. Fixed (not per machine), so the float64 sums, taken per
#: chunk and then added in chunk order, are the same bits on every machine.
WALK_CHUNK = 1 << 14


def _walk_chunk(scores, mask, value, group, n_groups):
    n, m = mask.shape
    # Envelopes are short (3–4 events per user on the 20-candidate benchmarks; room for 3 made the walk run
    # twice there)...
    e, user, w, idx, val, at0 = _walk_envelopes(scores, mask, value, group, n_groups, 6 * n + m)
    if e < 0:  # ...else room for the worst case
        e, user, w, idx, val, at0 = _walk_envelopes(scores, mask, value, group, n_groups, n * m + 1)
    return user[:e], w[:e], idx[:, :e], val[:e], at0


def _envelope_events(scores, mask, value, group, n_groups):
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    value = np.ascontiguousarray(value, dtype=np.float32)
    group = np.ascontiguousarray(group, dtype=np.int64)
    n = mask.shape[0]
    starts = list(range(0, n, WALK_CHUNK)) or [0]

    def one(u0):
        sl = slice(u0, u0 + WALK_CHUNK)
        return _walk_chunk(
            scores[sl],
            mask[sl],
            value[sl] if value.shape[0] else value,
            group[sl] if group.shape[0] else group,
            n_groups,
        )

    # The compiled walk releases the GIL: chunks run on threads, one per core.
    with ThreadPoolExecutor(max_workers=max(1, min(len(starts), os.cpu_count() or 1))) as pool:
        parts = list(pool.map(one, starts))
    at0 = parts[0][4].copy()
    for part in parts[1:]:
        at0 += part[4]
    return (
        np.concatenate([p[0] + u0 for p, u0 in zip(parts, starts, strict=False)]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts], axis=1),
        np.concatenate([p[3] for p in parts]),
        at0,
    )


def user_envelopes(f0: np.ndarray, f1: np.ndarray, mask: np.ndarray):
    """Walk every user's upper envelope of lines ``f1 + w (f0 − f1)`` over w ∈ [0, 1].

    Compiled (numba): per user, find the winner at w = 0, then repeatedly the nearest
    crossing with a strictly steeper retrieved line — O(m · h) per user for an envelope of
    h lines (h ≤ m, typically 2–5), so linear in N. All comparisons are exact float64 on the
    float32 scores, so ties are the grid kernel's ties.

    Args:
      f0, f1: ``[N, m]`` float32 scores of the two labels (float64 input is rounded to
        float32, as the grid kernel would); mask: bool ``[N, m]``.
    Returns:
      ``(user, w, left, point, right)`` — one row per event (flat arrays): at position
      ``w`` user ``user`` is served ``left`` just before, ``point`` exactly at, ``right``
      just after. Every served user has an event at w = 0 (with ``left = right`` of the
      first open interval). Users with no retrieved candidate have no events.
    """
    scores = np.stack([np.asarray(f0, np.float32), np.asarray(f1, np.float32)], axis=-1)
    user, w, idx, _, _ = _envelope_events(scores, mask, np.zeros((0, 0), np.float32), np.zeros(0, np.int64), 0)
    return user, w, idx[0], idx[1], idx[2]


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Exact piecewise-constant group sums as a function of w = α₀/(α₀+α₁).

    Attributes:
      breakpoints: float64 ``[B]`` sorted distinct positions in [0, 1] where some user's
        served candidate changes (always starts with 0).
      point_sums: ``[B, G]`` group sums of user utility exactly at each breakpoint.
      interval_sums: ``[B, G]`` group sums on the open interval after each breakpoint
        (up to the next one, or to 1).
      group_counts: ``[G]`` users per group; n_unserved: users with nothing retrieved.
    """

    breakpoints: np.ndarray
    point_sums: np.ndarray
    interval_sums: np.ndarray
    group_counts: np.ndarray
    n_unserved: int
    group_names: tuple[str, ...] | None = None
    label_names: tuple[str, ...] | None = None

    def sums_at(self, w: np.ndarray) -> np.ndarray:
        """Group sums ``[P, G]`` at positions ``w [P]`` in [0, 1] (exact)."""
        w = np.asarray(w, dtype=np.float64)
        i = np.searchsorted(self.breakpoints, w, side="right") - 1
        on_point = self.breakpoints[i] == w
        return np.where(on_point[:, None], self.point_sums[i], self.interval_sums[i])

    def evaluate(self, alphas: Any) -> Evaluation:
        """Exact metrics for ``alphas [P, 2]`` (any scale; only the direction matters)."""
        a = check_alphas(alphas, 2)
        return finish_evaluation(
            a,
            self.sums_at(directions(a)),
            self.group_counts.astype(np.float64),
            self.n_unserved,
            self.group_names,
            self.label_names,
        )

    def curve(self) -> pd.DataFrame:
        """The whole curve: one row per breakpoint (``kind='point'``) and per open interval
        (``kind='interval'``, from ``w`` to ``w_end``), with utility, DER and group utilities."""
        b = self.breakpoints
        w_end = np.append(b[1:], 1.0)
        keep = w_end > b  # the interval after a breakpoint at 1 is empty
        alphas_pt = np.stack([b, 1.0 - b], axis=1)
        ev_pt = finish_evaluation(
            alphas_pt,
            self.point_sums,
            self.group_counts.astype(np.float64),
            self.n_unserved,
            self.group_names,
            self.label_names,
        ).to_frame()
        ev_pt.insert(0, "w_end", b)
        ev_pt.insert(0, "w", b)
        ev_pt.insert(0, "kind", "point")
        mid = (b + w_end) / 2
        ev_in = finish_evaluation(
            np.stack([mid, 1.0 - mid], axis=1),
            self.interval_sums,
            self.group_counts.astype(np.float64),
            self.n_unserved,
            self.group_names,
            self.label_names,
        ).to_frame()
        ev_in.insert(0, "w_end", w_end)
        ev_in.insert(0, "w", b)
        ev_in.insert(0, "kind", "interval")
        ev_in = ev_in[keep]
        out = pd.concat([ev_pt, ev_in]).sort_values(["w", "kind"], kind="stable", ascending=[True, False])
        return out.drop(columns=[c for c in out.columns if c.startswith("alpha_")]).reset_index(drop=True)


def directions(a: np.ndarray) -> np.ndarray:
    """``w [P]`` = α₀/(α₀+α₁) of checked ``a [P, 2]``. The grid kernel sees α in float32; the
    same rounded α is used so both see the same ties."""
    a32 = a.astype(np.float32).astype(np.float64)
    return a32[:, 0] / (a32[:, 0] + a32[:, 1])


@numba.njit(cache=True)
def _sort_rows_by_position(rows):  # pragma: no cover - compiled; tested through sweep2
    """Rows ``[E, 4]`` sorted by their first column (positions in [0, 1]).

    A bucket sort on whole rows: scatter each row once into its bucket by value (expected
    O(E) for spread-out positions), then sort every bucket in place on contiguous memory
    — by insertion, or by quicksort when it is large, so the worst case (many equal
    positions) stays O(E log E). Moving whole rows keeps every later pass sequential.
    """
    n = rows.shape[0]
    nbuck = max(1, n // 2)
    start = np.zeros(nbuck + 1, np.int64)
    key = np.empty(n, np.int64)
    for i in range(n):
        k = min(nbuck - 1, int(rows[i, 0] * nbuck))
        key[i] = k
        start[k + 1] += 1
    for k in range(nbuck):
        start[k + 1] += start[k]
    fill = start[:-1].copy()
    out = np.empty_like(rows)
    for i in range(n):
        out[fill[key[i]]] = rows[i]
        fill[key[i]] += 1
    tmp = np.empty(rows.shape[1], rows.dtype)
    for k in range(nbuck):
        lo, hi = start[k], start[k + 1]
        if hi - lo > 32:
            out[lo:hi] = out[lo:hi][np.argsort(out[lo:hi, 0])]
            continue
        for i in range(lo + 1, hi):  # insertion sort; equal positions need no order
            tmp[:] = out[i]
            j = i - 1
            while j >= lo and out[j, 0] > tmp[0]:
                out[j + 1] = out[j]
                j -= 1
            out[j + 1] = tmp
    return out


@numba.njit(cache=True)
def _sum_sorted_rows(rows, g):  # pragma: no cover - compiled
    """One sequential pass over rows sorted by position: breakpoints, Δ and point corrections."""
    n_ev = rows.shape[0]
    breakpoints = np.empty(n_ev + 1, np.float64)
    delta = np.zeros((n_ev + 1, g), np.float64)
    corr = np.zeros((n_ev + 1, g), np.float64)
    breakpoints[0] = 0.0  # 0 is always a breakpoint, so every w has a left one
    b = 0
    for i in range(n_ev):
        if rows[i, 0] != breakpoints[b]:
            b += 1
            breakpoints[b] = rows[i, 0]
        grp = int(rows[i, 1])
        delta[b, grp] += rows[i, 2]
        corr[b, grp] += rows[i, 3]
    return breakpoints[: b + 1], delta[: b + 1], corr[: b + 1]


def _aggregate_events(rows, g, at0):
    """Breakpoints and sums from the w > 0 event rows ``[E, 4]`` (w, group, Δ, point − left)
    and the w = 0 events' per-group sums ``at0 [2, G]`` (first interval, point correction
    at 0): ``(breakpoints [B], point_sums [B, G], interval_sums [B, G])``."""
    breakpoints, delta, corr = _sum_sorted_rows(_sort_rows_by_position(rows), g)
    corr[0] += at0[1]
    interval_sums = at0[0] + np.cumsum(delta, axis=0)
    left_sums = interval_sums - delta  # sum just before each breakpoint
    return breakpoints, left_sums + corr, interval_sums


def sweep2(
    batch: Batch,
    prefs: Any,
    *,
    group_names: Sequence[str] | None = None,
    label_names: Sequence[str] | None = None,
    slate: int = 1,
) -> Sweep:
    """Exact utility/DER curve over all directions of α for a K = 2 batch.

    Args:
      batch: N users × m candidates × K = 2 labels.
      prefs: ``[G, 2]`` true preferences; group ids must be < G.
      slate: only 1 (top-1). Slates of k > 1 are not swept (the ranking changes at every
        pairwise score crossing, not only on the envelope): use :func:`jaxfair.evaluate`'s
        grid with ``slate=k`` (``docs/slates.md``).
    Returns:
      :class:`Sweep`; ``Sweep.evaluate(alphas)`` equals ``evaluate(alphas, batch, prefs)``
      (up to float32 rounding of near-ties in the grid kernel).
    """
    if isinstance(slate, (bool, np.bool_)) or not isinstance(slate, (int, np.integer)) or slate != 1:
        raise ValueError(
            f"slate: sweep2 is exact for top-1 serving only (slate=1), got {slate!r}; evaluate "
            "slates on an α grid with jaxfair.evaluate(alphas, batch, prefs, slate=k)"
        )
    p_arr = check_batch_prefs(batch, prefs)
    if batch.n_labels != 2:
        raise ValueError(f"batch: sweep2 needs K = 2 labels, got K = {batch.n_labels}")
    g = p_arr.shape[0]
    # Scores as the grid kernel sees them (float32), compared in float64 inside the walk:
    # exact for the products the kernel forms, so ties are the same ties.
    kb = Batch(scores=batch.scores, labels=batch.labels, mask=batch.mask, group=batch.group)
    mask = np.asarray(batch.mask)
    group = np.asarray(batch.group)
    value = np.asarray(_true_value_jit(kb, np.asarray(p_arr, np.float32)))  # float32 [N, m], as the kernel
    _, _, _, rows, at0 = _envelope_events(np.asarray(batch.scores), mask, value, group, g)

    counts = np.bincount(group, minlength=g).astype(np.int64)
    unserved = int((~mask.any(axis=1)).sum())
    breakpoints, point_sums, interval_sums = _aggregate_events(rows, g, at0)
    return Sweep(
        breakpoints=breakpoints,
        point_sums=point_sums,
        interval_sums=interval_sums,
        group_counts=counts,
        n_unserved=unserved,
        group_names=tuple(group_names) if group_names is not None else None,
        label_names=tuple(label_names) if label_names is not None else None,
    )


def sweep2_label_means(batch: Batch, alphas: Any, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The prefs-free statistic of SPEC §9 on the exact sweep's serving: ``(L [P, G, 2], counts [G])``.

    ``L[p, g, k]`` is the mean over group g's users of ``Y[n, ĵ_n(α_p), k]`` with ĵ the served
    candidate of :func:`sweep2` (top-1, exact ties), so ``α*(g) · L_g(α)`` is the group utility
    :func:`sweep2` gives for any preferences (up to the float32 rounding of its per-row values).
    A preference set evaluated on it serves exactly what the sweep serves; the grid kernel's
    :func:`jaxfair.label_means` may differ where two scores are within float32 rounding. One
    envelope walk per label; NaN rows for an empty group.

    Args:
      batch: N users × m candidates × K = 2 labels; group ids < ``n_groups``.
      alphas: ``[P, 2]`` (any scale; only the direction matters).
      n_groups: G.
    """
    check_batch(batch)
    if batch.n_labels != 2:
        raise ValueError(f"batch: the sweep needs K = 2 labels, got K = {batch.n_labels}")
    a = check_alphas(alphas, 2)
    g = int(n_groups)
    group = np.asarray(batch.group)
    if batch.n_users and int(group.max()) >= g:
        raise ValueError(f"n_groups: the batch has group id {int(group.max())}, expected ids < {g}")
    mask = np.asarray(batch.mask)
    scores = np.asarray(batch.scores)
    labels = np.asarray(batch.labels, np.float32)
    w = directions(a)
    counts = np.bincount(group, minlength=g).astype(np.int64)
    sums = np.empty((len(a), g, 2))
    for k in range(2):
        _, _, _, rows, at0 = _envelope_events(scores, mask, np.ascontiguousarray(labels[..., k]), group, g)
        bp, point_sums, interval_sums = _aggregate_events(rows, g, at0)
        sweep = Sweep(bp, point_sums, interval_sums, counts, 0)
        sums[:, :, k] = sweep.sums_at(w)
    c = counts[None, :, None].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, sums / np.maximum(c, 1.0), np.nan), counts
