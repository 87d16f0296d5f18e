"""The command line end to end on small sizes."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from jaxfair.cli import main


def test_surface_cli_writes_figures_and_tables(tmp_path):
    out = tmp_path / "surf"
    assert main(["surface", "--scenario", "toy", "--users", "400", "--grid", "11", "--out", str(out)]) == 0
    for name in ("surface.png", "groups.png", "surface.csv", "direction.csv", "summary.json"):
        assert (out / name).stat().st_size > 0
    box = pd.read_csv(out / "surface.csv")
    assert len(box) == 121 and {"utility", "der"} <= set(box)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_sessions"] == 400 and summary["scenario"] == "toy"


def test_surface_cli_grid_method_matches_sweep(tmp_path):
    main(["surface", "--users", "300", "--grid", "9", "--out", str(tmp_path / "a"), "--method", "grid"])
    main(["surface", "--users", "300", "--grid", "9", "--out", str(tmp_path / "b"), "--method", "sweep"])
    a = pd.read_csv(tmp_path / "a" / "surface.csv")
    b = pd.read_csv(tmp_path / "b" / "surface.csv")
    pd.testing.assert_series_equal(a["utility"], b["utility"], atol=2 / 300)


def test_surface_cli_scenario_options(tmp_path):
    out = tmp_path / "o"
    main(["surface", "--users", "200", "--grid", "5", "--out", str(out), "--option", "n_candidates=5"])
    assert json.loads((out / "summary.json").read_text())["n_candidates"] == 5


def test_help_lists_commands():
    res = subprocess.run([sys.executable, "-m", "jaxfair.cli", "--help"], capture_output=True, text=True, check=True)
    assert "surface" in res.stdout


# --- user mistakes: one line on stderr, exit status 2, no traceback ------------------------

LOGS = ["--scores", "f_click,f_like", "--labels", "click,like", "--group", "group", "--user", "user_id"]
EX_PREFS = ["--prefs", "majority=0.8,0.2;minority=0.2,0.8"]  # the example logs' groups: logs carry no prefs


def _logs(tmp_path, change=None, name="logs.csv"):
    df = pd.DataFrame(
        {
            "user_id": ["u0", "u0", "u1", "u1", "u2"],
            "item": [1, 2, 1, 2, 1],
            "group": ["a", "a", "a", "a", "b"],
            "f_click": [0.1, 0.9, 0.4, 0.6, 0.5],
            "f_like": [0.8, 0.2, 0.5, 0.5, 0.3],
            "click": [0, 1, 1, 0, 1],
            "like": [1, 0, 1, 0, 0],
        }
    )
    if change:
        change(df)
    path = tmp_path / name
    df.to_csv(path, index=False)
    return str(path)


ERRORS = {
    "unknown scenario": (lambda t: ["surface", "--scenario", "nope"], ["--scenario", "'nope'", "toy"]),
    "negative users": (lambda t: ["surface", "--users", "-5"], ["--users", "integer >= 1", "-5"]),
    "grid too small": (lambda t: ["surface", "--grid", "2"], ["--grid", ">= 3"]),
    "bad method": (lambda t: ["surface", "--method", "nope"], ["--method", "invalid choice"]),
    "missing ModCloth file": (
        lambda t: ["surface", "--scenario", "modcloth", "--option", f"data_dir={t}"],
        ["df_modcloth.csv", "not found"],
    ),
    "option without =": (lambda t: ["surface", "--option", "n_candidates"], ["--option", "KEY=VALUE"]),
    "unknown option": (lambda t: ["surface", "--option", "n_candidatez=3"], ["option", "'n_candidatez'"]),
    "bad option value": (lambda t: ["surface", "--option", "n_candidates=0"], ["n_candidates", ">= 1"]),
    "bad prefs": (lambda t: ["surface", "--prefs", "0.8,x;0.2,0.8"], ["--prefs", "0.8,0.2;0.2,0.8"]),
    "prefs wrong shape": (lambda t: ["surface", "--prefs", "1,0,0;0,1,0"], ["prefs", "columns"]),
    "missing data file": (
        lambda t: ["surface", "--data", str(t / "nope.parquet")] + LOGS,
        ["nope.parquet", "not found"],
    ),
    "data without --user": (lambda t: ["surface", "--data", _logs(t)] + LOGS[:-2], ["--user", "required"]),
    "log flags without data": (lambda t: ["surface", "--scores", "a,b"], ["--scores", "--data"]),
    "data and scenario": (lambda t: ["surface", "--scenario", "toy", "--data", _logs(t)] + LOGS, ["not both"]),
    "missing column": (
        lambda t: ["surface", "--data", _logs(t, lambda d: d.pop("like"))] + LOGS,
        ["labels", "'like'", "not in the data"],
    ),
    "NaN score": (
        lambda t: (
            ["surface", "--data", _logs(t, lambda d: d.__setitem__("f_click", [0.1, None, 0.4, 0.6, 0.5]))] + LOGS
        ),
        ["scores", "'f_click'", "nan", "data row 2"],
    ),
    "label outside [0, 1]": (
        lambda t: ["surface", "--data", _logs(t, lambda d: d.__setitem__("like", [1, 0, 3, 0, 0]))] + LOGS,
        ["labels", "'like'", "[0, 1]", "data row 3"],
    ),
    "group with no users": (
        lambda t: (
            ["surface", "--data", _logs(t, lambda d: d.__setitem__("group", [0, 0, 0, 0, 2]))]
            + LOGS
            + ["--group-names", "0,1,2"]
        ),
        ["group", "'1'", "no users"],
    ),
    "duplicate rows": (
        lambda t: ["surface", "--data", _logs(t, lambda d: d.__setitem__("item", 1)), "--candidate", "item"] + LOGS,
        ["candidate", "'u0'", "twice"],
    ),
    "unreadable parquet": (
        lambda t: ["surface", "--data", _logs(t, name="fake.parquet")] + LOGS,
        ["fake.parquet", "cannot be read as Parquet"],
    ),
    "scenarios --describe unknown": (lambda t: ["scenarios", "--describe", "nope"], ["--describe", "'nope'"]),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_user_mistakes_are_one_line_exit_2(name, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, but if it were, not into the checkout
    argv, words = ERRORS[name]
    assert main(argv(tmp_path)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxfair: error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not (tmp_path / "results").exists()  # nothing half-built


def test_debug_shows_the_traceback():
    with pytest.raises(ValueError, match="unknown scenario"):
        main(["surface", "--scenario", "nope", "--debug"])


def test_surface_on_example_logs(tmp_path):
    from pathlib import Path

    logs = Path(__file__).resolve().parents[1] / "examples" / "logs.parquet"
    out = tmp_path / "s"
    assert (
        main(
            [
                "surface",
                "--data",
                str(logs),
                *LOGS,
                *EX_PREFS,
                "--retrieved",
                "retrieved",
                "--prefs",
                "majority=0.8,0.2;minority=0.2,0.8",  # text groups: bound by name
                "--users",
                "300",
                "--grid",
                "5",
                "--out",
                str(out),
                "--option",
                "n_candidates=8",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_candidates"] == 8 and summary["scenario"] == "logs-logs"
    assert (
        main(
            [
                "surface",
                "--data",
                str(logs),
                *LOGS,
                *EX_PREFS,
                "--replay",
                "--session",
                "session",
                "--users",
                "200",
                "--grid",
                "5",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )


def test_scenarios_checks_a_log_file(capsys):
    from pathlib import Path

    logs = Path(__file__).resolve().parents[1] / "examples" / "logs.csv"
    assert main(["scenarios", "--data", str(logs), *LOGS, *EX_PREFS, "--retrieved", "retrieved"]) == 0
    out = capsys.readouterr().out
    assert '"rows_not_retrieved": 367' in out and "auc_click" in out and "minority" in out


def test_bo_runs_on_example_logs_and_records_them(tmp_path):
    from pathlib import Path

    logs = Path(__file__).resolve().parents[1] / "examples" / "logs.parquet"
    out = tmp_path / "bo"
    assert (
        main(
            [
                "bo",
                "--data",
                str(logs),
                *LOGS,
                *EX_PREFS,
                "--retrieved",
                "retrieved",
                "--option",
                "n_candidates=8",
                "--methods",
                "random",
                "--trials",
                "1",
                "--iterations",
                "1",
                "--n-init",
                "2",
                "--users",
                "200",
                "--exact-users",
                "1000",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = pd.read_csv(out / "rows.csv")
    assert len(rows) == 3 and set(rows["scenario"]) == {"logs-logs"}
    config = json.loads((out / "study.json").read_text())
    assert config["data"]["name"] == "logs.parquet" and config["scenario_options"]["n_candidates"] == 8


@pytest.mark.parametrize(
    "argv,words",
    [
        (["bo", "--scenario", "nope"], ["--scenario", "'nope'"]),
        (["bo", "--scores", "a,b"], ["--scores", "--data"]),
        (["diagnose", "--scenario", "nope"], ["--scenario", "'nope'"]),
        (["diagnose", "--alpha", "x,y"], ["--alpha"]),
    ],
)
def test_bo_and_diagnose_mistakes_are_one_line(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxfair: error: "), lines
    for w in words:
        assert w in lines[0]
