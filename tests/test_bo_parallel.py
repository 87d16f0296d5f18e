"""BO units fanned out on Ray: identical rows for 1 and 2 workers, resume from worker files."""

from __future__ import annotations

import pandas as pd
import pytest

from jaxfair.bo import run_study
from jaxfair.bo.study import TIMING_COLUMNS

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.long

TINY = dict(trials=2, iterations=1, n_init=2, users_per_eval=200, exact_users=1000, seed=2, progress=False)
OPTS = {"ei": {"grid_size": 21, "mc_samples": 16}}


def test_two_workers_give_the_same_rows_as_one(tmp_path):
    methods = ["random", "ei"]
    one = run_study("toy", methods, out=tmp_path / "w1", method_options=OPTS, **TINY)
    # Resume on Ray: one unit already finished in-process, one half done.
    (tmp_path / "w2" / "rows").mkdir(parents=True)
    done = pd.read_csv(tmp_path / "w1" / "rows" / "random__trial000.csv")
    done.to_csv(tmp_path / "w2" / "rows" / "random__trial000.csv", index=False)
    half = pd.read_csv(tmp_path / "w1" / "rows" / "ei__trial001.csv").iloc[:2]
    half.to_csv(tmp_path / "w2" / "rows" / "ei__trial001.csv", index=False)
    import json

    (tmp_path / "w2" / "study.json").write_text((tmp_path / "w1" / "study.json").read_text())
    two = run_study("toy", methods, out=tmp_path / "w2", method_options=OPTS, workers=2, **TINY)
    cols = [c for c in one.columns if c not in TIMING_COLUMNS]
    pd.testing.assert_frame_equal(one[cols], two[cols])
    for name in ("random__trial001.csv", "ei__trial000.csv", "ei__trial001.csv"):  # written by the workers
        a = pd.read_csv(tmp_path / "w1" / "rows" / name)
        b = pd.read_csv(tmp_path / "w2" / "rows" / name)
        pd.testing.assert_frame_equal(
            a[[c for c in a.columns if c not in TIMING_COLUMNS]], b[[c for c in b.columns if c not in TIMING_COLUMNS]]
        )
    assert json.loads((tmp_path / "w2" / "study.json").read_text())["trials"] == 2


def test_bad_workers_and_address_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="workers"):
        run_study("toy", ["random"], out=tmp_path, workers=0, **TINY)
    with pytest.raises(ValueError, match="ray_address"):
        run_study("toy", ["random"], out=tmp_path, ray_address="", **TINY)
