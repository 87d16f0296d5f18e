"""The README's and the docs pages' Python examples run as written, so the documentation cannot rot.

Each page's blocks are executed in order in one namespace (later blocks use names from
earlier ones), with the checkout as the working directory's source of example files and a
temporary directory for anything they write. Skipped, each for a stated reason: the
MovieLens scenario block (builds for minutes; the scenario tests cover it), the 20 × 20
``run_study`` block (the study tests and the notebook cover it at small sizes) and the Ax
block (``tests/test_ax.py`` runs it on its own, as a separately reported test).
"""

from __future__ import annotations

import pathlib
import re
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_SKIP = {
    'scenarios.load("movielens"': "builds the real MovieLens scenario (minutes)",
    "run_study(": "the full 20 × 20 protocol (minutes)",
    "from ax": "run by tests/test_ax.py",
}


def python_blocks(page: pathlib.Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


def runnable_blocks(page: pathlib.Path) -> list[str]:
    return [b for b in python_blocks(page) if not any(marker in b for marker in _SKIP)]


def test_readme_has_examples():
    assert len(python_blocks(ROOT / "README.md")) >= 1
    assert sum(len(python_blocks(p)) for p in PAGES) >= 6


# `slow` (make test-all only): pages whose examples repeat paths the default run's tests cover,
# at documentation sizes — bo.md (Evaluator: tests/test_bo_evaluator.py; the hand-written
# qLogEHVI loop: tests/test_bo_study.py's fair-ehvi studies; a set objective:
# tests/test_bo_robust.py) and diagnosis.md (shared_space_weights and diagnose_scenario:
# tests/test_diagnose_components.py, tests/test_diagnose_cli.py). Issue #28: suite time.
_SLOW_PAGES = {"bo.md", "diagnosis.md"}


@pytest.mark.long
@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=pytest.mark.slow) if p.name in _SLOW_PAGES else p for p in PAGES if runnable_blocks(p)],
    ids=lambda p: p.name,
)
def test_examples_run(page, tmp_path, monkeypatch):
    # Examples read the shipped example logs by their path in the checkout.
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)  # anything an example writes lands in a temporary directory
    namespace: dict = {}
    for block in runnable_blocks(page):
        exec(compile(block, str(page), "exec"), namespace)  # noqa: S102 - our own documentation
