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
    _add_simulate_log(subparsers)


def _add_simulate_log(subparsers) -> None:
    from jaxfair.engine.slate import add_slate_arguments
    from jaxfair.utils.cliargs import add_scenario_arguments, int_at_least, positive_int

    p = subparsers.add_parser(
        "simulate-log",
        help="an impression log (outcomes only where shown) drawn from a scenario under a declared "
        "randomisation, with the exact truth; how much to randomise",
        description="Serve every session of a full-information scenario with weights α ~ D0 (--logging), keep the "
        "outcomes of the shown item(s) only and write DIR/log.csv (the impression log, readable by `jaxfair "
        "surface --shown shown --logging D0`), DIR/truth.csv (exact group utilities over a grid of α from the full "
        "labels) and DIR/summary.json with the one-line answer to 'how much to randomise': the utility the "
        "randomisation costs (exact) and the CI width at the recommended α for this many sessions.",
    )
    add_scenario_arguments(p, seed_help="seed of the scenario, the sessions and the logging draws")
    p.add_argument("--sessions", type=positive_int, default=None, help="sessions in the log (default 20000)")
    p.add_argument(
        "--grid",
        type=int_at_least(2),
        default=None,
        help="truth grid: points along w (K = 2, default 101) or per simplex edge (K >= 3)",
    )
    p.add_argument(
        "--n-boot", type=positive_int, default=200, help="bootstrap resamples for the CI at the recommended α"
    )
    add_slate_arguments(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.set_defaults(func=_run_simulate_log)


def _run_simulate_log(args) -> int:
    from jaxfair.engine.slate import slate_from_args
    from jaxfair.offpolicy import LoggingPolicy
    from jaxfair.scenarios.cliargs import scenario_from_args
    from jaxfair.surface.simulated_log import simulate_log_outputs, write_simulated_log
    from jaxfair.utils.outdir import staged_dir
    from jaxfair.utils.preflight import check_out_dir

    out = check_out_dir(args.out)
    spec = args.logging
    if spec is None:
        raise UsageError("--logging: required: the randomisation D0 to log under, e.g. dirichlet:20@0.5,0.5")
    for f in ("shown", "position", "propensity"):
        if getattr(args, f) is not None:
            raise UsageError(f"--{f}: simulate-log writes an impression log; it reads a full-information scenario")
    args.logging = None  # the D0 to simulate, not a column of --data
    sc = scenario_from_args(args)
    policy = LoggingPolicy.parse(spec, sc.n_labels, name="--logging")
    slate = slate_from_args(args, sc.n_candidates)
    res = simulate_log_outputs(
        sc,
        policy,
        n_sessions=20_000 if args.sessions is None else args.sessions,
        slate=slate.k,
        position_weights=slate.weights,
        seed=args.seed,
        n_grid=args.grid,
        n_boot=args.n_boot,
    )
    with staged_dir(out) as stage:  # OUT complete or untouched (jaxfair.utils.outdir)
        paths = write_simulated_log(res, stage.path)
    paths = stage.final(paths)
    s = res.summary
    print(f"{sc.title}: impression log of {s['n_sessions']:,} sessions ({s['n_users']:,} users) under {policy}")
    print(f"  how much to randomise: {s['answer']}")
    print(f"  read it back: {s['read_back'].replace('DIR/', f'{out}/')}")
    for p in paths.values():
        print(f"  wrote {p}")
    return 0


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
