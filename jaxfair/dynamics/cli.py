"""``jaxfair dynamics``: retention dynamics of serving policies; registered by :mod:`jaxfair.cli`."""

from __future__ import annotations

__all__ = ["add_subcommands"]


def _floats(text: str | None, flag: str):
    from jaxfair.utils.cliargs import UsageError

    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"{flag}: expected comma-separated numbers, got {text!r}") from None


def _run_dynamics(args) -> int:

    from jaxfair.dynamics.policies import default_policies, parse_policy
    from jaxfair.dynamics.report import horizon_table, write_dynamics
    from jaxfair.dynamics.retention import Retention
    from jaxfair.dynamics.simulate import simulate
    from jaxfair.engine import grids
    from jaxfair.engine.slate import slate_from_args
    from jaxfair.htmlreport.commands import finish_outputs
    from jaxfair.scenarios.cliargs import scenario_from_args
    from jaxfair.utils.cliargs import scenario_label
    from jaxfair.utils.outdir import staged_dir
    from jaxfair.utils.preflight import check_out_dir

    label = scenario_label(args)
    out = check_out_dir(args.out or f"results/dynamics-{label}")
    from jaxfair.scenarios.impressions import refuse_impression_args

    refuse_impression_args(args, "dynamics")  # SPEC §10: an impression log has no full labels
    # Everything the user can get wrong is checked before any work starts.
    for flag, v, lo in (
        ("--periods", args.periods, 1),
        ("--slots", args.slots, 1),
        ("--seeds", args.seeds, 1),
        ("--every", args.every, 1),
        ("--grid", args.grid, 2),
    ):
        if v < lo:
            raise ValueError(f"{flag}: expected an integer >= {lo}, got {v}")
    slate = slate_from_args(args)  # the one slate resolution (k checked against m by simulate)
    acquisition = _floats(args.acquisition, "--acquisition")
    sc = scenario_from_args(args)
    retention = Retention.for_scenario(
        sc, rho_min=args.rho_min, rho_max=args.rho_max, kappa=args.kappa, s_mid=args.s_mid, smoothing=args.smoothing
    )
    from jaxfair.dynamics.population import check_acquisition

    check_acquisition(acquisition, sc)
    k = sc.n_labels
    grid = grids.direction_grid(args.grid) if k == 2 else grids.simplex_grid(k, args.grid)
    # No --policies: a default that fits K (fixed:0.5 has one weight, which only K = 2 reads).
    text = default_policies(k) if args.policies is None else args.policies
    policies = [parse_policy(p, k, grid, args.every) for p in text.split(",") if p.strip()]
    if not policies:
        raise ValueError(f"--policies: expected at least one policy, got {args.policies!r}")
    prefs_set = None
    if args.prefs_set is not None:  # checked before any simulation
        from jaxfair.dynamics.prefs_set import parse_dynamics_set

        prefs_set = parse_dynamics_set(args.prefs_set, sc, max_members=args.set_members, seed=args.seed)
    seeds = list(range(args.seed, args.seed + args.seeds))
    common = dict(
        periods=args.periods,
        slots=args.slots,
        retention=retention,
        acquisition=acquisition,
        slate=slate,
        bank_users=args.bank_users,
        sessions_per_user=args.sessions_per_user,
    )
    runs = None
    if prefs_set is not None:
        from jaxfair.dynamics.prefs_set import simulate_over_set

        runs = simulate_over_set(sc, policies, prefs_set, seeds=seeds, progress=True, **common)
    results = []
    if runs is not None:
        # Member 0 is the scenario's prefs (PrefSet.with_point): its runs are the point run.
        results = list(runs[0])
    for s in [] if results else seeds:
        results.append(
            simulate(
                sc,
                policies,
                seed=s,
                progress=True,
                **common,
            )
        )
    extra = {"title": sc.title}
    set_paths, set_record = {}, None
    with staged_dir(out) as stage:  # OUT complete or untouched (jaxfair.utils.outdir)
        if runs is not None:
            from jaxfair.dynamics.set_report import write_set_outputs

            set_paths, set_record = write_set_outputs(runs, stage.path, title=sc.title, set_record=prefs_set.describe())
            extra["prefs_set"] = set_record
        paths = write_dynamics(results, stage.path, title=sc.title, extra=extra)
        paths |= set_paths
        paths |= finish_outputs(stage.path, args)
    paths = stage.final(paths)
    table = horizon_table(results)
    cols = ["policy", "utility", "der", "worst_best_ratio"] + [
        c for c in table.columns if c.startswith("amplification_") and not c.endswith(("_lo", "_hi"))
    ]
    print(
        f"{sc.title}: {args.periods} periods x {args.slots} slots, {args.seeds} seed(s); "
        f"bank: {results[0].config['sample']['text']}"
    )
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if set_record is not None:
        _print_set(set_record)
    for p in paths.values():
        print(f"  wrote {p}")
    return 0


def _print_set(record: dict) -> None:
    """The amplification over the preference set, and each comparison with how many members agree."""
    import pandas as pd

    table = pd.DataFrame(record["table"])
    print(
        f"amplification share(T)/share(0) over the preference set ({record['set'].get('kind')}, "
        f"{record['members_run']} members; member values are means over {record['seeds']} seed(s)):"
    )
    cols = ["policy", "group", "amplification_given", "amplification_min", "amplification_median", "amplification_max"]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for s in record["statements"]:
        print(f"  {s['text']}")


def add_subcommands(subparsers) -> None:
    """Register ``dynamics`` on an ``argparse`` subparsers object."""
    from jaxfair.htmlreport.commands import add_html_argument
    from jaxfair.utils.cliargs import add_scenario_arguments, int_at_least, nonnegative_int

    p = subparsers.add_parser(
        "dynamics",
        help="retention dynamics over time: how serving policies change who stays (SPEC §8)",
        description="Simulate SLOTS user slots over PERIODS periods: each occupant gets one session per period, "
        "returns with probability rho(satisfaction) or is replaced by a newcomer. Writes share.png "
        "(group share over time per policy: the amplification figure), utility.png, der.png, "
        "trajectories.csv, horizon.csv/.md and summary.json to --out.",
    )
    add_scenario_arguments(p, seed_flag="--scenario-seed")
    p.add_argument(
        "--policies",
        default=None,
        help="comma-separated: fixed:W (K=2, alpha=(W,1-W)) or fixed:a/b/c (one weight per label), retune, "
        "retune_fair:TAU (default fixed:0.5,retune,retune_fair:0.9 for K=2; equal weights fixed:1/1/1,... "
        "for K>=3)",
    )
    p.add_argument("--periods", type=int, default=200, help="periods T (default 200)")
    p.add_argument("--slots", type=int, default=10_000, help="user slots N (default 10000)")
    p.add_argument("--every", type=int, default=10, help="periods between re-tunings R (default 10)")
    p.add_argument("--grid", type=int, default=101, help="grid points per edge for retune policies (default 101)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="first simulation seed (default 0)")
    p.add_argument("--seeds", type=int, default=1, help="seeds seed..seed+S-1, for across-seed CIs (default 1)")
    r = p.add_argument_group("retention (default: the scenario's)")
    r.add_argument("--rho-min", type=float, default=None, help="return probability at low satisfaction")
    r.add_argument("--rho-max", type=float, default=None, help="return probability at high satisfaction")
    r.add_argument("--kappa", type=float, default=None, help="steepness of rho(s)")
    r.add_argument("--s-mid", type=float, default=None, help="midpoint of rho(s)")
    r.add_argument("--smoothing", type=float, default=None, help="lambda in (0, 1]: weight of the latest session")
    p.add_argument(
        "--acquisition", default=None, metavar="P,P", help="newcomer group mix (default: the scenario's prevalence)"
    )
    from jaxfair.engine.slate import add_slate_arguments

    add_slate_arguments(p)
    p.add_argument(
        "--bank-users",
        type=int_at_least(1),
        default=None,
        help="users in the bank (default: the scenario's; toy 2048, pools every user)",
    )
    p.add_argument(
        "--sessions-per-user",
        type=int_at_least(1),
        default=None,
        help="sessions drawn per bank user (default: the scenario's; toy 32, pools 64)",
    )
    p.add_argument(
        "--prefs-set",
        default=None,
        metavar="SPEC",
        help="also simulate every member of a preference set around the prefs: dirichlet:C[:Q], box:D[:Q] or "
        "file:PATH; writes prefs_set.csv/.md and amplification_set.png (amplification min/median/max over the set) "
        "and says which policy comparisons hold for every member. Each member is its own simulation (utility "
        "drives who stays), so Q defaults to --set-members",
    )
    p.add_argument(
        "--set-members",
        type=int_at_least(2),
        default=16,
        help="members simulated when --prefs-set gives no :Q (and the cap for a file set; default 16)",
    )
    p.add_argument("--out", default=None, help="output directory (default results/dynamics-<scenario>)")
    add_html_argument(p)
    p.set_defaults(func=_run_dynamics)
