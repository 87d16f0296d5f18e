"""The real MovieLens 100K scenario, reduced forests (slow: builds from the raw files)."""

from __future__ import annotations

import jax
import pytest

from jaxfair import make_batch, scenarios
from jaxfair.scenarios.datapaths import resolve_dataset_dir


def _ml_dir():
    try:
        return resolve_dataset_dir("ml-100k", ["u.data", "u.item"], None, source="")
    except FileNotFoundError:
        return None


@pytest.mark.long
@pytest.mark.skipif(
    _ml_dir() is None,
    reason="MovieLens 100K (ml-100k/u.data, u.item) not found in $JAXFAIR_DATA, ../shared/data or the user cache dir",
)
def test_real_movielens_aucs_in_a_sane_band(tmp_path):
    # Reduced for test time: 10 trees and 2 negatives per rating (defaults: 300 and 5).
    sc = scenarios.load("movielens", cache_dir=tmp_path, n_trees=10, neg_ratio=2.0)
    assert sc.n_pool_users == 943
    assert abs(sc.prevalence[1] - 0.2) < 0.01
    t = sc.auc_table()
    for g in ("All", "majority", "minority"):
        assert 0.70 < t.loc[g, "auc_watched"] < 0.88, t
        assert 0.72 < t.loc[g, "auc_liked"] < 0.97, t
    # groups are random: per-group AUCs agree (the models are fair per group)
    assert abs(t.loc["majority", "auc_watched"] - t.loc["minority", "auc_watched"]) < 0.03
    b = sc.sample(jax.random.PRNGKey(0), 500)
    make_batch(b.scores, b.labels, b.mask, b.group)
    assert bool(b.mask.all())  # every MovieLens user has >= 20 pool rows
