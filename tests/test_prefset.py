"""PrefSet (SPEC §9 "Preference sets"): validation naming member and group, constructors, file round trip, specs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxfair.preferences import PrefSet

POINT = np.array([[0.8, 0.2, 0.0], [0.1, 0.3, 0.6]])
NAMES = dict(group_names=["students", "tech"], label_names=["click", "like", "share"])


def test_explicit_keeps_members_names_and_is_read_only():
    ps = PrefSet.explicit([POINT, POINT[::-1]], **NAMES)
    assert ps.values.shape == (2, 2, 3) and ps.values.dtype == np.float64
    assert ps.group_names == ("students", "tech") and ps.label_names == ("click", "like", "share")
    np.testing.assert_array_equal(ps.values[1], POINT[::-1])
    with pytest.raises(ValueError):
        ps.values[0, 0, 0] = 1.0  # immutable


@pytest.mark.parametrize(
    "bad, match",
    [
        ([[0.8, 0.3], [0.5, 0.5]], r"member 1, group 'a': the row sums to 1\.1"),
        ([[0.5, 0.5], [1.2, -0.2]], r"member 1, group 'b', label 'y': expected a finite value >= 0, got -0\.2"),
        ([[0.5, 0.5], [np.nan, 1.0]], r"member 1, group 'b', label 'x'"),
        ([[0.0, 0.0], [0.5, 0.5]], r"member 1, group 'a': the row sums to 0"),
    ],
)
def test_rows_off_the_simplex_are_refused_naming_member_and_group(bad, match):
    good = [[0.5, 0.5], [0.5, 0.5]]
    with pytest.raises(ValueError, match=match):
        PrefSet.explicit([good, bad], group_names=["a", "b"], label_names=["x", "y"])


def test_names_must_fit_the_shape():
    with pytest.raises(ValueError, match="group_names: expected 2 names"):
        PrefSet.explicit([POINT], group_names=["a"])
    with pytest.raises(ValueError, match="repeated"):
        PrefSet.explicit([POINT], group_names=["a", "a"])


def test_dirichlet_keeps_the_point_as_member_0_and_zeros_at_zero():
    ps = PrefSet.dirichlet(POINT, 50.0, q=300, seed=1, **NAMES)
    assert ps.n_members == 300 and ps.kind == "dirichlet" and ps.params["concentration"] == 50.0
    np.testing.assert_array_equal(ps.values[0], POINT)
    assert (ps.values[:, 0, 2] == 0).all()  # a zero entry of the point stays 0
    assert np.abs(ps.values[1:].mean(axis=0) - POINT).max() < 0.02  # mean of Dir(c p) is p
    var = ps.values[1:, 1, 2].var()
    assert var == pytest.approx(0.6 * 0.4 / 51, rel=0.25)
    np.testing.assert_array_equal(ps.values, PrefSet.dirichlet(POINT, 50.0, q=300, seed=1).values)  # seeded
    assert not np.array_equal(ps.values, PrefSet.dirichlet(POINT, 50.0, q=300, seed=2).values)


def test_box_has_the_point_and_the_renormalised_corners():
    point = np.array([[0.7, 0.3], [0.4, 0.6]])
    ps = PrefSet.box(point, 0.1, q=64, seed=0)
    assert ps.params["vertices"] == 16  # 2^(G*K) = 16 <= min(128, 63 // 2)
    np.testing.assert_array_equal(ps.values[0], point)
    # corner (+d on label 0, -d on label 1) of group 0, renormalised
    assert np.isclose(ps.values[1:17, 0, 0], 0.8 / 1.0).any()
    assert np.isclose(ps.values[1:17, 0, 0], 0.6).any()
    with pytest.raises(ValueError, match="group 'g0'"):
        PrefSet.box([[0.5, 0.5], [0.9, 0.1]], 0.5)


def test_box_counts_corners_honestly():
    ps = PrefSet.box(POINT, 0.05, q=256, seed=0)
    assert ps.params["vertices"] == 64  # all 2^(2*3) corners fit under the cap
    wide = PrefSet.box(np.full((3, 3), 1 / 3), 0.1, q=256, seed=0)
    assert wide.params["vertices"] == 127  # 2^9 corners: a random 127 of them (cap = min(128, 255 // 2))


def test_file_round_trip_and_binding_by_name(tmp_path):
    ps = PrefSet.dirichlet(POINT, 20.0, q=17, seed=3, **NAMES)
    path = ps.to_file(tmp_path / "set.csv")
    back = PrefSet.from_file(path)
    np.testing.assert_array_equal(back.values, ps.values)  # exact float64 round trip
    assert back.group_names == ps.group_names and back.label_names == ps.label_names and back.kind == "file"
    swapped = PrefSet.from_file(path, group_names=["tech", "students"])
    np.testing.assert_array_equal(swapped.values[:, 0], ps.values[:, 1])
    with pytest.raises(ValueError, match=r"only in the file: \['students'\]"):
        PrefSet.from_file(path, group_names=["tech", "other"])


def test_file_errors_name_the_problem(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("member,group,label,value\n0,a,x,0.5\n0,a,y,0.5\n1,a,x,1.0\n")
    with pytest.raises(ValueError, match="expected every member x group x label once"):
        PrefSet.from_file(p)
    p.write_text("member,group,value\n0,a,1\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['label'\]"):
        PrefSet.from_file(p)
    p.write_text("member,group,label,value\n0,a,x,0.5\n0,a,y,0.6\n")
    with pytest.raises(ValueError, match=r"member 0, group 'a': the row sums to 1\.1"):
        PrefSet.from_file(p)


def test_parse_specs(tmp_path):
    d = PrefSet.parse("dirichlet:30:10", POINT, seed=4, **NAMES)
    assert d.kind == "dirichlet" and d.n_members == 10 and d.params["concentration"] == 30.0
    b = PrefSet.parse("box:0.05", POINT)
    assert b.kind == "box" and b.n_members == 256
    path = d.to_file(tmp_path / "d.csv")
    f = PrefSet.parse(f"file:{path}", POINT, **NAMES)
    np.testing.assert_array_equal(f.values, d.values)
    for spec, match in [
        ("gauss:3", "expected dirichlet:C"),
        ("dirichlet:x", "expected numbers"),
        ("dirichlet:-1", "--prefs-set: concentration"),
        ("box:0.1:1", "--prefs-set: q: expected an integer >= 2"),
        ("file:", "expected file:PATH"),
    ]:
        with pytest.raises(ValueError, match=match):
            PrefSet.parse(spec, POINT)
    with pytest.raises(ValueError, match=r"holds \[G, K\] = \[2, 3\] matrices, the prefs are \[2, 2\]"):
        PrefSet.parse(f"file:{path}", [[0.5, 0.5], [0.5, 0.5]])


def test_describe_is_json_ready():
    import json

    desc = PrefSet.dirichlet(POINT, 10.0, q=8, **NAMES).describe()
    json.dumps(desc, allow_nan=False)
    assert desc["n_members"] == 8 and desc["groups"] == ["students", "tech"]
    assert desc["per_group"]["students"]["share"] == {"min": 0.0, "median": 0.0, "max": 0.0}


@given(
    st.integers(2, 5),
    st.integers(1, 8),
    st.floats(0.5, 500.0),
    st.integers(0, 2**16),
)
def test_every_generated_member_is_on_the_simplex(g, k, c, seed):
    rng = np.random.default_rng(seed)
    point = rng.dirichlet(np.ones(k), size=g) if k > 1 else np.ones((g, 1))
    point[rng.random((g, k)) < 0.2] = 0.0  # some zero entries
    point[:, 0] += point.sum(axis=1) == 0  # never an all-zero row
    point /= point.sum(axis=1, keepdims=True)
    for ps in (PrefSet.dirichlet(point, c, q=16, seed=seed), PrefSet.box(point, 0.3 * point.max(axis=1).min(), q=16)):
        assert np.abs(ps.values.sum(axis=2) - 1).max() <= 1e-9 and (ps.values >= 0).all()
        np.testing.assert_array_equal(ps.values[0], point)
