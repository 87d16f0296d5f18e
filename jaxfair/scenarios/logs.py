"""Bring your own logs: a scenario from a table of logged (user, candidate) rows.

One row per (user, candidate) a recommender logged: the K model scores, the K observed
outcomes, the user's id and group, and optionally whether the candidate survived retrieval,
a candidate id, a session id and user covariates. :func:`from_frame` (a pandas DataFrame) and
:func:`from_file` (CSV or Parquet) validate everything first — a bad table raises one
``ValueError`` naming the argument, the column and the problem, and nothing is built — then
return either

* a :class:`~jaxfair.scenarios.pool.PoolScenario` (default): each user's retrieved rows form
  that user's pool and sessions are sampled from it exactly as for the paper's datasets
  (m = ``n_candidates`` distinct rows per session; rows logged as not retrieved are left out
  of the pool, because the simulator draws its own retrieval), or
* a :class:`ReplayScenario` (``replay=True``): the logged sessions served as they were — the
  same candidates, in logged order, with the logged retrieval mask. Its ``evaluation_batch`` (what
  ``surface``, ``diagnose`` and a study's exact value use) is every logged session once;
  ``sample`` draws whole logged sessions with replacement (a BO study's noisy online tests).
  Without ``session`` each user's rows are ONE session: a :class:`ReplaySessionWarning` says so.

Group ids: integers ``0..G-1`` are used as they are (group 0 should be the majority, by the
package's convention); other integer codes (e.g. 1/2) are mapped to ``0..G-1`` in sorted order,
with a :class:`GroupCodesWarning` saying so; any other values are ordered by number of users,
most first. ``group_names`` fixes the order in every case (values are matched as text, so
``--group-names 2,1`` works for integer codes). Preferences bind to groups by name (a mapping
``{group: row}``) or in the ``group_names`` order; rows by position are refused for text groups
without ``group_names``, whose count order the user did not write (SPEC §9). In a pool, a group
whose rows are all logged as not retrieved has no users: it is dropped with a warning (an error if
fewer than 2 groups remain).

Data checks besides the per-column ones: numbers must fit float32 (the engine's precision; a
score of 1e39 is an error naming the column and row); a text column is an error even when its
values look like numbers, while ``decimal.Decimal`` values (Parquet decimal columns) are
converted to float64; without a ``candidate`` column, rows repeating an earlier row exactly
(same user, session, scores, labels and retrieval flag) raise a :class:`DuplicateRowsWarning`
(``allow_duplicates=True`` silences it) because each repeat becomes another candidate.

Every scenario records a content hash of the data it was built from
(``info["content_sha256"]``; :func:`from_file` adds the file's ``name``, ``bytes`` and
``sha256`` as ``info["file"]``), which a BO study uses to refuse resuming on other data.

Provider groups (SPEC §7): an optional ``item_group`` column gives each logged candidate's
provider group, carried into ``Batch.item_group``. Integer ids ``0..H-1`` are used as they are;
other integer codes (e.g. 1/2) are mapped to ``0..H-1`` in sorted order with a
:class:`GroupCodesWarning` giving the mapping (as user groups); any other values are numbered
in sorted order. At least two provider groups must occur.

The module is the assembly; the checks, one step per function, are in
:mod:`jaxfair.scenarios.log_checks` (the per-value checks and code mappings they use in
:mod:`jaxfair.scenarios.log_values`) and the replay scenario in :mod:`jaxfair.scenarios.replay`.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jaxfair.named_prefs import bind_prefs
from jaxfair.scenarios.base import Scenario
from jaxfair.scenarios.impressions import ImpressionScenario, impression_rows
from jaxfair.scenarios.log_checks import (
    ZeroFilledLabelsWarning,
    check_arguments,
    check_candidates,
    check_columns_exist,
    check_no_gaps,
    kept_groups,
    retrieval_mask,
    scores_and_labels,
    session_codes,
    user_features,
    user_groups,
    warn_one_session_per_user,
    warn_zero_filled,
)
from jaxfair.scenarios.log_values import DuplicateRowsWarning, GroupCodesWarning, item_group_codes, warn_duplicates
from jaxfair.scenarios.pool import PoolScenario, pool_arrays
from jaxfair.scenarios.replay import ReplayScenario, ReplaySessionWarning

__all__ = [
    "DuplicateRowsWarning",
    "GroupCodesWarning",
    "ReplayScenario",
    "ReplaySessionWarning",
    "file_fingerprint",
    "from_file",
    "from_frame",
]


def file_fingerprint(path: str | os.PathLike) -> dict:
    """``{"name", "bytes", "sha256"}`` of a data file (what a BO study is bound to)."""
    path = Path(path)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": h.hexdigest()}


def _content_hash(*arrays: np.ndarray | None) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))  # no copy
    return h.hexdigest()


def from_frame(
    df: pd.DataFrame,
    *,
    user: str,
    group: str,
    scores: Sequence[str],
    labels: Sequence[str],
    candidate: str | None = None,
    retrieved: str | None = None,
    features: Sequence[str] | None = None,
    session: str | None = None,
    prefs: Any = None,
    group_names: Sequence | None = None,
    replay: bool = False,
    name: str = "logs",
    seed: int = 0,
    allow_duplicates: bool = False,
    item_group: str | None = None,
    allow_unnormalised: bool = False,
    shown: str | None = None,
    position: str | None = None,
    propensity: str | None = None,
    logging: Any = None,
    position_weights: Any = None,
    **sampling: Any,
) -> Scenario:
    """A scenario from logged (user, candidate) rows (see the module docstring).

    Args:
      df: one row per logged (user, candidate).
      user: column of user ids (any hashable values).
      group: column of the user's group (constant per user).
      scores: the K model-score columns f (finite reals), in label order.
      labels: the K outcome columns Y (0/1 or probabilities in [0, 1]), same order as ``scores``.
      candidate: optional candidate (item) id column; a (user, session, candidate) logged twice
        is an error.
      retrieved: optional 0/1 column, the retrieval mask I (default: every row retrieved).
      features: optional user covariate columns X (finite, constant per user; never the group),
        carried into ``Batch.features [N, d]``.
      session: optional session id column for ``replay`` (default: one session per user).
      item_group: optional column of each candidate's provider group (module docstring),
        carried into ``Batch.item_group [N, m]``.
      prefs: true preferences α*(g), bound to groups **by name** (SPEC §9): a mapping
        ``{group value: row of K weights}`` (every group once), or G rows in the order of
        ``group_names``. Rows by position are refused for text groups without ``group_names``
        (their order, by number of users, is not one the user wrote). Each row finite, >= 0, not
        all zero, summing to 1. Required: a log carries no preferences, and no default is
        bound to its groups (the built-in scenarios' documented defaults are theirs alone).
      group_names: order of the group values (group 0 first), matched as text; default as in the
        module docstring.
      allow_unnormalised: let preference rows that do not sum to 1 through, with a warning.
      replay: False: a :class:`PoolScenario` sampling sessions from each user's rows; True: a
        :class:`ReplayScenario` serving the logged sessions as they were.
      name: scenario name (``describe``, figure titles).
      seed: shuffles rows within a user in the pool (candidate positions carry no information).
      allow_duplicates: without ``candidate``, rows repeating an earlier row exactly (same user,
        session, scores, labels, retrieval flag) raise a :class:`DuplicateRowsWarning` (each
        repeat becomes another candidate, e.g. a file appended to itself doubles every pool);
        True says the repeats are genuine and silences it.
      shown, position, propensity, logging, position_weights: an impression log (SPEC §10,
        :mod:`jaxfair.scenarios.impressions`): ``shown`` (0/1, top-1) or ``position`` (1..k, 0 = not
        shown) names the shown items, whose rows alone need labels; the logging policy is a
        ``propensity`` column and/or the declared ``logging`` D0 (a spec or a
        :class:`jaxfair.offpolicy.LoggingPolicy`); ``position_weights`` of a slate (default "dcg").
        Returns an :class:`~jaxfair.scenarios.impressions.ImpressionScenario` (always a replay).
        Without ``shown``/``position``, labels with gaps are refused, naming them.
      **sampling: pool sampling options ``n_candidates``, ``retrieval``, ``retrieval_label``,
        ``retrieval_pool`` (not with ``replay``).
    Returns:
      the scenario; ``scenario.describe()["build"]`` says how many rows, users and sessions it kept.
    Raises:
      ValueError: naming the argument, column and first bad data row (1-based, header excluded).
    """
    impressions = shown is not None or position is not None
    replay = True if impressions else replay  # an impression log is its logged sessions, each once
    if not impressions and isinstance(df, pd.DataFrame):  # gaps in the labels: say what they call for
        named = [labels] if isinstance(labels, str) else list(labels or [])
        check_no_gaps(df, [c for c in named if c in df.columns], propensity=propensity, logging=logging)
    score_cols, label_cols, feature_cols = check_arguments(
        df,
        scores=scores,
        labels=labels,
        features=features,
        seed=seed,
        replay=replay,
        allow_duplicates=allow_duplicates,
        session=session,
        sampling=sampling,
    )
    columns = dict(
        user=user, group=group, candidate=candidate, retrieved=retrieved, session=session, item_group=item_group
    )
    check_columns_exist(df, columns, score_cols, label_cols, feature_cols)
    if impressions:  # the off-policy path (SPEC §10)
        rows = impression_rows(df, label_cols, shown=shown, position=position, propensity=propensity, logging=logging)
        logged = {k: v for k, v in columns.items() if k not in ("session", "item_group")}
        with warnings.catch_warnings():  # its unshown labels are 0 by construction (never read): no zero-fill warning
            warnings.filterwarnings("ignore", category=ZeroFilledLabelsWarning)
            replay_sc = from_frame(
                rows.frame, **logged, scores=score_cols, labels=label_cols, features=features, session=session,
                item_group=item_group, prefs=prefs, group_names=group_names, replay=True, name=name, seed=seed,
                allow_duplicates=allow_duplicates, allow_unnormalised=allow_unnormalised, **sampling,
            )  # fmt: skip
        return ImpressionScenario.from_replay(
            replay_sc, rows, user_col=user, session_col=session, logging=logging, position_weights=position_weights
        )
    df = df.reset_index(drop=True)
    f, y = scores_and_labels(df, score_cols, label_cols)
    users = user_groups(df, user, group)
    keep_mask = retrieval_mask(df, retrieved)
    sessions = session_codes(df, session)
    warn_zero_filled(y, pd.factorize(pd.MultiIndex.from_arrays([users.codes, sessions]))[0], keep_mask)
    if candidate is not None:
        check_candidates(df, candidate, users, sessions, by_session=session is not None, replay=replay, user_col=user)
    elif not allow_duplicates:
        warn_duplicates(
            [users.codes, sessions, *f.T, *y.T, keep_mask], session is not None, len(df), replay=replay, user=user
        )
    igroup, igroup_names = (None, None) if item_group is None else item_group_codes(df, item_group)
    if replay and session is None:
        warn_one_session_per_user(users.codes)
    x = user_features(df, feature_cols, users)
    if not replay and not keep_mask.any():
        raise ValueError(f"retrieved: column {retrieved!r} is 0 on every row; the pool would be empty")
    # The pool holds only what retrieval let through; users left with nothing drop out.
    kept_users = np.unique(users.codes if replay else users.codes[keep_mask])
    kept = kept_groups(users, kept_users, group_names)
    prefs = _bind_log_prefs(
        prefs,
        kept.names,
        label_cols,
        group_names=group_names,
        user_group=users.groups,
        dropped=kept.dropped,
        allow=allow_unnormalised,
    )
    user_group = np.zeros(len(users.values), np.int32)
    user_group[kept_users] = kept.codes
    user_x = None if x is None else x[users.first_row]
    content = _content_hash(
        f,
        y,
        keep_mask,
        users.codes,
        sessions,
        x,
        users.key_code,
        users.group_keys.astype(str),
        *([] if igroup is None else [igroup]),
    )
    info = dict(
        rows=int(len(df)),
        users=int(len(kept_users)),
        rows_not_retrieved=int((~keep_mask).sum()),
        users_dropped=int(len(users.values) - len(kept_users)),
        groups_dropped=kept.dropped,
        group_ids={n: i for i, n in enumerate(kept.names)},
        content_sha256=content,
        columns=dict(
            user=user,
            group=group,
            scores=score_cols,
            labels=label_cols,
            candidate=candidate,
            retrieved=retrieved,
            features=feature_cols,
            session=session,
            **({"item_group": item_group} if item_group is not None else {}),
        ),
    )
    options = dict(source=name, replay=bool(replay))
    if replay:
        replayed = ReplayScenario(
            name=name,
            label_names=label_cols,
            group_names=kept.names,
            prefs=prefs,
            seed=seed,
            scores=f,
            labels=y,
            mask=keep_mask,
            user=users.codes,
            session=sessions,
            user_group=user_group,
            user_features=user_x,
            feature_names=feature_cols,
            options=options,
            info=info,
            item_group=igroup,
            item_group_names=igroup_names,
        )
        replayed.score_columns = tuple(score_cols)  # α weights these columns: its names follow them
        return replayed
    rows = np.flatnonzero(keep_mask)
    # Re-index kept users 0..U'-1 so pool_arrays sees a dense range.
    dense = np.full(len(users.values), -1, np.int64)
    dense[kept_users] = np.arange(len(kept_users))
    arrays = pool_arrays(
        f[rows],
        y[rows],
        dense[users.codes[rows]],
        user_group[kept_users],
        np.random.default_rng(seed),
        user_features=None if user_x is None else user_x[kept_users],
        item=None if igroup is None else rows,
        item_group=None if igroup is None else igroup[rows],
    )
    pool = PoolScenario(
        name=name,
        label_names=label_cols,
        group_names=kept.names,
        arrays=arrays,
        seed=seed,
        options=options,
        sampling=sampling,
        info=info,
        prefs=prefs,
        feature_names=feature_cols or None,
        item_group_names=igroup_names,
        description=f"logged sessions ({info['rows']} rows, {info['users']} users)",
    )
    pool.user_noun = "logged users"  # titles say how many real users stand behind a sample
    pool.score_columns = tuple(score_cols)  # α weights these columns: its names follow them
    return pool


def _bind_log_prefs(
    prefs: Any,
    names: list[str],
    label_cols: list[str],
    *,
    group_names: Sequence | None,
    user_group: pd.Series,
    dropped: Sequence[str],
    allow: bool,
) -> np.ndarray:
    """The ``prefs`` of :func:`from_frame` bound to the groups ``names`` by name (SPEC §9)."""
    n_labels = len(label_cols)
    if prefs is None:
        # Refused for every G and K, text or integer groups: a default bound to the user's groups
        # would be an assumption nobody made (the built-in scenarios document theirs, SPEC §3).
        row = ",".join(f"w{k + 1}" for k in range(n_labels))
        example = ";".join(f"{n}={row}" for n in names)
        raise ValueError(
            f"prefs: required: logs carry no preferences and none is assumed for you; give each of the groups "
            f"{names} a row of weights on the labels {list(label_cols)} summing to 1, by name: e.g. "
            f"--prefs '{example}' (Python: prefs={{{', '.join(f'{n!r}: [...]' for n in names)}}}); or "
            "--prefs-set file:PATH, whose member 0 is then the prefs"
        )
    by_position = None
    text_groups = not (pd.api.types.is_integer_dtype(user_group) or pd.api.types.is_bool_dtype(user_group))
    if group_names is None and text_groups:
        by_position = (
            f"the groups {names} are text, ordered by number of users, not by you; give a mapping "
            "{group: row} (e.g. prefs={" + ", ".join(f"{n!r}: [...]" for n in names[:2]) + ", ...}; "
            "--prefs 'NAME=w,w;NAME=w,w') or state the order of the rows with group_names= (--group-names)"
        )
    no_users = {d: "every row of its users has retrieved = 0, and a pool keeps retrieved rows only" for d in dropped}
    return bind_prefs(prefs, names, n_labels, allow_unnormalised=allow, by_position=by_position, no_users=no_users)


def from_file(path: str | os.PathLike, **kwargs: Any) -> Scenario:
    """:func:`from_frame` on a ``.csv`` or ``.parquet`` file (name defaults to ``logs-<file stem>``).

    Raises:
      FileNotFoundError: the file does not exist.
      ValueError: the file cannot be read, or :func:`from_frame` rejects its contents.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data: {path} not found (expected a .csv or .parquet file of logged rows)")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ValueError(f"data: expected a .csv or .parquet file, got {path.name!r}")
    kind = "CSV" if suffix == ".csv" else "Parquet"
    try:
        df = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except FileNotFoundError:
        raise
    # pandas' parser errors and pyarrow's ArrowInvalid are ValueErrors; I/O problems OSErrors.
    except (ValueError, OSError) as exc:
        raise ValueError(f"data: {path} cannot be read as {kind} ({' '.join(str(exc).split())})") from exc
    kwargs.setdefault("name", f"logs-{path.stem}")
    try:
        scenario = from_frame(df, **kwargs)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    scenario.info["file"] = file_fingerprint(path)
    return scenario
