"""The study's rows on disk: one CSV per (method, trial), written atomically, read back bit-identical.

Layout of ``out/``:

* ``rows/<method>__trial<t>.csv`` — one row per evaluation of that (method, trial), rewritten
  atomically (tmp file + ``os.replace``) after every evaluation, so a killed study loses at
  most the evaluation in flight.
* ``rows.csv`` — all rows, written when the study finishes.

A damaged per-trial file did not come from a killed study (writes are atomic): it is moved
aside and its unit run again (:func:`load_unit_rows`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from jaxfair.atomic import atomic_write

__all__ = ["CorruptRowsWarning", "load_rows", "load_unit_rows", "read_rows_csv", "unit_file", "write_rows"]


def write_rows(df: pd.DataFrame, path: Path) -> None:
    atomic_write(path, lambda fh: df.to_csv(fh, index=False), newline="")


def read_rows_csv(path: Path) -> pd.DataFrame:
    # round_trip: floats read back bit-identical, so a resumed GP sees the same data.
    return pd.read_csv(path, float_precision="round_trip", keep_default_na=True)


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
