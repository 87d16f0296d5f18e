"""The given prefs are the given prefs (issue #28.1): `--prefs P --prefs-set file:S` evaluates P
itself as member 0 — moved first when S holds it, added when it does not, and said so — so
surface, diagnose and dynamics report P where they say "the given prefs"."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from jaxfair import scenarios
from jaxfair.cli import main
from jaxfair.preferences.prefset import PointNotInSetWarning, PrefSet

P = np.array([[0.9, 0.1], [0.1, 0.9]])
P_TEXT = "0.9,0.1;0.1,0.9"
OTHERS = np.array([[[0.6, 0.4], [0.3, 0.7]], [[0.5, 0.5], [0.4, 0.6]]])  # neither is P
NAMES = dict(group_names=("majority", "minority"), label_names=("label0", "label1"))


def _file(tmp_path, members, name="S.csv"):
    return PrefSet(np.asarray(members, float), kind="explicit", **NAMES).to_file(tmp_path / name)


def test_file_set_without_the_point_gets_it_prepended_and_says_so(tmp_path):
    path = _file(tmp_path, OTHERS)
    with pytest.warns(PointNotInSetWarning, match="not in the file"):
        ps = PrefSet.parse(f"file:{path}", P, **{k: list(v) for k, v in NAMES.items()})
    assert ps.n_members == 3 and np.array_equal(ps.values[0], P)
    assert np.array_equal(ps.values[1:], OTHERS)
    assert ps.params["member_0"] == "the given prefs, added: not in the file"
    assert ps.describe()["member_0"] == P.tolist() and ps.params["q"] == 3


def test_file_set_holding_the_point_moves_it_first(tmp_path):
    near = P + np.array([[1e-12, -1e-12], [0.0, 0.0]])  # within 1e-9: the same prefs
    path = _file(tmp_path, [OTHERS[0], near, OTHERS[1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # P is in the set: nothing to warn about
        ps = PrefSet.parse(f"file:{path}", P)
    assert ps.n_members == 3 and np.array_equal(ps.values[0], P)
    assert np.array_equal(ps.values[1:], OTHERS)
    assert "member 1 of the file" in ps.params["member_0"]
    same = PrefSet.parse(f"file:{_file(tmp_path, [P, *OTHERS], 'T.csv')}", P)  # already first: as it is
    assert same.n_members == 3 and np.array_equal(same.values, [P, *OTHERS])
    assert same.params["member_0"] == "the given prefs"


def test_for_scenario_puts_the_scenarios_prefs_first_for_a_prefset_too():
    sc = scenarios.load("toy", prefs=P)
    given = PrefSet(OTHERS, kind="explicit", **NAMES)
    with pytest.warns(PointNotInSetWarning):
        ps = PrefSet.for_scenario(given, sc)
    assert np.array_equal(ps.values[0], P) and ps.n_members == 3


def _surface(tmp_path, name, *extra):
    out = tmp_path / name
    argv = ["surface", "--users", "400", "--grid", "9", "--prefs", P_TEXT, "--out", str(out), *extra]
    assert main(argv) == 0
    return json.loads((out / "summary.json").read_text()), out


def test_surface_marks_and_records_the_given_prefs(tmp_path, capsys):
    alone, _ = _surface(tmp_path, "alone")
    path = _file(tmp_path, OTHERS)
    s, out = _surface(tmp_path, "set", "--prefs-set", f"file:{path}")
    err = capsys.readouterr().err
    assert "not in the file" in err  # the note, on the console
    assert s["prefs_set"]["member_0"] == P.tolist() and s["prefs_set"]["n_members"] == 3
    assert s["prefs_set"]["params"]["member_0"] == "the given prefs, added: not in the file"
    assert s["best_utility"] == alone["best_utility"]  # the marked point is P's
    # member 0's own optimum (optima.csv) is the point's own best-utility α
    assert pd.read_csv(out / "optima.csv")["best_utility_alpha_label0"][0] == pytest.approx(alone["best_utility"]["w"])


def test_surface_without_prefs_takes_member_0_of_the_file_and_says_so(tmp_path, capsys):
    path = _file(tmp_path, OTHERS)
    out = tmp_path / "nop"
    assert main(["surface", "--users", "400", "--grid", "9", "--prefs-set", f"file:{path}", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "member 0 of" in err and "no --prefs" in err
    s = json.loads((out / "summary.json").read_text())
    assert s["prefs_set"]["n_members"] == 2 and s["prefs_set"]["member_0"] == OTHERS[0].tolist()
    assert s["prefs"]["majority"] == dict(zip(("label0", "label1"), OTHERS[0, 0].tolist(), strict=True))
    assert "member 0 of" in s["prefs_set"]["params"]["member_0"]
    assert not s["prefs_set"]["params"]["member_0"].startswith("the given prefs")


def test_dynamics_amplification_given_is_the_given_prefs(tmp_path):
    path = _file(tmp_path, OTHERS)
    base = ["dynamics", "--policies", "fixed:0.7,fixed:0.3", "--periods", "4", "--slots", "128"]
    base += ["--bank-users", "64", "--sessions-per-user", "4", "--prefs", P_TEXT]
    assert main(base + ["--out", str(tmp_path / "alone")]) == 0
    assert main(base + ["--prefs-set", f"file:{path}", "--out", str(tmp_path / "set")]) == 0
    alone = json.loads((tmp_path / "alone" / "summary.json").read_text())["horizon"]
    rec = json.loads((tmp_path / "set" / "summary.json").read_text())["prefs_set"]
    assert rec["members_run"] == 3
    for row in rec["table"]:
        want = next(r for r in alone if r["policy"] == row["policy"])[f"amplification_{row['group']}"]
        assert row["amplification_given"] == pytest.approx(want, abs=1e-12)


def test_diagnose_term5_of_member_0_is_the_given_prefs(tmp_path):
    from jaxfair.diagnose.pipeline import diagnose_scenario

    sc = scenarios.load("toy", covariate_shift=1.0, prefs=P)
    path = _file(tmp_path, OTHERS)
    with pytest.warns(PointNotInSetWarning):
        ps = PrefSet.for_scenario(f"file:{path}", sc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = diagnose_scenario(sc, prefs_set=ps, n_users=600, n_grid=5, n_boot=20, exact=True, pool_factor=2, seed=0)
    tab = d.prefs_set.table
    row = tab[(tab["member"] == 0) & (tab["point"] == "given") & (tab["term"] == "term5")].iloc[0]
    assert row["estimate"] == pytest.approx(d.points.terms[0, 1], abs=1e-6)
