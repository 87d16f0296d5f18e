"""On-disk cache of built scenario pools: ``<key>.npz`` arrays + ``<key>.json`` metadata.

The key is a hash of everything that determines the pool — scenario name, build options,
seed, checksum of the raw data, library versions — so a change of any of them rebuilds.
Writes are atomic (temporary file + ``os.replace``) so an interrupted build never leaves a
half-written entry that a later load would trust.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import platformdirs

__all__ = ["cache_key", "default_cache_dir", "file_checksum", "library_versions", "load_or_build"]

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


def _atomic_write(path: Path, write: Callable[[Any], None], mode: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_or_build(meta: dict, build: Callable[[], tuple[dict[str, np.ndarray], dict]],
                  cache_dir=None, use_cache: bool = True) -> tuple[dict[str, np.ndarray], dict, bool]:
    """Arrays and info for ``meta``: from cache when present, else ``build()`` then save.

    Args:
      meta: JSON-able dict identifying the pool (options, seed, data checksum); library
        versions and the format version are added here.
      build: returns ``(arrays, info)``; ``info`` is JSON-able build information (sizes,
        timings) stored next to the arrays.
      cache_dir: directory (default :func:`default_cache_dir`).
      use_cache: False builds without reading or writing the cache.
    Returns:
      ``(arrays, info, hit)``.
    """
    meta = dict(meta, versions=library_versions(), format=FORMAT_VERSION)
    if not use_cache:
        arrays, info = build()
        return arrays, info, False
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    root = root / "pools"
    key = cache_key(meta)
    npz, js = root / f"{key}.npz", root / f"{key}.json"
    if npz.is_file() and js.is_file():
        with open(js) as fh:
            stored = json.load(fh)
        if stored.get("meta") == json.loads(json.dumps(meta, default=str)):
            with np.load(npz) as z:
                arrays = {k: z[k] for k in z.files}
            return arrays, stored.get("info", {}), True
    arrays, info = build()
    root.mkdir(parents=True, exist_ok=True)
    # Arrays first, metadata last: an entry counts only when both exist.
    _atomic_write(npz, lambda fh: np.savez(fh, **arrays), "wb")
    _atomic_write(js, lambda fh: json.dump({"meta": meta, "info": info}, fh, indent=1, default=str), "w")
    return arrays, info, False
