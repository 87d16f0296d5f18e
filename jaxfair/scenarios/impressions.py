"""Impression logs (SPEC §10): the logged sessions, with outcomes only where an item was shown.

A platform's log holds each session's candidates and scores, which item was **shown** (top-1:
a 0/1 ``shown`` column, one shown row per session; slates: a ``position`` column 1..k, 0 = not
shown), the outcomes of the shown item(s) only, and the logging policy (a ``propensity`` column,
or a declared weight randomisation ``logging="dirichlet:C@a_1,…,a_K"``). Filling the missing
outcomes with 0 and replaying biases every number toward the logging policy; such a log is
evaluated off-policy instead (:mod:`jaxfair.offpolicy`).

:func:`~jaxfair.scenarios.logs.from_frame` takes the off-policy path when ``shown=`` or
``position=`` is given (a log whose labels cover every candidate and names neither stays on the
full-information path): :func:`impression_rows` checks the impression columns row by row, the
rest of the table is checked as for a replay, and :meth:`ImpressionScenario.from_replay` lays
the columns out per session and checks them per session. (The :class:`jaxfair.offpolicy.ImpressionLog`
is built one layer up, by :func:`jaxfair.surface.offpolicy.impression_log`: ``jaxfair.offpolicy``
is an analysis and scenarios do not import analyses.) Every malformed log is one
``ValueError`` naming the argument (its flag), the session or data row and what is wrong.

Choices (docs/impressions.md): a session in which nothing was shown is **refused** (it holds no
outcome; the error counts them and names the first), not dropped silently; an impression log is
always a replay (every logged session once). :class:`ImpressionScenario` refuses everything
that needs full information — ``sample``, ``evaluation_batch``, ``session_bank`` — with one
line saying so, so no tool can evaluate it as if the unobserved labels were 0.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from jaxfair.engine.batch import Batch
from jaxfair.engine.slate import as_slate
from jaxfair.scenarios.base import Scenario
from jaxfair.scenarios.log_checks import IMPRESSIONS_DOCS
from jaxfair.scenarios.log_values import first_bad_row, show_value

__all__ = [
    "DOCS",
    "NEEDS_FULL_INFORMATION",
    "ImpressionRows",
    "ImpressionScenario",
    "impression_rows",
    "refuse_impression_args",
]

DOCS = IMPRESSIONS_DOCS
NEEDS_FULL_INFORMATION = "needs full information: an impression log holds outcomes only for shown items; see " + DOCS


def refuse_impression_args(args: Any, command: str) -> None:
    """A command that needs full information, given an impression log's flags: one line, before any work."""
    given = [f"--{f}" for f in ("shown", "position", "propensity", "logging") if getattr(args, f, None) is not None]
    if given:
        raise ValueError(
            f"{command} {NEEDS_FULL_INFORMATION} ({', '.join(given)} given; `jaxfair surface` estimates off-policy)"
        )


class ImpressionRows(NamedTuple):
    """The impression columns of a table, checked row by row (:func:`impression_rows`)."""

    frame: pd.DataFrame  # the table, labels set to 0 on rows not shown (they are never read)
    position: np.ndarray  # i64[R]: 0 = not shown, 1..k = shown at that position (top-1: 1)
    propensity: np.ndarray | None  # f64[R] on shown rows (1.0 elsewhere), or None without the column
    columns: dict  # the impression columns as given
    slate: bool  # True for a position column


def impression_rows(
    df: pd.DataFrame,
    label_cols: list[str],
    *,
    shown: str | None,
    position: str | None,
    propensity: str | None,
    logging: Any,
) -> ImpressionRows:
    """Check the impression columns row by row (value ranges, labels and propensities on shown rows)."""
    if (shown is None) == (position is None):
        raise ValueError("shown, position: give one (top-1: shown= / --shown COL; slates: position= / --position COL)")
    if propensity is None and logging is None:
        raise ValueError(
            "propensity, logging: an impression log needs its logging policy: a propensity column "
            "(propensity= / --propensity COL) or the declared randomisation (logging= / --logging "
            f"dirichlet:C@a_1,...,a_K or epsilon:E@a_1,...,a_K); see {DOCS}"
        )
    arg, col = ("shown", shown) if shown is not None else ("position", position)
    for a, c in ((arg, col), ("propensity", propensity)):
        if c is not None and (not isinstance(c, str) or c not in df.columns):
            raise ValueError(f"{a}: column {c!r} not in the data (columns: {', '.join(map(str, df.columns))})")
    df = df.reset_index(drop=True)
    raw = pd.to_numeric(df[col], errors="coerce").to_numpy(np.float64)
    ok = np.isfinite(raw) & (raw == np.round(raw)) & (raw >= 0) & ((raw <= 1) if shown is not None else True)
    if not ok.all():
        row = first_bad_row(~ok)
        want = "0 or 1" if shown is not None else "0 (not shown) or a position 1..k"
        raise ValueError(
            f"{arg}: column {col!r} has {show_value(df[col].iloc[row - 1])} at data row {row} (expected {want})"
        )
    pos = raw.astype(np.int64)
    on = pos > 0
    if not on.any():
        raise ValueError(f"{arg}: column {col!r} shows no row at all (every value is 0)")
    for c in label_cols:
        missing = on & df[c].isna().to_numpy()
        if missing.any():
            row = first_bad_row(missing)
            raise ValueError(
                f"labels: column {c!r} is empty at data row {row}, a shown row ({col} = {pos[row - 1]}); every shown "
                "item needs its logged outcomes"
            )
    p = None
    if propensity is not None:
        p_raw = pd.to_numeric(df[propensity], errors="coerce").to_numpy(np.float64)
        bad = on & ~((p_raw > 0) & (p_raw <= 1))  # NaN (empty or text) fails too
        if bad.any():
            row = first_bad_row(bad)
            value = df[propensity].iloc[row - 1]
            what = "is empty" if pd.isna(value) else f"has {show_value(value)}"
            raise ValueError(
                f"propensity: column {propensity!r} {what} at data row {row}, a shown row (expected the logging "
                "policy's probability of the shown item, in (0, 1])"
            )
        p = np.where(on, p_raw, 1.0)
    frame = df.copy()
    for c in label_cols:  # never read off the shown rows: the estimators mask them out
        frame[c] = frame[c].where(on, 0.0)
    columns = {arg: col, "propensity": propensity, "logging": None if logging is None else str(logging)}
    return ImpressionRows(frame, pos, p, columns, slate=position is not None)


class ImpressionScenario(Scenario):
    """An impression log as a scenario: the logged sessions (``batch``, labels 0 where not
    observed), ``shown i32[S, k]`` (-1 = no item at that position), ``observed bool[S, m]``,
    ``user i64[S]``, ``propensity f64[S, k]`` or None, the declared ``logging`` D0 (a spec or a
    policy) or None, ``position_weights [k]``; the groups, labels and true preferences α*(g)
    bound as for any log. The analyses layer turns these into a :class:`jaxfair.offpolicy.ImpressionLog`
    (:func:`jaxfair.surface.offpolicy.impression_log`, which validates the rest: the logging spec,
    a propensity column against the declared D0) and keeps it in :attr:`log`.

    Replay semantics: every logged session once. Everything that needs full information
    (:meth:`sample`, :meth:`evaluation_batch`, :meth:`session_bank`) is refused; ``surface``
    and ``bo`` estimate off-policy from :attr:`log`.
    """

    fixed_sessions = True

    def __init__(
        self,
        *,
        batch: Batch,
        shown: np.ndarray,
        observed: np.ndarray,
        user: np.ndarray,
        propensity: np.ndarray | None,
        logging: Any,
        position_weights: np.ndarray,
        session_ids: list[str] | None,
        name: str,
        label_names,
        group_names,
        prefs,
        seed: int,
        options: dict,
        info: dict,
        item_group_names=(),
    ):
        self.batch, self.shown, self.observed, self.user = batch, shown, observed, user
        self.propensity, self.logging, self.position_weights = propensity, logging, position_weights
        self.session_ids = session_ids
        self.name = name
        self.label_names = tuple(label_names)
        self.group_names = tuple(group_names)
        self.prefs = prefs
        self.seed = seed
        self.options = dict(options)
        self.info = dict(info)
        self.n_candidates = int(batch.n_candidates)
        self.item_group_names = tuple(item_group_names)
        group = np.asarray(batch.group)
        self.prevalence = np.bincount(group, minlength=len(self.group_names)) / len(group)
        self.log = None  # the jaxfair.offpolicy.ImpressionLog, built by jaxfair.surface.offpolicy.impression_log

    @classmethod
    def from_log(
        cls, log: Any, *, name: str, prefs, seed: int = 0, options: dict | None = None, info=None, score_names=()
    ):
        """An impression scenario around an already validated ``jaxfair.offpolicy.ImpressionLog`` (``simulate_log``);
        ``score_names`` name α's components (:attr:`Scenario.score_names`; default the label names)."""
        sc = cls(
            batch=log.batch,
            shown=log.shown,
            observed=log.observed,
            user=log.user,
            propensity=log.propensity,
            logging=log.logging,
            position_weights=log.position_weights,
            session_ids=None,
            name=name,
            label_names=log.label_names,
            group_names=log.group_names,
            prefs=prefs,
            seed=seed,
            options=dict(options or {}),
            info=dict(info or {}, impressions={"propensity": None, "slate": log.slate_k}),
        )
        sc.log = log
        sc.score_columns = tuple(str(n) for n in score_names)
        return sc

    @classmethod
    def from_replay(
        cls,
        replay: Any,
        rows: ImpressionRows,
        *,
        user_col: str,
        session_col: str | None,
        logging: Any = None,
        position_weights: Any = None,
    ) -> ImpressionScenario:
        """Lay the checked impression rows out per session of ``replay`` (a
        :class:`~jaxfair.scenarios.replay.ReplayScenario` of the same rows) and check them per session."""
        sid, cand = replay.row_session, replay.row_position
        n_sessions, m = replay.n_sessions, replay.n_candidates
        on = rows.position > 0
        k = int(rows.position.max())
        df = rows.frame
        where = _SessionNamer(df, sid, user_col, session_col)
        arg = "position" if rows.slate else "shown"
        col = rows.columns[arg]
        per_session = np.bincount(sid[on], minlength=n_sessions)
        if (per_session == 0).any():
            empty = np.flatnonzero(per_session == 0)
            raise ValueError(
                f"{arg}: {len(empty)} of {n_sessions} sessions show no item (the first: {where(empty[0])}); every "
                "session of an impression log shows one (its outcome is what the log holds): drop those sessions "
                f"from the table{where.hint}; see {DOCS}"
            )
        key = pd.DataFrame({"s": sid[on], "r": rows.position[on]})
        twice = key.duplicated(keep="first").to_numpy()
        if twice.any():
            row = int(np.flatnonzero(on)[np.argmax(twice)])
            s, r = int(sid[row]), int(rows.position[row])
            first = int(np.flatnonzero(on & (sid == s) & (rows.position == r))[0])
            if rows.slate:
                what = f"has two rows at position {r} (data rows {first + 1} and {row + 1})"
            else:
                what = (
                    f"has {int(per_session[s])} shown rows (data rows {first + 1} and {row + 1}); a top-1 log shows "
                    "one item per session (slates: --position COL)"
                )
            raise ValueError(f"{arg}: {where.name(s)} {what}{where.hint}")
        mask = np.asarray(replay.arrays["mask"])
        hidden = on & ~mask[sid, cand]
        if hidden.any():
            row = first_bad_row(hidden)
            raise ValueError(f"{arg}: data row {row} is shown ({col} = {rows.position[row - 1]}) but not retrieved")
        shown = np.full((n_sessions, k), -1, np.int32)
        shown[sid[on], rows.position[on] - 1] = cand[on]
        observed = np.zeros((n_sessions, m), bool)
        observed[sid[on], cand[on]] = True
        prop = None
        if rows.propensity is not None:
            prop = np.ones((n_sessions, k), np.float64)
            prop[sid[on], rows.position[on] - 1] = rows.propensity[on]
        weights = np.ones(1) if k == 1 else np.asarray(as_slate(k, position_weights or "dcg").weights, np.float64)
        info = dict(
            replay.info,
            impressions=dict(rows.columns, slate=k),
            content_sha256=_hash(replay.info["content_sha256"], rows.position, rows.propensity, str(logging)),
        )
        sc = cls(
            batch=replay.sessions(),
            shown=shown,
            observed=observed,
            user=np.asarray(replay.session_user, np.int64),
            propensity=prop,
            logging=logging,
            position_weights=weights,
            session_ids=where.ids(),
            name=replay.name,
            label_names=replay.label_names,
            group_names=replay.group_names,
            prefs=replay.prefs,
            seed=replay.seed,
            options=dict(replay.options, impressions=True),
            info=info,
            item_group_names=getattr(replay, "item_group_names", ()),
        )
        sc.score_columns = tuple(replay.score_columns)  # α weights the --scores columns: its names follow them
        return sc

    @property
    def n_sessions(self) -> int:
        return int(self.shown.shape[0])

    @property
    def n_logged_users(self) -> int:
        if self.log is not None:  # the log's users are found once (its bootstrap and folds need them)
            return self.log.n_users
        return int(np.unique(self.user).size)

    @property
    def slate_k(self) -> int:
        return int(self.shown.shape[1])

    def logging_text(self) -> str:
        """The logging policy in words: the propensity column, the declared D0, or both."""
        cols = self.info["impressions"]
        parts = []
        if cols.get("propensity"):
            parts.append(f"propensity column {cols['propensity']!r}")
        if self.logging is not None:
            parts.append(f"declared {self.logging}")
        return " and ".join(parts)

    def sample_size(self, n_users: int | None = None) -> dict:
        """The logged sessions, once each (``n_users`` is ignored)."""
        s, u = self.n_sessions, self.n_logged_users
        return {
            "sessions": s,
            "source_users": u,
            "resampled": False,
            "text": f"{s:,} logged sessions of {u:,} users, each once (impression log)",
        }

    def _refuse(self, what: str):
        raise ValueError(f"{self.name}: {what} {NEEDS_FULL_INFORMATION}")

    def sample(self, key, n_users: int) -> Batch:
        """Refused: drawing sessions with every label needs full information."""
        self._refuse("sample()")

    def evaluation_batch(self, key, n_users: int) -> Batch:
        """Refused: a full-information evaluation of an impression log would read unobserved labels as 0."""
        self._refuse("evaluation_batch() (every candidate's labels)")

    def session_bank(self, key, n_users=None, n_sessions: int = 64):
        """Refused (:mod:`jaxfair.dynamics` needs full information)."""
        self._refuse("session_bank() (retention dynamics)")

    def auc_table(self) -> pd.DataFrame:
        """AUC per label over the **shown** rows (the only rows with outcomes), for All and each group."""
        from jaxfair.auc import auc_table

        obs = np.asarray(self.observed, bool)
        group = np.broadcast_to(np.asarray(self.batch.group)[:, None], obs.shape)[obs]
        scores, labels = np.asarray(self.batch.scores)[obs], np.asarray(self.batch.labels)[obs]
        table = auc_table(scores, labels, group, self.label_names, self.group_names)
        table["prevalence"] = [1.0] + [float(p) for p in self.prevalence]
        return table

    def describe(self) -> dict:
        out = super().describe()
        out.update(
            {
                "title": self.title,
                "sessions": self.n_sessions,
                "impression_log": True,
                "logging": self.logging_text(),
                "slate": self.slate_k,
                "build": self.info,
            }
        )
        return out


class _SessionNamer:
    """``where(s)`` names session ``s`` by the user and session values of its first data row."""

    def __init__(self, df: pd.DataFrame, sid: np.ndarray, user_col: str, session_col: str | None):
        self.first = pd.Series(np.arange(len(sid))).groupby(sid).first().to_numpy()
        self.df, self.user_col, self.session_col = df, user_col, session_col
        self.hint = (
            ""
            if session_col is not None
            else " (no session column: each user's rows are ONE session; name it with session= / --session COL)"
        )

    def ids(self) -> list[str]:
        """Every session as ``user/session`` (``user`` without a session column), for the log's messages."""
        users = self.df[self.user_col].to_numpy()[self.first]
        if self.session_col is None:
            return [str(u) for u in users]
        sessions = self.df[self.session_col].to_numpy()[self.first]
        return [f"{u}/{v}" for u, v in zip(users, sessions, strict=True)]

    def name(self, s: int) -> str:
        r = int(self.first[s])
        text = f"user {show_value(self.df[self.user_col].iloc[r])}"
        if self.session_col is not None:
            text += f" session {show_value(self.df[self.session_col].iloc[r])}"
        return text

    def __call__(self, s: int) -> str:
        return f"{self.name(s)}, first data row {int(self.first[s]) + 1}"


def _hash(base: str, position: np.ndarray, propensity: np.ndarray | None, policy: str) -> str:
    h = hashlib.sha256(base.encode())
    h.update(np.ascontiguousarray(position, np.int64).tobytes())
    h.update(b"none" if propensity is None else np.ascontiguousarray(propensity, np.float64).tobytes())
    h.update(policy.encode())
    return h.hexdigest()
