"""The package's import graph: no circles, and no import that runs back up a layer.

The graph is built statically with :mod:`ast` from every ``jaxfair/**/*.py`` file and counts
*every* import, the ones inside functions included (a lazy import hides a circle from the
interpreter, not from the design). ``from jaxfair import kernels`` is an edge to the module
``jaxfair.engine.kernels``; ``import jaxfair`` or ``from jaxfair import evaluate`` (a name the
package ``__init__`` re-exports) is an edge to the façade ``jaxfair`` itself.

Layers, lowest first (an import may stay in its layer or go down, never up):

0. plumbing — ``jaxfair.utils`` (lazy imports, atomic writes, output directories, tables, CLI
   argument helpers, pre-flight output checks, progress) and ``htmlreport``: files, tables,
   argument helpers, the HTML page; they know nothing of arrays.
1. engine — ``jaxfair.engine`` (batch, checks, kernels, executors, sums, results, metrics,
   sweep, …) and ``jaxfair.ratio`` (a plain function of group utilities that results use):
   arrays, kernels, checks; they know nothing of scenarios, nor of the façades above them.
2. façades beside the engine — ``jaxfair.evaluate`` and ``jaxfair.validation`` (the public
   names, kept where users import them), ``named_prefs``, ``auc``: built on the engine; the
   engine imports none of them.
3. scenarios — ``jaxfair.scenarios`` (sources of batches; its registry, its CLI argument helpers).
4. analyses — ``jaxfair.diagnose``, ``jaxfair.bo``, ``jaxfair.surface``, ``jaxfair.dynamics``,
   ``jaxfair.preferences``, ``jaxfair.offpolicy``.
5. entry points — ``jaxfair.cli``, ``jaxfair.console`` (the script), every ``*.cli`` module, the ``jaxfair`` façade
   (``__init__``, which re-exports scenarios) and ``jaxfair.distributed`` (a ``python -m`` program).

No exception list: every import that runs up a layer fails the test.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxfair"

LAYERS = {
    0: "plumbing",
    1: "engine",
    2: "façades beside the engine",
    3: "scenarios",
    4: "diagnose/bo/surface/dynamics/preferences/offpolicy",
    5: "cli / entry points",
}
PLUMBING = ("utils", "htmlreport")
ENGINE = ("engine", "ratio")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """``{module: {jaxfair modules it imports}}`` over every source file (function-level imports too)."""
    files = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    graph = {}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        package = mod if is_pkg else mod.rpartition(".")[0]
        out = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
                out.update(n for n in names if n.split(".")[0] == "jaxfair")
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                if src.split(".")[0] != "jaxfair":
                    continue
                for a in node.names:
                    sub = f"{src}.{a.name}"
                    out.add(sub if sub in files else src)
        graph[mod] = {m for m in out if m in files and m != mod}
    return graph


def layer(mod: str) -> int:
    parts = mod.split(".")
    if mod in ("jaxfair", "jaxfair.cli", "jaxfair.console", "jaxfair.distributed") or parts[-1] == "cli":
        return 5
    if parts[1] in ("diagnose", "bo", "surface", "dynamics", "preferences", "offpolicy"):
        return 4
    if parts[1] == "scenarios":
        return 3
    if parts[1] in PLUMBING:
        return 0
    if parts[1] in ENGINE:
        return 1
    return 2  # the top-level modules beside the engine: evaluate, validation, named_prefs, auc


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n) :] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_graph_sees_known_edges():
    g = import_graph()
    assert "jaxfair.engine.kernels" in g["jaxfair.engine.api"]  # from jaxfair.engine import kernels
    assert "jaxfair.evaluate" in g["jaxfair.diagnose.decompose"]  # a function-level import counts
    assert "jaxfair.engine.batch" in g["jaxfair"]
    assert [layer(m) for m in ("jaxfair.utils.atomic", "jaxfair.engine.kernels", "jaxfair.validation")] == [0, 1, 2]
    assert [layer(m) for m in ("jaxfair.ratio", "jaxfair.evaluate", "jaxfair.engine.checks")] == [1, 2, 1]
    assert [layer(m) for m in ("jaxfair.htmlreport.page", "jaxfair.scenarios.toy", "jaxfair.bo.cli")] == [0, 3, 5]


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle inside jaxfair: " + " -> ".join(cycle)


def test_no_import_runs_up_a_layer():
    bad = [
        f"{m} ({LAYERS[layer(m)]}) imports {n} ({LAYERS[layer(n)]})"
        for m, targets in sorted(import_graph().items())
        for n in sorted(targets)
        if layer(n) > layer(m)
    ]
    assert not bad, "imports that run up a layer:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    "graph, expected", [({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]), ({"a": {"b"}, "b": set()}, None)]
)
def test_find_cycle(graph, expected):
    assert find_cycle(graph) == expected


def test_facades_keep_the_public_names():
    """The checks moved into the engine; ``jaxfair.validation`` still offers every public name."""
    from jaxfair import validation
    from jaxfair.engine import checks

    assert validation.__all__ == checks.__all__
    assert all(getattr(validation, name) is getattr(checks, name) for name in checks.__all__)
