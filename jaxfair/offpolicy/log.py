"""A validated impression log (SPEC §10): one row per session, outcomes only where something was shown.

``batch`` carries the scores, the retrieval mask and the groups as every engine entry point reads
them; its labels are 0 where nothing was observed. ``shown [S, k]`` says which candidate the logging
policy showed at each position (k = 1: top-1), ``observed [S, m]`` which rows carry labels. Sessions
keep their order (replay semantics: every logged session once), so every per-session array lines up
with ``batch``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from jaxfair.engine.batch import Batch
from jaxfair.offpolicy.policy import LoggingPolicy

__all__ = ["ImpressionLog"]


def _session(log_info: dict, n: int) -> str:
    ids = log_info.get("session_ids")
    return f"session {ids[n]!r}" if ids is not None and n < len(ids) else f"session {n}"


@dataclasses.dataclass(frozen=True, eq=False)
class ImpressionLog:
    """An impression log, validated on construction (ValueError naming the field and the session).

    Attributes:
      batch: :class:`~jaxfair.engine.batch.Batch` of S sessions: scores ``[S, m, K]``, labels
        ``[S, m, K]`` float32 with 0 where not observed, mask ``[S, m]``, group ``[S]``.
      shown: int32 ``[S, k]``: the candidate shown at position r (k = 1 for top-1); -1 = no item at
        that position. A session shows min(k, retrieved) items at positions 1..min(k, retrieved),
        each on a retrieved row, no candidate twice (what the serving rule of SPEC §7 serves).
      observed: bool ``[S, m]``: rows whose labels were logged (the shown rows).
      user: int64 ``[S]``: logged-user code of each session (the bootstrap's clusters; one group per user).
      propensity: float64 ``[S, k]``: logged probability of the shown item at its position (from a
        column), in (0, 1] where shown (NaN where nothing is shown), or None.
      logging: the declared D₀, or None (at least one of ``propensity`` / ``logging`` is needed
        to estimate; the log itself may hold neither).
      group_names, label_names: G and K names.
      position_weights: float64 ``[k]`` v_r (k = 1: ``[1.0]``), SPEC §7.
      info: provenance (rows, sessions, users, columns, file fingerprint, ...).
    """

    batch: Batch
    shown: np.ndarray
    observed: np.ndarray
    user: np.ndarray
    propensity: np.ndarray | None = None
    logging: LoggingPolicy | None = None
    group_names: tuple[str, ...] = ()
    label_names: tuple[str, ...] = ()
    position_weights: np.ndarray = dataclasses.field(default_factory=lambda: np.ones(1))
    info: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.batch, Batch):
            raise ValueError(f"batch: expected a jaxfair.Batch, got {type(self.batch).__name__}")
        s, m, k_lab = self.batch.shape
        mask = np.asarray(self.batch.mask)
        shown = np.asarray(self.shown)
        if shown.ndim == 1:
            shown = shown[:, None]
        if shown.ndim != 2 or shown.shape[0] != s or shown.shape[1] < 1:
            raise ValueError(f"shown: expected shape [{s}, k] ([S, k], k >= 1), got {np.shape(self.shown)}")
        if not np.issubdtype(shown.dtype, np.integer):
            raise ValueError(f"shown: expected integer candidate indices, got dtype {shown.dtype}")
        k = shown.shape[1]
        if k > m:
            raise ValueError(f"shown: slate of k = {k} positions but only m = {m} candidates per session")
        bad = (shown < -1) | (shown >= m)
        if bad.any():
            n = int(np.argwhere(bad)[0, 0])
            raise ValueError(
                f"shown: {_session(self.info, n)} has candidate index {shown[n].tolist()} outside -1..{m - 1}"
            )
        filled = shown >= 0
        n_ret = mask.sum(axis=1)
        expect = np.minimum(n_ret, k)
        prefix = filled == (np.arange(k)[None, :] < expect[:, None])
        if not prefix.all():
            n = int(np.flatnonzero(~prefix.all(axis=1))[0])
            raise ValueError(
                f"shown: {_session(self.info, n)} shows {int(filled[n].sum())} item(s) at positions "
                f"{(np.flatnonzero(filled[n]) + 1).tolist()}, expected {int(expect[n])} "
                f"at positions 1..{int(expect[n])} "
                f"({int(n_ret[n])} retrieved, slate of {k})"
            )
        safe = np.maximum(shown, 0)
        on_retrieved = np.take_along_axis(mask, safe, axis=1) | ~filled
        if not on_retrieved.all():
            n = int(np.flatnonzero(~on_retrieved.all(axis=1))[0])
            raise ValueError(
                f"shown: {_session(self.info, n)} shows a candidate that was not retrieved ({shown[n].tolist()})"
            )
        if k > 1:
            srt = np.sort(np.where(filled, shown, -np.arange(1, k + 1)[None, :] - m), axis=1)
            dup = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
            if dup.any():
                n = int(np.flatnonzero(dup)[0])
                raise ValueError(
                    f"shown: {_session(self.info, n)} shows a candidate twice in its slate ({shown[n].tolist()})"
                )
        observed = np.asarray(self.observed)
        if observed.shape != (s, m) or observed.dtype != bool:
            raise ValueError(f"observed: expected bool [{s}, {m}] ([S, m]), got {observed.dtype} {observed.shape}")
        want = np.zeros((s, m), bool)
        rows = np.repeat(np.arange(s), k)[filled.ravel()]
        want[rows, shown.ravel()[filled.ravel()]] = True
        if not np.array_equal(observed, want):
            n = int(np.flatnonzero((observed != want).any(axis=1))[0])
            raise ValueError(
                f"observed: {_session(self.info, n)} has labels on rows {np.flatnonzero(observed[n]).tolist()}, "
                f"the shown rows are {np.flatnonzero(want[n]).tolist()}"
            )
        user = np.asarray(self.user)
        if user.shape != (s,) or not np.issubdtype(user.dtype, np.integer):
            raise ValueError(f"user: expected int [{s}] ([S]), got {user.dtype} {user.shape}")
        group = np.asarray(self.batch.group)
        order = np.lexsort((group, user))
        u_sorted, g_sorted = user[order], group[order]
        mixed = (u_sorted[1:] == u_sorted[:-1]) & (g_sorted[1:] != g_sorted[:-1])
        if mixed.any():
            raise ValueError(
                f"user: user {int(u_sorted[1:][mixed][0])} has sessions in more than one group; "
                "a user must lie in one group (the bootstrap resamples users within groups)"
            )
        prop = self.propensity
        if prop is not None:
            prop = np.array(prop, dtype=np.float64)
            if prop.ndim == 1:
                prop = prop[:, None]
            if prop.shape != (s, k):
                raise ValueError(f"propensity: expected shape [{s}, {k}] ([S, k]), got {np.shape(self.propensity)}")
            p_shown = np.where(filled, prop, 0.5)
            bad = ~np.isfinite(p_shown) | (p_shown <= 0) | (p_shown > 1)
            if bad.any():
                n, r = (int(i) for i in np.argwhere(bad)[0])
                raise ValueError(
                    f"propensity: {_session(self.info, n)} has propensity {float(prop[n, r])!r} for its shown item "
                    f"(position {r + 1}); expected 0 < p <= 1"
                )
            prop = np.where(filled, prop, np.nan)
        if self.logging is not None:
            if not isinstance(self.logging, LoggingPolicy):
                raise ValueError(f"logging: expected a LoggingPolicy, got {type(self.logging).__name__}")
            if self.logging.n_labels != k_lab:
                raise ValueError(f"logging: has K={self.logging.n_labels} weights, the scores have K={k_lab}")
        gmax = int(group.max()) + 1 if s else 0
        group_names = tuple(str(g) for g in self.group_names) or tuple(f"group {g}" for g in range(gmax))
        if len(group_names) < gmax:
            raise ValueError(
                f"group_names: expected at least {gmax} names (group ids go to {gmax - 1}), got {len(group_names)}"
            )
        label_names = tuple(str(x) for x in self.label_names) or tuple(f"label{i}" for i in range(k_lab))
        if len(label_names) != k_lab:
            raise ValueError(f"label_names: expected {k_lab} names, got {len(label_names)}")
        v = np.array(self.position_weights, dtype=np.float64).reshape(-1)
        if v.shape != (k,) or not np.all(np.isfinite(v)) or np.any(v < 0) or v[0] <= 0 or np.any(np.diff(v) > 0):
            raise ValueError(
                f"position_weights: expected {k} finite, non-increasing weights >= 0 with v_1 > 0, got {v.tolist()}"
            )
        for name, value in (
            ("shown", shown.astype(np.int32)),
            ("observed", observed),
            ("user", user.astype(np.int64)),
            ("propensity", prop),
            ("group_names", group_names),
            ("label_names", label_names),
            ("position_weights", v),
            ("info", dict(self.info)),
        ):
            object.__setattr__(self, name, value)

    @property
    def n_sessions(self) -> int:
        """S, the logged sessions."""
        return self.batch.n_users

    @functools.cached_property
    def user_index(self) -> tuple[np.ndarray, int]:
        """``(code [S], U)``: each session's logged user as 0..U−1 (users in sorted order), found once per log
        (the bootstrap, the outcome model's folds and the tables all need it)."""
        uniq, inv = np.unique(self.user, return_inverse=True)
        return inv.ravel().astype(np.int64), int(uniq.size)

    @property
    def n_users(self) -> int:
        """Distinct logged users."""
        return self.user_index[1]

    @property
    def n_groups(self) -> int:
        """G (from ``group_names``)."""
        return len(self.group_names)

    @property
    def slate_k(self) -> int:
        """k, the positions per session (1 = top-1)."""
        return int(self.shown.shape[1])

    def shown_labels(self) -> np.ndarray:
        """float64 ``[S, k, K]``: the logged labels of the item at each position (0 where none)."""
        safe = np.maximum(self.shown, 0)
        y = np.take_along_axis(np.asarray(self.batch.labels), safe[:, :, None], axis=1).astype(np.float64)
        return np.where((self.shown >= 0)[..., None], y, 0.0)

    def to_frame(self, propensity: Any = None):
        """The log in the CLI's long format (one row per session and candidate), see :func:`.frame.log_frame`."""
        from jaxfair.offpolicy.frame import log_frame

        return log_frame(self, propensity)

    def __repr__(self) -> str:
        s, m, k = self.batch.shape
        how = self.logging if self.logging is not None else ("column" if self.propensity is not None else "none")
        return f"ImpressionLog(S={s}, m={m}, K={k}, slate={self.slate_k}, users={self.n_users}, logging={how})"
