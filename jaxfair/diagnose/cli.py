"""``jaxfair diagnose``: why is one group served worse? (terms 4–6, Thm 3.1/3.3, attribution)."""

from __future__ import annotations

import argparse

import numpy as np

from jaxfair.cliargs import UsageError, add_scenario_arguments, nonnegative_int, positive_int, scenario_label
from jaxfair.htmlreport.commands import add_html_argument, finish_outputs
from jaxfair.scenarios.cliargs import scenario_from_args

__all__ = ["add_subcommands", "load_scenario", "parse_alpha", "run"]


def add_subcommands(subparsers) -> None:
    """Register ``diagnose`` on an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "diagnose",
        help="decompose the utility gap between two groups (paper §3) and attribute it to components",
        description="Sample users from a scenario, estimate the shared feature space S_X of two groups, split their "
        "utility gap into terms (4)-(6) with bootstrap CIs along the α direction, bound term (5) by "
        "Theorem 3.1, measure retrieval quality (Def. 3.2 / Thm 3.3), attribute the gap to retrieval / "
        "scoring / serving with oracle pipelines (Shapley shares), check calibration per group and "
        "Lemma 2.3. Writes terms.png, overlap.png, attribution.png, CSV + Markdown tables and "
        "summary.json to --out.",
    )
    add_scenario_arguments(p)
    p.add_argument(
        "--users",
        type=positive_int,
        default=None,
        help="users sampled (default 20000); ignored with --replay, which diagnoses every logged session once "
        "(CIs resample the logged users either way)",
    )
    p.add_argument(
        "--alpha",
        default=None,
        metavar="A,B,...",
        help="the serving weights to explain (default: 1/K each), e.g. 0.5,0.5",
    )
    p.add_argument(
        "--grid", type=int_at_least_2, default=101, help="points along the α direction for the figure (default 101)"
    )
    p.add_argument(
        "--groups",
        default=None,
        metavar="G1,G0",
        help="group ids (g1 = reference, g0 = compared); default: g1 = better served at --alpha",
    )
    p.add_argument("--n-boot", type=nonnegative_int, default=200, help="bootstrap resamples (default 200)")
    p.add_argument(
        "--exact",
        action="store_true",
        help="use the scenario's exact group densities for S_X (toy only) instead of a propensity model",
    )
    p.add_argument(
        "--pool-factor",
        type=positive_int,
        default=4,
        help="the retrieval oracle draws from pool-factor × m candidates per user (default 4)",
    )
    p.add_argument(
        "--n-folds",
        type=int_at_least_2,
        default=5,
        help="cross-fitting folds of the group-propensity model behind S_X (default 5)",
    )
    p.add_argument("--out", default=None, help="output directory (default results/diagnose-<scenario>)")
    add_html_argument(p)
    p.set_defaults(func=run)


def int_at_least_2(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text!r}") from None
    if v < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {v}")
    return v


def parse_alpha(text: str | None, n_labels: int) -> np.ndarray | None:
    """``'0.5,0.5'`` → ``[K]`` floats (validated: K entries, finite, >= 0, not all 0)."""
    if text is None:
        return None
    try:
        a = np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise UsageError(f"--alpha: expected comma-separated numbers like 0.5,0.5, got {text!r}") from None
    if a.shape != (n_labels,):
        raise UsageError(f"--alpha: expected {n_labels} weights (one per label), got {len(a)} in {text!r}")
    if not np.all(np.isfinite(a)) or np.any(a < 0) or not np.any(a > 0):
        raise UsageError(f"--alpha: expected finite weights >= 0, not all zero, got {text!r}")
    return a


def _parse_groups(text: str | None, n_groups: int):
    if text is None:
        return None
    try:
        g = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--groups: expected two group ids like 1,0, got {text!r}") from None
    if len(g) != 2 or g[0] == g[1] or not all(0 <= x < n_groups for x in g):
        raise UsageError(f"--groups: expected two different ids in [0, {n_groups}), got {text!r}")
    return g


def load_scenario(args):
    """The scenario the command diagnoses (one place, so the source of sessions can be swapped)."""
    return scenario_from_args(args)


def run(args) -> int:
    from jaxfair.diagnose.pipeline import diagnose_scenario
    from jaxfair.diagnose.report import write_report
    from jaxfair.preflight import check_out_dir, warn_ignored_by_replay
    from jaxfair.progress import progress_bar as tqdm

    out = check_out_dir(args.out or f"results/diagnose-{scenario_label(args)}")
    # Arguments and the scenario are checked before the progress bar opens, so a mistake prints
    # only its one `jaxfair: error:` line.
    if args.data is not None and args.features is None and not args.exact:
        raise UsageError(
            "--features: diagnose needs user covariates X to find the groups' shared space S_X; pass "
            "--features COLS (columns of --data constant per user, never the group)"
        )
    sc = load_scenario(args)
    alpha = parse_alpha(args.alpha, sc.n_labels)
    groups = _parse_groups(args.groups, sc.n_groups)
    warn_ignored_by_replay(sc, **{"--users": args.users})
    n_users = 20_000 if args.users is None else args.users
    with tqdm(total=2, desc="diagnose", unit="step") as bar:
        bar.set_postfix_str(f"diagnosing {sc.sample_size(n_users)['text']}, {args.grid} α")
        d = diagnose_scenario(
            sc,
            n_users=n_users,
            alpha=alpha,
            n_grid=args.grid,
            groups=groups,
            n_boot=args.n_boot,
            seed=args.seed,
            exact=args.exact,
            pool_factor=args.pool_factor,
            n_folds=args.n_folds,
        )
        bar.update(1)
        bar.set_postfix_str("writing figures and tables")
        paths = write_report(d, out)
        paths |= finish_outputs(out, args)
        bar.update(1)
    g1, g0 = (sc.group_names[g] for g in d.groups)
    on = d.sample["text"] if d.sample else f"{d.n_users} users"
    print(f"{d.title}: {g1} (g1) vs {g0} (g0), {on}; S_X overlap {d.weights.overlap:.3f}, ESS {d.weights.ess:.0f}")
    for p, name in enumerate(("α given", "utility-optimal α")):
        row = d.points.summary(p)
        terms = ", ".join(
            f"{t} {row[t]['estimate']:+.4f} [{row[t]['ci'][0]:+.4f}, {row[t]['ci'][1]:+.4f}]"
            if row[t]["ci"][0] is not None
            else f"{t} {row[t]['estimate']:+.4f}"
            for t in ("term4", "term5", "term6", "gap")
        )
        b = row["theorem31"]
        bound = (
            f"Thm 3.1: |term5| <= bound {b['bound_optimal']:.4f} (holds, exact on this sample)"
            if b["applies"]
            else "Thm 3.1: does not apply (some scores < 0)"
        )
        print(f"  {name} {np.round(d.points.alphas[p], 3).tolist()}: {terms}; {bound}")
        at = d.attribution["given" if p == 0 else "best"]
        shares = ", ".join(
            f"{c} {v:+.4f}" + (f" [{lo:+.4f}, {hi:+.4f}]" if np.isfinite(lo) else "")
            for c, v in at.gap_shares.items()
            for lo, hi in [at.gap_share_ci.get(c, (np.nan, np.nan))]
        )
        print(f"    attribution of the gap ({at.level:.0%} CIs): {shares} → {at.verdict[1]}")
    r = d.retrieval
    eps_ci = f" [{r.epsilon_ci[0]:+.4f}, {r.epsilon_ci[1]:+.4f}]" if np.isfinite(r.epsilon_ci[0]) else ""
    print(
        f"  retrieval Q_m: g1 {r.q_g1:.4f}, S_X {r.q_sx:.4f}, g0 {r.q_g0:.4f}; ε = {r.epsilon:+.4f}{eps_ci}; "
        f"term (4) at α*(g1) {r.term4:+.4f} vs ε·min α*(g1) {r.theorem_rhs:+.4f}: Thm 3.3 {r.verdict}"
    )
    for row in d.lemma23.itertuples():
        print(f"  Lemma 2.3, α*({row.group}): {row.verdict}")
    for n in d.notes:
        print(f"  note: {n}")
    for p in paths.values():
        print(f"  wrote {p}")
    return 0
