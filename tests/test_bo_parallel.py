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


def test_a_study_on_an_impression_log_fans_out_with_the_same_rows(tmp_path):
    """Off-policy objectives on Ray: each worker rebuilds the same OffPolicyEvaluator (log, options, seed,
    identified region), so two workers give the rows of one."""
    from test_impressions_bo import epsilon_frame

    from jaxfair.scenarios import from_file

    path = tmp_path / "log.csv"
    epsilon_frame().to_csv(path, index=False)
    sc = from_file(
        str(path), user="user", group="group", session="session", candidate="candidate", scores=["f0", "f1"],
        labels=["y0", "y1"], shown="shown", propensity="p", prefs={"a": [0.8, 0.2], "b": [0.2, 0.8]},
    )  # fmt: skip
    kw = dict(trials=2, iterations=1, n_init=2, seed=2, progress=False, offpolicy={"estimator": "ips"})
    one = run_study(sc, ["random"], out=tmp_path / "w1", **kw)
    two = run_study(sc, ["random"], out=tmp_path / "w2", workers=2, **kw)
    cols = [c for c in one.columns if c not in TIMING_COLUMNS]
    pd.testing.assert_frame_equal(one[cols], two[cols])
    assert one["note"].fillna("").str.contains("not identified").any()  # the region is kept in the workers too
