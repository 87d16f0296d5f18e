"""The README's Python examples run as written, so the documentation cannot rot.

Blocks are executed in order in one namespace (later blocks use names from earlier ones).
Skipped, each for a stated reason: the MovieLens scenario block (builds for minutes; the
scenario tests cover it), the 20 × 20 ``run_study`` block (the study tests and the notebook
cover it at small sizes) and the Ax block (Ax is not a dependency).
"""
from __future__ import annotations

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
_SKIP = {
    'scenarios.load("movielens"': "builds the real MovieLens scenario (minutes)",
    "run_study(": "the full 20 × 20 protocol (minutes)",
    "from ax": "Ax is not a dependency",
}


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_examples():
    assert len(_python_blocks()) >= 3


@pytest.mark.slow
def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything an example writes lands in a temporary directory
    namespace: dict = {}
    ran = 0
    for block in _python_blocks():
        if any(marker in block for marker in _SKIP):
            continue
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - the README is ours
        ran += 1
    assert ran >= 3
