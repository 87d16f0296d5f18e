"""One serving path per surface (issue #28.3): the point's table (direction.csv / simplex.csv) and
the set's table (over_set.csv) come from the same served candidates, so a set holding exactly the
prefs reproduces the point's numbers to 1e-6 — for the exact K = 2 sweep, the grid kernel, slates,
K = 3, and pool and replay logs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaxfair import scenarios
from jaxfair.preferences.prefset import PrefSet
from jaxfair.surface import compute_surface
from jaxfair.utils.alpha_names import alpha_columns

LOGS = Path(__file__).resolve().parents[1] / "examples" / "logs.csv"
LOG_COLUMNS = dict(
    user="user_id",
    group="group",
    scores=["f_click", "f_like"],
    labels=["click", "like"],
    retrieved="retrieved",
    prefs={"majority": [0.8, 0.2], "minority": [0.2, 0.8]},
)


def _scenario(name):
    if name == "toy-k3":
        return scenarios.load("toy", n_labels=3)
    if name == "pool-log":
        return scenarios.from_file(LOGS, **LOG_COLUMNS, n_candidates=8)
    if name == "replay-log":
        return scenarios.from_file(LOGS, **LOG_COLUMNS, session="session", replay=True)
    return scenarios.load("toy")


@pytest.mark.parametrize(
    "name, kw",
    [
        ("toy", {}),  # the exact sweep (K = 2 default): 4e-5 apart before the fix
        ("toy", {"method": "grid"}),
        ("toy", {"slate": 3}),
        ("toy-k3", {"n_grid": 31}),
        ("pool-log", {}),
        ("replay-log", {}),
    ],
)
def test_point_table_and_over_set_agree_for_a_set_of_the_prefs(name, kw):
    sc = _scenario(name)
    p = np.asarray(sc.prefs, np.float64)
    ps = PrefSet.explicit([p, p], group_names=sc.group_names, label_names=sc.label_names)
    surf = compute_surface(sc, n_users=20_000, prefs_set=ps, **kw)
    point = surf.direction if sc.n_labels == 2 else surf.simplex
    over = surf.over_set
    acols = alpha_columns(sc.score_names)  # α is named by the scores it weights
    np.testing.assert_array_equal(point[acols].to_numpy(), over[acols].to_numpy())
    for metric in ("utility", "der", "worst_best_ratio"):
        for stat in ("min", "median", "max"):
            np.testing.assert_allclose(
                over[f"{metric}_{stat}"], point[metric], rtol=0, atol=1e-6, err_msg=f"{name} {kw}: {metric}_{stat}"
            )
    # the statements then hold for every member: the set's optimum is the point's
    assert all(st["robust"] for st in surf.summary["statements"][:2])
