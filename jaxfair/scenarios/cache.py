"""On-disk cache of built scenario pools: ``<key>.npz`` arrays + ``<key>.json`` metadata.

The key is a hash of everything that determines the pool — scenario name, build options,
seed, checksum of the raw data, library versions — so a change of any of them rebuilds.
Writes are atomic (temporary file + ``os.replace``, arrays first, metadata last) so an
interrupted build never leaves a half-written entry that a later load would trust. The
metadata records the sha256 and size of the ``.npz``; a load that finds them different (a
file truncated or damaged after it was written), or cannot read the entry at all, reports it
in one line on stderr, moves both files aside (``<key>.npz.corrupt-<time>``) and rebuilds.
Entries written before checksums existed are verified by reading every array (the zip
format's CRCs) and then get their checksum added.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

import numpy as np
import platformdirs

from jaxfair.utils.atomic import atomic_write

__all__ = ["CorruptEntry", "cache_key", "default_cache_dir", "file_checksum", "library_versions", "load_or_build"]

_LIBS = ("jaxfair", "numpy", "scikit-learn", "jax", "flax", "optax")
# Bump when the pool-building code changes meaning without a change of options.
FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("jaxfair"))


def library_versions() -> dict[str, str]:
    out = {}
    for lib in _LIBS:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "absent"
    return out


def file_checksum(paths: Sequence[os.PathLike]) -> str:
    """sha256 over the bytes of ``paths`` (in the given order), hex."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def cache_key(meta: dict) -> str:
    blob = json.dumps(meta, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


class CorruptEntry(Exception):
    """A cache entry that cannot be trusted (the message says why)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _remove_stale_temporaries(root: Path, key: str) -> None:
    """Delete ``<key>.*.<pid>.*.tmp`` files left by writers that were killed (pid no longer alive)."""
    for tmp in root.glob(f"{key}.*.tmp"):
        parts = tmp.name.split(".")
        pid = parts[2] if len(parts) > 3 else ""
        if pid.isdigit() and not _pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _read_entry(npz: Path, js: Path, meta: dict) -> tuple[dict[str, np.ndarray], dict, dict] | None:
    """``(arrays, info, stored)`` of a valid entry; None when it is for other metadata.

    Raises:
      CorruptEntry: the JSON is unreadable, or the ``.npz`` does not match its checksum or
        cannot be read.
    """
    try:
        with open(js) as fh:
            stored = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptEntry(f"{js.name} is not valid JSON ({exc})") from exc
    if not isinstance(stored, dict):
        raise CorruptEntry(f"{js.name} does not hold an object")
    if stored.get("meta") != json.loads(json.dumps(meta, default=str)):
        return None
    expected = stored.get("sha256")
    if expected is not None:
        size, actual = npz.stat().st_size, file_checksum([npz])
        if size != stored.get("bytes") or actual != expected:
            raise CorruptEntry(
                f"{npz.name} has {size} bytes and sha256 {actual[:12]}…, the entry recorded "
                f"{stored.get('bytes')} bytes and {str(expected)[:12]}…"
            )
    try:
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}  # reading checks every member's CRC
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CorruptEntry(f"{npz.name} cannot be read ({type(exc).__name__}: {exc})") from exc
    return arrays, stored.get("info", {}), stored


def _move_aside(paths: Sequence[Path]) -> list[Path]:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    moved = []
    for p in paths:
        if p.exists():
            dest = p.with_name(f"{p.name}.corrupt-{stamp}-{os.getpid()}")
            os.replace(p, dest)
            moved.append(dest)
    return moved


def _write_json(js: Path, meta: dict, info: dict, npz: Path) -> None:
    record = {"meta": meta, "info": info, "bytes": npz.stat().st_size, "sha256": file_checksum([npz])}
    atomic_write(js, lambda fh: json.dump(record, fh, indent=1, default=str), "w", fsync=True)


def load_or_build(
    meta: dict, build: Callable[[], tuple[dict[str, np.ndarray], dict]], cache_dir=None, use_cache: bool = True
) -> tuple[dict[str, np.ndarray], dict, bool]:
    """Arrays and info for ``meta``: from cache when present and intact, else ``build()`` then save.

    Args:
      meta: JSON-able dict identifying the pool (options, seed, data checksum); library
        versions and the format version are added here.
      build: returns ``(arrays, info)``; ``info`` is JSON-able build information (sizes,
        timings) stored next to the arrays.
      cache_dir: directory (default :func:`default_cache_dir`).
      use_cache: False builds without reading or writing the cache.
    Returns:
      ``(arrays, info, hit)``. A corrupt entry is reported on stderr, moved aside and rebuilt
      (``hit`` is then False).
    """
    meta = dict(meta, versions=library_versions(), format=FORMAT_VERSION)
    if not use_cache:
        arrays, info = build()
        return arrays, info, False
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    root = root / "pools"
    key = cache_key(meta)
    npz, js = root / f"{key}.npz", root / f"{key}.json"
    if root.is_dir():
        _remove_stale_temporaries(root, key)
    if npz.is_file() and js.is_file():
        try:
            entry = _read_entry(npz, js, meta)
        except CorruptEntry as exc:
            moved = _move_aside([npz, js])
            print(
                f"jaxfair: cache entry {key} is corrupt ({exc}); moved to "
                f"{', '.join(p.name for p in moved)} in {root}, rebuilding",
                file=sys.stderr,
            )
            entry = None
        if entry is not None:
            arrays, info, stored = entry
            if "sha256" not in stored:  # written before checksums: verified by reading, now recorded
                _write_json(js, meta, info, npz)
            return arrays, info, True
    arrays, info = build()
    root.mkdir(parents=True, exist_ok=True)
    # Arrays first, metadata (with the arrays' checksum) last: an entry counts only when both exist.
    atomic_write(npz, lambda fh: np.savez(fh, **arrays), "wb", fsync=True)
    _write_json(js, meta, info, npz)
    return arrays, info, False
