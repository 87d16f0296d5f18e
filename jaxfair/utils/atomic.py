"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every result file jaxfair writes (cache entries, figures, tables, reports) goes through
:func:`atomic_write`, so a run killed mid-write leaves at most a ``*.tmp`` file behind,
never a truncated file that a later load would trust. The file gets the permissions a plain
``open(path, "w")`` would give (``0o666`` minus the umask), not ``tempfile``'s private ``0o600``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "atomic_write_text", "current_umask"]


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux ``/proc``)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but only where /proc is absent)
    os.umask(mask)
    return mask


def atomic_write(
    path: str | os.PathLike,
    write: Callable[[Any], None],
    mode: str = "w",
    *,
    fsync: bool = False,
    newline: str | None = None,
) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, then rename it onto ``path``.

    Args:
      path: destination; its parent directory is created if missing.
      write: writes the content to the open file handle.
      mode: ``"w"`` (text) or ``"wb"`` (bytes).
      fsync: flush to disk before the rename (for entries that must survive a power cut).
      newline: passed to ``open`` in text mode (``""`` for CSV written by pandas).
    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The writer's pid is in the temporary name so that a later run can tell a leftover of a
    # killed writer (pid gone) from a write in progress in another process.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"newline": newline})) as fh:
            os.fchmod(fh.fileno(), 0o666 & ~current_umask())
            write(fh)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(text))
