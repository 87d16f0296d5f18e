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
