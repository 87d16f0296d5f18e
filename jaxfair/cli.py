"""Command line: ``jaxfair surface``, ``jaxfair scenarios``, ``jaxfair bo``, ``jaxfair report``, ...

Every user mistake (a bad argument, a missing or malformed file, an invalid option) ends as
one line ``jaxfair: error: <what>`` on stderr and exit status 2; a warning is one line
``jaxfair: warning: <what>``; Ctrl-C ends as one line ``jaxfair: interrupted`` and exit status
130 (``bo`` adds "rerun the same command to resume"). ``--debug`` (anywhere on the command
line) shows full tracebacks and Python's warnings instead; ``--quiet`` (anywhere) turns progress
bars off (when stderr is not a terminal they are plain status lines, :mod:`jaxfair.utils.progress`).
Anything else is a bug and is not caught.

Nothing heavy is imported to build the parser (JAX, torch and BoTorch load when a command
runs), so ``jaxfair --help`` and ``jaxfair --version`` answer at once.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import warnings

from jaxfair.htmlreport.commands import add_html_argument, finish_outputs
from jaxfair.scenarios.cliargs import scenario_from_args
from jaxfair.utils.cliargs import (
    UsageError,
    add_estimator_arguments,
    add_scenario_arguments,
    check_estimator_flags_unused,
    estimator_options,
    int_at_least,
    positive_int,
    scenario_label,
)
from jaxfair.utils.interrupt import exit_on_sigint, interrupt_message
from jaxfair.utils.progress import set_quiet

# Exceptions that mean "the user asked for something invalid": the library's convention is a
# ValueError naming the argument, and missing/unreadable files raise OSError subclasses.
USER_ERRORS = (UsageError, ValueError, OSError)


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so ``main`` reports one line."""

    def error(self, message: str):  # noqa: D102 - argparse API
        command = self.prog.partition(" ")[2]  # "jaxfair surface" -> "surface"
        raise UsageError(f"{command}: {message}" if command else message)


def _add_surface(subparsers) -> None:
    p = subparsers.add_parser(
        "surface",
        help="utility and DER surfaces over α (heat-maps, per-group curves, CSV tables; K = 2, 3 and more labels)",
        description="Sample one batch of users from a scenario (or your own logs, --data) and evaluate global "
        "utility, DER, the worst/best group ratio and per-group utility over a grid of serving weights α. "
        "K = 2: an n×n box in [0,1]² and the direction of α (surface.png, groups.png, surface.csv, "
        "direction.csv). K = 3: a simplex grid drawn as ternary heat-maps (simplex.png, simplex.csv). "
        "K >= 4: the best α per DER level and per-label marginal curves (frontier.png/.csv, marginals.png/.csv). "
        "--prefs-set adds how every statement moves over a set of plausible preferences. Writes to --out, "
        "with summary.json.",
    )
    add_scenario_arguments(
        p,
        seed_help="seed of the scenario and of the sampled batch (in `bo`, --seed is the "
        "study's root seed and --scenario-seed this one)",
    )
    p.add_argument(
        "--users",
        type=positive_int,
        default=None,
        help="users in the batch (default 20000); ignored with --replay, which evaluates every logged session once",
    )
    p.add_argument(
        "--grid",
        type=int_at_least(2),
        default=None,
        help="K = 2: points per axis of the α box (default 101, >= 3); K >= 3: points per edge of the simplex "
        "grid (default 101 for K = 3, 21 for K = 4, 11 beyond)",
    )
    p.add_argument(
        "--method",
        choices=("sweep", "grid"),
        default=None,
        help="K = 2: sweep = exact curve (sweep2, default) or grid = the compiled grid kernel; K >= 3: grid only",
    )
    from jaxfair.engine.slate import add_slate_arguments

    add_slate_arguments(p)  # k > 1 uses the grid kernel and, with provider groups, adds provider DER
    add_estimator_arguments(p)  # an impression log (--shown/--position): off-policy estimates
    s = p.add_argument_group("preference set (how conclusions move with the assumed α*(g), SPEC §9)")
    s.add_argument(
        "--prefs-set",
        default=None,
        metavar="SPEC",
        help="dirichlet:C[:Q] (Q draws of α*(g) ~ Dir(C·prefs), default Q 256, seeded by --seed), box:D[:Q] "
        "(each entry ± D, renormalised) or file:PATH (member,group,label,value CSV, e.g. from `jaxfair prefs`): "
        "bands over the set, where the optimum lands, a robust / 'holds for X %%' label on each statement",
    )
    s.add_argument(
        "--robust-q",
        type=float,
        default=0.1,
        help="robust choice: maximise this quantile of utility over the set (default 0.1)",
    )
    s.add_argument(
        "--robust-tau",
        type=float,
        default=0.9,
        help="robust choice: subject to DER >= this for every member of the set (default 0.9)",
    )
    p.add_argument("--out", default=None, help="output directory (default results/surface-<scenario>)")
    add_html_argument(p)
    p.set_defaults(func=_run_surface)


def _run_surface(args) -> int:
    from jaxfair.engine.slate import slate_from_args
    from jaxfair.surface import compute_surface, write_surface
    from jaxfair.utils.outdir import staged_dir
    from jaxfair.utils.progress import progress_bar as tqdm

    label = scenario_label(args)
    from jaxfair.utils.preflight import check_out_dir, warn_ignored_by_replay

    out = check_out_dir(args.out or f"results/surface-{label}" + (f"-slate{args.slate}" if args.slate > 1 else ""))
    for flag, v in (("--robust-q", args.robust_q), ("--robust-tau", args.robust_tau)):
        if not 0.0 <= v <= 1.0:
            raise UsageError(f"{flag}: expected a number in [0, 1], got {v}")
    if args.shown is None and args.position is None:
        check_estimator_flags_unused(args)
    # The scenario is built before the progress bar opens, so a bad argument or file is the
    # only thing printed.
    from jaxfair.surface.offpolicy import impression_check

    sc = scenario_from_args(args, check=impression_check(args))
    from jaxfair.scenarios.impressions import ImpressionScenario

    if isinstance(sc, ImpressionScenario):  # an impression log (SPEC §10): estimated off-policy
        return _run_offpolicy_surface(args, sc, out, label)
    slate = slate_from_args(args, sc.n_candidates)  # a bad k, vector or gamma: one line, exit 2
    warn_ignored_by_replay(sc, **{"--users": args.users})
    if sc.n_labels == 2 and args.grid is not None and args.grid < 3:
        raise UsageError(f"--grid: expected an integer >= 3 for K = 2 labels, got {args.grid}")
    if sc.n_labels != 2 and args.method == "sweep":
        raise UsageError(f"--method: the exact sweep is for K = 2 labels; this data has K = {sc.n_labels} (use grid)")
    prefs_set = None
    if args.prefs_set is not None:
        from jaxfair.preferences.prefset import PrefSet

        # Built here so a bad spec or file is one line before anything is computed.
        prefs_set = PrefSet.for_scenario(args.prefs_set, sc, seed=args.seed)
    n_users = 20_000 if args.users is None else args.users
    size = sc.sample_size(n_users)
    with tqdm(total=2, desc=f"surface {label}", unit="step") as bar:
        bar.set_postfix_str(f"evaluating the α grid on {size['text']}")
        surf = compute_surface(
            sc,
            n_users=n_users,
            n_grid=args.grid,
            seed=args.seed,
            method=args.method,
            progress=True,
            slate=slate,
            prefs_set=prefs_set,
            robust_q=args.robust_q,
            robust_tau=args.robust_tau,
        )
        bar.update(1)
        bar.set_postfix_str("writing figures and tables")
        with staged_dir(out) as stage:  # OUT complete or untouched (jaxfair.utils.outdir)
            paths = write_surface(surf, stage.path)
            paths |= finish_outputs(stage.path, args)
        paths = stage.final(paths)
        bar.update(1)
    _print_surface(sc, surf.summary, size)
    for p in paths.values():
        print(f"  wrote {p}")
    return 0


def _run_offpolicy_surface(args, sc, out, label: str) -> int:
    """``surface`` on an impression log: off-policy estimates with CIs and what the log identifies."""
    from jaxfair.surface.offpolicy import compute_offpolicy_surface
    from jaxfair.surface.offpolicy_output import offpolicy_lines, write_offpolicy_surface
    from jaxfair.utils.outdir import staged_dir
    from jaxfair.utils.preflight import warn_ignored_by_replay
    from jaxfair.utils.progress import progress_bar as tqdm

    opts = estimator_options(args)
    if args.method is not None:
        raise UsageError(
            "--method: an impression log's α grid is estimated off-policy, served as its log allows (K = 2 top-1 "
            "by the exact envelope walk, slates and K >= 3 by the grid kernel); there is no method to choose"
        )
    if args.slate not in (1, sc.slate_k):
        raise UsageError(
            f"--slate: the log's slates have k = {sc.slate_k} (its --position column), got --slate {args.slate}"
        )
    if sc.n_labels == 2 and args.grid is not None and args.grid < 3:
        raise UsageError(f"--grid: expected an integer >= 3 for K = 2 labels, got {args.grid}")
    warn_ignored_by_replay(sc, **{"--users": args.users})
    prefs_set = None
    if args.prefs_set is not None:
        from jaxfair.preferences.prefset import PrefSet

        prefs_set = PrefSet.for_scenario(args.prefs_set, sc, seed=args.seed)
    with tqdm(total=2, desc=f"surface {label}", unit="step") as bar:
        bar.set_postfix_str(f"estimating the α grid off-policy on {sc.sample_size()['text']}")
        surf = compute_offpolicy_surface(
            sc,
            n_grid=args.grid,
            seed=args.seed,
            estimator=opts["estimator"],
            estimator_default=opts["estimator_default"],
            clip=opts["clip"],
            n_boot=opts["n_boot"],
            min_ess=opts["min_ess"],
            p_min=opts["p_min"],
            mc=opts["mc"],
            prefs_set=prefs_set,
            progress=True,
        )
        bar.update(1)
        bar.set_postfix_str("writing figures and tables")
        with staged_dir(out) as stage:  # OUT complete or untouched (jaxfair.utils.outdir)
            paths = write_offpolicy_surface(surf, stage.path)
            paths |= finish_outputs(stage.path, args)
        paths = stage.final(paths)
        bar.update(1)
    for line in offpolicy_lines(surf):
        print(line)
    for p in paths.values():
        print(f"  wrote {p}")
    return 0


def _print_surface(sc, s: dict, size: dict) -> None:
    """The command's lines: best α's, provider DER, and over a preference set each statement's share."""
    from jaxfair.surface.sensitivity import alpha_text

    k2 = s["n_labels"] == 2

    def where(rec: dict) -> str:
        return f"w={rec['w']:.3f}" if k2 else f"α={alpha_text(list(rec['alpha'].values()), s['labels'])}"

    bu, bd, flat = s["best_utility"], s["best_der"], s["flat"]
    if flat is not None:  # nothing is best: say so, and why
        print(
            f"{sc.title}: the surface is flat: every α gives utility {flat['utility']:.4f} (DER {flat['der']:.4f}, "
            f"worst/best group utility {flat['worst_best_ratio']:.3f}), because {flat['reason']}; no α is "
            f"recommended; evaluate {s['seconds']['evaluate']:.3f}s"
        )
    else:
        print(
            f"{sc.title}: best utility {bu['utility']:.4f} at {where(bu)} "
            f"(DER {bu['der']:.4f}, worst/best group utility {bu['worst_best_ratio']:.3f}); "
            f"best DER {bd['der']:.4f} at {where(bd)} (utility "
            f"{bd['utility']:.4f}, worst/best {bd['worst_best_ratio']:.3f}); "
            f"evaluate {s['seconds']['evaluate']:.3f}s"
        )
    print(f"  on {size['text']}" + ("" if k2 else f"; {s['grid']['n_alpha']:,} α on the simplex"))
    if s.get("provider"):
        bp = s["provider"]["best_provider_der"]
        at = f"w={bp['w']:.3f}" if k2 else f"α={alpha_text(bp['alpha'], s['labels'])}"
        print(
            f"  slate of {s['slate']}: best provider DER {bp['provider_der']:.4f} at {at} (viewer DER "
            f"{bp['der']:.4f}); provider DER at the best-utility α {s['provider']['provider_der_at_best_utility']:.4f}"
        )
    if "prefs_set" in s:
        d = s["prefs_set"]
        print(f"  over the preference set ({d['kind']}, {d['n_members']} members; min / median / max, not a CI):")
        for st in s["statements"]:
            print(f"    {st['statement']}: {st['label']}")
        rc = s["robust_choice"]
        if rc is None:
            o = s["over_set_flat"]
            if o["every_member_flat"]:
                print(
                    f"    flat for every member: utility {o['utility_min']:.4f} to {o['utility_max']:.4f}, DER "
                    f"{o['der_min']:.4f} to {o['der_max']:.4f} at every α; no α to choose"
                )
            else:
                print("    flat at the given prefs, not for every member (over_set.csv); no robust choice is made")
        else:
            print(f"    {rc['message']}")


def _module_exists(dotted: str) -> bool:
    """True when ``dotted`` can be imported; False when it (or its parent package) is absent."""
    parent = dotted.rpartition(".")[0]
    if parent and not _module_exists(parent):
        return False
    return importlib.util.find_spec(dotted) is not None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jaxfair",
        description="jaxfair: a JAX-accelerated simulator of multi-objective recommender serving and a "
        "fairness-aware Bayesian optimisation study of its serving weights α.",
        epilog="Run `jaxfair COMMAND --help` for each command's options. --debug (anywhere) shows full "
        "tracebacks instead of one-line errors; --quiet (anywhere) turns progress bars off.",
    )
    parser.add_argument("--version", action="version", version=f"jaxfair {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_surface(subparsers)
    # Commands of the scenario, surface, BO and diagnosis layers live beside their code.
    for module in (
        "jaxfair.scenarios.cli",
        "jaxfair.surface.cli",
        "jaxfair.bo.cli",
        "jaxfair.diagnose.cli",
        "jaxfair.dynamics.cli",
        "jaxfair.preferences.cli",
    ):
        if _module_exists(module):
            importlib.import_module(module).add_subcommands(subparsers)
    return parser


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("jaxfair")
    except metadata.PackageNotFoundError:
        import jaxfair

        return jaxfair.__version__


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename is not None and str(exc.filename) not in text:
        text = f"{exc.filename}: {text}"
    return text


def main(argv: list[str] | None = None, *, keep_sigint_handler: bool = False) -> int:
    """Run the command line; returns the exit status (2 for a user mistake, reported in one line).

    ``keep_sigint_handler``: leave the Ctrl-C handler installed on return (the console script,
    :mod:`jaxfair.console`, which exits next); in-process callers (tests, notebooks) get their
    own handler back.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    quiet = "--quiet" in argv
    argv = [a for a in argv if a not in ("--debug", "--quiet")]
    set_quiet(quiet)  # no progress bars (the progress factory, jaxfair.utils.progress, reads it)
    message = interrupt_message(argv)
    try:
        with (
            warnings.catch_warnings(),
            exit_on_sigint(message, enabled=not debug, restore=not keep_sigint_handler),
        ):
            shown_warnings: list[str] = []  # what the command warned, recorded in its summary.json too
            warnings.showwarning = _warning_printer(shown_warnings, echo=warnings.showwarning if debug else None)
            parser = build_parser()
            args = parser.parse_args(argv)
            args.argv = argv + ["--quiet"] * quiet + ["--debug"] * debug  # stripped flags re-added: they act anywhere
            args.warnings_shown = shown_warnings
            if not getattr(args, "func", None):
                parser.print_help()
                return 0
            return int(args.func(args) or 0)
    except KeyboardInterrupt:  # raised by code (or a test), not by a real SIGINT: see exit_on_sigint
        if debug:
            raise
        _close_progress_bars()  # so the line is not glued to a bar, nor a bar printed after it
        print(message, file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if debug:
            raise
        print(f"jaxfair: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        # Sub-commands that say `raise SystemExit("message")` made a usage error too.
        if isinstance(exc.code, str) and not debug:
            print(f"jaxfair: error: {' '.join(exc.code.split())}", file=sys.stderr)
            return 2
        raise


def _close_progress_bars() -> None:
    """Close the open tqdm bars (each ends its line), if tqdm was imported at all."""
    std = sys.modules.get("tqdm.std")
    for bar in list(getattr(getattr(std, "tqdm", None), "_instances", ())):
        try:
            bar.close()
        except (AttributeError, OSError, ValueError):  # a half-built or already closed bar
            pass


def _warning_printer(record: list[str], echo=None):
    """A ``warnings.showwarning`` for one command: each warning as one line ``jaxfair: warning:
    <message>``, and each distinct (category, message) once — Python's own filter repeats a
    warning raised from several call sites (the negative-score warning of a diagnosis printed
    once per decomposition). Each is also appended to ``record`` as ``"Category: message"``, which
    :func:`jaxfair.htmlreport.commands.finish_outputs` writes into the output's ``summary.json``, so a
    warning is not lost with the terminal. ``echo``: show it with this function instead (``--debug``:
    Python's own, with its source line)."""
    shown: set[tuple[type, str]] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = " ".join(str(message).split())
        if (category, text) in shown:
            return
        shown.add((category, text))
        record.append(f"{category.__name__}: {text}")
        if echo is not None:
            echo(message, category, filename, lineno, file, line)
            return
        print(f"jaxfair: warning: {text}", file=sys.stderr if file is None else file)

    return show


if __name__ == "__main__":
    sys.exit(main())
