"""One study per output directory; damaged row files on resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from jaxfair.bo import run_study
from jaxfair.bo.lock import LOCK_NAME, StaleLockWarning, StudyLock, StudyLockedError
from jaxfair.bo.study import TIMING_COLUMNS, CorruptRowsWarning

TINY = dict(trials=1, iterations=1, n_init=2, users_per_eval=200, exact_users=1000, seed=1, progress=False)

_HOLDER = textwrap.dedent("""
    import sys, time
    from jaxfair.bo.lock import StudyLock
    StudyLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    time.sleep(120)
""")


def _spawn_holder(out):
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_study_on_same_out_is_refused_with_dir_and_pid(tmp_path):
    proc = _spawn_holder(tmp_path)
    try:
        with pytest.raises(StudyLockedError, match=rf"{tmp_path.name}.*pid {proc.pid}"):
            run_study("toy", ["random"], out=tmp_path, **TINY)
        with pytest.raises(ValueError, match="in use by a running study"):  # a ValueError for the CLI
            StudyLock(tmp_path).acquire()
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_lock_of_a_sigkilled_run_is_taken_over(tmp_path):
    proc = _spawn_holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert str(proc.pid) in (tmp_path / LOCK_NAME).read_text()  # the record stays behind
    with pytest.warns(StaleLockWarning, match=f"pid {proc.pid}"):
        rows = run_study("toy", ["random"], out=tmp_path, **TINY)
    assert len(rows) == 3
    assert (tmp_path / LOCK_NAME).read_text() == ""  # released cleanly: nothing stale next time


def test_lock_is_released_after_an_error_and_reentrant_runs_work(tmp_path):
    with StudyLock(tmp_path):
        pass
    with pytest.raises(ValueError, match="methods"):
        run_study("toy", ["nope"], out=tmp_path, **TINY)
    run_study("toy", ["random"], out=tmp_path, **TINY)
    run_study("toy", ["random"], out=tmp_path, **TINY)  # resume of a finished study


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "nan", "wrong-unit"])
def test_damaged_row_file_is_moved_aside_and_its_unit_rerun(tmp_path, damage):
    full = run_study("toy", ["random"], out=tmp_path, **TINY)
    f = tmp_path / "rows" / "random__trial000.csv"
    text = f.read_text()
    if damage == "truncated":
        f.write_text(text[: len(text) // 2])
    elif damage == "garbage":
        f.write_bytes(b"\x00\xff\xfe garbage \x00" * 10)
    elif damage == "empty":
        f.write_text("")
    elif damage == "nan":
        df = pd.read_csv(f)
        df.loc[1, "utility"] = np.nan
        df.to_csv(f, index=False)
    else:
        df = pd.read_csv(f)
        df["trial"] = 7
        df.to_csv(f, index=False)
    with pytest.warns(CorruptRowsWarning, match="random__trial000.csv"):
        again = run_study("toy", ["random"], out=tmp_path, **TINY)
    assert (tmp_path / "rows" / "random__trial000.csv.corrupt").exists()
    cols = [c for c in full.columns if c not in TIMING_COLUMNS]
    pd.testing.assert_frame_equal(full[cols], again[cols])
