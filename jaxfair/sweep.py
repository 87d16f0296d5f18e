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
from typing import Any, Sequence

import jax
import numpy as np
import pandas as pd

from jaxfair import kernels
from jaxfair.batch import Batch
from jaxfair.evaluate import Evaluation, finish_evaluation
from jaxfair.validation import check_alphas, check_batch_prefs

__all__ = ["Sweep", "sweep2", "user_envelopes"]

_true_value_jit = jax.jit(kernels.true_value)


def user_envelopes(f0: np.ndarray, f1: np.ndarray, mask: np.ndarray):
    """Walk every user's upper envelope of lines ``f1 + w (f0 − f1)`` over w ∈ [0, 1].

    Args:
      f0, f1: float64 ``[N, m]`` scores of the two labels; mask: bool ``[N, m]``.
    Returns:
      ``(user, w, left, point, right)`` — one row per event (flat arrays): at position
      ``w`` user ``user`` is served ``left`` just before, ``point`` exactly at, ``right``
      just after. Every served user has an event at w = 0 (with ``left = right`` of the
      first open interval). Users with no retrieved candidate have no events.
    """
    n, m = f0.shape
    d = np.where(mask, f0 - f1, 0.0)
    served = mask.any(axis=1)
    users = np.flatnonzero(served)
    f1m = np.where(mask, f1, -np.inf)

    # w = 0: the point winner is the lowest index among max f1; the right winner is, among
    # those tied at max f1, the one with the largest slope (then lowest index).
    top = f1m[users].max(axis=1, keepdims=True)
    tied = f1m[users] == top
    point0 = np.argmax(tied, axis=1)
    right0 = _max_slope_lowest_index(d[users], tied)
    ev_user, ev_w, ev_left, ev_point, ev_right = [users], [np.zeros(users.size)], [right0], [point0], [right0]

    cur = right0.copy()
    active = users.copy()
    for _ in range(m):  # each step moves to a strictly steeper line: at most m − 1 steps
        if active.size == 0:
            break
        dc = d[active, cur][:, None]
        denom = d[active] - dc
        steeper = mask[active] & (denom > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            wj = np.where(steeper, (f1[active, cur][:, None] - f1[active]) / np.where(steeper, denom, 1.0), np.inf)
        w_next = wj.min(axis=1)
        go = w_next <= 1.0
        active, cur, wj, w_next = active[go], cur[go], wj[go], w_next[go]
        if active.size == 0:
            break
        at = wj == w_next[:, None]  # all lines through the crossing point
        right = _max_slope_lowest_index(d[active], at)
        first_tied = np.argmax(at, axis=1)  # lowest index among the new lines...
        point = np.minimum(first_tied, cur)  # ...or the current winner, if lower
        ev_user.append(active)
        ev_w.append(w_next)
        ev_left.append(cur)
        ev_point.append(point)
        ev_right.append(right)
        cur = right
    return (np.concatenate(ev_user), np.concatenate(ev_w), np.concatenate(ev_left),
            np.concatenate(ev_point), np.concatenate(ev_right))


def _max_slope_lowest_index(d: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Per row, among ``candidates`` the largest ``d`` and, among equals, the lowest index."""
    dm = np.where(candidates, d, -np.inf)
    best = dm.max(axis=1, keepdims=True)
    return np.argmax(candidates & (dm == best), axis=1)


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
        # The grid kernel sees α in float32; use the same rounded α so both see the same ties.
        a32 = a.astype(np.float32).astype(np.float64)
        w = a32[:, 0] / (a32[:, 0] + a32[:, 1])
        return finish_evaluation(a, self.sums_at(w), self.group_counts.astype(np.float64), self.n_unserved,
                                 self.group_names, self.label_names)

    def curve(self) -> pd.DataFrame:
        """The whole curve: one row per breakpoint (``kind='point'``) and per open interval
        (``kind='interval'``, from ``w`` to ``w_end``), with utility, DER and group utilities."""
        b = self.breakpoints
        w_end = np.append(b[1:], 1.0)
        keep = w_end > b  # the interval after a breakpoint at 1 is empty
        alphas_pt = np.stack([b, 1.0 - b], axis=1)
        ev_pt = finish_evaluation(alphas_pt, self.point_sums, self.group_counts.astype(np.float64), self.n_unserved,
                                  self.group_names, self.label_names).to_frame()
        ev_pt.insert(0, "w_end", b)
        ev_pt.insert(0, "w", b)
        ev_pt.insert(0, "kind", "point")
        mid = (b + w_end) / 2
        ev_in = finish_evaluation(np.stack([mid, 1.0 - mid], axis=1), self.interval_sums,
                                  self.group_counts.astype(np.float64), self.n_unserved,
                                  self.group_names, self.label_names).to_frame()
        ev_in.insert(0, "w_end", w_end)
        ev_in.insert(0, "w", b)
        ev_in.insert(0, "kind", "interval")
        ev_in = ev_in[keep]
        out = pd.concat([ev_pt, ev_in]).sort_values(["w", "kind"], kind="stable", ascending=[True, False])
        return out.drop(columns=[c for c in out.columns if c.startswith("alpha_")]).reset_index(drop=True)


def sweep2(batch: Batch, prefs: Any, *, group_names: Sequence[str] | None = None,
           label_names: Sequence[str] | None = None) -> Sweep:
    """Exact utility/DER curve over all directions of α for a K = 2 batch.

    Args:
      batch: N users × m candidates × K = 2 labels.
      prefs: ``[G, 2]`` true preferences; group ids must be < G.
    Returns:
      :class:`Sweep`; ``Sweep.evaluate(alphas)`` equals ``evaluate(alphas, batch, prefs)``
      (up to float32 rounding of near-ties in the grid kernel).
    """
    p_arr = check_batch_prefs(batch, prefs)
    if batch.n_labels != 2:
        raise ValueError(f"batch: sweep2 needs K = 2 labels, got K = {batch.n_labels}")
    g = p_arr.shape[0]
    # Scores as the grid kernel sees them (float32), compared in float64: exact for the
    # products the kernel forms, so ties are the same ties.
    scores = np.asarray(batch.scores, dtype=np.float64)
    mask = np.asarray(batch.mask)
    group = np.asarray(batch.group)
    value = np.asarray(_true_value_jit(batch, np.asarray(p_arr, np.float32)), dtype=np.float64)  # [N, m]

    user, w, left, point, right = user_envelopes(scores[..., 0], scores[..., 1], mask)
    ev_group = group[user]
    v_left, v_point, v_right = value[user, left], value[user, point], value[user, right]

    counts = np.bincount(group, minlength=g).astype(np.int64)
    unserved = int((~mask.any(axis=1)).sum())
    # 0 is always a breakpoint (even when no user is served), so every w has a left one.
    breakpoints, inverse = np.unique(np.append(w, 0.0), return_inverse=True)
    inverse = inverse[:-1]
    nb = breakpoints.size
    # Δ on crossing a breakpoint, and the point correction (value exactly at it minus left).
    delta = np.zeros((nb, g))
    corr = np.zeros((nb, g))
    at0 = w == 0.0
    # At w = 0 the "left" value is the first interval's (left = right), so Δ = 0 there and
    # the interval sum after 0 starts from Σ v_right(0).
    np.add.at(delta, (inverse, ev_group), np.where(at0, 0.0, v_right - v_left))
    np.add.at(corr, (inverse, ev_group), v_point - v_left)
    base = np.zeros(g)
    np.add.at(base, ev_group[at0], v_right[at0])
    interval_sums = base + np.cumsum(delta, axis=0)
    left_sums = interval_sums - delta  # sum just before each breakpoint
    point_sums = left_sums + corr
    return Sweep(breakpoints=breakpoints, point_sums=point_sums, interval_sums=interval_sums,
                 group_counts=counts, n_unserved=unserved,
                 group_names=tuple(group_names) if group_names is not None else None,
                 label_names=tuple(label_names) if label_names is not None else None)
