"""A flat surface recommends nothing (issue #28.4): when every α serves alike (here: one candidate
per logged session), the console, summary.json and figures say the surface is flat and why, and
name no best α — for K = 2 and K = 3, with and without a preference set."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from jaxfair import scenarios
from jaxfair.cli import main
from jaxfair.surface import compute_surface
from jaxfair.surface.output import _figures

matplotlib.use("Agg")


def _one_candidate_log(k: int) -> pd.DataFrame:
    """40 users in two groups, one session each holding a single candidate."""
    rng = np.random.default_rng(0)
    n = 40
    df = pd.DataFrame({"user": np.arange(n), "group": np.where(np.arange(n) % 4 == 0, "b", "a")})
    for j in range(k):
        df[f"f{j}"] = rng.random(n)
        df[f"y{j}"] = rng.integers(0, 2, n)
    return df


def _prefs(k: int) -> dict:
    return {"a": [1.0 / k] * k, "b": [1.0] + [0.0] * (k - 1)}


def _flags(path, k):
    cols = ["--scores", ",".join(f"f{j}" for j in range(k)), "--labels", ",".join(f"y{j}" for j in range(k))]
    pr = ";".join(f"{g}=" + ",".join(str(v) for v in row) for g, row in _prefs(k).items())
    return ["--data", str(path), *cols, "--group", "group", "--user", "user", "--replay", "--prefs", pr]


def _texts(fig) -> str:
    """Every text drawn on a figure: titles, labels, legend entries, annotations."""
    out = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    return "\n".join(out)


@pytest.mark.parametrize("k", [2, 3])
def test_flat_surface_says_so_and_recommends_nothing(k, tmp_path, capsys):
    path = tmp_path / "one.csv"
    _one_candidate_log(k).to_csv(path, index=False)
    out = tmp_path / "s"
    assert main(["surface", *_flags(path, k), "--grid", "7", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "flat" in printed and "at most one retrieved candidate" in printed, printed
    assert "best utility" not in printed and "best DER" not in printed
    s = json.loads((out / "summary.json").read_text())
    assert s["best_utility"] is None and s["best_der"] is None
    assert "at most one retrieved candidate" in s["flat"]["reason"]
    assert 0 < s["flat"]["utility"] < 1 and set(s["flat"]["by_group"]) == {"a", "b"}
    sc = scenarios.from_file(path, user="user", group="group", scores=[f"f{j}" for j in range(k)],
                             labels=[f"y{j}" for j in range(k)], prefs=_prefs(k), replay=True)  # fmt: skip
    surf = compute_surface(sc, n_grid=7)
    for name, fig in _figures(surf).items():
        text = _texts(fig)
        assert "flat" in text, name
        for word in ("best-utility", "best utility", "DER-best", "robust choice"):
            assert word not in text, (name, word)


def test_flat_surface_over_a_set_has_no_robust_choice(tmp_path, capsys):
    path = tmp_path / "one.csv"
    _one_candidate_log(2).to_csv(path, index=False)
    out = tmp_path / "set"
    argv = ["surface", *_flags(path, 2), "--grid", "7", "--prefs-set", "dirichlet:20:8", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "flat" in printed and "robust choice" not in printed
    s = json.loads((out / "summary.json").read_text())
    assert s["robust_choice"] is None and s["statements"] == []
    assert (out / "over_set.csv").is_file() and not (out / "optimum_spread.png").exists()


def test_a_surface_that_is_not_flat_is_not_called_flat():
    s = compute_surface(scenarios.load("toy"), n_users=300, n_grid=5).summary
    assert s["flat"] is None and s["best_utility"]["utility"] > 0
