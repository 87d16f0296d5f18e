"""Preferences are named and checked (SPEC §9), and the worst/best ratio beside DER.

A tiny log with three text groups of different sizes (so the count order differs from the
order anyone would write): preferences bound by name give the group utilities computed by
hand, whatever the order of the rows; bad rows, unknown names and groups without users are
refused naming the group; every output records the mapping.
"""

from __future__ import annotations

import json
import warnings

import jax
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jaxfair as jf
from jaxfair.cli import main
from jaxfair.named_prefs import bind_prefs, prefs_lines, prefs_title
from jaxfair.ratio import worst_best_ratio
from jaxfair.validation import UnnormalisedPrefs, UnnormalisedPrefsWarning, check_prefs

# Written order student, tech, other; by number of users: other (4), student (3), tech (2).
SIZES = {"student": 3, "tech": 2, "other": 4}
PREFS = {"student": [0.7, 0.3], "tech": [0.2, 0.8], "other": [0.4, 0.6]}
COLS = dict(user="user", group="grp", scores=["s_click", "s_like"], labels=["click", "like"])


def _log() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows, uid = [], 0
    for g, n in SIZES.items():
        for _ in range(n):
            for _ in range(3):
                rows.append(
                    dict(
                        user=f"u{uid}",
                        grp=g,
                        s_click=float(rng.integers(0, 8)),
                        s_like=float(rng.integers(0, 8)),
                        click=float(rng.integers(0, 2)),
                        like=float(rng.integers(0, 2)),
                    )
                )
            uid += 1
    return pd.DataFrame(rows)


def _by_hand(df: pd.DataFrame, alpha: np.ndarray, prefs: dict) -> dict:
    """Group utility by pandas: each user is served argmax α·f (first on ties), utility α*(g)·Y."""
    out = {}
    for g, rows in df.groupby("grp"):
        per_user = []
        for _, u in rows.groupby("user", sort=False):
            s = u[["s_click", "s_like"]].to_numpy() @ alpha
            y = u[["click", "like"]].to_numpy()[int(np.argmax(s))]
            per_user.append(float(np.dot(prefs[g], y)))
        out[g] = float(np.mean(per_user))
    return out


@pytest.fixture(scope="module")
def log_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("prefs") / "log.csv"
    _log().to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "order", [("student", "tech", "other"), ("other", "tech", "student"), ("tech", "other", "student")]
)
def test_named_prefs_reproduce_hand_computed_group_utilities_in_any_order(order):
    df = _log()
    alpha = np.array([0.6, 0.4])
    want = _by_hand(df, alpha, PREFS)
    # A mapping in any key order, and rows in the order of group_names (stated), agree with pandas.
    for kwargs in ({"prefs": {g: PREFS[g] for g in order}}, {"prefs": [PREFS[g] for g in order], "group_names": order}):
        sc = jf.scenarios.from_frame(df, replay=True, **COLS, **kwargs)
        for g in SIZES:
            assert sc.prefs_by_group()[g] == dict(zip(["click", "like"], PREFS[g], strict=True))
        ev = jf.evaluate(alpha[None], sc.sessions(), sc.prefs, group_names=sc.group_names)
        got = dict(zip(sc.group_names, np.asarray(ev.group_utility)[0].tolist(), strict=True))
        assert got == pytest.approx(want, abs=1e-6)


def test_positional_rows_refused_for_count_ordered_text_groups():
    with pytest.raises(ValueError, match=r"rows by position are ambiguous.*ordered by number of users.*group_names"):
        jf.scenarios.from_frame(_log(), prefs=[PREFS[g] for g in SIZES], **COLS)


@pytest.mark.parametrize(
    "prefs, kwargs, match",
    [
        ({**PREFS, "studnet": [0.5, 0.5]}, {}, r"'studnet' is not a group.*'other', 'student', 'tech'"),
        ({"student": [0.7, 0.3], "tech": [0.2, 0.8]}, {}, r"no row for group\(s\) 'other'"),
        ({**PREFS, "student": [0.7, 0.4]}, {}, r"group 'student' sums to 1.1"),
        ({**PREFS, "tech": [0.0, 0.0]}, {}, r"group 'tech' has all-zero weights"),
        ({**PREFS, "tech": [-0.2, 1.2]}, {}, r"group 'tech' has negative weights"),
        ([*PREFS.values(), [0.5, 0.5]], {"group_names": list(PREFS)}, r"expected 3 rows.*never becomes a group"),
    ],
)
def test_bad_prefs_refused_naming_the_group(prefs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        jf.scenarios.from_frame(_log(), prefs=prefs, **COLS, **kwargs)


@pytest.mark.filterwarnings("ignore::jaxfair.scenarios.logs.GroupCodesWarning")
def test_prefs_for_a_group_without_users_refused():
    df = _log().assign(retrieved=lambda f: np.where(f["grp"] == "tech", 0, 1))
    with pytest.raises(ValueError, match=r"group 'tech' has no users"):
        jf.scenarios.from_frame(df, prefs=PREFS, retrieved="retrieved", **COLS)


def test_allow_unnormalised_warns_once_and_travels_with_the_array():
    rows = {**PREFS, "student": [0.7, 0.4]}
    with pytest.warns(UnnormalisedPrefsWarning, match="group 'student' sums to 1.1"):
        sc = jf.scenarios.from_frame(_log(), prefs=rows, allow_unnormalised=True, replay=True, **COLS)
    assert isinstance(sc.prefs, UnnormalisedPrefs) and sc.describe()["prefs_normalised"] is False
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnnormalisedPrefsWarning)  # the array-level API accepts it quietly
        jf.evaluate([[0.5, 0.5]], sc.sessions(), sc.prefs)
    with pytest.raises(ValueError, match="sums to 1.1"):  # a plain copy is no opt-out
        jf.evaluate([[0.5, 0.5]], sc.sessions(), np.asarray(sc.prefs))
    assert not isinstance(sc.prefs * 2, UnnormalisedPrefs)  # derived arrays are plain


def test_with_prefs_and_load_bind_by_name():
    sc = jf.scenarios.load("toy", prefs={"minority": [0.3, 0.7], "majority": [0.9, 0.1]})
    np.testing.assert_allclose(sc.prefs, [[0.9, 0.1], [0.3, 0.7]])
    assert sc.describe()["prefs_by_group"]["minority"] == {"label0": 0.3, "label1": 0.7}
    with pytest.raises(ValueError, match=r"'minorty' is not a group"):
        sc.with_prefs({"majority": [0.9, 0.1], "minorty": [0.3, 0.7]})
    with pytest.raises(ValueError, match=r"group 'minority' sums to 1.2"):
        jf.scenarios.load("toy", prefs=[[0.8, 0.2], [0.4, 0.8]])
    with pytest.warns(UnnormalisedPrefsWarning):
        jf.scenarios.load("toy", prefs=[[0.8, 0.2], [0.4, 0.8]], allow_unnormalised=True)


def test_bind_and_format_helpers():
    arr = bind_prefs({"b": [0.2, 0.8], 1: [1.0, 0.0]}, ["1", "b"])
    np.testing.assert_allclose(arr, [[1.0, 0.0], [0.2, 0.8]])
    assert prefs_lines(["a", "b"], [[0.7, 0.3], [0.2, 0.8]]) == ["prefs: a = (0.7, 0.3)", "prefs: b = (0.2, 0.8)"]
    assert prefs_title(["a", "b"], [[0.7, 0.3], [0.2, 0.8]]) == "prefs: a=(0.7,0.3) b=(0.2,0.8)"
    assert check_prefs([[0.5, 0.5], [1 - 1e-7, 1e-7]]).shape == (2, 2)  # within the 1e-6 tolerance


UNNORMALISED = "student=0.7,0.4;tech=0.2,0.8;other=0.4,0.6"


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prefs_named_checked_echoed_and_recorded(log_csv, tmp_path, capsys):
    flags = ["--data", log_csv, "--user", "user", "--group", "grp", "--scores", "s_click,s_like"]
    flags += ["--labels", "click,like"]
    # Rows by position without --group-names: refused (the groups were ordered by count).
    code, _, err = _cli(capsys, "scenarios", *flags, "--prefs", "0.7,0.3;0.2,0.8;0.4,0.6")
    assert code == 2 and "--group-names" in err and err.startswith("jaxfair: error:"), err
    # A row summing to 1.1: exit 2, one line naming the group and its sum.
    code, _, err = _cli(
        capsys, "surface", *flags, "--prefs", "0.7,0.4;0.2,0.8;0.4,0.6", "--group-names", "student,tech,other"
    )
    assert code == 2 and err.count("\n") == 1 and "group 'student' sums to 1.1" in err, err
    code, _, err = _cli(capsys, "scenarios", *flags, "--prefs", "student=0.7,0.3;tech=0.2,0.8;othr=0.4,0.6")
    assert code == 2 and "'othr' is not a group" in err, err
    code, _, err = _cli(capsys, "scenarios", *flags, "--prefs", "student=0.7,0.3", "--allow-unnormalised-prefs")
    assert code == 2 and "no row for group(s) 'other', 'tech'" in err, err
    # The opt-out warns and still runs.
    code, _, err = _cli(
        capsys,
        "scenarios",
        *flags,
        "--prefs",
        "student=0.7,0.4;tech=0.2,0.8;other=0.4,0.6",
        "--allow-unnormalised-prefs",
    )
    assert code == 0 and "jaxfair: warning:" in err and "sums to 1.1" in err, err
    # Rows in --group-names order: echoed one line per group and recorded in summary.json.
    out = tmp_path / "surf"
    code, stdout, err = _cli(
        capsys,
        "surface",
        *flags,
        "--prefs",
        "0.7,0.3;0.2,0.8;0.4,0.6",
        "--group-names",
        "student,tech,other",
        "--users",
        200,
        "--grid",
        5,
        "--out",
        out,
    )
    assert code == 0, err
    for line in ("prefs: student = (0.7, 0.3)", "prefs: tech = (0.2, 0.8)", "prefs: other = (0.4, 0.6)"):
        assert line in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["prefs"] == {g: dict(zip(["click", "like"], PREFS[g], strict=True)) for g in PREFS}
    best = summary["best_utility"]
    assert best["worst_best_ratio"] == pytest.approx(worst_best_ratio(list(best["by_group"].values())))
    assert "worst/best group utility" in stdout
    direction = pd.read_csv(out / "direction.csv")
    # α weights the scores (s_click, s_like), the prefs the labels (click, like): each named by its own
    assert list(direction.columns[:6]) == ["w", "alpha_s_click", "alpha_s_like", "utility", "der", "worst_best_ratio"]


def test_dynamics_result_ratio_and_prefs_recorded():
    sc = jf.scenarios.load("toy", prefs={"majority": [0.9, 0.1], "minority": [0.1, 0.9]})
    from jaxfair.dynamics import simulate

    res = simulate(sc, np.array([[0.5, 0.5]]), periods=2, slots=50, bank_users=80, sessions_per_user=2, seed=0)
    assert res.config["prefs"]["minority"] == {"label0": 0.1, "label1": 0.9}
    np.testing.assert_allclose(res.worst_best_ratio, worst_best_ratio(res.group_utility))
    assert "worst_best_ratio" in res.summary_frame().columns and "worst_best_ratio" in res.to_frame().columns


# --- worst_best_ratio against a NumPy reference -------------------------------------------


def _ratio_ref(mu: np.ndarray) -> np.ndarray:
    out = np.full(mu.shape[:-1], np.nan)
    for idx in np.ndindex(*mu.shape[:-1]):
        v = mu[idx].astype(np.float64)
        if not np.isnan(v).any() and v.max() > 0:
            out[idx] = v.min() / v.max()
    return out


@given(
    st.integers(1, 5).flatmap(
        lambda g: st.lists(
            st.lists(st.one_of(st.floats(0, 10), st.just(0.0), st.just(float("nan"))), min_size=g, max_size=g),
            min_size=1,
            max_size=6,
        )
    )
)
def test_worst_best_ratio_matches_reference(rows):
    mu = np.array(rows, dtype=np.float64)
    np.testing.assert_allclose(worst_best_ratio(mu), _ratio_ref(mu), equal_nan=True)


def test_worst_best_ratio_edges():
    assert worst_best_ratio([0.6, 1.0]) == pytest.approx(0.6)  # DER ≈ 0.94 here
    assert np.isnan(worst_best_ratio([0.0, 0.0])) and np.isnan(worst_best_ratio([np.nan, 1.0]))
    assert worst_best_ratio([0.0, 2.0]) == 0.0 and worst_best_ratio([[1.0, 1.0]]).shape == (1,)
    with pytest.raises(ValueError, match="group_utility"):
        worst_best_ratio(np.zeros((2, 0)))
    assert np.asarray(jax.numpy.ones(3)).shape == (3,)  # the ratio takes host arrays of any origin


def test_unnormalised_mark_survives_pickling():
    """Scenario caches and Ray workers pickle prefs: the opt-out mark must travel, values exactly."""
    import pickle

    from jaxfair.engine.checks import UnnormalisedPrefs, _unnormalised

    marked = _unnormalised(np.array([[0.5, 0.6], [0.2, 0.8]]))
    back = pickle.loads(pickle.dumps(marked))
    assert isinstance(back, UnnormalisedPrefs)
    np.testing.assert_array_equal(back, marked)
    assert type(back + 0.0) is np.ndarray  # arithmetic still gives plain arrays
