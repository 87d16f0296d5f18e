"""Command line: ``jaxfair surface``, ``jaxfair scenarios``, ``jaxfair bo``, ``jaxfair report``."""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys


def _add_surface(subparsers) -> None:
    p = subparsers.add_parser(
        "surface", help="utility and DER surfaces over the α box (heat-maps, per-group curves, CSV tables)",
        description="Sample one batch of users from a scenario, evaluate global utility, DER and per-group "
                    "utility over an n×n box of serving weights α in [0,1]² and along the direction of α, and "
                    "write surface.png (utility | DER heat-maps), groups.png, surface.csv, direction.csv and "
                    "summary.json to --out.")
    p.add_argument("--scenario", default="toy", help="scenario name (see `jaxfair scenarios`; default: toy)")
    p.add_argument("--users", type=int, default=20_000, help="users in the batch (default 20000)")
    p.add_argument("--grid", type=int, default=101, help="points per axis of the α box (default 101)")
    p.add_argument("--method", choices=("sweep", "grid"), default="sweep",
                   help="sweep: exact K=2 curve (sweep2, default); grid: the compiled grid kernel")
    p.add_argument("--seed", type=int, default=0, help="seed of the scenario and of the batch")
    p.add_argument("--out", default=None, help="output directory (default results/surface-<scenario>)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="scenario option, repeatable; VALUE parsed as JSON when possible (e.g. n_candidates=10)")
    p.set_defaults(func=_run_surface)


def _parse_options(pairs: list[str]) -> dict:
    opts = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--option: expected KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            opts[key] = json.loads(value)
        except json.JSONDecodeError:
            opts[key] = value
    return opts


def _run_surface(args) -> int:
    from tqdm.auto import tqdm

    from jaxfair import scenarios
    from jaxfair.surface import compute_surface, write_surface

    out = args.out or f"results/surface-{args.scenario}"
    with tqdm(total=3, desc=f"surface {args.scenario}", unit="step") as bar:
        bar.set_postfix_str("loading scenario")
        sc = scenarios.load(args.scenario, seed=args.seed, **_parse_options(args.option))
        bar.update(1)
        bar.set_postfix_str(f"evaluating {args.grid}x{args.grid} alphas on {args.users} users")
        surf = compute_surface(sc, n_users=args.users, n_grid=args.grid, seed=args.seed, method=args.method,
                               progress=True)
        bar.update(1)
        bar.set_postfix_str("writing figures and tables")
        paths = write_surface(surf, out)
        bar.update(1)
    s = surf.summary
    print(f"{sc.title}: best utility {s['best_utility']['utility']:.4f} at w={s['best_utility']['w']:.3f} "
          f"(DER {s['best_utility']['der']:.4f}); best DER {s['best_der']['der']:.4f} at w={s['best_der']['w']:.3f} "
          f"(utility {s['best_der']['utility']:.4f}); evaluate {s['seconds']['evaluate']:.3f}s")
    for p in paths.values():
        print(f"  wrote {p}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxfair",
        description="jaxfair: a JAX-accelerated simulator of multi-objective recommender serving and a "
                    "fairness-aware Bayesian optimisation study of its serving weights α.",
        epilog="Run `jaxfair COMMAND --help` for each command's options.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_surface(subparsers)
    # Commands of the scenario and BO layers live beside their code.
    for module in ("jaxfair.scenarios.cli", "jaxfair.bo.cli", "jaxfair.diagnose.cli"):
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module).add_subcommands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
