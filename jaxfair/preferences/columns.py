"""Reading the columns of a served-session log for :func:`jaxfair.preferences.estimate`.

Each reader checks one column kind and names the column and the first bad value it found (as
the user wrote it), so a wrong file fails before any fit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_one_group_per_user", "label_matrix", "natural_key", "satisfaction_vector"]


def _show(value):
    """A cell as the user wrote it (``2``, not ``np.int64(2)``)."""
    return value.item() if isinstance(value, np.generic) else value


def natural_key(name: str):
    """Sort key: numeric group names by value ("2" before "10"), then the others by text."""
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def label_matrix(frame, labels) -> np.ndarray:
    import pandas as pd

    out = np.empty((len(frame), len(labels)))
    for k, c in enumerate(labels):
        v = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(v) | (v < 0) | (v > 1)
        if bad.any():
            raise ValueError(
                f"label column {c!r}: expected values in [0, 1] (0/1 or probabilities), got "
                f"{_show(frame[c].iloc[np.argmax(bad)])!r} ({int(bad.sum())} such row(s))"
            )
        out[:, k] = v
    return out


def satisfaction_vector(col, name) -> np.ndarray:
    import pandas as pd

    v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isin(v, (0.0, 1.0))
    if bad.any():
        raise ValueError(
            f"satisfaction column {name!r}: expected 0/1, got {_show(col.iloc[np.argmax(bad)])!r} "
            f"({int(bad.sum())} such row(s))"
        )
    return v


def check_one_group_per_user(users, g_str, user_col) -> None:
    import pandas as pd

    per_user = pd.Series(g_str).groupby(users).nunique()
    if (per_user > 1).any():
        u = int(per_user.index[np.argmax(per_user.to_numpy() > 1)])
        raise ValueError(
            f"user {_show(user_col.iloc[np.argmax(users == u)])!r} appears in more than one group "
            f"({sorted(set(g_str[users == u]))}); a user's group must be fixed"
        )
