"""``jaxfair prefs``: estimate α*(g) from served sessions and a satisfaction signal (registered by jaxfair.cli)."""

from __future__ import annotations

__all__ = ["add_subcommands"]


def _run_prefs(args) -> int:
    import json
    from pathlib import Path

    import pandas as pd

    from jaxfair.htmlreport.commands import finish_outputs
    from jaxfair.preferences.estimate import estimate
    from jaxfair.utils.outdir import staged_dir
    from jaxfair.utils.preflight import check_out_dir

    out = check_out_dir(args.out or "results/prefs")  # before the fit, as every command does
    labels = [c.strip() for c in args.labels.split(",") if c.strip()]
    if not labels:
        raise ValueError(f"--labels: expected comma-separated column names, got {args.labels!r}")
    group_names = [g.strip() for g in args.group_names.split(",")] if args.group_names else None
    path = Path(args.data)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path)
    est = estimate(
        frame,
        user=args.user,
        group=args.group,
        labels=labels,
        satisfaction=args.satisfaction,
        n_boot=args.n_boot,
        seed=args.seed,
        level=args.level,
        min_sessions=args.min_sessions,
        group_names=group_names,
        interval=args.interval,
    )
    table = est.to_frame()
    summary = {"data": str(path), **est.summary()}
    # The estimated mapping, keyed by group and label as every command records its prefs (the
    # HTML page's preference table reads it); unidentified groups have no estimate to show.
    summary["estimated_prefs_by_group"] = {
        f.group: dict(zip(est.labels, (float(a) for a in f.alpha), strict=True)) for f in est.fits if f.identified
    }
    missing = [f.group for f in est.fits if not f.identified]
    # A new OUT replaces the old one whole (jaxfair.utils.outdir): a stale prefset.csv from an
    # earlier run cannot be mistaken for this one.
    with staged_dir(out) as stage:
        names = {"prefs": "prefs.csv", "summary": "summary.json", "coefficients": "coefficients.csv"}
        paths = {key: stage.path / name for key, name in names.items()}
        table.to_csv(paths["prefs"], index=False)
        est.coefficients().to_csv(paths["coefficients"], index=False)
        if missing:
            # The draws exist only for identified groups: a set that silently filled the others in
            # would be an assumption dressed up as an estimate.
            summary["prefset"] = f"not written: group(s) {missing} not identified"
        else:
            paths["prefset"] = est.prefset().to_file(stage.path / "prefset.csv")
            summary["prefset"] = {"path": str(out / "prefset.csv"), **est.prefset().describe()}
        paths["summary"].write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        paths |= finish_outputs(stage.path, args)
    paths = stage.final(paths)

    print(f"preferences from {path}: {len(frame)} sessions, satisfaction = {args.satisfaction!r}, labels {labels}")
    print(f"bootstrap by user: {args.n_boot} resamples, {100 * args.level:g} % {args.interval} intervals")
    show = table.copy()
    show["estimate [CI]"] = [
        f"{e:.3f} [{lo:.3f}, {hi:.3f}]" if ok else "not identified"
        for e, lo, hi, ok in zip(show.estimate, show.ci_low, show.ci_high, show.identified, strict=True)
    ]
    print(show[["group", "label", "estimate [CI]", "n_sessions"]].to_string(index=False))
    for f in est.fits:
        if not f.identified:
            print(f"  {f.group}: not identified: {f.reason}")
    if missing:
        print(f"  prefset.csv not written: group(s) {missing} not identified")
    for p in paths.values():
        print(f"  wrote {p}")
    return 0


def add_subcommands(subparsers) -> None:
    """Register ``prefs`` on an ``argparse`` subparsers object."""
    from jaxfair.htmlreport.commands import add_html_argument
    from jaxfair.preferences.intervals import INTERVALS
    from jaxfair.utils.cliargs import int_at_least, nonnegative_int

    p = subparsers.add_parser(
        "prefs",
        help="estimate the groups' preferences α*(g) from served sessions and a satisfaction signal (SPEC §9)",
        description="Fit P(z=1|y) = σ(a_g + β_g·y) per group on logged served sessions (one row each: user, "
        "group, the served item's labels y, satisfaction z in {0,1}); α*(g) = β_g / Σβ_g with bootstrap CIs by "
        "user, or 'not identified' with the reason. Writes prefs.csv (group, label, estimate, ci_low, ci_high, "
        "identified, n_sessions, reason), coefficients.csv, prefset.csv (the bootstrap draws; member 0 is the "
        "point estimate; use it as --prefs-set file:OUT/prefset.csv) and summary.json to --out.",
    )
    p.add_argument("--data", required=True, help="served sessions: a CSV (or .parquet) file, one row per session")
    p.add_argument("--user", required=True, help="the user id column")
    p.add_argument("--group", required=True, help="the group column")
    p.add_argument("--labels", required=True, help="comma-separated label columns (values 0/1 or in [0, 1])")
    p.add_argument("--satisfaction", required=True, help="the satisfaction column (0/1)")
    p.add_argument("--group-names", default=None, help="comma-separated group order (default: sorted)")
    p.add_argument("--n-boot", type=int_at_least(20), default=200, help="bootstrap resamples (default 200)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the resampling (default 0)")
    p.add_argument("--level", type=float, default=0.95, help="CI level (default 0.95)")
    p.add_argument(
        "--interval",
        choices=INTERVALS,
        default="normal",
        help="bootstrap CI: normal (estimate ± t·bootstrap SD with the small-sample factor for users; default: "
        "measured coverage 95 %% at 200 resamples), percentile, or bca (both need ~1000 resamples)",
    )
    p.add_argument(
        "--min-sessions", type=int_at_least(1), default=50, help="fewer sessions: not identified (default 50)"
    )
    p.add_argument("--out", default=None, help="output directory (default results/prefs)")
    add_html_argument(p)
    p.set_defaults(func=_run_prefs)
