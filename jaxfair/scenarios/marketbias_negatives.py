"""Synthetic negatives of the marketing-bias data (Wan et al., WSDM 2020), steps 2–3 of the
protocol in :mod:`jaxfair.scenarios.marketbias`: which items a user is shown without having
reviewed them, and the rating such a negative gets."""

from __future__ import annotations

import numpy as np

__all__ = ["sample_negatives", "shifted_ratings", "source_reviews"]


def sample_negatives(
    user: np.ndarray,
    item: np.ndarray,
    rating: np.ndarray,
    n_users: int,
    n_items: int,
    neg_per_user: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Wan et al.'s negatives: per user, ``neg_per_user`` items uniform (with replacement)
    over the items the user did not rate ≥ 4. Returns ``(user i64[U·n], item i64[U·n])``.

    Vectorised by rejection: draws colliding with a ≥ 4 pair are redrawn until none is left
    (a user who rated every item ≥ 4 gets no negatives).
    """
    pos = np.unique(user[rating >= 4] * n_items + item[rating >= 4])
    # Distinct ≥ 4 items per user, to spot users with nothing left to draw.
    n_pos_items = np.bincount(pos // n_items, minlength=n_users)
    ok_users = np.flatnonzero(n_pos_items < n_items)
    nu = np.repeat(ok_users, neg_per_user)
    ni = rng.integers(0, n_items, size=len(nu))
    for _ in range(1000):
        hit = np.isin(nu * n_items + ni, pos)
        if not hit.any():
            break
        ni[hit] = rng.integers(0, n_items, size=int(hit.sum()))
    else:  # pragma: no cover - needs a user with almost every item rated >= 4
        raise RuntimeError("sample_negatives: rejection sampling did not converge")
    return nu.astype(np.int64), ni.astype(np.int64)


def shifted_ratings(observed: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` ratings from the empirical distribution of ``observed`` shifted down by one (floor 1)."""
    return np.maximum(rng.choice(np.asarray(observed), size=n, replace=True) - 1, 1)


def source_reviews(item: np.ndarray, neg_item: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each negative, the index of a uniformly drawn observed row of the same item.

    A negative's rating is that review's rating shifted down by one (floor 1), i.e. a draw
    from the *item's* rating distribution shifted down — so item quality carries over to
    negatives (a global distribution would make their labels pure noise). Items without an
    observed row cannot occur: negatives are drawn among the file's items.
    """
    order = np.argsort(item, kind="stable")
    counts = np.bincount(item, minlength=int(max(item.max(), neg_item.max())) + 1)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    if (counts[neg_item] == 0).any():
        raise ValueError("neg_item: a negative's item has no observed row")
    pick = starts[neg_item] + (rng.random(len(neg_item)) * counts[neg_item]).astype(np.int64)
    return order[pick]
