"""The scenario interface: a source of scored candidate pools with known true preferences.

A :class:`Scenario` knows its label names, group names and prevalence, ships default true
preferences ``prefs [G, K]`` (α*(g), one row per group) and draws batches of users with
``sample(key, n_users) -> Batch``. Concrete scenarios live one per module and register
themselves with :func:`jaxfair.scenarios.register`.
"""
from __future__ import annotations

import abc
from typing import Any

import numpy as np
import pandas as pd

from jaxfair.batch import Batch

__all__ = ["Scenario", "check_prefs"]


def check_prefs(prefs: Any, n_groups: int | None = None, n_labels: int | None = None, name: str = "prefs") -> np.ndarray:
    """Validate true preferences α* ``[G, K]``: finite, >= 0, no all-zero row, G >= 2."""
    arr = np.asarray(prefs, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected shape [G, K] (2 dims), got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise ValueError(f"{name}: expected G >= 2 groups (rows), got {arr.shape[0]}")
    if n_groups is not None and arr.shape[0] != n_groups:
        raise ValueError(f"{name}: expected {n_groups} rows (one per group), got {arr.shape[0]}")
    if n_labels is not None and arr.shape[1] != n_labels:
        raise ValueError(f"{name}: expected {n_labels} columns (one per label), got {arr.shape[1]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite values, got {arr.tolist()}")
    if np.any(arr < 0):
        raise ValueError(
            f"{name}: expected entries >= 0 (DER is defined for non-negative group utilities), got {arr.tolist()}"
        )
    return arr


class Scenario(abc.ABC):
    """Abstract scenario. Subclasses set the attributes below and implement :meth:`sample`.

    Attributes:
      name: registry name (stand-ins carry ``-standin`` in it, never the real dataset's name).
      label_names: K names, e.g. ``("watched", "liked")``.
      group_names: G names, group 0 is the majority by convention.
      prevalence: float ``[G]`` share of users in each group in the pool.
      prefs: float64 ``[G, K]`` default true preferences α*(g).
      n_candidates: m, candidates per sampled user.
      options: the options the scenario was built with (for ``describe`` and caching).
      seed: the seed it was built with.
      item_group_names: H names of the provider (item) groups its batches carry in
        ``Batch.item_group`` (SPEC §7); empty when it has none.
    """

    name: str
    label_names: tuple[str, ...]
    group_names: tuple[str, ...]
    prevalence: np.ndarray
    prefs: np.ndarray
    n_candidates: int
    options: dict
    seed: int
    is_standin: bool = False
    item_group_names: tuple[str, ...] = ()

    @property
    def n_labels(self) -> int:
        return len(self.label_names)

    @property
    def n_groups(self) -> int:
        return len(self.group_names)

    @property
    def n_item_groups(self) -> int:
        """H, the number of provider groups (0 when the scenario has none)."""
        return len(self.item_group_names)

    @property
    def title(self) -> str:
        """Name for figure titles; a stand-in always says so."""
        return f"{self.name} (STAND-IN, not the real dataset)" if self.is_standin else self.name

    @abc.abstractmethod
    def sample(self, key, n_users: int) -> Batch:
        """Draw ``n_users`` users × m candidates: a :class:`Batch` (scores, labels, mask, group)."""

    def auc_table(self) -> pd.DataFrame:
        """AUC per label for All and each group, with prevalence (paper appendix tables)."""
        raise NotImplementedError(f"scenario {self.name!r} has no held-out pool to compute AUCs on")

    def describe(self) -> dict:
        """Sizes, label names, prevalence, default preferences and options used."""
        return {
            "name": self.name,
            "standin": self.is_standin,
            "labels": list(self.label_names),
            "groups": list(self.group_names),
            "prevalence": [round(float(p), 4) for p in self.prevalence],
            "prefs": np.asarray(self.prefs).round(4).tolist(),
            "n_candidates": self.n_candidates,
            **({"item_groups": list(self.item_group_names)} if self.item_group_names else {}),
            "seed": self.seed,
            "options": dict(self.options),
        }

    def with_prefs(self, prefs: Any) -> "Scenario":
        """Return a shallow copy with different true preferences (validated)."""
        import copy

        new = copy.copy(self)
        new.prefs = check_prefs(prefs, self.n_groups, self.n_labels)
        return new

    def __repr__(self) -> str:
        return f"<Scenario {self.title}: K={self.n_labels} {self.label_names}, G={self.n_groups}, m={self.n_candidates}>"
