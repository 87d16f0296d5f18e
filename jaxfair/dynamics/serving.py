"""The one place where the dynamics serve sessions: ``session_utilities``.

Every utility the dynamics use comes from :func:`session_utilities` (the table of each α on
each bank session), served by the package's slate kernel (SPEC §7; top-1 is its k = 1 case).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair.engine import kernels
from jaxfair.engine.batch import Batch
from jaxfair.engine.executors import map_user_chunks, pad_rows
from jaxfair.engine.slate import as_slate

__all__ = ["LabelSumTable", "session_utilities"]


@functools.partial(jax.jit, static_argnames=("spec",))
def _served(alphas, scores, mask, labels, group, prefs, spec):
    batch = Batch(scores=scores, labels=labels, mask=mask, group=group)
    value = kernels.true_value(batch, prefs)  # [n, m]
    # The package's one serving machinery: top-k by Σ α_k f_k, Σ_r v_r · value (k = 1: top-1 bit for bit).
    return kernels.slate_value(alphas, scores, mask, value, spec).T  # [P, n]


def session_utilities(
    alphas,
    batch: Batch,
    prefs,
    slate=1,
    position_weights=None,
    *,
    gamma: float | None = None,
    session_chunk: int = 8192,
    alpha_chunk: int = 128,
) -> jnp.ndarray:
    """Utility ``u_n(α)`` of every session n under every α: float32 ``[P, N]``.

    Slate serving (SPEC §7; ``slate=1`` is the paper's top-1, SPEC §1) with the package's
    kernel (:func:`jaxfair.engine.kernels.slate_value`: ranks by score, lowest index on ties; 0 for
    empty ranks and where nothing was retrieved), mapped over session chunks with the
    engine's :func:`jaxfair.engine.executors.map_user_chunks` and chunked over α, so memory
    stays bounded.

    Args:
      alphas: float32 ``[P, K]`` (validated by the caller); batch: N sessions;
      prefs: ``[G, K]`` true preferences; slate: a :class:`jaxfair.Slate` or k, with
        ``position_weights`` (``None`` = ``"dcg"``) and ``gamma`` — the utility is
        ``Σ_r v_r · α*(g)·Y`` of the slate.
    """
    spec = as_slate(slate, position_weights, gamma, batch.n_candidates).spec(0)
    alphas = jnp.asarray(alphas, jnp.float32)
    prefs = jnp.asarray(prefs, jnp.float32)
    p, n = int(alphas.shape[0]), batch.n_users
    ac = min(alpha_chunk, p)
    chunks = [pad_rows(alphas[a0 : a0 + ac], ac, 1.0) for a0 in range(0, p, ac)]  # fixed shapes: one compile
    sessions = (batch.scores, batch.mask, batch.labels, batch.group)

    def serve(sub):
        return jnp.concatenate([_served(c, *sub, prefs, spec) for c in chunks], axis=0)[:p]

    cols = [
        out[:, :n_real]
        for _, n_real, out in map_user_chunks(serve, sessions, min(session_chunk, n), (0.0, False, 0.0, 0))
    ]
    return jnp.concatenate(cols, axis=1)


class LabelSumTable:
    """Position-weighted label sums of each α on each bank session, reused for many preference matrices.

    The serving (which candidates fill the slate) does not depend on α*(g): the utility of
    session n is ``α*(g_n) · L_n(α)`` with ``L_n(α) [K] = Σ_r v_r Y_r`` (SPEC §9). So a
    preference set pays for K serving passes — :func:`session_utilities` with the basis
    preferences ``e_k`` for every group — instead of one per member, and each member's
    utility table is a contraction (:meth:`utilities`). It differs from
    :func:`session_utilities` with the member's prefs by float32 rounding only.

    Args:
      batch: the bank's N sessions; slate: a :class:`jaxfair.Slate` (resolved by the caller).
    """

    def __init__(self, batch: Batch, slate):
        self.batch = batch
        self.slate = slate
        self._sums: dict[bytes, jnp.ndarray] = {}

    def label_sums(self, alphas) -> jnp.ndarray:
        """float32 ``[K, P, N]``: label k's position-weighted sum on each session under each α (cached)."""
        alphas = np.asarray(alphas, np.float32)
        key = alphas.tobytes() + str(alphas.shape).encode()
        if key not in self._sums:
            g, k = int(jnp.max(self.batch.group)) + 1, int(self.batch.n_labels)
            basis = np.broadcast_to(np.eye(k, dtype=np.float32)[:, None, :], (k, g, k))  # [K, G, K]: α*(g) = e_k
            self._sums[key] = jnp.stack([session_utilities(alphas, self.batch, b, self.slate) for b in basis])
        return self._sums[key]

    def utilities(self, alphas, prefs) -> jnp.ndarray:
        """float32 ``[P, N]``: :func:`session_utilities` for ``prefs [G, K]``, from the cached label sums."""
        sums = self.label_sums(alphas)  # [K, P, N]
        w = jnp.asarray(prefs, jnp.float32)[self.batch.group]  # [N, K]
        return jnp.einsum("kpn,nk->pn", sums, w, precision=jax.lax.Precision.HIGHEST)
