"""The package's one progress factory: :func:`progress_bar`.

Every progress bar in jaxfair comes from here, so one rule decides how progress is shown:

* ``--quiet`` (:func:`set_quiet`): no progress at all;
* stderr a terminal (or a Jupyter kernel): a live ``tqdm`` bar;
* otherwise (a log file, a pipe, CI): :class:`PlainProgress` — a newline-terminated status
  line at most every :data:`PLAIN_INTERVAL` seconds across all bars, with no ``\\r`` and no
  ANSI escape codes. tqdm would redraw with ``\\r`` and, for nested bars, cursor-movement
  escapes, which turn a log into one unreadable line.

:func:`progress_bar` takes tqdm's common arguments (``iterable``, ``total``, ``desc``, ``unit``,
``leave``, ``disable``) and returns an object with tqdm's ``update``, ``set_postfix_str``,
``set_postfix``, ``set_description``, ``close``, iteration and ``with`` support, so call
sites written for tqdm import it as ``from jaxfair.utils.progress import progress_bar as tqdm``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["PLAIN_INTERVAL", "PlainProgress", "is_quiet", "progress_bar", "set_quiet"]

#: Seconds between two plain status lines (all bars together): often enough to show a long run
#: is alive, rarely enough that a log stays short. ``JAXFAIR_PROGRESS_INTERVAL`` overrides it.
PLAIN_INTERVAL = 15.0

_state = {"quiet": False, "last_line": None}


def set_quiet(quiet: bool = True) -> None:
    """Turn every progress bar off (``jaxfair --quiet``) or back on."""
    _state["quiet"] = bool(quiet)


def is_quiet() -> bool:
    return bool(_state["quiet"])


def _interactive(stream) -> bool:
    """True when ``stream`` is a terminal, or we run inside a Jupyter kernel (tqdm.auto draws a widget)."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # a closed or minimal stream
        return False
    shell = sys.modules.get("IPython")
    ip = getattr(shell, "get_ipython", lambda: None)() if shell is not None else None
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def _default_interval() -> float:
    text = os.environ.get("JAXFAIR_PROGRESS_INTERVAL")
    if text is None:
        return PLAIN_INTERVAL
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"JAXFAIR_PROGRESS_INTERVAL: expected seconds (a number >= 0), got {text!r}") from None
    if not value >= 0:
        raise ValueError(f"JAXFAIR_PROGRESS_INTERVAL: expected seconds (a number >= 0), got {text!r}")
    return value


def progress_bar(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    leave: bool = True,
    disable: bool = False,
    **kwargs: Any,
):
    """A progress bar for the current output: tqdm on a terminal, :class:`PlainProgress` in a
    log, nothing under ``--quiet`` or ``disable=True`` (module docstring). ``kwargs`` go to tqdm."""
    from tqdm.auto import tqdm

    if disable or is_quiet():
        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, disable=True)
    stream = kwargs.get("file") or sys.stderr
    if _interactive(stream):
        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, **kwargs)
    return PlainProgress(iterable, total=total, desc=desc, unit=unit, leave=leave, file=stream)


class PlainProgress:
    """Progress for a log: ``desc: n/total unit (postfix), elapsed`` lines ending in ``\\n``.

    A line is printed on :meth:`update` when :data:`PLAIN_INTERVAL` seconds have passed since
    the last line of any plain bar; :meth:`close` prints a final line for a ``leave=True`` bar
    that printed before (so a long step's end is in the log; a quick one leaves no trace).
    """

    def __init__(
        self,
        iterable: Iterable | None = None,
        *,
        total: int | None = None,
        desc: str | None = None,
        unit: str = "it",
        leave: bool = True,
        file=None,
        interval: float | None = None,
    ):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.desc, self.unit, self.leave = total, desc or "", unit, leave
        self.file = file
        self.interval = _default_interval() if interval is None else float(interval)
        self.n, self.postfix = 0, ""
        self.start = time.monotonic()
        self.printed = False
        self.closed = False
        if _state["last_line"] is None:
            _state["last_line"] = self.start  # the first line comes one interval into the run

    def __iter__(self) -> Iterator:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self.total or 0

    def line(self, state: str = "") -> str:
        """The status line (without its newline)."""
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        post = f" ({self.postfix})" if self.postfix else ""
        elapsed = time.monotonic() - self.start
        return f"{self.desc + ': ' if self.desc else ''}{count} {self.unit}{post}, {elapsed:.0f}s{state}"

    def _emit(self, state: str = "") -> None:
        out = self.file or sys.stderr
        try:
            out.write(self.line(state) + "\n")
            out.flush()
        except (OSError, ValueError):  # a closed log must not stop the computation
            return
        self.printed = True
        _state["last_line"] = time.monotonic()

    def _maybe_emit(self) -> None:
        if time.monotonic() - (_state["last_line"] or 0.0) >= self.interval:
            self._emit()

    def update(self, n: int = 1) -> None:
        self.n += n
        self._maybe_emit()

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = str(s)

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs: Any) -> None:
        items = dict(ordered_dict or {}, **kwargs)
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        self._maybe_emit()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.leave and self.printed:
            self._emit(", done")
