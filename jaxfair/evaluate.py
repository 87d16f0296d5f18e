"""Grid evaluation: global utility, group utilities and DER for many α at once.

``evaluate(alphas [P, K], batch, prefs [G, K])`` runs one compiled kernel
(:func:`jaxfair.kernels.evaluate_chunk`) over chunks of α and of users whose size is chosen
from a memory budget, so peak memory stays bounded whatever P and N.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxfair import kernels
from jaxfair.batch import Batch
from jaxfair.validation import check_alphas, check_batch_prefs, warn_empty_groups

__all__ = ["Evaluation", "GroupReport", "chunked_group_sums", "evaluate", "finish_evaluation", "plan_chunks",
           "DEFAULT_MEMORY_BUDGET"]

#: Bytes allowed for one kernel call's float32 [N_chunk, P_chunk] intermediates.
DEFAULT_MEMORY_BUDGET = 256 * 2**20
#: Users per kernel call: small enough that a user's scores stay in cache while α streams.
DEFAULT_USER_CHUNK = 2048
# The kernel's fused loop holds best score, payload, output and the user-group product:
# about this many [N_chunk, P_chunk] float32 arrays.
_TEMPORARIES = 4


@dataclasses.dataclass(frozen=True)
class GroupReport:
    """Per-group report for one α, in the style of fairlearn's ``MetricFrame``.

    ``overall`` is the population-weighted global utility, ``by_group`` the group means.
    """

    alpha: np.ndarray
    overall: float
    by_group: pd.Series
    der: float

    def difference(self) -> float:
        """Largest minus smallest group utility."""
        return float(self.by_group.max() - self.by_group.min())

    def ratio(self) -> float:
        """Smallest over largest group utility (1 = equal; NaN if the largest is 0)."""
        top = float(self.by_group.max())
        return float(self.by_group.min() / top) if top > 0 else float("nan")

    def __repr__(self) -> str:
        return (f"GroupReport(alpha={np.round(self.alpha, 4).tolist()}, overall={self.overall:.4f}, "
                f"der={self.der:.4f}, by_group={self.by_group.round(4).to_dict()})")


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Metrics for P weight vectors on one batch (numpy arrays).

    Attributes:
      alphas: ``[P, K]`` the weights evaluated.
      utility: ``[P]`` global (population-weighted) mean utility.
      der: ``[P]`` DER of the group means (NaN where a group has no users).
      group_utility: ``[P, G]`` mean utility per group.
      n_unserved: users with no retrieved candidate (utility 0, counted in their group).
      group_counts: ``[G]`` users per group.
      group_names / label_names: optional names used by ``to_frame`` and ``report``.
    """

    alphas: np.ndarray
    utility: np.ndarray
    der: np.ndarray
    group_utility: np.ndarray
    n_unserved: int
    group_counts: np.ndarray
    group_names: tuple[str, ...] | None = None
    label_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return int(self.utility.shape[0])

    def _gnames(self) -> list[str]:
        g = self.group_utility.shape[1]
        return list(self.group_names) if self.group_names is not None else [f"group{i}" for i in range(g)]

    def _lnames(self) -> list[str]:
        k = self.alphas.shape[1]
        return list(self.label_names) if self.label_names is not None else [f"label{i}" for i in range(k)]

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per α with ``alpha_<label>``, ``utility``, ``der``, ``utility_<group>``."""
        cols: dict[str, Any] = {f"alpha_{n}": self.alphas[:, i] for i, n in enumerate(self._lnames())}
        cols["utility"] = self.utility
        cols["der"] = self.der
        for i, n in enumerate(self._gnames()):
            cols[f"utility_{n}"] = self.group_utility[:, i]
        frame = pd.DataFrame(cols)
        frame.attrs["n_unserved"] = int(self.n_unserved)
        return frame

    def report(self, i: int = 0) -> GroupReport:
        """MetricFrame-like per-group report for the ``i``-th α."""
        if not 0 <= i < len(self):
            raise ValueError(f"i: expected 0 <= i < {len(self)}, got {i}")
        return GroupReport(alpha=self.alphas[i], overall=float(self.utility[i]),
                           by_group=pd.Series(self.group_utility[i], index=self._gnames(), name="utility"),
                           der=float(self.der[i]))

    def best(self) -> GroupReport:
        """Report for the α with the highest global utility."""
        return self.report(int(np.nanargmax(self.utility)))


def plan_chunks(n_alphas: int, n_users: int, n_candidates: int, budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> tuple[int, int]:
    """``(alpha_chunk, user_chunk)`` so that the kernel's ``[Nc, Pc]`` float32 temporaries
    (``_TEMPORARIES`` of them) and the ``[Nc, m]`` inputs fit in ``budget_bytes``."""
    if budget_bytes < 1:
        raise ValueError(f"budget_bytes: expected > 0, got {budget_bytes}")
    elems = max(1, budget_bytes // (4 * _TEMPORARIES))
    # Whole blocks of kernels.SUM_BLOCK users, so chunk edges fall on block edges and the
    # sums do not depend on the chunking (at least one block, even over a tiny budget).
    b = kernels.SUM_BLOCK
    blocks = _balanced(-(-n_users // b), max(1, min(DEFAULT_USER_CHUNK, elems // n_candidates) // b))
    user_chunk = blocks * b
    alpha_chunk = _balanced(n_alphas, max(1, elems // user_chunk))
    return alpha_chunk, user_chunk


def _balanced(total: int, largest: int) -> int:
    """Chunk size <= ``largest`` that splits ``total`` into equal-ish chunks (little padding)."""
    n_chunks = -(-total // largest)
    return int(-(-total // n_chunks))


def _pad_rows(x: jnp.ndarray, n: int, fill) -> jnp.ndarray:
    if x.shape[0] == n:
        return x
    pad = jnp.full((n - x.shape[0],) + x.shape[1:], fill, dtype=x.dtype)
    return jnp.concatenate([x, pad])


def chunked_group_sums(alphas32: jnp.ndarray, batch: Batch, prefs32: jnp.ndarray, alpha_chunk: int | None = None,
                       user_chunk: int | None = None, progress: bool = False):
    """Group sums ``[P, G]``, counts ``[G]`` and unserved users over chunks of α and users.

    The kernel sums blocks of ``kernels.SUM_BLOCK`` users in float32; blocks accumulate in
    float64, so the error does not grow with N and does not depend on the chunking as long
    as ``user_chunk`` is a multiple of ``SUM_BLOCK`` (as :func:`plan_chunks` makes it).
    """
    if alpha_chunk is None or user_chunk is None:
        alpha_chunk, user_chunk = plan_chunks(alphas32.shape[0], batch.n_users, batch.n_candidates)
    p, n, g = alphas32.shape[0], batch.n_users, prefs32.shape[0]
    sums = np.zeros((p, g), dtype=np.float64)
    counts = np.zeros(g, dtype=np.float64)
    unserved = 0.0
    user_starts = list(range(0, n, user_chunk))
    alpha_starts = list(range(0, p, alpha_chunk))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(user_starts) * len(alpha_starts), desc="evaluate", unit="chunk", leave=False)
    for u0 in user_starts:
        # Padding users get group id G: the kernel's one-hot gives them zero weight.
        sub = jax.tree_util.tree_map(lambda x: x[u0:u0 + user_chunk], batch)
        if sub.n_users < user_chunk:
            sub = Batch(scores=_pad_rows(sub.scores, user_chunk, 0.0), labels=_pad_rows(sub.labels, user_chunk, 0.0),
                        mask=_pad_rows(sub.mask, user_chunk, False), group=_pad_rows(sub.group, user_chunk, g))
        for a0 in alpha_starts:
            chunk = _pad_rows(alphas32[a0:a0 + alpha_chunk], alpha_chunk, 1.0)  # fixed shape: one compile
            s, c, un = kernels.evaluate_chunk_blocks(chunk, sub, prefs32)
            take = min(alpha_chunk, p - a0)
            acc = sums[a0:a0 + take]  # a view: blocks are added one by one, in user order, so
            for block in np.asarray(s, dtype=np.float64)[:, :take]:  # the float64 sums are also
                acc += block  # independent of the chunking
            if a0 == 0:
                counts += np.asarray(c, dtype=np.float64)
                unserved += float(un)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return sums, counts, int(round(unserved))


def evaluate(alphas: Any, batch: Batch, prefs: Any, *, chunk_size: int | None = None,
             memory_budget: int = DEFAULT_MEMORY_BUDGET, group_names: Sequence[str] | None = None,
             label_names: Sequence[str] | None = None, progress: bool = False) -> Evaluation:
    """Evaluate P serving weight vectors on a batch with one compiled kernel.

    Args:
      alphas: ``[P, K]`` non-negative, finite, no all-zero row.
      batch: N users × m candidates × K labels.
      prefs: ``[G, K]`` true preferences α*; every group id in ``batch`` must be < G.
      chunk_size: α per kernel call; default chosen from ``memory_budget`` (users are then
        chunked too if one α over all users would not fit).
      memory_budget: bytes for one kernel call's ``[N_chunk, P_chunk]`` intermediates.
      group_names, label_names: optional names for tables.
      progress: show a progress bar over chunks.

    Returns:
      :class:`Evaluation` with ``utility [P]``, ``der [P]``, ``group_utility [P, G]``.
      A group with no users gets NaN utility and NaN DER, with an :class:`EmptyGroupWarning`.
    """
    p_arr = check_batch_prefs(batch, prefs)
    a_arr = check_alphas(alphas, batch.n_labels)
    n, m, _ = batch.shape
    alpha_chunk, user_chunk = plan_chunks(a_arr.shape[0], n, m, memory_budget)
    if chunk_size is not None:
        if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
            raise ValueError(f"chunk_size: expected an int >= 1, got {chunk_size!r}")
        alpha_chunk = _balanced(a_arr.shape[0], int(chunk_size))
    sums, counts, unserved = chunked_group_sums(jnp.asarray(a_arr, jnp.float32), batch, jnp.asarray(p_arr, jnp.float32),
                                         alpha_chunk, user_chunk, progress)
    return finish_evaluation(a_arr, sums, counts, unserved, group_names, label_names)


def finish_evaluation(alphas: np.ndarray, sums: np.ndarray, counts: np.ndarray, unserved: int,
                      group_names=None, label_names=None) -> Evaluation:
    """Assemble an :class:`Evaluation` from group sums ``[P, G]`` and counts ``[G]``."""
    empty = warn_empty_groups(counts, group_names)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    total = counts.sum()
    utility = sums.sum(axis=1) / total
    if empty:
        der = np.full(len(alphas), np.nan)
    else:
        der = kernels.der_kernel(mu, np)
    return Evaluation(alphas=np.asarray(alphas, dtype=np.float64), utility=utility, der=der, group_utility=mu,
                      n_unserved=int(unserved), group_counts=counts.astype(np.int64),
                      group_names=tuple(group_names) if group_names is not None else None,
                      label_names=tuple(label_names) if label_names is not None else None)
