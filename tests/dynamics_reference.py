"""Float64 NumPy/Python loop reference of the dynamics (SPEC §8), for tiny sizes.

Written from the SPEC, slot by slot and period by period, with its own pure-Python copy of
the counter-based hash (so the draws are the same as the package's, by construction of the
key, not by sharing code). Utilities come from ``tests/reference.py``'s float64 serving.
"""

from __future__ import annotations

import math

import numpy as np
from reference import user_utility_ref

_M = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9
NEW_GROUP, NEW_USER, SESSION, RETURN = 0x1B873593, 0x27D4EB2F, 0x165667B1, 0x68E31DA4


def mix32(x: int) -> int:
    x &= _M
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M
    return x ^ (x >> 16)


def slot_hash(seed: int, t: int, slot: int) -> int:
    h = mix32(seed ^ _GOLDEN)
    h = mix32(h + t * _GOLDEN)
    return mix32(h ^ mix32(slot + 0x85EBCA6B))


def uniform(h: int) -> float:
    return (h >> 8) * 2.0**-24


def user_draw(base: int, stream: int, arrival: int) -> int:
    return mix32(mix32(base ^ stream) + arrival * _GOLDEN)


def table_ref(alphas, batch, prefs):
    """float64 utility of every α on every bank session: ``[P, U·B]``."""
    sc, lb, mk, gr = (np.asarray(x) for x in (batch.scores, batch.labels, batch.mask, batch.group))
    return np.stack([user_utility_ref(a, sc, lb, mk, gr, np.asarray(prefs, np.float64)) for a in alphas])


def simulate_ref(table, user_group, n_sessions, pi, retention, seed, periods, slots):
    """Per population (row of ``table``): counts, churn ``[T, G]`` and group sums ``[T, G]``."""
    g = len(pi)
    cdf = np.cumsum(pi)[:-1].astype(np.float32)
    members = [np.flatnonzero(user_group == k) for k in range(g)]
    lo, hi, kappa, mid, lam = (
        retention.rho_min,
        retention.rho_max,
        retention.kappa,
        retention.s_mid,
        retention.smoothing,
    )
    out = []
    for row in table:
        counts = np.zeros((periods, g), np.int64)
        churn = np.zeros((periods, g), np.int64)
        sums = np.zeros((periods, g))
        user = [0] * slots
        arrival = [0] * slots
        sat = [0.0] * slots
        new = [True] * slots
        for t in range(periods):
            for i in range(slots):
                base = slot_hash(seed, t, i)
                if new[i]:
                    v = uniform(mix32(base ^ NEW_GROUP))
                    grp = int(sum(np.float32(v) >= c for c in cdf))
                    w = uniform(mix32(base ^ NEW_USER))
                    n_g = len(members[grp])
                    pos = min(int(math.floor(float(np.float32(w) * np.float32(n_g)))), n_g - 1)
                    user[i], arrival[i] = int(members[grp][pos]), t
                b = ((user_draw(base, SESSION, arrival[i]) >> 16) * n_sessions) >> 16
                u = float(row[user[i] * n_sessions + b])
                sat[i] = u if new[i] else (1 - lam) * sat[i] + lam * u
                rho = lo + (hi - lo) / (1 + math.exp(-kappa * (sat[i] - mid)))
                stays = uniform(user_draw(base, RETURN, arrival[i])) < rho
                grp = int(user_group[user[i]])
                counts[t, grp] += 1
                sums[t, grp] += u
                churn[t, grp] += not stays
                new[i] = not stays
        out.append((counts, churn, sums))
    return out
