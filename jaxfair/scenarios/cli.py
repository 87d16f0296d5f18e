"""``jaxfair scenarios``: list the scenarios, describe one, print its AUC table.

The lead's ``jaxfair/cli.py`` calls :func:`add_subcommands`.
"""

from __future__ import annotations

import json

from jaxfair.scenarios.cliargs import allow_unnormalised_arg, check_data_dir, echo_prefs, logs_from_args
from jaxfair.utils.cliargs import (
    UsageError,
    add_log_arguments,
    add_prefs_argument,
    check_log_flags_unused,
    check_reserved_options,
    nonnegative_int,
    parse_options,
    parse_prefs,
)

__all__ = ["add_subcommands", "run"]


def add_subcommands(subparsers) -> None:
    """Register the ``scenarios`` subcommand on an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "scenarios",
        help="list the scenarios; --describe NAME / --auc NAME",
        description="Without arguments, list every registered scenario. --describe NAME builds (or loads from "
        "the cache) a scenario and prints its sizes, label rates and options as JSON; --auc NAME "
        "prints its AUC table (the paper's appendix tables 1-4). Building a paper scenario from raw "
        "data takes minutes the first time; later loads come from the cache. --data FILE with its column "
        "flags checks your own logs: it prints what was read (describe) and the AUC table.",
    )
    p.add_argument("--describe", metavar="NAME", help="print describe() of scenario NAME as JSON")
    p.add_argument("--auc", metavar="NAME", help="print the AUC table of scenario NAME")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="build seed (default 0)")
    p.add_argument(
        "--data-dir",
        default=None,
        help="directory holding ml-100k/ and marketbias/ (default: search "
        "$JAXFAIR_DATA, ../shared/data beside the checkout, the user cache dir)",
    )
    p.add_argument("--cache-dir", default=None, help="cache directory for built pools (default: the user cache dir)")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="scenario option, repeatable; VALUE parsed as JSON when possible (e.g. n_trees=100)",
    )
    add_prefs_argument(p)
    add_log_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from jaxfair import scenarios

    if args.data is not None:
        if args.describe or args.auc:
            raise UsageError("--data and --describe/--auc: give one (your own logs or a registered scenario)")
        if args.data_dir is not None:
            raise UsageError("--data-dir: the directory of a paper scenario's raw data; --data names your logs file")
        sc = logs_from_args(args, seed=args.seed, prefs=_prefs(args), options=parse_options(args.option))
        echo_prefs(sc)
        print(json.dumps(sc.describe(), indent=2, default=str))
        print(f"AUC table — {sc.title}")
        print(sc.auc_table().round(3).to_string())
        return 0
    check_log_flags_unused(args)
    if not args.describe and not args.auc:
        if args.prefs is not None:
            raise UsageError("--prefs: give it with --describe/--auc NAME or --data FILE")
        allow_unnormalised_arg(args)
        width = max(len(n) for n in scenarios.available())
        for name, desc in scenarios.summary().items():
            print(f"{name:<{width}}  {desc}")
        return 0
    opts = parse_options(args.option)
    check_reserved_options(
        opts,
        {
            "seed": "--seed",
            "prefs": "--prefs",
            "allow_unnormalised": "--allow-unnormalised-prefs",
            "data_dir": "--data-dir",
            "cache_dir": "--cache-dir",
        },
    )
    for name in filter(None, (args.describe, args.auc)):
        if name not in scenarios.available():
            raise UsageError(
                f"--describe/--auc: unknown scenario {name!r}; expected one of {', '.join(scenarios.available())}"
            )
    extra = {}
    for name in filter(None, dict.fromkeys((args.describe, args.auc))):
        check_data_dir(name, args.data_dir)  # the one --data-dir check of every command
        if name != "toy":
            extra = dict(data_dir=args.data_dir, cache_dir=args.cache_dir)
        # Errors: one line from jaxfair.cli.main.
        sc = scenarios.load(
            name, seed=args.seed, prefs=_prefs(args), allow_unnormalised=allow_unnormalised_arg(args), **extra, **opts
        )
        echo_prefs(sc)
        if name == args.describe:
            print(json.dumps(sc.describe(), indent=2, default=str))
        if name == args.auc:
            print(f"AUC table — {sc.title}")
            print(sc.auc_table().round(3).to_string())
    return 0


def _prefs(args):
    return parse_prefs(args.prefs) if args.prefs is not None else None
