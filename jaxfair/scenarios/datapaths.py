"""Where raw data files are looked for, in a fixed order, and the error when they are absent.

Order: the ``data_dir`` argument, then ``$JAXFAIR_DATA``, then ``shared/data`` beside the
checkout (``<checkout>/../shared/data``), then
``platformdirs.user_cache_dir("jaxfair")/data``. Data files are never shipped with the code
(MovieLens' terms forbid redistribution).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import platformdirs

__all__ = ["candidate_data_dirs", "find_data_file", "resolve_dataset_dir"]


def candidate_data_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Directories searched for data, in order (``data_dir`` first when given)."""
    dirs: list[Path] = []
    if data_dir is not None:
        dirs.append(Path(data_dir).expanduser())
    env = os.environ.get("JAXFAIR_DATA")
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(Path(__file__).resolve().parents[3] / "shared" / "data")  # beside the checkout
    dirs.append(Path(platformdirs.user_cache_dir("jaxfair")) / "data")
    return dirs


def _where_to_put(data_dir) -> str:
    dirs = candidate_data_dirs(data_dir)
    return (
        "put it in one of (searched in this order): "
        + "; ".join(str(d) for d in dirs)
        + " — or point to it: data_dir=... in Python, --data-dir DIR on the command line, or $JAXFAIR_DATA"
    )


def resolve_dataset_dir(subdir: str, required: Sequence[str], data_dir=None, *, source: str) -> Path:
    """First ``<dir>/<subdir>`` among :func:`candidate_data_dirs` holding every file in ``required``.

    A ``data_dir`` that itself contains the files (without ``subdir``) is accepted too.

    Raises:
      FileNotFoundError: saying which files are missing, where to download them
        (``source``) and where to put them.
    """
    for base in candidate_data_dirs(data_dir):
        for d in (base / subdir, base):
            if all((d / f).is_file() for f in required):
                return d
    raise FileNotFoundError(
        f"data_dir: {subdir}/ with {', '.join(required)} not found. Download from {source}; "
        f"{_where_to_put(data_dir)} (as {subdir}/{required[0]})"
    )


def find_data_file(subdir: str, filename: str, data_dir=None, *, source: str) -> Path:
    """Path of one data file, searched as in :func:`resolve_dataset_dir`."""
    return resolve_dataset_dir(subdir, [filename], data_dir, source=source) / filename
