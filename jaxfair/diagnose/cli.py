"""``jaxfair diagnose``: why is one group served worse? (terms 4–6, Thm 3.1/3.3, attribution)."""

from __future__ import annotations

import argparse

import numpy as np

from jaxfair.htmlreport.commands import add_html_argument, finish_outputs
from jaxfair.scenarios.cliargs import scenario_from_args
from jaxfair.utils.cliargs import UsageError, add_scenario_arguments, nonnegative_int, positive_int, scenario_label

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
        metavar="G1,G0|all[:G1]|pairs",
        help="the two groups to compare BY NAME, g1 (reference) first, e.g. tech,other (integer ids only when the "
        "groups have no names); 'all': every other group against the reference g1 (default: the best-served "
        "group at --alpha; 'all:NAME' to choose it); 'pairs': every unordered pair, G(G-1)/2 of them, g1 the "
        "better-served of the two. 'all' and 'pairs' write one report per pair in OUT/G1-vs-G0/ and an "
        "overview (pairs.csv, summary.json, report.md) in OUT. No pair against the pooled rest of the groups: "
        "term (5) values the same users with g0's α*, and a pooled group has no single α* (each member keeps "
        "their own group's), so terms (4)-(6) need one α* per group. Default: g1 = the best-served group at "
        "--alpha, g0 = the worst-served (the reason is printed)",
    )
    p.add_argument(
        "--prefs-set",
        default=None,
        metavar="SPEC",
        help="re-run every term, bound, attribution and verdict for each member of a preference set: "
        "dirichlet:C[:Q] (α*(g) ~ Dir(C·prefs), Q members, default 256), box:D[:Q] (± D per entry) or file:PATH "
        "(a PrefSet CSV); member 0 is --prefs. Each verdict is then 'robust' or 'holds for X %% of the set'",
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


def parse_groups(text: str | None, group_names) -> tuple[str, object]:
    """``--groups`` → ``("pair", (g1, g0))``, ``("all", reference or None)``, ``("pairs", None)`` or
    ``("default", None)``.

    Names are matched exactly; integer ids only when the groups have no names of their own
    (:func:`~jaxfair.diagnose.pipeline.resolve_pair`).
    """
    from jaxfair.diagnose.pipeline import resolve_pair

    if text is None:
        return "default", None
    names = [str(n) for n in group_names]
    if text == "pairs":
        return "pairs", None
    if text == "all" or text.startswith("all:"):
        ref = text[4:] or None
        if ref is not None:
            try:
                ref = resolve_pair((ref, next(n for n in names if n != ref)), names)[0]
            except (ValueError, StopIteration) as exc:
                raise UsageError(f"--groups: {exc}".replace("groups: ", "")) from None
        return "all", ref
    parts = [v.strip() for v in text.split(",")]
    if len(parts) != 2:
        raise UsageError(
            f"--groups: expected two group names G1,G0 (g1 first), 'all[:G1]' or 'pairs', got {text!r}; groups: {names}"
        )
    try:
        return "pair", resolve_pair(parts, names)
    except ValueError as exc:
        raise UsageError(f"--groups: {str(exc).removeprefix('groups: ')}") from None


def load_scenario(args):
    """The scenario the command diagnoses (one place, so the source of sessions can be swapped)."""
    return scenario_from_args(args)


def run(args) -> int:
    from jaxfair.diagnose.pairs import against_reference, every_pair, pair_folder, write_pairs_overview
    from jaxfair.diagnose.pipeline import diagnose_scenario
    from jaxfair.diagnose.report import write_report
    from jaxfair.utils.outdir import staged_dir
    from jaxfair.utils.preflight import check_out_dir, warn_ignored_by_replay
    from jaxfair.utils.progress import progress_bar as tqdm

    out = check_out_dir(args.out or f"results/diagnose-{scenario_label(args)}")
    from jaxfair.scenarios.impressions import refuse_impression_args

    refuse_impression_args(args, "diagnose")  # SPEC §10: an impression log has no full labels
    # Arguments and the scenario are checked before the progress bar opens, so a mistake prints
    # only its one `jaxfair: error:` line.
    if args.data is not None and args.features is None and not args.exact:
        raise UsageError(
            "--features: diagnose needs user covariates X to find the groups' shared space S_X; pass "
            "--features COLS (columns of --data constant per user, never the group)"
        )
    sc = load_scenario(args)
    alpha = parse_alpha(args.alpha, sc.n_labels)
    mode, groups = parse_groups(args.groups, sc.group_names)
    prefs_set = None
    if args.prefs_set is not None:
        from jaxfair.preferences.prefset import PrefSet

        try:
            prefs_set = PrefSet.for_scenario(args.prefs_set, sc, seed=args.seed)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    warn_ignored_by_replay(sc, **{"--users": args.users})
    n_users = 20_000 if args.users is None else args.users
    common = dict(
        n_users=n_users,
        alpha=alpha,
        n_grid=args.grid,
        n_boot=args.n_boot,
        seed=args.seed,
        exact=args.exact,
        pool_factor=args.pool_factor,
        n_folds=args.n_folds,
        prefs_set=prefs_set,
    )
    with tqdm(total=2, desc="diagnose", unit="step") as bar:
        bar.set_postfix_str(f"diagnosing {sc.sample_size(n_users)['text']}, {args.grid} α")
        if mode == "all":
            runs = against_reference(diagnose_scenario, sc, groups, common)
        elif mode == "pairs":
            runs = every_pair(diagnose_scenario, sc, common)
        else:
            runs = [diagnose_scenario(sc, groups=groups, **common)]
        bar.update(1)
        bar.set_postfix_str("writing figures and tables")
        several = mode in ("all", "pairs")
        with staged_dir(out) as stage:  # OUT complete or untouched, pair folders included (jaxfair.utils.outdir)
            all_paths = [write_report(d, stage.path / pair_folder(d) if several else stage.path) for d in runs]
            if several:
                all_paths.append(write_pairs_overview(runs, stage.path, mode))
            parts = [stage.path / pair_folder(d) for d in runs] if several else []
            all_paths.append(finish_outputs(stage.path, args, parts=parts))
        all_paths = stage.final(all_paths)
        bar.update(1)
    for d in runs:
        _print_diagnosis(d)
    for paths in all_paths:
        for p in paths.values():
            print(f"  wrote {p}")
    return 0


def _print_diagnosis(d) -> None:
    from jaxfair.diagnose.figures import pair_counts_text, sample_text
    from jaxfair.diagnose.report import calibration_lines, over_set

    names = d.group_names
    g1, g0 = (names[g] for g in d.groups)
    unit = d.population.unit
    print(
        f"{d.title}: {g1} (g1) vs {g0} (g0), {sample_text(d)} ({pair_counts_text(d)}); "
        f"S_X overlap {d.weights.overlap:.3f}, ESS {d.weights.ess:,.0f} {unit}"
    )
    print(f"  pair: {d.pair_reason}")
    for p, name in enumerate(("α given", "utility-optimal α")):
        row = d.points.summary(p)
        terms = ", ".join(
            f"{t} {row[t]['estimate']:+.4f} [{row[t]['ci'][0]:+.4f}, {row[t]['ci'][1]:+.4f}]"
            if row[t]["ci"][0] is not None
            else f"{t} {row[t]['estimate']:+.4f}"
            for t in ("term4", "term5", "term6", "gap")
        )
        where = (
            "" if p == 0 else f" (best of {d.optimum_grid_size:,} α on the simplex grid, utility {d.utility_best:.4f})"
        )
        print(f"  {name} {np.round(d.points.alphas[p], 3).tolist()}{where}: {terms}")
        key = "given" if p == 0 else "best"
        bound = d.points.bound.verdict(p)
        print(f"    Thm 3.1: {bound}{over_set(d, key, 'theorem31', bound)}")
        at = d.attribution[key]
        shares = ", ".join(
            f"{c} {v:+.4f}" + (f" [{lo:+.4f}, {hi:+.4f}]" if np.isfinite(lo) else "")
            for c, v in at.gap_shares.items()
            for lo, hi in [at.gap_share_ci.get(c, (np.nan, np.nan))]
        )
        blame = at.verdict[1] + over_set(d, key, "attribution", at.verdict[1])
        print(f"    attribution of the gap ({at.level:.0%} CIs): {shares} → {blame}")
    if d.alpha_segment_best is not None:
        print(
            f"  best on the segment α*({g0})–α*({g1}): {np.round(d.alpha_segment_best, 3).tolist()} "
            f"(utility {d.utility_segment_best:.4f}; the figure's x axis) vs the optimum over all labels "
            f"{np.round(d.alpha_best, 3).tolist()} ({d.utility_best:.4f})"
        )
    r = d.retrieval
    eps_ci = f" [{r.epsilon_ci[0]:+.4f}, {r.epsilon_ci[1]:+.4f}]" if np.isfinite(r.epsilon_ci[0]) else ""
    print(
        f"  retrieval Q_m: g1 {r.q_g1:.4f}, S_X {r.q_sx:.4f}, g0 {r.q_g0:.4f}; ε = {r.epsilon:+.4f}{eps_ci}; "
        f"term (4) at α*(g1) {r.term4:+.4f} vs ε·min α*(g1) {r.theorem_rhs:+.4f}: Thm 3.3 {r.verdict}"
        f"{over_set(d, 'alpha_star_g1', 'theorem33', r.verdict)}"
    )
    for line in calibration_lines(d):
        print(f"  calibration, {line}")
    for row in d.lemma23.itertuples():
        share = over_set(d, "alpha_star", f"lemma23_{row.group}", row.verdict)
        print(f"  Lemma 2.3, α*({row.group}): {row.verdict}{share}")
    if d.prefs_set is not None:
        ps = d.prefs_set.prefs_set
        print(f"  over the preference set ({ps.kind}, {ps.n_members} members; member 0 = the prefs above):")
        for st in d.prefs_set.statements:
            print(f"    {st['statement']}: {st['label']}")
    for n in d.notes:
        print(f"  note: {n}")
