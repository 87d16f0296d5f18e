"""Checks every command makes before it computes anything: output paths and flags a replay ignores.

A mistake found after minutes of work wastes the minutes, so ``surface``, ``diagnose``,
``dynamics``, ``prefs``, ``bo`` and ``report`` call :func:`check_out_dir` on their output directory
first; a problem is one :class:`~jaxfair.utils.cliargs.UsageError` line (exit status 2).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from jaxfair.utils.cliargs import UsageError
from jaxfair.utils.outdir import check_replaceable

__all__ = ["ReplayFlagWarning", "check_out_dir", "warn_ignored_by_replay"]


class ReplayFlagWarning(UserWarning):
    """A sample-size flag given with ``--replay``, which evaluates the logged sessions instead."""


def check_out_dir(path: str | os.PathLike, flag: str = "--out", *, replace: bool = True) -> Path:
    """``path`` as a :class:`Path`, after checking it can be (or become) a directory.

    ``replace``: the command replaces the directory as a whole when it has finished
    (:func:`jaxfair.utils.outdir.staged_dir`), so an existing one must be a jaxfair output or
    empty; False for a directory written into incrementally (a BO study, which resumes).

    Raises:
      UsageError: ``path`` is an existing file, or lies under one (``file.txt/sub``); with
        ``replace``, an existing directory that is neither empty nor a jaxfair output.
    """
    out = Path(path)
    for p in (out, *out.parents):
        if p.is_dir():
            break
        if p.exists() or p.is_symlink():  # a file, or a link to nothing or to a file
            where = "is an existing file" if p == out else f"lies under {str(p)!r}, an existing file"
            raise UsageError(f"{flag}: {str(out)!r} {where} (expected a directory to write the results into)")
    if replace:
        check_replaceable(out, flag)
    return out


def warn_ignored_by_replay(scenario: Any, **given: Any) -> None:
    """Warn once per flag in ``given`` (``{"--users": 2000}``; None = not given) that a replay
    ignores it: a replay evaluates every logged session once, whatever the sample size asked."""
    if not getattr(scenario, "fixed_sessions", False):
        return
    size = scenario.sample_size(None)
    for flag, value in given.items():
        if value is not None:
            warnings.warn(
                f"{flag} {value}: ignored "
                + (
                    f"on an impression log, which is estimated from its {size['text']}"
                    if getattr(scenario, "shown", None) is not None
                    else f"with --replay, which evaluates the {size['text']} (no resampling)"
                ),
                ReplayFlagWarning,
                stacklevel=2,
            )
