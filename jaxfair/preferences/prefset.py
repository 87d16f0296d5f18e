"""A preference set: Q plausible preference matrices ``values [Q, G, K]`` (SPEC §9 "Preference sets").

Every number jaxfair prints rests on α*(g), which nobody observes. A :class:`PrefSet` holds the
matrices a conclusion is tested against: an explicit list, a Dirichlet cloud around the user's
point, a box of ± d per entry, or the bootstrap draws of :func:`jaxfair.preferences.estimate`
read back from a file. Each row (one group's α*) lies on the simplex: finite, >= 0, summing to
1 within 1e-6 — a scale difference between rows silently changes DER, so there is no opt-out.

Member 0 is the point (the user's prefs) for the Dirichlet and box sets, and the point
estimate for an estimate's draws, so "the point" and "the set" are reported from one object.
A set read for a scenario (:meth:`for_scenario`, :meth:`parse` with a point) gets the same rule
from :meth:`with_point`: member 0 is the given prefs themselves — moved first when the set holds
them (within :data:`POINT_TOL`), else added in front with a :class:`PointNotInSetWarning` — so
every consumer that says "the given prefs" evaluates them, never another member.
The set knows nothing of the engine: the kernels are linear in α*, so callers apply
``values`` after one prefs-free pass.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BOX_MAX_VERTICES", "POINT_TOL", "PointNotInSetWarning", "PrefSet", "ROW_SUM_TOL", "point_name"]

ROW_SUM_TOL = 1e-6
#: A member is the point when no entry differs by more than this (a CSV round trip is exact;
#: this only forgives a point typed with fewer digits than the file holds).
POINT_TOL = 1e-9
# The box's corners in G·K dimensions number 2^(G·K): at most this many (and at most half the
# members) are kept, chosen at random when there are more, so a set is never all corners.
BOX_MAX_VERTICES = 128
_FILE_COLUMNS = ("member", "group", "label", "value")


class PointNotInSetWarning(UserWarning):
    """The given prefs are not a member of the preference set: they were added as member 0."""


def _names(names: Sequence[Any] | None, n: int, what: str, default: str) -> tuple[str, ...]:
    if names is None:
        return tuple(f"{default}{i}" for i in range(n))
    out = tuple(str(x) for x in names)
    if len(out) != n:
        raise ValueError(f"{what}: expected {n} names, got {len(out)} ({list(out)})")
    if len(set(out)) != n:
        dup = sorted({x for x in out if out.count(x) > 1})
        raise ValueError(f"{what}: names must be distinct, {dup} repeated")
    return out


@dataclass(frozen=True)
class PrefSet:
    """Q preference matrices ``values [Q, G, K]`` (float64, read-only), each row on the simplex.

    Args:
        values: ``[Q, G, K]`` preferences; member q's row g is α*(g) under that member.
        group_names: G names (default ``g0, g1, …``), the order of axis 1.
        label_names: K names (default ``label0, …``), the order of axis 2.
        kind: how the set was made (``explicit``, ``dirichlet``, ``box``, ``file``, ``estimate``).
        params: what made it (concentration, seed, path, …), recorded in every output.

    Raises:
        ValueError: a non-finite or negative entry, or a row whose sum is not 1 within 1e-6 (the
            message names the member, the group and the sum).
    """

    values: np.ndarray
    group_names: tuple[str, ...] = ()
    label_names: tuple[str, ...] = ()
    kind: str = "explicit"
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        v = np.array(self.values, dtype=np.float64)  # a private copy, frozen below
        if v.ndim != 3 or 0 in v.shape:
            raise ValueError(f"values: expected a non-empty [Q, G, K] array, got shape {v.shape}")
        q, g, k = v.shape
        groups = _names(self.group_names or None, g, "group_names", "g")
        labels = _names(self.label_names or None, k, "label_names", "label")
        bad = ~np.isfinite(v) | (v < 0)
        if bad.any():
            m, gi, ki = np.argwhere(bad)[0]
            raise ValueError(
                f"preference set member {m}, group {groups[gi]!r}, label {labels[ki]!r}: expected a finite "
                f"value >= 0, got {v[m, gi, ki]}"
            )
        sums = v.sum(axis=2)
        off = np.abs(sums - 1.0) > ROW_SUM_TOL
        if off.any():
            m, gi = np.argwhere(off)[0]
            raise ValueError(
                f"preference set member {m}, group {groups[gi]!r}: the row sums to {sums[m, gi]:.10g}, expected 1 "
                f"(|sum - 1| <= {ROW_SUM_TOL}); {int(off.sum())} of {q * g} rows are off"
            )
        v.setflags(write=False)
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "group_names", groups)
        object.__setattr__(self, "label_names", labels)
        object.__setattr__(self, "params", dict(self.params))

    # ---- shape -------------------------------------------------------------------------------
    @property
    def n_members(self) -> int:
        """Q, the number of preference matrices."""
        return self.values.shape[0]

    @property
    def n_groups(self) -> int:
        return self.values.shape[1]

    @property
    def n_labels(self) -> int:
        return self.values.shape[2]

    def __len__(self) -> int:
        return self.n_members

    # ---- constructors ------------------------------------------------------------------------
    @classmethod
    def explicit(cls, members: Sequence[Any], *, group_names=None, label_names=None) -> PrefSet:
        """A set of the given ``[G, K]`` matrices, in order (member q = ``members[q]``)."""
        arrs = [np.asarray(m, dtype=np.float64) for m in members]
        if not arrs:
            raise ValueError("members: expected at least one [G, K] matrix, got none")
        shapes = {a.shape for a in arrs}
        if len(shapes) != 1 or arrs[0].ndim != 2:
            raise ValueError(f"members: expected [G, K] matrices of one shape, got shapes {sorted(shapes)}")
        return cls(np.stack(arrs), group_names or (), label_names or (), "explicit", {"q": len(arrs)})

    @classmethod
    def dirichlet(
        cls, point, concentration: float, *, q: int = 256, seed: int = 0, group_names=None, label_names=None
    ) -> PrefSet:
        """Member 0 is ``point`` [G, K]; members 1..q-1 draw α*(g) ~ Dir(c · point[g]) per group.

        The mean of each draw is the point; a larger concentration ``c`` is a tighter cloud (the
        variance of entry k is p_k(1 - p_k)/(c + 1)). An entry that is 0 in the point stays 0
        (Dir with a zero parameter puts all its mass there): only the positive coordinates are
        drawn, by normalised Gamma variates.
        """
        p = cls._point(point, group_names, label_names)
        c = _positive_float(concentration, "concentration")
        q = _member_count(q)
        rng = np.random.default_rng(seed)
        shape = c * p.values[0]
        pos = shape > 0
        draws = np.zeros((q - 1, *shape.shape))
        gam = rng.standard_gamma(np.where(pos, shape, 1.0), size=draws.shape)
        gam = np.where(pos, gam, 0.0)
        sums = gam.sum(axis=2, keepdims=True)
        # A tiny shape can underflow every Gamma variate of a row to 0; that row is then the
        # point's largest coordinate's vertex in the limit c·p -> 0, but rather than guess, refuse.
        if (sums <= 0).any():
            raise ValueError(f"concentration: {c} is too small, a Dirichlet draw underflowed to all zeros")
        draws = gam / sums
        params = {"concentration": c, "q": q, "seed": int(seed), "member_0": "point"}
        return cls(np.concatenate([p.values, draws]), p.group_names, p.label_names, "dirichlet", params)

    @classmethod
    def box(cls, point, d: float, *, q: int = 256, seed: int = 0, group_names=None, label_names=None) -> PrefSet:
        """Member 0 is ``point``; the others move every entry by at most ± ``d``, clip at 0 and renormalise.

        Members 1..V are corners of the box (each entry at +d or -d): all 2^(G·K) of them when
        that is at most ``min(BOX_MAX_VERTICES, (q-1)//2)``, otherwise that many distinct corners
        chosen at random. The remaining members are uniform draws inside the box. Unlike the
        Dirichlet set, an entry that is 0 in the point may become up to d (the box says "each
        entry may be off by d"). Renormalising means a corner is not exactly at ± d afterwards.
        """
        p = cls._point(point, group_names, label_names)
        d = _positive_float(d, "d")
        q = _member_count(q)
        base = p.values[0]
        g, k = base.shape
        narrow = base.max(axis=1) <= d
        if narrow.any():
            gi = int(np.argmax(narrow))
            raise ValueError(
                f"d: {d} >= every entry of group {p.group_names[gi]!r}'s row {base[gi].tolist()}: a member could "
                "clip that row to all zeros; use a smaller d"
            )
        rng = np.random.default_rng(seed)
        dims = g * k
        n_vert = min(BOX_MAX_VERTICES, (q - 1) // 2)
        if dims <= 20 and 2**dims <= n_vert:
            signs = np.array(list(itertools.product((-1.0, 1.0), repeat=dims)))
        else:
            chosen: set[tuple[float, ...]] = set()
            while len(chosen) < n_vert:  # distinct random corners (2^dims > n_vert, so this ends quickly)
                chosen.add(tuple(rng.choice((-1.0, 1.0), size=dims)))
            signs = np.array(sorted(chosen)).reshape(-1, dims) if chosen else np.zeros((0, dims))
        inner = rng.uniform(-1.0, 1.0, size=(q - 1 - len(signs), dims))
        moves = np.concatenate([signs, inner]).reshape(-1, g, k) * d
        members = np.clip(base + moves, 0.0, None)
        members /= members.sum(axis=2, keepdims=True)
        params = {"d": d, "q": q, "seed": int(seed), "vertices": int(len(signs)), "member_0": "point"}
        return cls(np.concatenate([p.values, members]), p.group_names, p.label_names, "box", params)

    @classmethod
    def from_file(cls, path, *, group_names=None, label_names=None) -> PrefSet:
        """Read a long-format CSV ``member, group, label, value`` (what :meth:`to_file` writes).

        Groups and labels take the file's order of first appearance, or — binding by name — the
        order of ``group_names`` / ``label_names`` when given (each must name exactly the file's
        groups / labels). Every (member, group, label) must appear exactly once.
        """
        import pandas as pd

        path = Path(path)
        df = pd.read_csv(path, dtype={"group": str, "label": str})
        missing = [c for c in _FILE_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; expected columns {list(_FILE_COLUMNS)}")
        if df.empty:
            raise ValueError(f"{path}: no rows")
        groups = _bind(list(dict.fromkeys(df["group"])), group_names, f"{path}: groups")
        labels = _bind(list(dict.fromkeys(df["label"])), label_names, f"{path}: labels")
        members = sorted(dict.fromkeys(df["member"]))
        dup = df.duplicated(["member", "group", "label"])
        if dup.any():
            r = df[dup].iloc[0]
            raise ValueError(f"{path}: member {r['member']}, group {r['group']!r}, label {r['label']!r} appears twice")
        if len(df) != len(members) * len(groups) * len(labels):
            raise ValueError(
                f"{path}: expected every member x group x label once ({len(members)} x {len(groups)} x "
                f"{len(labels)} = {len(members) * len(groups) * len(labels)} rows), got {len(df)} rows"
            )
        values = np.full((len(members), len(groups), len(labels)), np.nan)
        mi = pd.Index(members).get_indexer(df["member"])
        gi = pd.Index(groups).get_indexer(df["group"])
        li = pd.Index(labels).get_indexer(df["label"])
        values[mi, gi, li] = pd.to_numeric(df["value"], errors="coerce").to_numpy(dtype=np.float64)
        return cls(values, tuple(groups), tuple(labels), "file", {"path": str(path), "q": len(members)})

    def to_file(self, path) -> Path:
        """Write the long-format CSV ``member, group, label, value`` (read back by :meth:`from_file`)."""
        import pandas as pd

        q, g, k = self.values.shape
        mi, gi, li = np.meshgrid(np.arange(q), np.arange(g), np.arange(k), indexing="ij")
        df = pd.DataFrame(
            {
                "member": mi.ravel(),
                "group": np.asarray(self.group_names, dtype=object)[gi.ravel()],
                "label": np.asarray(self.label_names, dtype=object)[li.ravel()],
                "value": self.values.ravel(),
            }
        )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(path, index=False, float_format="%.17g")  # round-trips float64 exactly
        return path

    @classmethod
    def for_scenario(cls, spec: Any, scenario: Any, *, seed: int = 0, name: str = "--prefs-set") -> PrefSet:
        """A set for ``scenario`` whose member 0 is the scenario's prefs (:meth:`with_point`): a
        :class:`PrefSet` as given, or a spec string (:meth:`parse`) around the scenario's prefs,
        bound to its group and label names. A scenario whose prefs came from the set's file
        (``scenario.prefs_origin``, set by the command line without ``--prefs``) names them so."""
        origin = getattr(scenario, "prefs_origin", None) or "the given prefs"
        if isinstance(spec, PrefSet):
            if spec.values.shape[1:] != np.shape(scenario.prefs):
                raise ValueError(
                    f"{name}: the set holds [G, K] = {list(spec.values.shape[1:])} matrices, the prefs are "
                    f"{list(np.shape(scenario.prefs))}"
                )
            return spec.with_point(np.asarray(scenario.prefs, np.float64), origin=origin, source="the set")
        if not isinstance(spec, str):
            raise ValueError(f"{name}: expected a PrefSet or a spec such as 'dirichlet:50', got {spec!r}")
        return cls.parse(
            spec,
            np.asarray(scenario.prefs, np.float64),
            seed=seed,
            group_names=list(scenario.group_names),
            label_names=list(scenario.label_names),
            name=name,
            origin=origin,
        )

    @classmethod
    def parse(
        cls,
        spec: str,
        point=None,
        *,
        seed: int = 0,
        group_names=None,
        label_names=None,
        name="--prefs-set",
        origin: str = "the given prefs",
    ):
        """A set from a command-line spec: ``dirichlet:C[:Q]``, ``box:D[:Q]`` or ``file:PATH``.

        ``dirichlet`` and ``box`` are built around ``point`` [G, K] (the user's prefs, member 0).
        ``file`` reads :meth:`from_file`, binding its groups and labels to ``group_names`` /
        ``label_names`` by name when given; with ``point`` its shape is checked and the point
        becomes member 0 (:meth:`with_point`; ``origin`` names it in ``params["member_0"]``).
        ``name`` is the flag named in errors.
        """
        text = str(spec).strip()
        kind, _, rest = text.partition(":")
        if kind == "file":
            if not rest:
                raise ValueError(f"{name}: expected file:PATH, got {spec!r}")
            ps = cls.from_file(rest, group_names=group_names, label_names=label_names)
            if point is not None:
                shape = np.asarray(point).shape
                if ps.values.shape[1:] != shape:
                    raise ValueError(
                        f"{name}: {rest} holds [G, K] = {list(ps.values.shape[1:])} matrices, the prefs are "
                        f"{list(shape)}"
                    )
                ps = ps.with_point(point, origin=origin)
            return ps
        if kind not in ("dirichlet", "box"):
            raise ValueError(f"{name}: expected dirichlet:C[:Q], box:D[:Q] or file:PATH, got {spec!r}")
        parts = rest.split(":") if rest else []
        if len(parts) not in (1, 2):
            raise ValueError(f"{name}: expected {kind}:{'C' if kind == 'dirichlet' else 'D'}[:Q], got {spec!r}")
        try:
            size = float(parts[0])
            q = int(parts[1]) if len(parts) == 2 else 256
        except ValueError:
            raise ValueError(f"{name}: expected numbers in {spec!r}") from None
        if point is None:
            raise ValueError(f"{name}: {kind} sets are built around the prefs, and none were given")
        make = cls.dirichlet if kind == "dirichlet" else cls.box
        try:
            return make(point, size, q=q, seed=seed, group_names=group_names, label_names=label_names)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None

    def with_point(self, point, *, origin: str = "the given prefs", source: str = "the file") -> PrefSet:
        """This set with ``point [G, K]`` as member 0 (the one rule of the module docstring).

        Member 0 already the point (within :data:`POINT_TOL`): the set as it is. Another member
        the point: that member moves first (replaced by the point's exact values), the others keep
        their order. No member the point: the point is prepended (Q + 1 members) and a
        :class:`PointNotInSetWarning` says so. ``params["member_0"]`` records which case it was,
        naming the point by ``origin``; ``source`` names where the members came from.
        """
        p = np.asarray(point, dtype=np.float64)
        if p.shape != self.values.shape[1:]:
            raise ValueError(f"point: expected a {list(self.values.shape[1:])} matrix, got shape {list(p.shape)}")
        close = np.abs(self.values - p).max(axis=(1, 2)) <= POINT_TOL
        params = dict(self.params, point=origin)
        if close[0]:
            params.setdefault("member_0", origin)  # a Dirichlet / box set's "point" says it already
            if params == self.params and np.array_equal(self.values[0], p):
                return self
            return PrefSet(
                np.concatenate([p[None], self.values[1:]]), self.group_names, self.label_names, self.kind, params
            )
        if close.any():
            j = int(np.argmax(close))
            params["member_0"] = f"{origin} (member {j} of {source}, moved first)"
            rest = np.delete(self.values, j, axis=0)
        else:
            import warnings

            params["member_0"] = f"{origin}, added: not in {source}"
            params["q"] = self.n_members + 1
            params["point_added"] = True  # the other members are the source's, in its order
            rest = self.values
            warnings.warn(
                f"preference set: {origin} are not in {source}"
                + (f" {self.params['path']}" if "path" in self.params else "")
                + f" ({self.n_members} members): they were added as member 0, so the set has {self.n_members + 1} "
                "members",
                PointNotInSetWarning,
                stacklevel=2,
            )
        return PrefSet(np.concatenate([p[None], rest]), self.group_names, self.label_names, self.kind, params)

    # ---- reporting ---------------------------------------------------------------------------
    def describe(self) -> dict:
        """A JSON-ready record for ``summary.json``: kind, params, names and per-entry min/median/max."""
        v = self.values
        return {
            "kind": self.kind,
            "params": {k: _jsonable(x) for k, x in self.params.items()},
            "n_members": self.n_members,
            "groups": list(self.group_names),
            "labels": list(self.label_names),
            "member_0": [[float(x) for x in row] for row in v[0]],
            "per_group": {
                g: {
                    lab: {
                        "min": float(v[:, gi, li].min()),
                        "median": float(np.median(v[:, gi, li])),
                        "max": float(v[:, gi, li].max()),
                    }
                    for li, lab in enumerate(self.label_names)
                }
                for gi, g in enumerate(self.group_names)
            },
        }

    @staticmethod
    def _point(point, group_names, label_names) -> PrefSet:
        """The point as a one-member set (validated like any member)."""
        arr = np.asarray(point, dtype=np.float64)
        if arr.ndim != 2:
            raise ValueError(f"point: expected a [G, K] matrix, got shape {arr.shape}")
        return PrefSet(arr[None], group_names or (), label_names or (), "explicit")


def point_name(record: Mapping[str, Any]) -> str:
    """What member 0 of a set is, from its :meth:`PrefSet.describe` record: "the given prefs", or
    what :meth:`PrefSet.with_point` named it (e.g. "member 0 of prefset.csv (no --prefs given)")."""
    return str(record.get("params", {}).get("point") or "the given prefs")


def _bind(found: list[str], wanted, what: str) -> list[str]:
    """``found`` reordered to ``wanted`` (by name), refusing any name on one side only."""
    if wanted is None:
        return found
    wanted = [str(x) for x in wanted]
    extra, missing = sorted(set(found) - set(wanted)), sorted(set(wanted) - set(found))
    if extra or missing:
        raise ValueError(
            f"{what} {found} do not match the expected {wanted} (only in the file: {extra}; missing: {missing})"
        )
    return wanted


def _positive_float(x, what: str) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: expected a positive number, got {x!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{what}: expected a finite number > 0, got {x!r}")
    return v


def _member_count(q) -> int:
    if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or q < 2:
        raise ValueError(f"q: expected an integer >= 2 (the point plus at least one draw), got {q!r}")
    return int(q)


def _jsonable(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (list, tuple)):
        return [_jsonable(y) for y in x]
    return x
