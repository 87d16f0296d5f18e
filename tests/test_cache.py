"""Faults in the scenario cache: nothing corrupt is ever trusted, everything is rebuilt.

Covers a truncated ``.npz``, a damaged byte of the same size, an unreadable JSON, an entry
written before checksums existed, and a writer killed with SIGKILL in the middle of writing
the arrays or between the arrays and the metadata.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from jaxfair.scenarios import cache
from jaxfair.scenarios.cache import cache_key, library_versions, load_or_build

META = {"scenario": "unit", "seed": 3}


def _build_counter():
    calls = []

    def build():
        calls.append(1)
        return {"x": np.arange(1000, dtype=np.float32), "y": np.ones((7, 3), np.int64)}, {"rows": 1000}

    return build, calls


def _entry(root: Path) -> tuple[Path, Path]:
    key = cache_key(dict(META, versions=library_versions(), format=cache.FORMAT_VERSION))
    return root / "pools" / f"{key}.npz", root / "pools" / f"{key}.json"


def test_entry_records_checksum_and_hits(tmp_path):
    build, calls = _build_counter()
    arrays, info, hit = load_or_build(META, build, tmp_path)
    assert not hit and info == {"rows": 1000}
    npz, js = _entry(tmp_path)
    stored = json.loads(js.read_text())
    assert stored["bytes"] == npz.stat().st_size and stored["sha256"] == cache.file_checksum([npz])
    again, _, hit = load_or_build(META, build, tmp_path)
    assert hit and len(calls) == 1
    np.testing.assert_array_equal(again["x"], arrays["x"])


def _damage_truncate(npz: Path, js: Path) -> None:
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])


def _damage_flip(npz: Path, js: Path) -> None:
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte different
    npz.write_bytes(bytes(data))


def _damage_json(npz: Path, js: Path) -> None:
    js.write_text('{"meta": {"trunc')


def _damage_legacy_truncated(npz: Path, js: Path) -> None:
    # An entry from before checksums, cut short: the zip CRC / directory catches it.
    stored = json.loads(js.read_text())
    js.write_text(json.dumps({"meta": stored["meta"], "info": stored["info"]}))
    _damage_truncate(npz, js)


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_flip, _damage_json, _damage_legacy_truncated])
def test_corrupt_entry_is_reported_moved_aside_and_rebuilt(tmp_path, capsys, damage):
    build, calls = _build_counter()
    load_or_build(META, build, tmp_path)
    npz, js = _entry(tmp_path)
    damage(npz, js)
    capsys.readouterr()
    arrays, _, hit = load_or_build(META, build, tmp_path)
    err = capsys.readouterr().err.strip().splitlines()
    assert not hit and len(calls) == 2
    assert len(err) == 1 and err[0].startswith("jaxfair: cache entry") and "rebuilding" in err[0]
    np.testing.assert_array_equal(arrays["x"], np.arange(1000, dtype=np.float32))
    aside = sorted(p.name for p in npz.parent.iterdir() if ".corrupt-" in p.name)
    assert len(aside) == 2  # both files kept for inspection, never reused
    _, _, hit = load_or_build(META, build, tmp_path)
    assert hit and len(calls) == 2


def test_legacy_entry_without_checksum_is_verified_and_upgraded(tmp_path):
    build, calls = _build_counter()
    load_or_build(META, build, tmp_path)
    npz, js = _entry(tmp_path)
    stored = json.loads(js.read_text())
    js.write_text(json.dumps({"meta": stored["meta"], "info": stored["info"]}))
    _, _, hit = load_or_build(META, build, tmp_path)
    assert hit and len(calls) == 1
    assert json.loads(js.read_text())["sha256"] == stored["sha256"]


_WRITER = textwrap.dedent("""
    import importlib.util, sys, time
    import numpy as np
    spec = importlib.util.spec_from_file_location("cache_under_test", sys.argv[1])
    cache = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cache)  # the module alone: no JAX import in this process
    def hang(*args, **kwargs):
        print("writing", flush=True)
        time.sleep(120)
    if sys.argv[3] == "arrays":
        real_savez = np.savez
        def partial_savez(fh, **arrays):
            fh.write(b"PK\\x03\\x04 half an archive")
            fh.flush()
            hang()
        np.savez = partial_savez
    else:
        cache._write_json = hang
    build = lambda: ({"x": np.arange(1000, dtype=np.float32), "y": np.ones((7, 3), np.int64)}, {"rows": 1000})
    cache.load_or_build({"scenario": "unit", "seed": 3}, build, sys.argv[2])
""")


@pytest.mark.parametrize("stage", ["arrays", "metadata"])
def test_sigkill_during_cache_write_leaves_nothing_trusted(tmp_path, stage):
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    proc = subprocess.Popen(
        [sys.executable, str(script), cache.__file__, str(tmp_path), stage], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    npz, js = _entry(tmp_path)
    assert not js.exists()  # metadata is written last: the entry never became valid
    leftovers = list(npz.parent.glob("*.tmp"))
    assert (len(leftovers) == 1) == (stage == "arrays")
    build, calls = _build_counter()
    arrays, _, hit = load_or_build(META, build, tmp_path)
    assert not hit and len(calls) == 1
    np.testing.assert_array_equal(arrays["y"], np.ones((7, 3), np.int64))
    assert not list(npz.parent.glob("*.tmp"))  # the dead writer's temporary file is cleaned up
    _, _, hit = load_or_build(META, build, tmp_path)
    assert hit
