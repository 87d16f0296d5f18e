"""The bootstrap's resampling counts: logged users drawn with replacement within their group (SPEC §10).

All of a user's sessions go together, the semantics of :func:`jaxfair.diagnose.decompose.bootstrap_counts`;
:func:`jaxfair.offpolicy.estimate` multiplies these counts by the per-session channels group by group,
so the ``[B, S]`` matrix of session multiplicities is never built.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxfair.offpolicy.log import ImpressionLog

__all__ = ["user_multiplicities"]


def user_multiplicities(key, log: ImpressionLog, n_boot: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The bootstrap's resampling counts per user: ``(user_pos [S], {group: float32 [B, U_g]})`` — session s's
    user is column ``user_pos[s]`` of its group's matrix, which says how often each of the group's U_g users
    is drawn (with replacement, U_g draws) in each of B replicates. Drawn on the host by a NumPy generator
    seeded from ``key`` and counted one replicate at a time with ``np.bincount`` (JAX draws and an XLA CPU
    scatter took ~1.5 s for 200 × 48k users; one flat bincount over B·U_g bins ~0.1 s, row by row ~0.02 s)."""
    uniq, inv = np.unique(log.user, return_inverse=True)
    inv = inv.ravel()
    ugroup = np.zeros(len(uniq), np.int64)
    ugroup[inv] = np.asarray(log.batch.group)
    pos_of_user = np.zeros(len(uniq), np.int64)
    counts = {}
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())
    for g in np.unique(ugroup):
        members = np.flatnonzero(ugroup == g)
        u = len(members)
        pos_of_user[members] = np.arange(u)
        c = np.zeros((n_boot, u), np.float32)
        if n_boot:
            draws = rng.integers(0, u, (n_boot, u))
            for b in range(n_boot):
                c[b] = np.bincount(draws[b], minlength=u)
        counts[int(g)] = c
    return pos_of_user[inv], counts
