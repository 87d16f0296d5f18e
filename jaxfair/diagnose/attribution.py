"""Component attribution (beyond the paper): how much of the gap closes if one stage is fixed?

Three components, each either as in production or replaced by an oracle:

* **retrieval** — production: the candidates the scenario's retrieval kept (``production``
  mask). Oracle: the ``m`` candidates with the highest Σ_k Y_k (what Def. 3.2's quality
  measures) among the user's larger candidate pool (``corpus`` mask) — hindsight-perfect
  retrieval of the same size m.
* **scoring** — production: the models' scores f. Oracle: f replaced by the observed labels
  Y (hindsight-perfect models).
* **serving** — production: one α for everyone. Oracle: each user served with their own
  group's α*(g), which the paper's no-group-personalisation assumption forbids in
  production (disparate treatment) but the simulator can measure.

All 2³ pipelines are evaluated on the same users; ``v(S) = gap(∅) − gap(S)`` is the gap
closed by the oracles in S. A component's Shapley share is its marginal contribution
averaged over the 3! orders; the three shares plus the ``residual`` (the gap left with all
three oracles: the groups' preferences and what their candidate pools can offer) add up to
the production gap exactly. The same is done for the loss of global utility against the full
oracle (shares add up to the loss, no residual).
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxfair.batch import Batch
from jaxfair.diagnose.weights import check_groups
from jaxfair.evaluate import resolve_slate
from jaxfair.kernels import slate_value, true_value
from jaxfair.validation import check_alpha, check_batch_prefs

__all__ = ["COMPONENTS", "Attribution", "attribute", "oracle_retrieval_mask", "random_retrieval_mask", "shapley"]

COMPONENTS = ("retrieval", "scoring", "serving")


@jax.jit
def _top_m_mask(priority, allowed, m_per_user):
    """``bool [N, M]``: the ``m_per_user[n]`` allowed candidates with the highest priority (ties: lowest index)."""
    key = jnp.where(allowed, priority, -jnp.inf)
    # Rank by (priority desc, index asc): a stable argsort of −priority.
    order = jnp.argsort(-key, axis=1, stable=True)
    rank = jnp.argsort(order, axis=1, stable=True)
    return allowed & (rank < m_per_user[:, None])


def oracle_retrieval_mask(labels: Any, corpus: Any, m: int) -> np.ndarray:
    """Oracle retrieval ``bool [N, M]``: per user the ``m`` corpus candidates with the highest Σ_k Y_k."""
    lab = jnp.asarray(labels)
    corpus = jnp.asarray(corpus, bool)
    n = corpus.shape[0]
    return np.asarray(_top_m_mask(jnp.sum(lab, -1), corpus, jnp.full((n,), m, jnp.int32)))


def random_retrieval_mask(key, corpus: Any, m: int) -> np.ndarray:
    """A uniformly random ``m``-subset of each user's corpus candidates (a scenario's default retrieval)."""
    corpus = jnp.asarray(corpus, bool)
    n = corpus.shape[0]
    return np.asarray(_top_m_mask(jax.random.uniform(key, corpus.shape), corpus, jnp.full((n,), m, jnp.int32)))


def shapley(value: Callable[[frozenset], float], players: Sequence[int] = (0, 1, 2)) -> np.ndarray:
    """Exact Shapley values: Σ_S |S|!(n−|S|−1)!/n! · (v(S ∪ {i}) − v(S)) over S ⊆ players \\ {i}."""
    n = len(players)
    phi = np.zeros(n)
    for i, p in enumerate(players):
        others = [q for q in players if q != p]
        for r in range(n):
            for s in itertools.combinations(others, r):
                wt = math.factorial(r) * math.factorial(n - r - 1) / math.factorial(n)
                phi[i] += wt * (value(frozenset(s) | {p}) - value(frozenset(s)))
    return phi


@dataclasses.dataclass(frozen=True)
class Attribution:
    """The 2³ pipelines and the components' Shapley shares.

    Attributes:
      alpha: float64 ``[K]``; groups ``(g1, g0)``.
      pipelines: DataFrame, one row per pipeline: oracle flags, ``utility`` (global),
        ``mu_g1``, ``mu_g0``, ``gap``.
      gap_shares: ``{component: share}`` of the production gap, plus ``"residual"``.
      loss_shares: ``{component: share}`` of the global-utility loss against the full oracle.
    """

    alpha: np.ndarray
    groups: tuple[int, int]
    pipelines: pd.DataFrame
    gap_shares: dict
    loss_shares: dict

    @property
    def gap(self) -> float:
        return float(self.pipelines.query("not retrieval and not scoring and not serving")["gap"].iloc[0])

    @property
    def blamed(self) -> str:
        """The component with the largest share of the gap, in the gap's direction (a negative gap:
        the most negative share)."""
        sign = -1.0 if self.gap < 0 else 1.0
        return max(COMPONENTS, key=lambda c: sign * self.gap_shares[c])

    def shares_frame(self) -> pd.DataFrame:
        rows = [{"component": c, "gap_share": self.gap_shares[c], "loss_share": self.loss_shares.get(c, 0.0)}
                for c in (*COMPONENTS, "residual")]
        return pd.DataFrame(rows)

    def summary(self) -> dict:
        return {"alpha": self.alpha.tolist(), "groups": list(self.groups), "gap": self.gap,
                "gap_shares": self.gap_shares, "loss_shares": self.loss_shares, "blamed": self.blamed,
                "pipelines": self.pipelines.to_dict(orient="records")}


def attribute(alpha: Any, batch: Batch, prefs: Any, *, groups: Sequence[int], m: int | None = None,
              production: Any = None, corpus: Any = None, slate: int = 1, position_weights: Any = "dcg",
              gamma: float = 0.8) -> Attribution:
    """Evaluate the 2³ oracle pipelines at one α and split the gap into Shapley shares.

    Args:
      alpha: ``[K]`` serving weights of production.
      batch: users × M candidates (the larger pool the retrieval oracle draws from).
      prefs: ``[G, K]`` true preferences; groups: ``(g1, g0)``.
      m: candidates the oracle retrieval keeps (default: the most any user has in
        ``production``).
      production: bool ``[N, M]`` production retrieval (default ``batch.mask``).
      corpus: bool ``[N, M]`` candidates the oracle may retrieve (default ``batch.mask``).
      slate, position_weights, gamma: U = the slate utility (SPEC §7; see
        :func:`jaxfair.evaluate`); the pipelines' utilities and the Shapley shares are then
        those of slates (no bound is involved). ``slate=1``: top-1, bit for bit.
    """
    if not isinstance(batch, Batch):
        raise ValueError(f"batch: expected a jaxfair.Batch, got {type(batch).__name__}")
    prefs_np = check_batch_prefs(batch, prefs)
    a = check_alpha(alpha, batch.n_labels)
    group = np.asarray(batch.group)
    g1, g0 = check_groups(group, groups, prefs_np.shape[0])
    shape = tuple(batch.mask.shape)
    masks = {}
    for name, v in (("production", production), ("corpus", corpus)):
        arr = np.asarray(batch.mask if v is None else v)
        if arr.shape != shape or arr.dtype != bool:
            raise ValueError(f"{name}: expected a bool mask of shape {shape} ([N, M]), got {arr.dtype} {arr.shape}")
        masks[name] = arr
    if m is None:
        m = int(masks["production"].sum(1).max())
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"m: expected an int >= 1, got {m!r}")
    oracle_mask = oracle_retrieval_mask(batch.labels, masks["corpus"], int(m))
    spec = resolve_slate(batch.replace(item_group=None), slate, position_weights, gamma)
    prefs_j = jnp.asarray(prefs_np, jnp.float32)
    alphas = jnp.asarray(np.vstack([a, prefs_np]), jnp.float32)  # row 0: production α; 1 + g: α*(g)
    rows = []
    for r, s in itertools.product((False, True), repeat=2):
        variant = Batch(scores=batch.labels if s else batch.scores, labels=batch.labels,
                        mask=jnp.asarray(oracle_mask if r else masks["production"]), group=batch.group)
        u = np.asarray(slate_value(alphas, variant.scores, variant.mask, true_value(variant, prefs_j), spec),
                       np.float64)  # [N, 1 + G]
        for v in (False, True):
            uu = u[np.arange(len(group)), 1 + group] if v else u[:, 0]
            mu1, mu0 = float(uu[group == g1].mean()), float(uu[group == g0].mean())
            rows.append({"retrieval": r, "scoring": s, "serving": v, "utility": float(uu.mean()),
                         "mu_g1": mu1, "mu_g0": mu0, "gap": mu1 - mu0})
    df = pd.DataFrame(rows)

    def lookup(col):
        table = {(row.retrieval, row.scoring, row.serving): getattr(row, col) for row in df.itertuples()}
        return lambda sset: table[tuple(i in sset for i in range(3))]

    gap, util = lookup("gap"), lookup("utility")
    gap_phi = shapley(lambda sset: gap(frozenset()) - gap(sset))
    loss_phi = shapley(lambda sset: util(sset) - util(frozenset()))
    gap_shares = {c: float(x) for c, x in zip(COMPONENTS, gap_phi)}
    gap_shares["residual"] = float(gap(frozenset({0, 1, 2})))
    loss_shares = {c: float(x) for c, x in zip(COMPONENTS, loss_phi)}
    return Attribution(alpha=a, groups=(g1, g0), pipelines=df, gap_shares=gap_shares, loss_shares=loss_shares)
