"""Random group assignment: groups carry no signal about X (no Y|X shift across groups)."""

from __future__ import annotations

import numpy as np

__all__ = ["random_groups"]


def random_groups(n_users: int, minority_share: float, rng: np.random.Generator) -> np.ndarray:
    """``i32[n_users]``: exactly ``round(minority_share * n_users)`` users in group 1, at random.

    An exact count (not Bernoulli draws) keeps the 80/20 split exact for small pools too.
    """
    if not 0.0 < minority_share < 1.0:
        raise ValueError(f"minority_share: expected 0 < share < 1, got {minority_share!r}")
    g = np.zeros(n_users, np.int32)
    g[rng.permutation(n_users)[: int(round(minority_share * n_users))]] = 1
    return g
