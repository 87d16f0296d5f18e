"""Impression logs (SPEC §10, issue #27): every malformed log is one line, exit 2, nothing written;
a log whose labels cover every candidate stays on the full-information path; commands that need
full information refuse an impression log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jaxfair.cli import main
from jaxfair.scenarios import logs
from jaxfair.scenarios.impressions import ImpressionScenario

M = 4  # candidates per session; with epsilon:1 logging every candidate has propensity 1/M


def impression_frame(n_sessions: int = 24, seed: int = 0) -> pd.DataFrame:
    """A top-1 impression log: 2 sessions per user, groups 'a' (2/3) and 'b', labels only on shown rows,
    logged under uniform randomisation (epsilon:1@0.5,0.5), so the propensity column is 1/M."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_sessions):
        u = s // 2
        shown = int(rng.integers(M))
        for c in range(M):
            on = c == shown
            rows.append(
                dict(
                    user=f"u{u}",
                    session=s,
                    group="a" if u % 3 else "b",
                    candidate=c,
                    f1=rng.random(),
                    f2=rng.random(),
                    y1=float(rng.random() < 0.5) if on else np.nan,
                    y2=float(rng.random() < 0.5) if on else np.nan,
                    shown=int(on),
                    p=1.0 / M if on else np.nan,
                )
            )
    return pd.DataFrame(rows)


COLUMNS = dict(user="user", group="group", scores=["f1", "f2"], labels=["y1", "y2"], session="session")
PREFS = "a=0.8,0.2;b=0.2,0.8"


def argv(path, out, *extra, command="surface"):
    return [
        command,
        "--data",
        str(path),
        "--scores",
        "f1,f2",
        "--labels",
        "y1,y2",
        "--user",
        "user",
        "--group",
        "group",
        "--session",
        "session",
        "--candidate",
        "candidate",
        "--prefs",
        PREFS,
        "--out",
        str(out),
        *extra,
    ]


def _session_rows(df, s):
    return df.index[df["session"] == s]


def _two_shown(df):
    r = _session_rows(df, 3)
    df.loc[r, ["shown", "y1", "y2", "p"]] = [1, 0.0, 1.0, 1.0 / M]
    return df


def _none_shown(df):
    r = _session_rows(df, 5)
    df.loc[r, "shown"] = 0
    return df


def _no_label(df):
    df.loc[df.index[df["shown"] == 1][2], "y2"] = np.nan
    return df


def _propensity(value):
    def edit(df):
        df.loc[df.index[df["shown"] == 1][1], "p"] = value
        return df

    return edit


CASES = {
    "gaps without --shown": (lambda df: df, [], ["labels: column 'y1' is empty", "--shown", "docs/impressions.md"]),
    "two shown rows in a top-1 session": (_two_shown, ["--shown", "shown", "--propensity", "p"], ["shown rows", "u1"]),
    "a session shows nothing": (_none_shown, ["--shown", "shown", "--propensity", "p"], ["show no item", "1 of 24"]),
    "a shown row without a label": (_no_label, ["--shown", "shown", "--propensity", "p"], ["'y2'", "a shown row"]),
    "propensity 0": (_propensity(0.0), ["--shown", "shown", "--propensity", "p"], ["propensity", "(0, 1]"]),
    "propensity above 1": (_propensity(1.5), ["--shown", "shown", "--propensity", "p"], ["1.5", "(0, 1]"]),
    "propensity missing": (_propensity(np.nan), ["--shown", "shown", "--propensity", "p"], ["is empty", "shown row"]),
    "--logging with another K": (
        lambda df: df,
        ["--shown", "shown", "--logging", "epsilon:1@0.3,0.3,0.4"],
        ["--logging has K=3", "K=2"],
    ),
    "no logging policy": (lambda df: df, ["--shown", "shown"], ["--propensity", "--logging"]),
    "--shown and --position": (
        lambda df: df,
        ["--shown", "shown", "--position", "shown", "--propensity", "p"],
        ["give one"],
    ),
    "estimator flags on a full-information log": (
        lambda df: df.assign(y1=df["y1"].fillna(0.0), y2=df["y2"].fillna(0.0)),
        ["--estimator", "ips"],
        ["--estimator", "only meaningful on an impression log"],
    ),
    "a shown item the declared logging never serves": (
        lambda df: df,
        ["--shown", "shown", "--logging", "dirichlet:30@0.5,0.5"],
        ["never serves (propensity 0)", "sessions show an item", "dirichlet:30@0.5,0.5"],
    ),
    "propensity column without --shown": (lambda df: df, ["--propensity", "p"], ["--shown", "docs/impressions.md"]),
    "propensity column against the declared logging": (
        _propensity(0.5),
        ["--shown", "shown", "--propensity", "p", "--logging", "epsilon:1@0.5,0.5"],
        ["propensity", "0.5", "0.25"],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_impression_log_is_one_line_exit_2_nothing_written(name, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    edit, extra, words = CASES[name]
    path = tmp_path / "log.csv"
    edit(impression_frame()).to_csv(path, index=False)
    out = tmp_path / "out"
    assert main(argv(path, out, *extra)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxfair: error: "), captured.err
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not out.exists()


@pytest.mark.parametrize("command", ["diagnose", "dynamics"])
def test_commands_needing_full_information_refuse_an_impression_log(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "log.csv"
    impression_frame().to_csv(path, index=False)
    out = tmp_path / "out"
    assert main(argv(path, out, "--shown", "shown", "--propensity", "p", command=command)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxfair: error: "), lines
    assert f"{command} needs full information" in lines[0]
    assert not out.exists()


def test_full_label_log_stays_on_the_full_information_path():
    df = impression_frame()
    full = df.assign(y1=df["y1"].fillna(0.0), y2=df["y2"].fillna(1.0)).drop(columns=["shown", "p"])
    sc = logs.from_frame(full, **COLUMNS, replay=True, prefs={"a": [0.8, 0.2], "b": [0.2, 0.8]})
    assert not isinstance(sc, ImpressionScenario)
    assert sc.evaluation_batch(None, 1).labels.shape == (24, M, 2)


def test_impression_scenario_refuses_full_information_uses():
    sc = logs.from_frame(
        impression_frame(), **COLUMNS, shown="shown", propensity="p", prefs={"a": [0.8, 0.2], "b": [0.2, 0.8]}
    )
    assert isinstance(sc, ImpressionScenario)
    assert sc.n_sessions == 24 and sc.slate_k == 1 and sc.observed.sum() == 24 and sc.n_logged_users == 12
    np.testing.assert_allclose(sc.propensity[:, 0], 1.0 / M)
    shown_rows = np.take_along_axis(sc.observed, sc.shown, axis=1)
    assert shown_rows.all()
    for call in (lambda: sc.sample(None, 5), lambda: sc.evaluation_batch(None, 5), lambda: sc.session_bank(None)):
        with pytest.raises(ValueError, match="needs full information: an impression log holds outcomes only"):
            call()
