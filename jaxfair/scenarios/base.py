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

from jaxfair.engine.batch import Batch
from jaxfair.named_prefs import bind_prefs, prefs_record
from jaxfair.validation import UnnormalisedPrefs, check_prefs

__all__ = ["Scenario", "check_prefs"]


class Scenario(abc.ABC):
    """Abstract scenario. Subclasses set the attributes below and implement :meth:`sample`.

    Attributes:
      name: registry name (stand-ins carry ``-standin`` in it, never the real dataset's name).
      label_names: K names, e.g. ``("watched", "liked")``.
      group_names: G names, group 0 is the majority by convention.
      prevalence: float ``[G]`` share of users in each group in the pool.
      prefs: float64 ``[G, K]`` true preferences α*(g), row g for ``group_names[g]``; each row sums
        to 1 (SPEC §9) unless built with ``allow_unnormalised=True``.
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

    #: The scores' own names where they differ from the labels' (a log's ``--scores`` columns);
    #: empty: :attr:`score_names` are the label names.
    score_columns: tuple[str, ...] = ()

    @property
    def score_names(self) -> tuple[str, ...]:
        """K names of the scores α weights, for α's columns, records and axes
        (:mod:`jaxfair.utils.alpha_names`): a log's score columns (``f_click``); by default the label
        names — a built-in scenario's score k is its model's prediction of label k."""
        return tuple(str(n) for n in (self.score_columns or self.label_names))

    @property
    def title(self) -> str:
        """Name for figure titles; a stand-in always says so."""
        return f"{self.name} (STAND-IN, not the real dataset)" if self.is_standin else self.name

    @abc.abstractmethod
    def sample(self, key, n_users: int) -> Batch:
        """Draw ``n_users`` users × m candidates: a :class:`Batch` (scores, labels, mask, group)."""

    #: True for a replay of logged sessions: :meth:`evaluation_batch` is those sessions, whatever ``n_users``.
    fixed_sessions: bool = False

    def evaluation_batch(self, key, n_users: int) -> Batch:
        """The batch a one-shot evaluation (``surface``, ``diagnose``, a study's exact value) uses.

        ``sample(key, n_users)`` here; a replay of logged sessions overrides it to return every
        logged session once (``n_users`` is then ignored): replay means the logged sessions.
        """
        return self.sample(key, n_users)

    def sample_size(self, n_users: int) -> dict:
        """What stands behind a batch of ``evaluation_batch(key, n_users)``, for titles and summaries.

        Returns ``{"sessions": N, "source_users": U or None, "resampled": bool, "text": str}``:
        ``source_users`` is how many real users the sessions come from (None for generated users),
        ``text`` a phrase such as ``"20,000 users"``.
        """
        return {"sessions": int(n_users), "source_users": None, "resampled": False, "text": f"{int(n_users):,} users"}

    #: Retention defaults of :mod:`jaxfair.dynamics` (SPEC §8); a scenario may override them.
    retention_defaults: dict = {"rho_min": 0.5, "rho_max": 0.98, "kappa": 10.0, "s_mid": 0.5, "smoothing": 0.5}

    def session_bank(self, key, n_users: int | None, n_sessions: int) -> tuple[Batch, np.ndarray]:
        """Users with several sessions each, for :mod:`jaxfair.dynamics` (users persist over time).

        Args:
          key: JAX key; n_users: U users (None: the scenario's default); n_sessions: B per user.
        Returns:
          ``(batch, user_group)``: a :class:`Batch` of ``U·B`` sessions, user-major (session b
          of user u is row ``u·B + b``), and ``user_group i32[U]``.
        """
        raise NotImplementedError(f"scenario {self.name!r} cannot draw sessions per user (no session_bank)")

    def auc_table(self) -> pd.DataFrame:
        """AUC per label for All and each group, with prevalence (paper appendix tables)."""
        raise NotImplementedError(f"scenario {self.name!r} has no held-out pool to compute AUCs on")

    def describe(self) -> dict:
        """Sizes, label names, prevalence, default preferences and options used."""
        return {
            "name": self.name,
            "standin": self.is_standin,
            "labels": list(self.label_names),
            **({"scores": list(self.score_columns)} if self.score_columns else {}),
            "groups": list(self.group_names),
            "prevalence": [round(float(p), 4) for p in self.prevalence],
            "prefs": np.asarray(self.prefs).round(4).tolist(),
            "prefs_by_group": self.prefs_by_group(),
            **({"prefs_normalised": False} if isinstance(self.prefs, UnnormalisedPrefs) else {}),
            "n_candidates": self.n_candidates,
            **({"item_groups": list(self.item_group_names)} if self.item_group_names else {}),
            "seed": self.seed,
            "options": dict(self.options),
        }

    def with_prefs(self, prefs: Any, *, allow_unnormalised: bool = False) -> Scenario:
        """Return a shallow copy with different true preferences α*(g), bound by group name.

        Args:
          prefs: a mapping ``{group name: row of K weights}`` (every group once), or G rows in the
            order of :attr:`group_names`. Each row finite, >= 0, not all zero, summing to 1.
          allow_unnormalised: let rows that do not sum to 1 through, with a warning (SPEC §9).
        Raises:
          ValueError: a name that is not a group (the valid names listed), a missing group, or a
            bad row (naming the group and its sum).
        """
        import copy

        new = copy.copy(self)
        new.__dict__.pop("prefs_origin", None)  # the new prefs are the caller's, not a file's member 0
        new.prefs = bind_prefs(prefs, self.group_names, self.n_labels, allow_unnormalised=allow_unnormalised)
        return new

    def prefs_by_group(self) -> dict:
        """``{group: {label: weight}}``: which preference row belongs to which group."""
        return prefs_record(self.group_names, self.label_names, self.prefs)

    def __repr__(self) -> str:
        return (
            f"<Scenario {self.title}: K={self.n_labels} {self.label_names}, G={self.n_groups}, m={self.n_candidates}>"
        )
