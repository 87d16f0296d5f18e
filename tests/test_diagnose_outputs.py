"""What ``jaxfair diagnose`` writes (audit 21): the recorded command line, sessions vs logged
users, label names in every table, every pair of groups, the multi-pair HTML page, and the
figures' layout."""

from __future__ import annotations

import json

import pytest

from jaxfair.cli import main
from jaxfair.htmlreport import command_line


@pytest.mark.parametrize("flags", [["--quiet"], ["--debug"], ["--quiet", "--debug"]])
def test_recorded_command_keeps_quiet_and_debug(tmp_path, flags):
    out = tmp_path / "s"
    argv = ["surface", "--scenario", "toy", "--users", "200", "--grid", "3", *flags, "--out", str(out)]
    assert main(argv) == 0
    recorded = json.loads((out / "summary.json").read_text())["command"]
    for flag in flags:  # they act anywhere, so the record may move them to the end
        assert f" {flag}" in recorded
    rest = [a for a in argv if a not in flags]
    assert recorded == command_line(rest + flags)


def test_calibration_of_scores_that_are_not_probabilities_is_not_measured():
    import numpy as np

    from jaxfair.diagnose.calibration import (
        NOT_A_PROBABILITY,
        calibration_premise,
        expected_calibration_error,
        lemma23_check,
        reliability_table,
    )
    from jaxfair.engine.batch import make_batch

    rng = np.random.default_rng(0)
    logit = rng.normal(0.0, 2.0, (400, 5, 1))  # label "raw": a logit, unbounded
    prob = 1 / (1 + np.exp(-rng.normal(0.0, 1.0, (400, 5, 1))))  # label "p": a probability
    scores = np.concatenate([prob, logit], axis=-1)
    labels = (rng.random(scores.shape) < 0.5).astype(np.float32)
    batch = make_batch(scores, labels, group=np.arange(400) % 2)
    ece = expected_calibration_error(reliability_table(batch, ["p", "raw"], ["a", "b"]))
    raw, p = ece[ece["label"] == "raw"], ece[ece["label"] == "p"]
    assert raw["ece"].isna().all() and len(raw) == 3  # all, a, b: never a number
    assert raw["calibration"].str.startswith(NOT_A_PROBABILITY).all()
    assert "of raw's scores outside [0, 1]" in raw["calibration"].iloc[0]
    assert p["ece"].notna().all() and (p["calibration"] == "measured").all()
    met, why = calibration_premise(batch, table=ece)
    assert not met and why == f"{NOT_A_PROBABILITY} (raw: scores outside [0, 1])"
    lem = lemma23_check(batch, np.array([[0.5, 0.5], [0.2, 0.8]]), ece_table=ece, n_boot=5)
    assert not lem["applies"].any()
    assert lem["verdict"].str.contains("not a probability: calibration not measured", regex=False).all()
    # Scores inside [0, 1] are measured as before.
    ok = make_batch(np.clip(scores, 0, 1), labels, group=np.arange(400) % 2)
    assert expected_calibration_error(reliability_table(ok))["ece"].notna().all()


# ---- a 3-group log, diagnosed once per mode ---------------------------------------------------

GROUPS = ("tech", "student", "other")
PREFS = "--prefs=tech=0.6,0.4;student=0.3,0.7;other=0.5,0.5"


def _log(n_users: int = 60, seed: int = 0):
    """``n_users`` logged users in 3 named groups (X shifts with the group), 1-3 sessions of 6
    candidates each; labels ``liked``/``loved`` with probability scores."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        g = u % 3
        x = rng.normal(0.5 * g, 1.0)
        for s in range(int(rng.integers(1, 4))):
            f = rng.random((6, 2))
            y = (rng.random((6, 2)) < 0.2 + 0.6 * f).astype(int)
            rows += [(f"u{u:03d}", f"{u}-{s}", GROUPS[g], x, *f[j], *y[j]) for j in range(6)]
    return pd.DataFrame(rows, columns=["user", "session", "group", "x", "f_liked", "f_loved", "liked", "loved"])


def _data_flags(path) -> list[str]:
    return ["--data", str(path), "--scores", "f_liked,f_loved", "--labels", "liked,loved", "--group", "group"] + [
        "--user",
        "user",
        "--features",
        "x",
        PREFS,
    ]


SMALL = ["--grid", "3", "--n-boot", "10", "--pool-factor", "2"]


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    d = tmp_path_factory.mktemp("logs")
    df = _log()
    df.to_csv(d / "logs.csv", index=False)
    return d / "logs.csv", df


@pytest.fixture(scope="module")
def replay_run(logged, tmp_path_factory):
    """``diagnose --replay`` of the log (the default pair): its output folder."""
    path, _ = logged
    out = tmp_path_factory.mktemp("replay") / "o"
    argv = ["diagnose", *_data_flags(path), "--replay", "--session", "session", *SMALL, "--out", str(out)]
    assert main(argv) == 0
    return out


def test_tables_and_summary_name_the_labels(replay_run):
    import pandas as pd

    for name in ("decomposition_grid.csv", "decomposition_points.csv"):
        cols = list(pd.read_csv(replay_run / name).columns)
        assert cols[:2] == ["alpha_liked", "alpha_loved"] and "alpha_0" not in cols, cols
    lem = pd.read_csv(replay_run / "lemma23.csv")
    want = {"alpha_star_liked", "alpha_star_loved", "best_alpha_liked", "best_alpha_loved"}
    assert want <= set(lem.columns) and not {"alpha_star", "best_alpha"} & set(lem.columns)
    row = lem.set_index("group").loc["tech"]
    assert (row["alpha_star_liked"], row["alpha_star_loved"]) == pytest.approx((0.6, 0.4))
    s = json.loads((replay_run / "summary.json").read_text())
    for alpha in (
        s["alpha_given"]["alpha"],
        s["alpha_utility_optimal"]["alpha"],
        s["utility_optimal"]["alpha"],
        s["attribution"]["given"]["alpha"],
        s["attribution"]["best"]["alpha"],
        s["lemma23"][0]["alpha_star"],
        s["lemma23"][0]["best_alpha"],
    ):
        assert list(alpha) == ["liked", "loved"], alpha
    assert s["alpha_given"]["alpha"] == {"liked": 0.5, "loved": 0.5}
