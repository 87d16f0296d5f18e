"""Build the scenario that the command-line arguments of :mod:`jaxfair.utils.cliargs` name.

:func:`jaxfair.utils.cliargs.add_scenario_arguments` adds the flags; :func:`scenario_from_args`
turns them into a :class:`~jaxfair.scenarios.Scenario` (a registered one or the user's own
logs). These helpers live in the scenarios layer because they import the registry; the flag
parsers they use stay in the base module :mod:`jaxfair.utils.cliargs`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxfair.utils.cliargs import (
    IMPRESSION_FLAGS,
    LOG_RESERVED,
    UsageError,
    check_log_flags_unused,
    check_reserved_options,
    parse_columns,
    parse_prefs,
    scenario_options,
)

__all__ = [
    "allow_unnormalised_arg",
    "check_data_dir",
    "echo_prefs",
    "logs_from_args",
    "scenario_from_args",
    "scenario_name",
]


def echo_prefs(scenario) -> None:
    """Print which preference row went to which group, one line per group, on stderr (SPEC §9),
    and where they came from when that is not ``--prefs`` (``scenario.prefs_origin``)."""
    import sys

    from jaxfair.named_prefs import prefs_lines

    labels = ", ".join(scenario.label_names)
    origin = getattr(scenario, "prefs_origin", None)
    for line in prefs_lines(scenario.group_names, scenario.prefs):
        print(f"{line}  [{labels}]" + (f"  ({origin})" if origin else ""), file=sys.stderr)


def scenario_name(args: argparse.Namespace) -> str:
    """The registered scenario ``--scenario`` names (or the default), checked against the registry
    and against ``--data-dir`` (:func:`check_data_dir`)."""
    from jaxfair import scenarios

    name = args.scenario or args._default_scenario
    if name not in scenarios.available():
        raise UsageError(f"--scenario: unknown scenario {name!r}; expected one of {', '.join(scenarios.available())}")
    check_data_dir(name, getattr(args, "data_dir", None))
    return name


def check_data_dir(name: str, data_dir) -> None:
    """Refuse ``--data-dir`` for a registered scenario that reads no data files (one line, the
    same in every command): a factory that accepts and ignores ``data_dir`` would otherwise
    let a user believe their directory was used."""
    from jaxfair import scenarios

    if data_dir is not None and scenarios.reads_data_files(name) is False:
        raise UsageError(f"--data-dir: scenario {name!r} reads no data files")


def scenario_from_args(args: argparse.Namespace, check=None):
    """The :class:`~jaxfair.scenarios.Scenario` that the arguments of :func:`add_scenario_arguments` name.

    Without ``--prefs`` but with ``--prefs-set file:PATH`` the prefs are member 0 of that file
    (a ``jaxfair prefs`` file's point estimate), bound by name; ``scenario.prefs_origin`` then
    names them so ("member 0 of PATH"), never "the given prefs" (:meth:`PrefSet.for_scenario`).
    ``check``: called with the scenario before the prefs are echoed, so that a mistake it finds
    (an impression log's logging policy, checked one layer up) is still the only line printed.
    """
    from jaxfair import scenarios

    prefs = parse_prefs(args.prefs) if args.prefs is not None else None
    set_file = _prefs_set_file(args) if prefs is None else None
    allow = allow_unnormalised_arg(args)
    options = scenario_options(args)
    seed = getattr(args, args._scenario_seed_dest)
    if args.data is None:
        check_log_flags_unused(args)
        name = scenario_name(args)
        try:
            scenario = scenarios.load(name, seed=seed, prefs=prefs, allow_unnormalised=allow, **options)
        except ValueError as exc:
            if getattr(args, "data_dir", None) is not None and "unknown option" in str(exc) and "data_dir" in str(exc):
                raise UsageError(f"--data-dir: scenario {name!r} reads no data files") from None
            raise
        if set_file is not None:
            scenario = scenario.with_prefs(_member_0(set_file, scenario.group_names, scenario.label_names))
    else:
        if args.scenario is not None:
            raise UsageError("--scenario and --data: give one (a registered scenario or your own logs), not both")
        if set_file is not None and args.labels is not None:
            prefs = _member_0(set_file, None, parse_columns(args.labels, "--labels"))
        scenario = logs_from_args(args, seed=seed, prefs=prefs, options=options)
    if set_file is not None:
        scenario.prefs_origin = f"member 0 of {Path(set_file).name} (no --prefs given)"
    if check is not None:
        check(scenario)
    # The binding the user has to check: their --prefs rows, or member 0 of their set's file
    # (a registered scenario's documented default is recorded in every output, not echoed).
    if prefs is not None or set_file is not None or args.data is not None:
        echo_prefs(scenario)
    return scenario


def _prefs_set_file(args: argparse.Namespace) -> str | None:
    """PATH of ``--prefs-set file:PATH`` (None for another spec, or a command without the flag)."""
    spec = getattr(args, "prefs_set", None)
    if not isinstance(spec, str):
        return None
    kind, _, rest = spec.strip().partition(":")
    return rest if kind == "file" and rest else None


def _member_0(path: str, group_names, label_names) -> dict:
    """Member 0 (the smallest ``member`` id) of the preference-set file ``path`` (the long format
    ``member, group, label, value`` of ``PrefSet.to_file``) as ``{group: row}``, the row in
    ``label_names`` order. Only what binding needs is read here (this layer sits below
    :mod:`jaxfair.preferences`); the command reads and checks the whole set with ``PrefSet.parse``.
    ``group_names`` is unused: the prefs bind to groups by name where they are bound."""
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype={"group": str, "label": str})
    except (OSError, ValueError) as exc:
        raise UsageError(f"--prefs-set: {path} cannot be read as a preference set ({exc})") from None
    missing = [c for c in ("member", "group", "label", "value") if c not in df.columns]
    if missing or df.empty:
        raise UsageError(f"--prefs-set: {path}: expected rows of member, group, label, value (missing {missing})")
    first = df[df["member"] == df["member"].min()]
    values = {(g, lab): v for g, lab, v in zip(first["group"], first["label"], first["value"], strict=True)}
    labels = [str(x) for x in label_names]
    out = {}
    for g in dict.fromkeys(first["group"]):
        lost = [lab for lab in labels if (g, lab) not in values]
        if lost:
            raise UsageError(f"--prefs-set: {path}: member 0 has no value for group {g!r}, label(s) {lost}")
        out[g] = [float(values[(g, lab)]) for lab in labels]
    return out


def allow_unnormalised_arg(args: argparse.Namespace) -> bool:
    """``--allow-unnormalised-prefs`` (only with ``--prefs``)."""
    allow = bool(getattr(args, "allow_unnormalised_prefs", False))
    if allow and getattr(args, "prefs", None) is None:
        raise UsageError("--allow-unnormalised-prefs: only meaningful with --prefs")
    return allow


def logs_from_args(args: argparse.Namespace, *, seed: int = 0, prefs=None, options: dict | None = None):
    """The scenario of ``--data FILE`` and its column flags (:func:`add_log_arguments`)."""
    from jaxfair import scenarios

    for flag in ("scores", "labels", "group", "user"):
        if getattr(args, flag) is None:
            raise UsageError(f"--{flag}: required with --data (see `--help`)")
    options = dict(options or {})
    check_reserved_options(options, dict(LOG_RESERVED, seed="--seed"))
    return scenarios.from_file(
        args.data,
        user=args.user,
        group=args.group,
        scores=parse_columns(args.scores, "--scores"),
        labels=parse_columns(args.labels, "--labels"),
        candidate=args.candidate,
        retrieved=args.retrieved,
        features=parse_columns(args.features, "--features"),
        session=args.session,
        group_names=parse_columns(args.group_names, "--group-names"),
        allow_duplicates=args.allow_duplicates,
        item_group=args.item_group,
        prefs=prefs,
        allow_unnormalised=allow_unnormalised_arg(args),
        replay=args.replay,
        seed=seed,
        **impression_arguments(args),
        **options,
    )


def impression_arguments(args: argparse.Namespace) -> dict:
    """The impression-log keywords of :func:`~jaxfair.scenarios.logs.from_frame` (SPEC §10) from
    ``--shown/--position/--propensity/--logging`` (and a slate's ``--position-weights``)."""
    # --logging stays a spec here: it is parsed (and its K checked) where the log is estimated.
    out = {f: getattr(args, f, None) for f in IMPRESSION_FLAGS}
    if out["position"] is not None and getattr(args, "position_weights", None) is not None:
        from jaxfair.engine.position import POSITION_MODELS

        pw = args.position_weights
        if pw not in POSITION_MODELS:
            try:
                pw = tuple(float(x) for x in pw.split(","))
            except ValueError:
                raise UsageError(
                    f"--position-weights: expected one of {', '.join(POSITION_MODELS)} or numbers"
                ) from None
        out["position_weights"] = pw
    return out
