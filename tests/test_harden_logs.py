"""Field-hardening (issue #14) of logs: data checks, group codes, studies bound to data content, CLI flags."""

from __future__ import annotations

import decimal
import json
import shutil
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxfair import scenarios
from jaxfair.bo.study import run_study
from jaxfair.cli import main
from jaxfair.scenarios.logs import DuplicateRowsWarning, GroupCodesWarning

COLS = dict(user="u", group="g", scores=["s0", "s1"], labels=["y0", "y1"])
FLAGS = ["--scores", "s0,s1", "--labels", "y0,y1", "--group", "g", "--user", "u"]
# Logs carry no preferences (issue #28.2): rows for the integer groups 0/1 (or 1/2), by position.
PCOLS = dict(COLS, prefs=[[0.8, 0.2], [0.2, 0.8]])
PFLAGS = [*FLAGS, "--prefs", "0.8,0.2;0.2,0.8"]
TINY_BO = [
    "--methods",
    "random",
    "--trials",
    "1",
    "--iterations",
    "0",
    "--n-init",
    "2",
    "--users",
    "50",
    "--exact-users",
    "100",
]


def _logs(n_users: int = 12, per_user: int = 4, seed: int = 0, groups=(0, 1)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(n_users), per_user)
    return pd.DataFrame(
        {
            "u": u,
            "g": np.asarray(groups)[u % len(groups)],
            "s0": rng.normal(size=u.size),
            "s1": rng.normal(size=u.size),
            "y0": rng.integers(0, 2, u.size),
            "y1": rng.integers(0, 2, u.size),
            "r": np.ones(u.size, int),
            "x": (u % 2).astype(float),
        }
    )


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    # The echo of the preference mapping ("prefs: GROUP = (...)") precedes any later error line.
    err = "".join(line for line in err.splitlines(keepends=True) if not line.startswith("prefs: "))
    return code, out, err


# 1. a study is bound to the content of its data, not to a path string


def test_study_resumes_same_file_under_another_path_and_refuses_an_edited_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _logs().to_parquet("logs.parquet")
    out = tmp_path / "study"
    argv = ["bo", "--data", "logs.parquet", *PFLAGS, *TINY_BO, "--out", str(out)]
    code, _, err = _cli(capsys, *argv)
    assert code == 0, err
    cfg = json.loads((out / "study.json").read_text())
    assert cfg["data"]["name"] == "logs.parquet" and len(cfg["data"]["sha256"]) == 64
    assert "logs.parquet" not in json.dumps(cfg["scenario_options"])  # no path string in the identity
    # The same file spelled differently, or copied elsewhere: resumes (nothing left to run).
    code, _, err = _cli(capsys, *[("./logs.parquet" if a == "logs.parquet" else a) for a in argv])
    assert code == 0, err
    (tmp_path / "copy").mkdir()
    shutil.copy("logs.parquet", "copy/logs.parquet")
    code, _, err = _cli(
        capsys, *[(str(tmp_path / "copy" / "logs.parquet") if a == "logs.parquet" else a) for a in argv]
    )
    assert code == 0, err
    # Edited in place: refused in one line saying what changed.
    df = _logs()
    df.loc[0, "s0"] += 1.0
    df.to_parquet("logs.parquet")
    code, _, err = _cli(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("jaxfair: error: out: data file logs.parquet changed since"), err
    assert "sha256" in err and "use a new --out" in err
    # Other scenario options are still part of the identity.
    _logs().to_parquet("logs.parquet")
    code, _, err = _cli(
        capsys, *[a for a in argv if a not in ("--out", str(out))], "--out", str(out), "--option", "n_candidates=3"
    )
    assert code == 2 and "different configuration" in err


def test_study_of_an_older_jaxfair_is_refused_with_a_reason(tmp_path, capsys):
    _logs().to_csv(tmp_path / "l.csv", index=False)
    out = tmp_path / "old"
    out.mkdir()
    (out / "study.json").write_text(json.dumps({"scenario": "logs-l", "scenario_options": {"data": "l.csv"}}))
    code, _, err = _cli(capsys, "bo", "--data", str(tmp_path / "l.csv"), *PFLAGS, *TINY_BO, "--out", str(out))
    assert code == 2 and "older jaxfair" in err and err.count("\n") == 1, err


def test_study_from_frame_is_bound_to_the_frame(tmp_path):
    kw = dict(trials=1, iterations=0, n_init=2, users_per_eval=50, exact_users=100, progress=False)
    run_study(scenarios.from_frame(_logs(), **PCOLS), ["random"], out=tmp_path, **kw)
    run_study(scenarios.from_frame(_logs(), **PCOLS), ["random"], out=tmp_path, **kw)  # same values: resumes
    with pytest.raises(ValueError, match="logged data differs"):
        run_study(scenarios.from_frame(_logs(seed=1), **PCOLS), ["random"], out=tmp_path, **kw)


# 2. repeated identical rows


def test_duplicated_rows_warn_and_can_be_allowed(tmp_path):
    df = _logs()
    doubled = pd.concat([df, df], ignore_index=True)
    with pytest.warns(
        DuplicateRowsWarning,
        match=r"48 of 96 rows repeat.*data row 49 repeats data row 1.*"
        r"allow_duplicates=True",
    ):
        scenarios.from_frame(doubled, **PCOLS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scenarios.from_frame(doubled, **PCOLS, allow_duplicates=True)
        scenarios.from_frame(df, **PCOLS)  # no repeats: no warning
        doubled["item"] = np.arange(len(doubled))
        scenarios.from_frame(doubled, **PCOLS, candidate="item")  # distinct candidates: genuine


@pytest.mark.parametrize("session", [True, False])
def test_duplicated_rows_in_replay_speak_of_sessions(session):
    """A replay has no pool: a repeated row is a second candidate in the same logged session."""
    df = _logs()
    doubled = pd.concat([df, df], ignore_index=True)
    doubled["sess"] = doubled[COLS["user"]]
    kw = dict(PCOLS, replay=True, **({"session": "sess"} if session else {}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scenarios.from_frame(doubled, **kw)
    text = " ".join(str(c.message) for c in caught if issubclass(c.category, DuplicateRowsWarning))
    assert "a repeated row becomes a second candidate in the same session" in text, text
    assert "doubles every session" in text and "pool holds" not in text, text
    with pytest.warns(DuplicateRowsWarning, match="the user's pool holds it twice"):
        scenarios.from_frame(doubled, **PCOLS)  # a pool: the pool wording stays


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_duplicate_warning_iff_pandas_finds_repeated_rows_property(data):
    n = data.draw(st.integers(2, 20))
    vals = st.lists(st.sampled_from([0.0, -0.0, 0.5, 1.0]), min_size=n, max_size=n)
    df = pd.DataFrame(
        {
            "u": data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)),
            "s0": data.draw(vals),
            "s1": data.draw(vals),
            "y0": data.draw(vals),
            "y1": data.draw(vals),
        }
    )
    df.loc[:1, "u"] = [0, 1]
    df["g"] = df["u"] % 2
    expected = (df[["u", "s0", "s1", "y0", "y1"]] + 0.0).duplicated().any()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scenarios.from_frame(df, **PCOLS)
    assert any(issubclass(c.category, DuplicateRowsWarning) for c in caught) == expected


def test_duplicated_rows_cli_warns_in_one_line(tmp_path, capsys):
    df = _logs()
    pd.concat([df, df]).to_csv(tmp_path / "twice.csv", index=False)
    code, _, err = _cli(capsys, "scenarios", "--data", str(tmp_path / "twice.csv"), *PFLAGS)
    assert code == 0
    assert [line for line in err.splitlines() if "repeat" in line][0].startswith("jaxfair: warning: rows: 48 of 96")
    code, _, err = _cli(capsys, "scenarios", "--data", str(tmp_path / "twice.csv"), *PFLAGS, "--allow-duplicates")
    assert code == 0 and "repeat" not in err


# 5. text / decimal score columns, 6. float32 overflow


def test_text_and_decimal_score_columns(tmp_path, capsys):
    df = _logs()
    text = df.assign(s1=df["s1"].map(repr))
    with pytest.raises(ValueError, match=r"column 's1' is not numeric: it holds text such as '.*' \(data row 1\)"):
        scenarios.from_frame(text, **PCOLS)
    text.to_parquet(tmp_path / "text.parquet")
    code, _, err = _cli(capsys, "surface", "--data", str(tmp_path / "text.parquet"), *FLAGS)
    assert code == 2 and err.count("\n") == 1 and "column 's1' is not numeric" in err
    # Decimal columns (Parquet decimal128) are converted: they are numbers.
    dec = df.assign(s0=[decimal.Decimal(f"{v:.3f}") for v in df["s0"]])
    dec.to_parquet(tmp_path / "dec.parquet")
    sc = scenarios.from_file(tmp_path / "dec.parquet", **PCOLS)
    np.testing.assert_allclose(np.sort(sc.arrays["scores"][:, 0]), np.sort(df["s0"].round(3)), atol=1e-6)
    bad = df.assign(s0=["x"] + [1.0] * (len(df) - 1))
    with pytest.raises(ValueError, match=r"column 's0' is not numeric \(data row 1 has 'x'\)"):
        scenarios.from_frame(bad, **PCOLS)


def test_score_beyond_float32_is_rejected_naming_column_and_row(tmp_path, capsys):
    df = _logs()
    df.loc[2, "s1"] = 1e39
    with pytest.raises(ValueError, match=r"scores: column 's1' has 1e\+39 at data row 3, beyond float32's range"):
        scenarios.from_frame(df, **PCOLS)
    df.to_csv(tmp_path / "big.csv", index=False)
    code, _, err = _cli(capsys, "scenarios", "--data", str(tmp_path / "big.csv"), *FLAGS)
    assert code == 2 and err.count("\n") == 1 and "data row 3" in err


# 9. --prefs and --group-names on `scenarios --data`; 10. group codes


def test_scenarios_data_takes_prefs_and_group_names(tmp_path, capsys):
    _logs(groups=("a", "b", "c")).to_csv(tmp_path / "three.csv", index=False)
    code, _, err = _cli(capsys, "scenarios", "--data", str(tmp_path / "three.csv"), *FLAGS)
    assert code == 2 and "prefs: required" in err
    code, out, err = _cli(
        capsys,
        "scenarios",
        "--data",
        str(tmp_path / "three.csv"),
        *FLAGS,
        "--prefs",
        "1,0;0,1;0.5,0.5",
        "--group-names",
        "c,b,a",
    )
    assert code == 0, err
    described = json.loads(out[: out.index("AUC table")])
    assert described["groups"] == ["c", "b", "a"]
    assert described["build"]["group_ids"] == {"c": 0, "b": 1, "a": 2}


def test_groups_coded_1_2_are_mapped_and_said(capsys, tmp_path):
    df = _logs(groups=(1, 2))
    with pytest.warns(
        GroupCodesWarning,
        match=r"codes \[1, 2\] are not 0..1; mapped them in sorted order "
        r"\(1 → 0, 2 → 1\)",
    ):
        sc = scenarios.from_frame(df, **PCOLS)
    assert sc.group_names == ("1", "2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sc = scenarios.from_frame(df, **PCOLS, group_names=[2, 1])  # the given order, no warning
    assert sc.group_names == ("2", "1")
    df.to_csv(tmp_path / "g12.csv", index=False)
    code, _, err = _cli(capsys, "scenarios", "--data", str(tmp_path / "g12.csv"), *PFLAGS, "--group-names", "2,1")
    assert code == 0 and "mapped" not in err, err


def test_a_group_with_no_retrieved_rows_is_named_as_dropped():
    df = _logs(groups=("a", "b"))
    df.loc[df["g"] == "b", "r"] = 0
    with pytest.raises(
        ValueError,
        match=r"at least 2 groups, the data has only \['a'\]; group\(s\) \['b'\] have "
        r"no retrieved row",
    ):
        scenarios.from_frame(df, **COLS, retrieved="r")
    df3 = _logs(groups=("a", "b", "c"))
    df3.loc[df3["g"] == "c", "r"] = 0
    with pytest.warns(
        GroupCodesWarning,
        match=r"dropped group\(s\) \['c'\]: every row of their 4 user\(s\) has "
        r"retrieved = 0",
    ):
        sc = scenarios.from_frame(df3, **COLS, retrieved="r", prefs={"a": [0.8, 0.2], "b": [0.2, 0.8]})
    assert sc.group_names == ("a", "b") and sc.info["groups_dropped"] == ["c"]


def test_messages_show_plain_values_and_rows():
    df = _logs()
    df.loc[5, "g"] = 1 - df.loc[5, "g"]  # user 1 (rows 4-7) in two groups, from data row 6
    with pytest.raises(ValueError) as info:
        scenarios.from_frame(df, **PCOLS)
    msg = str(info.value)
    assert "user 1 appears in more than one group" in msg and "data row 5" in msg and "data row 6" in msg, msg
    assert "np.int64" not in msg
    df = _logs()
    df["item"] = 7
    with pytest.raises(ValueError, match=r"user 0 has candidate 7 twice"):
        scenarios.from_frame(df, **PCOLS, candidate="item")


# 4. --option for keys that have their own flag; 14. --data-dir, distinct default directories


@pytest.mark.parametrize("option,flag", [("prefs=[[0.7,0.3],[0.3,0.7]]", "--prefs"), ("seed=3", "--seed")])
def test_option_with_its_own_flag_names_the_flag(capsys, option, flag):
    code, _, err = _cli(capsys, "surface", "--scenario", "toy", "--option", option)
    assert code == 2 and err.count("\n") == 1 and f"use {flag} instead" in err, err


def test_option_with_its_own_flag_in_bo_and_logs(capsys, tmp_path):
    code, _, err = _cli(capsys, "bo", "--scenario", "toy", "--option", "seed=3", "--out", str(tmp_path))
    assert code == 2 and "use --scenario-seed instead" in err, err
    _logs().to_csv(tmp_path / "l.csv", index=False)
    code, _, err = _cli(capsys, "surface", "--data", str(tmp_path / "l.csv"), *FLAGS, "--option", "replay=true")
    assert code == 2 and "use --replay instead" in err, err
    code, _, err = _cli(capsys, "scenarios", "--describe", "toy", "--option", "seed=1")
    assert code == 2 and "use --seed instead" in err, err


def test_data_dir_flag_and_message(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = _cli(capsys, "surface", "--scenario", "modcloth", "--data-dir", str(tmp_path / "none"))
    assert code == 2 and "--data-dir DIR" in err and str(tmp_path / "none") in err, err
    code, _, err = _cli(capsys, "surface", "--scenario", "toy", "--data-dir", str(tmp_path))
    assert code == 2 and "--data-dir: scenario 'toy' reads no data files" in err, err


@pytest.mark.parametrize(
    "argv",
    [
        ("surface", "--scenario", "synthetic"),
        ("diagnose", "--scenario", "synthetic"),
        ("dynamics", "--scenario", "synthetic"),
        ("bo", "--scenario", "synthetic"),
        ("surface", "--scenario", "electronics-standin"),
        ("surface",),  # the default scenario (toy)
        ("scenarios", "--describe", "toy"),
        ("scenarios", "--auc", "synthetic"),
    ],
)
def test_data_dir_refused_alike_by_every_command(tmp_path, capsys, monkeypatch, argv):
    """One check where the scenario is built from the flags: a scenario that reads no files
    refuses --data-dir in every command, with the same line (surface and diagnose let it through)."""
    monkeypatch.chdir(tmp_path)
    name = argv[2] if len(argv) > 2 else "toy"
    code, _, err = _cli(capsys, *argv, "--data-dir", str(tmp_path))
    # The whole of stderr: one line (bo refuses before importing BoTorch, whose import could warn).
    assert (code, err) == (2, f"jaxfair: error: --data-dir: scenario {name!r} reads no data files\n")
    assert not (tmp_path / "results").exists()  # refused before anything is written


def test_reads_data_files_is_declared_for_every_builtin():
    from jaxfair import scenarios

    declared = {n: scenarios.reads_data_files(n) for n in scenarios.available()}
    assert declared == {
        "toy": False,
        "synthetic": False,
        "movielens": True,
        "modcloth": True,
        "electronics": True,
        "modcloth-standin": False,
        "electronics-standin": False,
    }


def test_pool_and_replay_default_to_different_directories():
    from jaxfair.cli import build_parser
    from jaxfair.utils.cliargs import scenario_label

    p = build_parser()
    pool = p.parse_args(["surface", "--data", "a/logs.csv"])
    replay = p.parse_args(["surface", "--data", "a/logs.csv", "--replay"])
    assert scenario_label(pool) == "logs-logs" and scenario_label(replay) == "logs-logs-replay"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
