"""What a preference set does to the dynamics' conclusions: table, statements, figure, files.

Input: ``runs[q][s]``, one :class:`~jaxfair.dynamics.result.DynamicsResult` per member q of a
preference set and seed s (:func:`jaxfair.dynamics.prefs_set.simulate_over_set`). Each member's
value is its mean over the seeds; the set is summarised by min / median / max over members.
A comparison of two policies is called **robust** only when every member supports it; otherwise
it "holds for n/Q members". With several seeds a member supports "A below B" only when the
95 % t-interval of the paired difference across seeds (common random numbers) lies below 0; with
one seed the point values are compared and the statements say so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from jaxfair.dynamics.report import t_interval
from jaxfair.dynamics.result import DynamicsResult
from jaxfair.preferences.prefset import point_name
from jaxfair.utils.atomic import atomic_write, atomic_write_text
from jaxfair.utils.percent import percent
from jaxfair.utils.tables import markdown_table

__all__ = ["amplification_statements", "plot_set_amplification", "set_arrays", "set_table", "write_set_outputs"]


def set_arrays(runs: Sequence[Sequence[DynamicsResult]]) -> dict[str, np.ndarray]:
    """Per member, per seed: ``amplification [Q, S, P, G]``, ``utility``/``der``/``worst_best_ratio [Q, S, P]``."""
    if not runs or not runs[0]:
        raise ValueError("runs: expected runs[member][seed], got none")
    return {
        "amplification": np.array([[r.amplification for r in member] for member in runs], np.float64),
        "utility": np.array([[r.horizon_utility for r in member] for member in runs], np.float64),
        "der": np.array([[r.horizon_der for r in member] for member in runs], np.float64),
        "worst_best_ratio": np.array([[r.horizon_worst_best_ratio for r in member] for member in runs], np.float64),
    }


def set_table(runs: Sequence[Sequence[DynamicsResult]]) -> pd.DataFrame:
    """One row per (policy, group): amplification share_g(T)/share_g(0) at member 0 (the given prefs)
    and min / median / max over the set, beside the policy's horizon utility, DER and worst/best
    ratio (min / median / max). Member values are means over the seeds."""
    r0 = runs[0][0]
    arr = {k: np.nanmean(v, axis=1) for k, v in set_arrays(runs).items()}  # seed means: [Q, P(, G)]
    rows = []
    for pi, policy in enumerate(r0.names):
        for gi, group in enumerate(r0.group_names):
            row = {"policy": policy, "group": group, "members": len(runs)}
            a = arr["amplification"][:, pi, gi]
            row |= {
                "amplification_given": a[0],
                "amplification_min": np.nanmin(a),
                "amplification_median": np.nanmedian(a),
                "amplification_max": np.nanmax(a),
            }
            for m in ("utility", "der", "worst_best_ratio"):
                v = arr[m][:, pi]
                row |= {f"{m}_min": np.nanmin(v), f"{m}_median": np.nanmedian(v), f"{m}_max": np.nanmax(v)}
            rows.append(row)
    return pd.DataFrame(rows)


def amplification_statements(runs: Sequence[Sequence[DynamicsResult]]) -> list[dict]:
    """For each group and pair of policies: under which the group's amplification is lower, for how many members.

    Each record: ``group``, ``lower`` / ``higher`` (policies), ``holds`` (members supporting it),
    ``against`` (members supporting the opposite), ``undecided``, ``members``, ``robust``
    (every member supports it) and ``text``.
    """
    r0 = runs[0][0]
    amp = np.array([[r.amplification for r in member] for member in runs], np.float64)  # [Q, S, P, G]
    q, s = amp.shape[:2]
    out = []
    for gi, group in enumerate(r0.group_names):
        for a in range(len(r0.names)):
            for b in range(a + 1, len(r0.names)):
                diff = amp[:, :, a, gi] - amp[:, :, b, gi]  # [Q, S]: paired by seed (common random numbers)
                if s > 1:
                    _, lo, hi = t_interval(diff, axis=1)
                    below, above = hi < 0, lo > 0
                else:
                    below, above = diff[:, 0] < 0, diff[:, 0] > 0
                n_below, n_above = int(below.sum()), int(above.sum())
                lower, higher = (a, b) if n_below >= n_above else (b, a)
                holds, against = max(n_below, n_above), min(n_below, n_above)
                undecided = q - holds - against
                robust = holds == q
                basis = f"95 % CI of the paired difference over {s} seeds" if s > 1 else "one seed: point values, no CI"
                verdict = "robust" if robust else f"holds for {percent(holds, of=q)} of the set ({holds}/{q} members)"
                extra = []
                if against:
                    extra.append(f"{against} the other way")
                if undecided:
                    extra.append(f"{undecided} undecided")
                text = (
                    f"{group}'s amplification is lower under {r0.names[lower]} than under {r0.names[higher]}: {verdict}"
                    f"{' (' + ', '.join(extra) + ')' if extra else ''} [{basis}]"
                )
                out.append(
                    dict(
                        group=group,
                        lower=r0.names[lower],
                        higher=r0.names[higher],
                        holds=holds,
                        against=against,
                        undecided=undecided,
                        members=q,
                        robust=bool(robust),
                        text=text,
                    )
                )
    return out


def plot_set_amplification(table: pd.DataFrame, title: str = "", set_label: str = "", point: str = "the given prefs"):
    """Amplification per policy, one panel per group: the median over the set as a dot, the range
    over the preference set as error bars, member 0 (``point``: the given prefs) as a cross; a line at 1."""
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(table["group"]))
    policies = list(dict.fromkeys(table["policy"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups) + 0.8 * len(policies) + 1.5, 3.8))
    axes = np.atleast_1d(axes)
    x = np.arange(len(policies))
    for ax, group in zip(axes, groups, strict=True):
        t = table[table["group"] == group].set_index("policy").loc[policies]
        med = t["amplification_median"].to_numpy()
        err = np.stack([med - t["amplification_min"].to_numpy(), t["amplification_max"].to_numpy() - med])
        ax.errorbar(
            x,
            med,
            yerr=err,
            fmt="o",
            color="C0",
            capsize=5,
            lw=1.5,
            label="median; bars: range over the preference set",
        )
        ax.plot(x, t["amplification_given"].to_numpy(), "x", color="C3", ms=8, label=f"{point} (member 0)")
        ax.axhline(1.0, color="0.5", lw=0.8, ls="--", label="no amplification (share(T) = share(0))")
        ax.set_xticks(x, policies, rotation=20, ha="right", fontsize=8)
        ax.set_title(group, fontsize=10)
        ax.set_ylabel("amplification share(T) / share(0)")
        ax.grid(alpha=0.3, axis="y")
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    fig.suptitle(
        f"{title}: amplification over the preference set{(' (' + set_label + ')') if set_label else ''}", fontsize=10
    )
    fig.tight_layout()
    return fig


def write_set_outputs(
    runs: Sequence[Sequence[DynamicsResult]], out: str | Path, *, title: str = "", set_record: dict | None = None
) -> tuple[dict[str, Path], dict]:
    """Write ``prefs_set.csv``/``prefs_set.md`` (the table) and ``amplification_set.png``; return the
    paths and the record for ``summary.json`` (the set, the table and the statements)."""
    import matplotlib.pyplot as plt

    out = Path(out)
    table = set_table(runs)
    statements = amplification_statements(runs)
    rec = set_record or {}
    label = f"{rec.get('kind', 'set')}, {len(runs)} members"
    fig = plot_set_amplification(table, title, label, point_name(rec))
    record = {
        "set": rec,
        "members_run": len(runs),
        "seeds": len(runs[0]),
        "table": json.loads(table.to_json(orient="records")),
        "statements": statements,
    }
    paths = {n: out / n for n in ("prefs_set.csv", "prefs_set.md", "amplification_set.png")}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(paths["prefs_set.csv"], lambda fh: table.to_csv(fh, index=False), newline="")
    atomic_write_text(
        paths["prefs_set.md"], markdown_table(table) + "\n\n" + "\n".join(f"- {s['text']}" for s in statements) + "\n"
    )
    atomic_write(
        paths["amplification_set.png"],
        lambda fh: fig.savefig(fh, format="png", dpi=120, bbox_inches="tight"),
        "wb",
    )
    plt.close(fig)
    return paths, record
