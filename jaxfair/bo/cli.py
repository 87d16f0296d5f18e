"""``jaxfair bo`` and ``jaxfair report``; registered by the lead's :mod:`jaxfair.cli`."""

from __future__ import annotations

__all__ = ["add_subcommands"]


def _run_bo(args) -> int:
    from jaxfair.htmlreport.commands import finish_outputs
    from jaxfair.ratio import worst_best_ratio
    from jaxfair.scenarios.cliargs import allow_unnormalised_arg, scenario_from_args, scenario_name
    from jaxfair.utils.cliargs import (
        IMPRESSION_FLAGS,
        LOG_FLAGS,
        UsageError,
        check_estimator_flags_unused,
        check_log_flags_unused,
        estimator_options,
        parse_options,
        scenario_label,
        scenario_options,
    )

    method_options: dict[str, dict] = {}
    for key, value in parse_options(args.method_option, "--method-option").items():
        if "." not in key:
            raise UsageError(f"--method-option: expected METHOD.OPTION=VALUE, got {key!r}")
        m, opt = key.split(".", 1)
        method_options.setdefault(m, {})[opt] = value
    # A registered scenario goes by name (run_study loads it); --data logs or --prefs are built
    # here (jaxfair.utils.cliargs). The study records the scenario's options and, for logs, the size and
    # sha256 of the file (not its path): a resume on an edited file is refused, the same file under
    # another path resumes.
    from jaxfair.utils.preflight import check_out_dir, warn_ignored_by_replay

    # A study directory is written into incrementally and resumed, never replaced as a whole.
    out = check_out_dir(args.out or f"results/bo-{scenario_label(args)}", replace=False)
    impressions = args.shown is not None or args.position is not None
    offpolicy = None
    if impressions:
        opts = estimator_options(args)
        offpolicy = {k: opts[k] for k in ("estimator", "clip", "min_ess", "p_min", "mc")}
        if getattr(args, "n_boot", None) is not None:
            raise UsageError("--n-boot: a study's online test on a log is one resample of its users; no --n-boot")
    else:
        check_estimator_flags_unused(args)
    options = scenario_options(args)
    exact_users = 100_000 if args.exact_users is None else args.exact_users
    if args.data is not None or args.prefs is not None:
        from jaxfair.surface.offpolicy import impression_check

        scenario = scenario_from_args(args, check=impression_check(args))
        warn_ignored_by_replay(scenario, **{"--exact-users": args.exact_users})
        if args.replay:
            s, u = scenario.n_sessions, scenario.n_logged_users
            print(
                f"replay: each online test draws {args.users} sessions with replacement from the {s} logged "
                f"sessions of {u} users (a resample of the logs); the exact values are the {s} logged sessions, "
                "each once"
            )
        if args.data is not None:
            options = dict(
                options,
                **{f: getattr(args, f) for f in LOG_FLAGS + IMPRESSION_FLAGS if getattr(args, f) is not None},
                replay=args.replay,
            )
    else:
        check_log_flags_unused(args)
        allow_unnormalised_arg(args)  # refuses --allow-unnormalised-prefs without --prefs
        scenario = scenario_name(args)
    # Imported once the arguments are known good: BoTorch's import (seconds, and a torch
    # deprecation warning under some warning filters) must not come before a one-line usage error.
    from jaxfair.bo.study import run_study

    rows = run_study(
        scenario,
        args.methods,
        trials=args.trials,
        iterations=args.iterations,
        n_init=args.n_init,
        users_per_eval=args.users,
        seed=args.seed,
        out=out,
        method_options=method_options,
        space=args.space,
        exact_users=exact_users,
        scenario_seed=args.scenario_seed,
        scenario_options=options or None,
        workers=args.workers,
        ray_address=args.ray_address,
        horizon=args.horizon,
        prefs_set=args.prefs_set,
        **({"offpolicy": offpolicy} if offpolicy is not None else {}),
        **_slate_args(args),
    )
    if offpolicy is not None:
        from jaxfair.bo.legend import exact_values_text

        exact = exact_values_text(_print_offpolicy_study(out, scenario))
    else:
        exact = _exact_text(scenario, args, exact_users, out)
    _print_outcomes(rows, worst_best_ratio, exact, value_word="estimated" if offpolicy is not None else "exact")
    t = rows[rows["phase"] == "bo"].groupby("method")[["t_fit", "t_acq", "t_eval"]].mean()
    for m, r in t.iterrows():
        print(
            f"  {m:10s} mean s/iteration: fit {r['t_fit']:.3f}  acquisition {r['t_acq']:.3f}  "
            f"evaluation {r['t_eval']:.4f}"
        )
    finish_outputs(out, args)  # the command line, in OUT/command.json (one entry per run)
    print(f"wrote {out}/rows.csv; next: jaxfair report {out}")
    return 0


def _print_offpolicy_study(out, scenario) -> dict:
    """What a study on an impression log measured, and where its search stayed (study.json)."""
    import json
    from pathlib import Path

    from jaxfair.bo.legend import region_text

    config = json.loads((Path(out) / "study.json").read_text())
    rec = config["offpolicy"]
    print(
        f"impression log ({scenario.logging_text()}): each online test is the off-policy {rec['estimator']} estimate "
        f"on one resample of its {scenario.n_logged_users:,} logged users, the exact values its point estimate on "
        f"the whole log; the search stays inside the identified region ({region_text(rec['identified_region'])}): "
        "a proposal outside it is evaluated, and recorded, at the nearest identified α (rows' note)"
        + (f"; slates of {config['slate']}: {rec['slate_assumption']}" if rec.get("slate_assumption") else "")
    )
    return config


def _exact_text(scenario, args, exact_users: int, out) -> str:
    """What the exact values are evaluated on, in this run's mode (a replay has no held-out users);
    ``scenario`` may be a registered name, whose draw study.json in ``out`` records."""
    import json
    from pathlib import Path

    from jaxfair.bo.legend import exact_values_text

    replay = bool(getattr(scenario, "fixed_sessions", False))
    if replay:
        config = {"exact_batch": "logged sessions, each once"}
    else:
        recorded = json.loads((Path(out) / "study.json").read_text()) if out is not None else {}
        sample = scenario.sample_size(exact_users) if hasattr(scenario, "sample_size") else None
        config = {"exact_users": exact_users, "exact_sample": sample or recorded.get("exact_sample")}
    if args.horizon is not None:
        config["horizon"] = args.horizon
    sessions = f"{scenario.n_sessions:,} logged sessions of {scenario.n_logged_users:,} users" if replay else None
    return exact_values_text(config, sessions=sessions)


def _print_outcomes(rows, worst_best_ratio, exact: str, value_word: str = "exact") -> None:
    """Per method, two α and what each number is: the last α a trial tested, and the α it recommends.

    ``exact``: what the exact values are evaluated on (:func:`jaxfair.bo.legend.exact_values_text`);
    ``value_word`` names them beside each recommendation (an impression log's: "estimated")."""
    from jaxfair.bo.legend import recommendation_lines
    from jaxfair.bo.rows import group_utility_columns
    from jaxfair.bo.statistics import method_recommendations, objective_columns, recommended_alpha

    objs = objective_columns(rows)
    point = ["utility_exact", "der_exact"]
    extra = [c for c in objs if c not in point]  # provider DER, or the robust objectives

    def values(r) -> str:
        text = f"utility {r['utility_exact']:.4f}  DER {r['der_exact']:.4f}"
        if "worst_best_ratio" in r:
            text += f"  worst/best group utility {r['worst_best_ratio']:.3f}"
        return text + "".join(f"  {c[: -len('_exact')]} {r[c]:.4f}" for c in extra)

    last = rows.sort_values("eval").groupby(["method", "trial"]).last()
    mu = group_utility_columns(last, exact=True)
    last["worst_best_ratio"] = worst_best_ratio(last[mu].to_numpy(float)) if mu else float("nan")
    n = last.groupby("method").size()
    print(
        f"exact values on {exact}, under the point prefs unless named; median over trials; 'last' = the α a trial "
        "evaluated last (the report's median_final_* columns), 'recommended' = its BO evaluation with the "
        "best sum of min-max normalised objectives"
    )
    med = last.groupby("method")[point + ["worst_best_ratio"] + extra].median()
    per, _ = recommended_alpha(rows)
    # recommended_alpha keeps the objective columns; the point ones come from the rows themselves.
    chosen = per[["scenario", "method", "trial", "eval"]].merge(rows, on=["scenario", "method", "trial", "eval"])
    # The recommended α's worst/best group utility ratio, as for the last α (DER alone misleads).
    mu = group_utility_columns(chosen, exact=True)
    chosen["worst_best_ratio"] = worst_best_ratio(chosen[mu].to_numpy(float)) if mu else float("nan")
    rec = chosen.groupby("method")[point + ["worst_best_ratio"] + extra].median()
    for m, r in med.iterrows():
        print(f"  {m:10s} last        ({n[m]} trials): {values(r)}")
        print(f"  {m:10s} recommended ({n[m]} trials): {values(rec.loc[m])}")
    print("recommended α per method (one α a trial found, not a median of α's):")
    for line in recommendation_lines(method_recommendations(rows), value_word):
        print("  " + line.removeprefix("* ").replace("**", ""))


def _slate_args(args) -> dict:
    """``--objectives``, ``--slate``, ``--position-weights`` as :func:`run_study` keywords (checked there)."""
    from jaxfair.engine.slate import slate_from_args
    from jaxfair.utils.cliargs import UsageError

    try:
        sl = slate_from_args(args)  # the one resolution of --slate/--position-weights/--gamma
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    # run_study takes k and weights: a geometric γ other than 0.8 travels as its weight vector.
    named = isinstance(sl.position_weights, str) and (sl.position_weights != "geometric" or sl.gamma == 0.8)
    pw = sl.position_weights if named else [float(v) for v in sl.weights]
    return dict(objectives=args.objectives, slate=sl.k, position_weights=pw)


def _run_report(args) -> int:
    from pathlib import Path

    if args.html and not _is_study(args.dir):  # a surface/diagnose/dynamics/prefs directory
        return _html_only(args)

    from jaxfair.bo.report import report
    from jaxfair.utils.cliargs import UsageError
    from jaxfair.utils.outdir import staged_dir
    from jaxfair.utils.preflight import check_out_dir

    out = Path(args.out) if args.out is not None else Path(args.dir) / "report"
    if args.out is not None or Path(args.dir).is_dir():  # a missing DIR: its own error, next
        check_out_dir(out)
    if not _is_study(args.dir):  # before anything is written (the report directory lies in DIR by default)
        raise UsageError(f"DIR: no study rows under {args.dir!r} (expected a directory written by `jaxfair bo`)")
    # The study's rows stay as they are; the report directory is complete or untouched (jaxfair.utils.outdir).
    with staged_dir(out) as stage:
        res = report(args.dir, stage.path, figures=not args.no_figures)
        if args.html:
            res["paths"].append(_html_of_study(args, stage.path))
    res["paths"] = stage.final(res["paths"])
    for note in res["notes"]:  # an unfinished study: say so before any number
        print(f"note: {note}")
    print(res["summary"].to_string(index=False))
    print("recommended α per method:")  # the α a reader would deploy, with its exact utility and DER
    for line in res["recommendation"]:
        if line:
            print("  " + line.removeprefix("* ").replace("**", ""))
    print("what the columns are:")  # median_final_* is not the recommended α's value: say which is which
    for line in res["legend"]:
        print("  " + line.removeprefix("* ").replace("`", "").replace("**", ""))
    if len(res["wilcoxon"]):
        cols = ["scenario", "comparison", "metric", "n_trials", "median_diff", "p_value", "note"]
        print(res["wilcoxon"][cols + (["n_unfinished"] if res["partial"] else [])].to_string(index=False))
    for p in res["paths"]:
        print(f"  wrote {p}")
    return 0


def _is_study(path) -> bool:
    from pathlib import Path

    path = Path(path)
    return (path / "rows").is_dir() or (path / "rows.csv").is_file() or (path / "study.json").is_file()


def _html_only(args) -> int:
    """``report DIR --html`` of a directory that is not a BO study: DIR/report.html only."""
    from jaxfair.htmlreport import command_line, write_html_report
    from jaxfair.utils.cliargs import UsageError

    if args.out is not None:
        raise UsageError(f"--out: {args.dir} is not a BO study; its report.html is written into it")
    argv = getattr(args, "argv", None)  # set by jaxfair.cli.main
    print(f"  wrote {write_html_report(args.dir, command=None if argv is None else command_line(argv))}")
    return 0


def _html_of_study(args, out):
    """``report.html`` in the study report's directory ``out``, with the study's configuration."""
    from pathlib import Path

    from jaxfair.htmlreport import command_line, write_html_report

    study = Path(args.dir)
    argv = getattr(args, "argv", None)  # set by jaxfair.cli.main
    command = None if argv is None else command_line(argv)
    return write_html_report(
        out, title=f"BO study {study.resolve().name}", command=command, extra_json=[study / "study.json"]
    )


def add_subcommands(subparsers) -> None:
    """Register ``bo`` and ``report`` on an ``argparse`` subparsers object."""
    from jaxfair.utils.cliargs import add_estimator_arguments, add_scenario_arguments, int_at_least

    p = subparsers.add_parser(
        "bo",
        help="fairness-aware Bayesian optimisation study of α (paired trials, resumable)",
        description="Run the paper's protocol: for each trial, every method starts from the same initial design "
        "and sees the same user batches; rows are written to OUT/rows/ after every evaluation and a "
        "rerun with the same arguments resumes where it stopped.",
    )
    add_scenario_arguments(p, seed_flag="--scenario-seed")  # --scenario/--option/--prefs or --data logs
    p.add_argument(
        "--methods",
        default="random,ei,fair-ehvi",
        help="comma-separated from random,ei,fair-ehvi,nehvi,eic,parego (default random,ei,fair-ehvi)",
    )
    p.add_argument("--trials", type=int, default=20, help="trials (default 20)")
    p.add_argument("--iterations", type=int, default=20, help="BO iterations per trial (default 20)")
    p.add_argument("--n-init", type=int, default=5, help="initial design size shared by the methods (default 5)")
    p.add_argument(
        "--users",
        type=int,
        default=2000,
        help="users per online evaluation (default 2000); with --replay, logged sessions drawn with replacement "
        "per online test (an online A/B test on logs is a resample of them)",
    )
    p.add_argument(
        "--exact-users",
        type=int,
        default=None,
        help="size of the batch the exact values are evaluated on, drawn once apart from the online tests "
        "(default 100000): new users of a generated scenario, sessions resampled from the real users of a pool "
        "or a log; ignored with --replay, whose exact values are every logged session once",
    )
    p.add_argument(
        "--space", choices=("direction", "box"), default="direction", help="search space (default direction)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="root seed of the study: user batches, initial designs and proposals derive from it "
        "(default 0); the scenario's own build seed is --scenario-seed (in `surface` and "
        "`diagnose`, --seed is the scenario's and the batch's seed)",
    )
    p.add_argument("--out", default=None, help="output directory (default results/bo-<scenario>)")
    p.add_argument(
        "--method-option",
        action="append",
        default=[],
        metavar="METHOD.KEY=VALUE",
        help="method option, e.g. fair-ehvi.strategy=utility, fair-ehvi.optimizer=continuous, ei.legacy=true",
    )
    p.add_argument(
        "--objectives",
        default="utility,der",
        help="utility,der (default, the paper), utility,der,provider_der (needs provider groups; "
        "Fair EHVI then scores 3-D hypervolume) or a robust pair over --prefs-set, e.g. utility_q10,der_min "
        "(the 10 %% quantile of utility and the minimum DER over the set)",
    )
    p.add_argument(
        "--prefs-set",
        default=None,
        metavar="SPEC",
        help="preference set for the robust objectives: dirichlet:C[:Q] or box:D[:Q] around the prefs, or "
        "file:PATH (e.g. `jaxfair prefs` bootstrap draws); recorded in study.json",
    )
    from jaxfair.engine.slate import add_slate_arguments

    add_slate_arguments(p)
    add_estimator_arguments(p)  # an impression log (--shown/--position): off-policy objectives
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="run the independent (method, trial) units on N Ray workers (default 1: in this process, "
        "no Ray); rows are identical whatever N",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDRESS",
        help="join this Ray cluster (e.g. auto) instead of starting a local one; OUT must be on a "
        "filesystem the workers share",
    )
    p.add_argument(
        "--horizon",
        type=int_at_least(1),
        default=None,
        metavar="T",
        help="evaluate each α over T periods of retention dynamics (long-run utility and DER, "
        "jaxfair.dynamics) instead of one session",
    )
    p.set_defaults(func=_run_bo)

    r = subparsers.add_parser(
        "report",
        help="tables and figures of a BO study directory; --html: a self-contained report.html of any output",
        description="Pareto frontiers (mean ± 1 sd), hypervolume per iteration, scalarised "
        "summary and Wilcoxon tests of fair-ehvi vs random and vs ei.",
    )
    r.add_argument("dir", metavar="DIR", help="study directory written by `jaxfair bo`")
    r.add_argument("--out", default=None, help="output directory (default DIR/report)")
    r.add_argument("--no-figures", action="store_true", help="tables only")
    r.add_argument(
        "--html",
        action="store_true",
        help="also write report.html (tables, figures, command, prefs, versions in one self-contained file); "
        "DIR may also be a surface, diagnose, dynamics or prefs output directory (then only DIR/report.html)",
    )
    r.set_defaults(func=_run_report)
