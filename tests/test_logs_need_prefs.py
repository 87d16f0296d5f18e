"""Nobody chose a default for your logs (issue #28.2): a scenario from a user's own log without
prefs is refused — one line naming the groups and an example ``--prefs`` — for text and integer
groups, G = K = 2 included, in Python and in every command that builds a scenario; the built-in
scenarios keep their documented defaults, and ``jaxfair prefs`` (estimation) needs none."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jaxfair import scenarios
from jaxfair.cli import main

LOGS = Path(__file__).resolve().parents[1] / "examples" / "logs.csv"
COLS = dict(user="user_id", group="group", scores=["f_click", "f_like"], labels=["click", "like"])
FLAGS = ["--data", str(LOGS), "--user", "user_id", "--group", "group", "--scores", "f_click,f_like"]
FLAGS += ["--labels", "click,like"]


def test_text_groups_without_prefs_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"prefs: .*majority.*minority.*--prefs 'majority=") as exc:
        scenarios.from_file(LOGS, **COLS)
    assert "\n" not in str(exc.value)
    assert "0.8, 0.2" not in str(exc.value)  # nothing suggests a default was bound


def test_integer_groups_without_prefs_are_refused_too():
    df = pd.read_csv(LOGS)
    df["group"] = (df["group"] == "minority").astype(int)
    with pytest.raises(ValueError, match=r"prefs: .*groups \[0, 1\]|prefs: .*'0'.*'1'"):
        scenarios.from_frame(df, **COLS)
    for replay in (False, True):  # with prefs it builds, pool and replay alike
        extra = {"replay": True, "session": "session"} if replay else {}
        sc = scenarios.from_frame(df, **COLS, prefs=[[0.8, 0.2], [0.2, 0.8]], **extra)
        assert np.array_equal(sc.prefs, [[0.8, 0.2], [0.2, 0.8]])


def test_builtin_scenarios_keep_their_documented_default():
    assert np.array_equal(scenarios.load("toy").prefs, [[0.8, 0.2], [0.2, 0.8]])


@pytest.mark.parametrize(
    "command",
    [
        ["surface"],
        ["diagnose", "--features", "activity,tenure"],
        ["dynamics"],
        ["bo", "--trials", "1", "--iterations", "1"],
        ["scenarios"],
    ],
)
def test_every_command_refuses_logs_without_prefs_in_one_line(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = [] if command[0] == "scenarios" else ["--out", str(tmp_path / "out")]
    assert main([*command, *FLAGS, *out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxfair: error:"), err
    assert "majority" in err[0] and "minority" in err[0] and "--prefs 'majority=" in err[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "results").exists()


def test_with_prefs_the_logs_work(tmp_path, capsys):
    out = tmp_path / "s"
    argv = ["surface", *FLAGS, "--prefs", "majority=0.7,0.3;minority=0.3,0.7", "--users", "300", "--grid", "5"]
    assert main([*argv, "--out", str(out)]) == 0
    assert "prefs: majority = (0.7, 0.3)" in capsys.readouterr().err


def test_a_set_file_gives_logs_their_prefs_without_prefs_flag(tmp_path, capsys):
    """Without --prefs, --prefs-set file:PATH supplies them (member 0, bound by name), said so."""
    from jaxfair.preferences.prefset import PrefSet

    members = np.array([[[0.3, 0.7], [0.6, 0.4]], [[0.5, 0.5], [0.5, 0.5]]])  # groups minority, majority
    path = PrefSet(members, ("minority", "majority"), ("like", "click")).to_file(tmp_path / "set.csv")
    out = tmp_path / "s"
    argv = ["surface", *FLAGS, "--prefs-set", f"file:{path}", "--users", "300", "--grid", "5", "--out", str(out)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "prefs: majority = (0.4, 0.6)  [click, like]  (member 0 of set.csv (no --prefs given))" in err
    s = json.loads((out / "summary.json").read_text())
    assert s["prefs"]["minority"] == pytest.approx({"click": 0.7, "like": 0.3}, abs=1e-12)
