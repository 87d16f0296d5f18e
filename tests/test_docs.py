"""The README front page and the docs site: size, links, navigation, nothing lost.

``mkdocs build --strict`` itself (broken links and anchors inside the site, API reference
generation) runs in ``make test`` after pytest; these checks cover what it does not: the
README (outside the site) and that the material moved out of the old README is still there.
"""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _links(text: str) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_readme_is_a_front_page():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text) <= 12_000, len(text)
    for must in ("make demo", "make test", "```python", "## Dependencies", "docs/index.md"):
        assert must in text
    for dep in ("pyarrow", "ray", "ax-platform", "mkdocs", "numba", "tqdm", "platformdirs"):
        assert dep in text, f"the dependency table must justify {dep}"


def test_relative_links_resolve():
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for link in _links(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", link) or link.startswith("#"):
                continue
            target = (page.parent / link.split("#")[0]).resolve()
            assert target.exists(), f"{page.name}: broken link {link}"


def test_every_page_is_in_the_nav_and_exists():
    nav = re.findall(r":\s*([\w-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), flags=re.M)
    assert {p.name for p in DOCS.glob("*.md")} == set(nav)
    for required in (
        "getting-started.md",
        "model.md",
        "scenarios.md",
        "logs.md",
        "diagnosis.md",
        "bo.md",
        "scaling.md",
        "benchmarks.md",
        "api.md",
    ):
        assert required in nav


def test_nothing_of_the_old_readme_was_lost():
    site = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.glob("*.md"))
    # One marker per section of the former single-page README.
    for marker in (
        "How the grid kernel is built",
        "How `sweep2` is built",
        "Protocols (decisions the paper",
        "Data placement",
        "Retrieval as a knob",
        "Engineering the q = 10 default",
        "Hypervolume reference point",
        "Paired trials",
        "Summary over scenarios",
        "Why `sweep2` was 14×, not 100×, faster",
        "Known limitations",
        "## Layout",
        "| 0.771 | 0.935 |",
        "29,492",
        "0.00472",
        "electronics-standin | fair-ehvi | 0.99973",
    ):
        assert marker in site, marker


def _fenced_commands(text: str) -> list[str]:
    """Shell commands in fenced code blocks that start with ``jaxfair``, continuation lines joined."""
    out, block, inside = [], [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if inside:
                joined = "\n".join(block).replace("\\\n", " ")
                out += [c.strip().removeprefix("$ ") for c in joined.splitlines()]
            inside, block = not inside, []
        elif inside:
            block.append(line)
    return [c for c in out if c.startswith("jaxfair ")]


def test_documented_commands_on_logs_state_the_prefs():
    """Logs carry no preferences and none is assumed (issue #28): every documented command that reads
    `--data` states `--prefs` or `--prefs-set` (`jaxfair prefs` estimates them; `simulate-log` writes a log),
    or it would stop with an error when copied."""
    missing = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for cmd in _fenced_commands(path.read_text(encoding="utf-8")):
            sub = cmd.split()[1]
            if "--data" in cmd.split() and sub not in ("prefs", "simulate-log") and "--prefs" not in cmd:
                missing.append(f"{path.name}: {cmd}")
    assert not missing, "\n".join(missing)
