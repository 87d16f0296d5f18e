"""The study's rows on disk: one CSV per (method, trial), written atomically, read back bit-identical.

Layout of ``out/``:

* ``rows/<method>__trial<t>.csv`` — one row per evaluation of that (method, trial), rewritten
  atomically (tmp file + ``os.replace``) after every evaluation, so a killed study loses at
  most the evaluation in flight.
* ``rows.csv`` — all rows, written when the study finishes.

A damaged per-trial file did not come from a killed study (writes are atomic): it is moved
aside and its unit run again (:func:`load_unit_rows`).

Per-score and per-group columns carry the scenario's names: ``alpha_<score>``,
``group_utility_<group>``, ``group_utility_exact_<group>`` (:class:`RowNames`). Studies written
before names were used have ``alpha0..``, ``group_utility_0..``: a resumed old study keeps its
columns, and the readers (:func:`alpha_columns`, :func:`group_utility_columns`) take either.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jaxfair.utils.alpha_names import alpha_columns as alpha_columns_of
from jaxfair.utils.atomic import atomic_write

__all__ = [
    "CorruptRowsWarning",
    "RowNames",
    "alpha_columns",
    "group_utility_columns",
    "load_rows",
    "load_unit_rows",
    "read_rows_csv",
    "unit_file",
    "write_rows",
]


@dataclass(frozen=True)
class RowNames:
    """Column names of a study's per-label and per-group values.

    Attributes: alphas ``[K]`` (``alpha_<score>``), group_utility and group_utility_exact
    ``[G]`` (``group_utility_<group>``, ``group_utility_exact_<group>``).
    """

    alphas: tuple[str, ...]
    group_utility: tuple[str, ...]
    group_utility_exact: tuple[str, ...]

    @classmethod
    def build(cls, score_names, group_names, done: Iterable[pd.DataFrame] = (), label_names=None) -> RowNames:
        """Named columns (α by the scores it weights, :mod:`jaxfair.utils.alpha_names`), or the positional
        ones (``alpha0``, ``group_utility_0``) when a row file of this study already uses them (a
        resumed old study keeps one set of columns) or when the names cannot make distinct,
        unambiguous columns (a group name starting with ``exact_``). A log's study written when α's
        columns carried the ``label_names`` keeps them on resume, for the same reason."""
        done = list(done)
        labels, groups = [str(x) for x in score_names], [str(x) for x in group_names]
        if label_names is not None and any(
            all(c in df.columns for c in alpha_columns_of(label_names))
            and alpha_columns_of(labels)[0] not in df.columns
            for df in done
        ):
            labels = [str(x) for x in label_names]
        old = any("alpha0" in df.columns for df in done)
        named_ok = (
            len(set(labels)) == len(labels)
            and len(set(groups)) == len(groups)
            and all(x for x in labels + groups)
            and not any(g.startswith("exact_") for g in groups)
        )
        if old or not named_ok:
            labels, groups = [str(k) for k in range(len(labels))], [str(g) for g in range(len(groups))]
            return cls(
                tuple(f"alpha{k}" for k in labels),
                tuple(f"group_utility_{g}" for g in groups),
                tuple(f"group_utility_exact_{g}" for g in groups),
            )
        return cls(
            tuple(alpha_columns_of(labels)),
            tuple(f"group_utility_{g}" for g in groups),
            tuple(f"group_utility_exact_{g}" for g in groups),
        )


def alpha_columns(rows: pd.DataFrame) -> list[str]:
    """The α columns of a study's rows, in label order (``alpha_<label>`` or an old study's ``alpha0..``)."""
    named = [c for c in rows.columns if c.startswith("alpha_")]
    if named:
        return named  # written in label order
    old = [c for c in rows.columns if c.startswith("alpha") and c[5:].isdigit()]
    return sorted(old, key=lambda c: int(c[5:]))


def group_utility_columns(rows: pd.DataFrame, exact: bool = True) -> list[str]:
    """The per-group utility columns (exact or observed), in group order."""
    if exact:
        return [c for c in rows.columns if c.startswith("group_utility_exact_")]
    return [c for c in rows.columns if c.startswith("group_utility_") and not c.startswith("group_utility_exact_")]


def write_rows(df: pd.DataFrame, path: Path) -> None:
    atomic_write(path, lambda fh: df.to_csv(fh, index=False), newline="")


# Floats must read back bit-identical, so a resumed GP sees the same data: pandas >= 3 parses
# round-trip by default (and deprecates the argument); pandas 2 needs float_precision="round_trip".
_ROUND_TRIP = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def read_rows_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=True, **_ROUND_TRIP)


def load_rows(out: str | os.PathLike) -> pd.DataFrame:
    """All rows of a study directory (complete or not), sorted by method, trial, evaluation."""
    out = Path(out)
    files = sorted((out / "rows").glob("*.csv"))
    if not files:
        if (out / "rows.csv").exists():
            return read_rows_csv(out / "rows.csv")
        raise ValueError(f"out: no study rows under {str(out)!r}")
    df = pd.concat([read_rows_csv(f) for f in files], ignore_index=True)
    return df.sort_values(["method", "trial", "eval"], kind="stable").reset_index(drop=True)


def unit_file(method: str, trial: int) -> str:
    return f"{method}__trial{trial:03d}.csv"


class CorruptRowsWarning(UserWarning):
    """A per-trial row file could not be used on resume; it was moved aside and its
    (method, trial) unit is run again from the start."""


def load_unit_rows(
    path: Path, method: str, trial: int, n_total: int, dim: int, objectives: Sequence[str] = ("utility", "der")
) -> pd.DataFrame | None:
    """The rows already done for one (method, trial), or None when there are none.

    Rows are written atomically, so a damaged file (truncated, garbage, edited, wrong
    columns, non-finite observations, evaluations out of order) did not come from a killed
    study. Every unit is deterministic given the study's seed, so the cheapest safe repair
    is to move the file aside (``<name>.corrupt``, kept for inspection) and run that unit
    again, which reproduces exactly the rows that were lost; a :class:`CorruptRowsWarning`
    names the file and the reason. Nothing else is touched.
    """
    if not path.exists():
        return None
    reason = None
    try:
        df = read_rows_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        reason = f"unreadable CSV ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    else:
        reason = _bad_rows(df, method, trial, n_total, dim, tuple(objectives))
    if reason is None:
        return df
    aside = path.with_name(path.name + ".corrupt")
    os.replace(path, aside)
    warnings.warn(
        f"out: row file {str(path)!r} is damaged ({reason}); moved it to {aside.name!r} and will run "
        f"({method}, trial {trial}) again from its first evaluation (same seeds, same rows)",
        CorruptRowsWarning,
        stacklevel=3,
    )
    return None


def _bad_rows(
    df: pd.DataFrame, method: str, trial: int, n_total: int, dim: int, objectives: tuple[str, ...] = ("utility", "der")
) -> str | None:
    need = ["method", "trial", "eval", *objectives] + [f"x{i}" for i in range(dim)]
    missing = [c for c in need if c not in df.columns]
    if missing:
        return f"missing columns {missing}"
    if len(df) == 0:
        return "no rows"
    if len(df) > n_total:
        return f"{len(df)} rows but the study has {n_total} evaluations per trial"
    if (
        not (df["method"].astype(str) == method).all()
        or not (pd.to_numeric(df["trial"], errors="coerce") == trial).all()
    ):
        return f"rows of another (method, trial) than ({method}, {trial})"
    ev = pd.to_numeric(df["eval"], errors="coerce").to_numpy()
    if not np.array_equal(ev, np.arange(len(df))):
        return f"evaluations are not 0..{len(df) - 1} in order"
    vals = df[need[3:]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(vals).all():
        return "non-finite or non-numeric observations"
    return None
