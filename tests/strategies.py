"""Hypothesis strategies for batches: lattice scores make ties exact and frequent."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


@st.composite
def batches(draw, k=None, g=None, m=None, max_users=12, lattice=True, allow_unserved=True):
    """(scores, labels, mask, group, prefs) numpy arrays.

    Scores on a 1/8 lattice (exact in float32 and in sums with lattice α), so ties are
    frequent and float32 and float64 agree exactly.
    """
    k = draw(st.sampled_from([1, 2, 3, 8])) if k is None else k
    g = draw(st.sampled_from([2, 3, 5])) if g is None else g
    m = draw(st.integers(1, 6)) if m is None else m
    n = draw(st.integers(1, max_users))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    if lattice:
        scores = rng.integers(0, 9, size=(n, m, k)) / 8.0
    else:
        scores = rng.random((n, m, k))
    labels = rng.integers(0, 2, size=(n, m, k)).astype(np.float64)
    p_mask = draw(st.sampled_from([1.0, 0.7, 0.3])) if allow_unserved else 1.0
    mask = rng.random((n, m)) < p_mask
    if not allow_unserved:
        mask[:, 0] = True
    group = rng.integers(0, g, size=n)
    # Rows on the simplex (SPEC §9) and on a 1/8 lattice, so sums stay exact in float32.
    prefs = rng.multinomial(8, np.full(k, 1.0 / k), size=g) / 8.0
    return scores.astype(np.float32), labels.astype(np.float32), mask, group, prefs


@st.composite
def lattice_alphas(draw, k, max_rows=6):
    p = draw(st.integers(1, max_rows))
    rows = []
    for _ in range(p):
        row = np.array(draw(st.lists(st.integers(0, 8), min_size=k, max_size=k)), dtype=np.float64) / 8.0
        if not row.any():
            row[draw(st.integers(0, k - 1))] = 0.5
        rows.append(row)
    return np.stack(rows)
