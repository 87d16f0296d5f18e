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
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxfair.diagnose.decompose import bootstrap_counts, check_clusters
from jaxfair.diagnose.weights import check_groups
from jaxfair.engine.batch import Batch
from jaxfair.engine.kernels import slate_value, true_value
from jaxfair.evaluate import resolve_slate
from jaxfair.validation import check_alpha, check_batch_prefs

__all__ = [
    "COMPONENTS",
    "VERDICT_RULE",
    "Attribution",
    "attribute",
    "blame_verdict",
    "oracle_retrieval_mask",
    "random_retrieval_mask",
    "shapley",
    "shapley_matrix",
]

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


def shapley_matrix(n: int = 3) -> np.ndarray:
    """``[n, 2**n]``: Shapley values are linear in v, ``φ = W @ v`` with v indexed by the bit mask of S."""
    eye = np.eye(2**n)
    cols = [shapley(lambda sset, e=e: e[sum(1 << i for i in sset)], tuple(range(n))) for e in eye]
    return np.stack(cols, axis=1)


#: ``φ = _SHAPLEY @ v``; v[b] = v(S) for the oracle set S with bit i set for component i.
_SHAPLEY = shapley_matrix(3)
#: Bit mask of each of the 8 pipelines in the row order of :func:`attribute` (retrieval, scoring, serving).
_ROW_BITS = np.array([r | (s << 1) | (v << 2) for r, s in itertools.product((0, 1), repeat=2) for v in (0, 1)])


def _interval(boot: np.ndarray, level: float) -> np.ndarray:
    """Percentile interval ``[..., 2]`` of bootstrap replicates ``[B, ...]`` (NaN when B = 0)."""
    if boot.shape[0] == 0:
        return np.full(boot.shape[1:] + (2,), np.nan)
    q = (1 - level) / 2
    return np.moveaxis(np.quantile(boot, [q, 1 - q], axis=0), 0, -1)


@dataclasses.dataclass(frozen=True)
class Attribution:
    """The 2³ pipelines, the components' Shapley shares, their bootstrap CIs and the verdict.

    Attributes:
      alpha: float64 ``[K]``; groups ``(g1, g0)``.
      pipelines: DataFrame, one row per pipeline: oracle flags, ``utility`` (global),
        ``mu_g1``, ``mu_g0``, ``gap``.
      gap_shares: ``{component: share}`` of the production gap, plus ``"residual"``.
      loss_shares: ``{component: share}`` of the global-utility loss against the full oracle.
      gap_ci: percentile CI of the production gap (NaN without bootstrap).
      gap_share_ci, loss_share_ci: ``{name: (lo, hi)}`` percentile CIs of the shares.
      boot_gap_shares: float64 ``[B, 4]`` replicates of the gap shares (:data:`COMPONENTS` +
        residual); boot_gap ``[B]``; boot_loss_shares ``[B, 3]``.
      level, n_boot: CI level and B.
    """

    alpha: np.ndarray
    groups: tuple[int, int]
    pipelines: pd.DataFrame
    gap_shares: dict
    loss_shares: dict
    gap_ci: tuple = (np.nan, np.nan)
    gap_share_ci: dict = dataclasses.field(default_factory=dict)
    loss_share_ci: dict = dataclasses.field(default_factory=dict)
    boot_gap_shares: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 4)))
    boot_gap: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    boot_loss_shares: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 3)))
    level: float = 0.95
    n_boot: int = 0

    @property
    def gap(self) -> float:
        return float(self.pipelines.query("not retrieval and not scoring and not serving")["gap"].iloc[0])

    @property
    def largest(self) -> str:
        """The component with the largest share of the gap, in the gap's direction (a negative gap:
        the most negative share) — a point estimate, not a verdict (see :attr:`verdict`)."""
        sign = -1.0 if self.gap < 0 else 1.0
        return max(COMPONENTS, key=lambda c: sign * self.gap_shares[c])

    @property
    def verdict(self) -> tuple[str | None, str]:
        """``(blamed component or None, sentence)`` by the rule of :func:`blame_verdict`."""
        return blame_verdict(self.gap, self.gap_shares, self.boot_gap, self.boot_gap_shares, self.level)

    @property
    def blamed(self) -> str | None:
        """The component the bootstrap backs as the largest share of the gap, else None (:func:`blame_verdict`)."""
        return self.verdict[0]

    def shares_frame(self) -> pd.DataFrame:
        rows = []
        for c in (*COMPONENTS, "residual"):
            glo, ghi = self.gap_share_ci.get(c, (np.nan, np.nan))
            llo, lhi = self.loss_share_ci.get(c, (np.nan, np.nan)) if c != "residual" else (np.nan, np.nan)
            rows.append(
                {
                    "component": c,
                    "gap_share": self.gap_shares[c],
                    "gap_share_ci_low": glo,
                    "gap_share_ci_high": ghi,
                    "loss_share": self.loss_shares.get(c, 0.0),
                    "loss_share_ci_low": llo,
                    "loss_share_ci_high": lhi,
                }
            )
        return pd.DataFrame(rows)

    def summary(self) -> dict:
        def ci(pair):
            return [None if not np.isfinite(v) else float(v) for v in pair]

        blamed, sentence = self.verdict
        return {
            "alpha": self.alpha.tolist(),
            "groups": list(self.groups),
            "gap": self.gap,
            "gap_ci": ci(self.gap_ci),
            "level": self.level,
            "n_boot": self.n_boot,
            "gap_shares": {
                c: {"estimate": v, "ci": ci(self.gap_share_ci.get(c, (np.nan, np.nan)))}
                for c, v in self.gap_shares.items()
            },
            "loss_shares": {
                c: {"estimate": v, "ci": ci(self.loss_share_ci.get(c, (np.nan, np.nan)))}
                for c, v in self.loss_shares.items()
            },
            "blamed": blamed,
            "verdict": sentence,
            "verdict_rule": VERDICT_RULE,
            "largest_share_point_estimate": self.largest,
            "pipelines": self.pipelines.to_dict(orient="records"),
        }


VERDICT_RULE = (
    "a component is blamed only when (1) the gap's CI excludes 0, (2) its Shapley share's CI excludes 0 "
    "on the gap's side, and (3) it is the largest share in the gap's direction by the bootstrap: for every "
    "other component the CI of the paired difference of the two shares (same resamples) lies on the "
    "gap's side of 0. Otherwise the verdict is 'inconclusive' and says which step failed."
)


def blame_verdict(
    gap: float, shares: dict, boot_gap: np.ndarray, boot_shares: np.ndarray, level: float = 0.95
) -> tuple[str | None, str]:
    """The verdict rule (:data:`VERDICT_RULE`): ``(component or None, sentence)``.

    Args:
      gap: the production gap; shares: ``{component: share}`` (point estimates).
      boot_gap: ``[B]`` bootstrap replicates of the gap; boot_shares: ``[B, >= 3]`` replicates
        of the shares of :data:`COMPONENTS` (columns in that order), the same resamples.
      level: CI level of every interval used.
    """
    boot_gap = np.asarray(boot_gap, np.float64)
    boot_shares = np.asarray(boot_shares, np.float64)
    if boot_gap.shape[0] == 0:
        return None, "inconclusive (no bootstrap CIs: n_boot = 0)"
    glo, ghi = _interval(boot_gap, level)
    if glo <= 0 <= ghi:
        return None, f"inconclusive (gap CI [{glo:+.4f}, {ghi:+.4f}] contains 0)"
    sign = 1.0 if glo > 0 else -1.0
    signed = sign * boot_shares[:, :3]  # [B, 3], > 0: in the gap's direction
    top = max(range(3), key=lambda i: sign * shares[COMPONENTS[i]])
    lo_top = _interval(signed[:, top], level)[0]
    if not lo_top > 0:
        return None, (
            f"inconclusive (the largest share, {COMPONENTS[top]}, has a CI that contains 0 or lies against the gap)"
        )
    overlap = [
        COMPONENTS[j] for j in range(3) if j != top and not _interval(signed[:, top] - signed[:, j], level)[0] > 0
    ]
    if overlap:
        return None, f"inconclusive (shares overlap: {COMPONENTS[top]} vs {', '.join(overlap)})"
    return COMPONENTS[top], f"blames {COMPONENTS[top]}"


def attribute(
    alpha: Any,
    batch: Batch,
    prefs: Any,
    *,
    groups: Sequence[int],
    m: int | None = None,
    production: Any = None,
    corpus: Any = None,
    n_boot: int = 0,
    key: Any = None,
    level: float = 0.95,
    clusters: Any = None,
    slate: int = 1,
    position_weights: Any = "dcg",
    gamma: float = 0.8,
) -> Attribution:
    """Evaluate the 2³ oracle pipelines at one α and split the gap into Shapley shares.

    Args:
      alpha: ``[K]`` serving weights of production.
      batch: users × M candidates (the larger pool the retrieval oracle draws from).
      prefs: ``[G, K]`` true preferences; groups: ``(g1, g0)``.
      m: candidates the oracle retrieval keeps (default: the most any user has in
        ``production``).
      production: bool ``[N, M]`` production retrieval (default ``batch.mask``).
      corpus: bool ``[N, M]`` candidates the oracle may retrieve (default ``batch.mask``).
      n_boot: bootstrap resamples for the CIs of the gap and of every share (0: none, and the
        verdict is then "inconclusive"). The resampling unit is that of
        :func:`~jaxfair.diagnose.decompose.decompose` (users within their group, or whole
        ``clusters``), drawn by the same :func:`~jaxfair.diagnose.decompose.bootstrap_counts`:
        with the same ``key`` both see the same resamples. All 8 pipelines and all resamples
        are one ``[B, N] @ [N, 8]`` product (shares are linear in the pipelines' values).
      key: PRNG key of the bootstrap (default ``PRNGKey(0)``); level: CI level in (0, 1).
      clusters: optional int ``[N]`` resampling units (e.g. the pool user of each session).
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
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot: expected an int >= 0, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: expected 0 < level < 1, got {level!r}")
    clusters = check_clusters(clusters, group)
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
    flags, per_user = [], []
    for r, s in itertools.product((False, True), repeat=2):
        variant = Batch(
            scores=batch.labels if s else batch.scores,
            labels=batch.labels,
            mask=jnp.asarray(oracle_mask if r else masks["production"]),
            group=batch.group,
        )
        u = np.asarray(
            slate_value(alphas, variant.scores, variant.mask, true_value(variant, prefs_j), spec), np.float64
        )  # [N, 1 + G]
        for v in (False, True):
            per_user.append(u[np.arange(len(group)), 1 + group] if v else u[:, 0])
            flags.append((r, s, v))
    uu = np.stack(per_user, axis=1)  # [N, 8] utility of each user in each pipeline
    ind = np.stack([group == g1, group == g0, np.ones(len(group), bool)], axis=1).astype(np.float64)  # [N, 3]

    def means(counts):  # counts [B, N] -> [B, 8, 3] means of (g1, g0, all) per pipeline
        num = counts @ (uu[:, :, None] * ind[:, None, :]).reshape(len(group), -1)  # [B, 8 * 3]
        return num.reshape(len(counts), 8, 3) / (counts @ ind)[:, None, :]

    point = means(np.ones((1, len(group))))[0]  # [8, 3]
    df = pd.DataFrame(
        [
            {
                "retrieval": r,
                "scoring": s,
                "serving": v,
                "utility": float(point[i, 2]),
                "mu_g1": float(point[i, 0]),
                "mu_g0": float(point[i, 1]),
                "gap": float(point[i, 0] - point[i, 1]),
            }
            for i, (r, s, v) in enumerate(flags)
        ]
    )
    gap_shares, loss_shares, _ = _shares(point[None])
    gap_shares = {c: float(x) for c, x in zip((*COMPONENTS, "residual"), gap_shares[0], strict=True)}
    loss_shares = {c: float(x) for c, x in zip(COMPONENTS, loss_shares[0], strict=True)}
    if n_boot:
        counts = np.asarray(
            bootstrap_counts(jax.random.PRNGKey(0) if key is None else key, group, int(n_boot), clusters), np.float64
        )
        boot_g, boot_l, boot_gap = _shares(means(counts))
    else:
        boot_g, boot_l, boot_gap = np.zeros((0, 4)), np.zeros((0, 3)), np.zeros(0)
    gci, lci = _interval(boot_g, level), _interval(boot_l, level)
    return Attribution(
        alpha=a,
        groups=(g1, g0),
        pipelines=df,
        gap_shares=gap_shares,
        loss_shares=loss_shares,
        gap_ci=tuple(float(x) for x in _interval(boot_gap, level)),
        gap_share_ci={c: tuple(float(x) for x in gci[i]) for i, c in enumerate((*COMPONENTS, "residual"))},
        loss_share_ci={c: tuple(float(x) for x in lci[i]) for i, c in enumerate(COMPONENTS)},
        boot_gap_shares=boot_g,
        boot_gap=boot_gap,
        boot_loss_shares=boot_l,
        level=float(level),
        n_boot=int(n_boot),
    )


def _shares(mu: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``mu [B, 8, 3]`` (pipeline rows of :func:`attribute`; g1, g0, all) → gap shares ``[B, 4]``
    (components + residual), loss shares ``[B, 3]`` and the production gap ``[B]``."""
    v = np.empty(mu.shape[:2])
    v[:, _ROW_BITS] = mu[:, :, 0] - mu[:, :, 1]  # gap(S), indexed by the bit mask of S
    util = np.empty(mu.shape[:2])
    util[:, _ROW_BITS] = mu[:, :, 2]
    gap_phi = (v[:, :1] - v) @ _SHAPLEY.T  # v(S) = gap(∅) − gap(S)
    loss_phi = (util - util[:, :1]) @ _SHAPLEY.T
    return np.concatenate([gap_phi, v[:, 7:8]], axis=1), loss_phi, v[:, 0]
