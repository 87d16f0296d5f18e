"""``jaxfair simulate-log``: an impression log drawn from a full-information scenario, with its truth.

Beside the surface code it runs (:mod:`jaxfair.surface.simulated_log`); the lead's
``jaxfair/cli.py`` calls :func:`add_subcommands`.
"""

from __future__ import annotations

from jaxfair.utils.cliargs import UsageError

__all__ = ["add_subcommands"]


def add_subcommands(subparsers) -> None:
    """Register the ``simulate-log`` subcommand on an argparse ``subparsers`` object."""
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
