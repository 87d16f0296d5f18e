"""Command-line arguments shared by every command that needs a scenario.

``add_scenario_arguments(parser)`` adds ``--scenario/--option/--seed/--prefs/--data-dir`` (a
registered scenario) and ``--data/--scores/--labels/--group/--user/...`` (the user's own logs, see
:mod:`jaxfair.scenarios.logs`); :func:`jaxfair.scenarios.cliargs.scenario_from_args` builds the
scenario they name (it lives with the scenarios: this base module does not import them).
Every user mistake raises :class:`UsageError` (or ``ValueError``/``FileNotFoundError`` from
the library), which :func:`jaxfair.cli.main` prints as one ``jaxfair: error: ...`` line.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

__all__ = [
    "ESTIMATORS",
    "ESTIMATOR_DEFAULTS",
    "IMPRESSION_FLAGS",
    "LOG_FLAGS",
    "LOG_RESERVED",
    "UsageError",
    "add_estimator_arguments",
    "add_log_arguments",
    "add_prefs_argument",
    "add_scenario_arguments",
    "check_estimator_flags_unused",
    "check_log_flags_unused",
    "estimator_options",
    "check_reserved_options",
    "int_at_least",
    "nonnegative_int",
    "parse_columns",
    "parse_options",
    "parse_prefs",
    "positive_int",
    "scenario_label",
    "scenario_options",
]


class UsageError(ValueError):
    """A mistake on the command line: printed as one line, exit status 2."""


def int_at_least(lo: int):
    """argparse ``type=`` factory: an integer >= ``lo`` (the message says what is expected)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lo}, got {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lo}, got {value}")
        return value

    parse.__name__ = f"int>={lo}"
    return parse


positive_int = int_at_least(1)
nonnegative_int = int_at_least(0)


def parse_options(pairs: list[str], flag: str = "--option") -> dict[str, Any]:
    """``["KEY=VALUE", ...]`` → dict; VALUE parsed as JSON when it is JSON, else kept as a string."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag}: expected KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def check_reserved_options(options: dict[str, Any], reserved: dict[str, str], flag: str = "--option") -> None:
    """Refuse ``--option KEY=...`` where KEY has its own flag (``reserved``: key → that flag)."""
    for key in options:
        if key in reserved:
            raise UsageError(f"{flag} {key}=...: {key} has its own flag, use {reserved[key]} instead")


def parse_prefs(text: str, flag: str = "--prefs") -> list[list[float]] | dict[str, list[float]]:
    """The true preferences of ``--prefs``: rows by position, or named rows.

    ``'0.8,0.2;0.2,0.8'`` (one row per group, ``;`` between groups, in the order of
    ``--group-names`` or of the scenario's groups) → ``[G][K]`` floats;
    ``'student=0.7,0.3;tech=0.2,0.8'`` → ``{"student": [0.7, 0.3], ...}`` (bound by name).
    Values are checked (finite, >= 0, each row summing to 1) where the groups are known.
    """
    rows: list[list[float]] = []
    named: dict[str, list[float]] = {}
    for part in text.split(";"):
        key, sep, values = part.rpartition("=")
        key = key.strip()
        if sep and not key:
            raise UsageError(f"{flag}: expected NAME=w,w before each '=', got {part!r} in {text!r}")
        try:
            row = [float(v) for v in values.split(",")]
        except ValueError:
            raise UsageError(
                f"{flag}: expected rows of numbers like '0.8,0.2;0.2,0.8' or 'NAME=0.8,0.2;NAME=0.2,0.8', got {text!r}"
            ) from None
        if not all(math.isfinite(v) for v in row):
            raise UsageError(f"{flag}: expected finite weights, got {text!r}")
        if sep:
            if key in named:
                raise UsageError(f"{flag}: group {key!r} is given twice in {text!r}")
            named[key] = row
        else:
            rows.append(row)
    if named and rows:
        raise UsageError(f"{flag}: name every row (NAME=w,w;...) or none, got {text!r}")
    widths = {len(r) for r in (named.values() if named else rows)}
    if len(widths) != 1:
        raise UsageError(f"{flag}: every group needs the same number of weights (one per label), got {text!r}")
    return named or rows


def parse_columns(text: str | None, flag: str) -> list[str] | None:
    """``'a,b'`` → ``['a', 'b']`` (None stays None); empty names are an error."""
    if text is None:
        return None
    cols = [c.strip() for c in text.split(",")]
    if not all(cols):
        raise UsageError(f"{flag}: expected comma-separated column names, got {text!r}")
    return cols


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--data FILE`` and the flags naming its columns (see :mod:`jaxfair.scenarios.logs`)."""
    d = parser.add_argument_group("your own logs (instead of --scenario)")
    d.add_argument("--data", default=None, metavar="FILE", help="logged sessions, .csv or .parquet")
    d.add_argument("--scores", default=None, metavar="COLS", help="the K model-score columns, comma-separated")
    d.add_argument("--labels", default=None, metavar="COLS", help="the K outcome columns (same order as --scores)")
    d.add_argument("--group", default=None, metavar="COL", help="the user's group column")
    d.add_argument("--user", default=None, metavar="COL", help="the user id column")
    d.add_argument(
        "--candidate",
        default=None,
        metavar="COL",
        help="candidate (item) id column; duplicate (user, candidate) rows are then an error",
    )
    d.add_argument("--features", default=None, metavar="COLS", help="user covariate columns (optional)")
    d.add_argument("--retrieved", default=None, metavar="COL", help="0/1 column: the row survived retrieval")
    d.add_argument("--session", default=None, metavar="COL", help="session id column (replay; default: one per user)")
    d.add_argument("--replay", action="store_true", help="serve the logged sessions as they were (no resampling)")
    d.add_argument(
        "--group-names",
        default=None,
        metavar="G0,G1,...",
        help="order of the group values, group 0 first, and of the --prefs rows (default: integer codes "
        "0..G-1 as they are, other integer codes sorted, text by number of users, most first — then --prefs "
        "must name its rows, NAME=w,w;NAME=w,w)",
    )
    d.add_argument(
        "--allow-duplicates",
        action="store_true",
        help="without --candidate, rows repeating an earlier row exactly are genuine (no warning)",
    )
    d.add_argument(
        "--item-group",
        default=None,
        metavar="COL",
        help="provider (item) group column of each candidate (optional; provider exposure, SPEC §7)",
    )
    i = parser.add_argument_group(
        "impression log (outcomes only where an item was shown; SPEC §10, docs/impressions.md)"
    )
    i.add_argument(
        "--shown",
        default=None,
        metavar="COL",
        help="0/1 column: the item shown in its session (top-1: one per session); labels may be empty "
        "elsewhere, and every number is then estimated off-policy",
    )
    i.add_argument(
        "--position",
        default=None,
        metavar="COL",
        help="slates: the position 1..k the item was shown at, 0 = not shown (independent-position IPS)",
    )
    i.add_argument(
        "--propensity",
        default=None,
        metavar="COL",
        help="the logging policy's probability of the shown item (at its position for slates)",
    )
    i.add_argument(
        "--logging",
        default=None,
        metavar="D0",
        help="the declared weight randomisation of the log: dirichlet:C@a_1,...,a_K (α_n ~ Dir(C·a)) or "
        "epsilon:E@a_1,...,a_K; jaxfair then computes every candidate's propensity itself",
    )


def add_scenario_arguments(
    parser: argparse.ArgumentParser,
    *,
    default_scenario: str = "toy",
    seed_flag: str = "--seed",
    seed_help: str = "seed the scenario is built with",
    prefs: bool = True,
) -> None:
    """Add the scenario arguments (registered scenario or ``--data`` logs) to ``parser``.

    Args:
      parser: an argparse (sub)parser.
      default_scenario: used when neither ``--scenario`` nor ``--data`` is given.
      seed_flag: the flag of the scenario's build seed (``--scenario-seed`` where ``--seed``
        already means something else, e.g. the study's root seed in ``jaxfair bo``).
      seed_help: its help text.
      prefs: add ``--prefs`` (False where the command adds it itself).
    """
    g = parser.add_argument_group("scenario")
    g.add_argument(
        "--scenario",
        default=None,
        help=f"registered scenario name (see `jaxfair scenarios`; default: {default_scenario})",
    )
    g.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="scenario option, repeatable; VALUE parsed as JSON when possible (e.g. n_candidates=10)",
    )
    g.add_argument(seed_flag, type=nonnegative_int, default=0, metavar="SEED", help=f"{seed_help} (default 0)")
    g.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="directory holding the raw data of a paper scenario (ml-100k/, marketbias/; default: "
        "search $JAXFAIR_DATA, shared/data beside the checkout, the user cache dir)",
    )
    if prefs:
        add_prefs_argument(g)
    add_log_arguments(parser)
    # args.seed for --seed, args.scenario_seed for --scenario-seed (argparse's usual dest).
    parser.set_defaults(_default_scenario=default_scenario, _scenario_seed_dest=seed_flag.lstrip("-").replace("-", "_"))


def add_prefs_argument(parser) -> None:
    """``--prefs W;W`` and ``--allow-unnormalised-prefs`` (the true preferences, SPEC §9)."""
    parser.add_argument(
        "--prefs",
        default=None,
        metavar="W;W",
        help="true preferences α*(g) — an input nobody observes — one row of K weights per group, each row "
        "summing to 1: 'NAME=0.7,0.3;NAME=0.2,0.8' (bound by group name) or '0.7,0.3;0.2,0.8' in the order of "
        "--group-names (for --data logs with text groups the order must be stated) or of the scenario's "
        "groups; the mapping is echoed as 'prefs: NAME = (...)' and recorded in every output (required for "
        "--data logs unless G = K = 2)",
    )
    parser.add_argument(
        "--allow-unnormalised-prefs",
        action="store_true",
        help="accept --prefs rows that do not sum to 1 (a scale difference between rows changes DER; warns)",
    )


# The impression-log flags of add_log_arguments (SPEC §10): any of them makes --data an impression log.
IMPRESSION_FLAGS = ("shown", "position", "propensity", "logging")
ESTIMATORS = ("ips", "snips", "dm", "dr")


def add_estimator_arguments(parser: argparse.ArgumentParser) -> None:
    """The off-policy estimator's flags (``surface``/``bo`` on an impression log; SPEC §10).

    Every default is None here so a flag given without an impression log is refused
    (:func:`check_estimator_flags_unused`); :func:`estimator_options` fills the defaults."""
    e = parser.add_argument_group("off-policy estimation (with --shown/--position; docs/impressions.md)")
    e.add_argument(
        "--estimator",
        choices=ESTIMATORS,
        default=None,
        help="ips, snips, dm (outcome model only) or dr (doubly robust; default)",
    )
    e.add_argument("--clip", type=float, default=None, metavar="λ", help="clip importance weights at λ (recorded)")
    e.add_argument(
        "--mc",
        type=positive_int,
        default=None,
        metavar="M",
        help="Monte Carlo draws for declared propensities at K >= 3 (default 4096; K = 2 is exact)",
    )
    e.add_argument(
        "--min-ess",
        type=float,
        default=None,
        help="a cell is identified only with effective sample size >= this (default 30)",
    )
    e.add_argument(
        "--p-min",
        type=float,
        default=None,
        help="support deficiency: target items with logging propensity below this (default 1e-3)",
    )
    e.add_argument(
        "--n-boot", type=positive_int, default=None, help="bootstrap resamples over users for the CIs (default 200)"
    )


ESTIMATOR_DEFAULTS = {"estimator": "dr", "clip": None, "mc": 4096, "min_ess": 30.0, "p_min": 1e-3, "n_boot": 200}


def estimator_options(args: argparse.Namespace) -> dict[str, Any]:
    """The estimator flags with their defaults filled in, checked (one-line errors)."""
    out = {k: (v if getattr(args, k, None) is None else getattr(args, k)) for k, v in ESTIMATOR_DEFAULTS.items()}
    if out["clip"] is not None and not (math.isfinite(out["clip"]) and out["clip"] > 0):
        raise UsageError(f"--clip: expected a positive number, got {out['clip']}")
    if not (math.isfinite(out["min_ess"]) and out["min_ess"] >= 1):
        raise UsageError(f"--min-ess: expected a number >= 1, got {out['min_ess']}")
    if not (math.isfinite(out["p_min"]) and 0 <= out["p_min"] < 1):
        raise UsageError(f"--p-min: expected a number in [0, 1), got {out['p_min']}")
    out["estimator_default"] = getattr(args, "estimator", None) is None
    return out


def check_estimator_flags_unused(args: argparse.Namespace) -> None:
    """The estimator flags mean something only on an impression log (--shown/--position)."""
    given = [f"--{k.replace('_', '-')}" for k in ESTIMATOR_DEFAULTS if getattr(args, k, None) is not None]
    if given:
        raise UsageError(
            f"{', '.join(given)}: only meaningful on an impression log (--data FILE with --shown COL or "
            "--position COL; see docs/impressions.md)"
        )


# The column flags of add_log_arguments (besides --data and --replay).
LOG_FLAGS = (
    "scores",
    "labels",
    "group",
    "user",
    "candidate",
    "features",
    "retrieved",
    "session",
    "group_names",
    "item_group",
)
# from_file's keyword arguments that have their own flag: `--option KEY=...` for them is refused.
LOG_RESERVED = {
    **{f: f"--{f.replace('_', '-')}" for f in LOG_FLAGS + IMPRESSION_FLAGS},
    "replay": "--replay",
    "allow_duplicates": "--allow-duplicates",
    "prefs": "--prefs",
    "allow_unnormalised": "--allow-unnormalised-prefs",
}


def scenario_label(args: argparse.Namespace) -> str:
    """Short name for default output directories: the scenario name or ``logs-<file stem>``."""
    if getattr(args, "data", None):
        from pathlib import Path

        # Pool, replay and impression-log scenarios of one file are different scenarios: different directories.
        if getattr(args, "shown", None) is not None or getattr(args, "position", None) is not None:
            return f"logs-{Path(args.data).stem}-impressions"
        return f"logs-{Path(args.data).stem}" + ("-replay" if getattr(args, "replay", False) else "")
    return args.scenario or args._default_scenario


def scenario_options(args: argparse.Namespace) -> dict[str, Any]:
    """The scenario options of ``--option KEY=VALUE`` (and ``--data-dir``), refusing keys that have a flag."""
    options = parse_options(args.option)
    seed_flag = "--" + args._scenario_seed_dest.replace("_", "-")
    reserved = {"prefs": "--prefs", "allow_unnormalised": "--allow-unnormalised-prefs", "seed": seed_flag}
    if args.data is not None:
        reserved.update(LOG_RESERVED)
    check_reserved_options(options, reserved)
    if getattr(args, "data_dir", None) is not None:
        if args.data is not None:
            raise UsageError("--data-dir: the directory of a paper scenario's raw data; --data names your logs file")
        if "data_dir" in options:
            raise UsageError("--data-dir and --option data_dir=...: give one")
        options["data_dir"] = args.data_dir
    return options


def check_log_flags_unused(args: argparse.Namespace) -> None:
    """Without ``--data``, the column flags mean nothing: say so instead of ignoring them."""
    given = [f"--{f.replace('_', '-')}" for f in LOG_FLAGS + IMPRESSION_FLAGS if getattr(args, f, None) is not None]
    given += [flag for flag, on in (("--replay", args.replay), ("--allow-duplicates", args.allow_duplicates)) if on]
    if given:
        raise UsageError(f"{', '.join(given)}: only meaningful with --data FILE (your own logs)")
