"""report.html (issue #21 item 9): one self-contained page per output directory.

The page is checked by parsing it with the standard library's ``html.parser``: every figure is
embedded and decodes to the PNG file's bytes, every table is rectangular, nothing refers
outside the page, and the command, versions and preference mapping are there.
"""

from __future__ import annotations

import base64
import csv
import json
from html.parser import HTMLParser
from importlib import metadata
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from jaxfair.htmlreport import command_line, environment, record_command, write_html_report  # noqa: E402
from jaxfair.htmlreport.page import HEAD_ROWS, MAX_ROWS, TAIL_ROWS  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """What the tests need from a page: images, link targets, tables (cells per row), text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.images: list[str] = []
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.tags: list[str] = []
        self.tables: list[list[int]] = []  # per table: cells in each row (colspan counted)
        self._stack: list[list[int]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        for name, value in attrs:
            if name in ("src", "href", "action", "poster", "srcset", "data") and value is not None:
                self.refs.append((tag, name, value))
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "table":
            self._stack.append([])
        elif tag == "tr" and self._stack:
            self._stack[-1].append(0)
        elif tag in ("td", "th") and self._stack:
            self._stack[-1][-1] += int(a.get("colspan") or 1)

    def handle_endtag(self, tag):
        if tag == "table":
            self.tables.append(self._stack.pop())

    def handle_data(self, data):
        self.text.append(data)

    @property
    def plain(self) -> str:
        return " ".join(" ".join(self.text).split())


def _figure(path: Path, color: str) -> None:
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1, 2], [0, 1, 0], color=color)
    fig.savefig(path, dpi=50)
    plt.close(fig)


@pytest.fixture(scope="module")
def fake_output(tmp_path_factory) -> Path:
    """An output directory as a command writes one, with every kind of file the page handles."""
    d = tmp_path_factory.mktemp("out")
    _figure(d / "a.png", "C0")
    _figure(d / "b.png", "C1")
    with open(d / "small.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["group", "utility", "note"])
        w.writerows([["majority", 0.8484000020921231, "a, quoted <cell>"], ["minority", 0.75, ""]])
    (d / "small.md").write_text("| group | utility |\n|---|---|\n| majority | 0.8484 |\n")
    with open(d / "big.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["i", "x"])
        w.writerows([[i, i / 7] for i in range(100)])
    (d / "ragged.csv").write_text("a,b,c\n1,2\n1,2,3,4\n")
    (d / "empty.csv").write_text("\n")
    (d / "notes.md").write_text(
        "# This study is unfinished\n\n* trial 3 has **2 of 5** evaluations\n* see [the docs](https://example.org/x)\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 |\n"
    )
    (d / "rows").mkdir()
    (d / "rows" / "part.csv").write_text("a\n1\n")
    summary = {
        "title": "toy <script>alert(1)</script>",
        "best_utility": {"w": 0.5, "utility": 0.8484000020921231, "by_group": {"majority": 0.84, "minority": 0.87}},
        "regret": {"majority": {"own": 0.01, "full": 0.15}, "minority": {"own": -0.03, "full": 0.12}},
        "curve": list(range(50)),
        "prefs": {"student": {"watched": 0.7, "liked": 0.3}, "tech": {"watched": 0.2, "liked": 0.8}},
        "nothing": None,
    }
    (d / "summary.json").write_text(json.dumps(summary))
    record_command(d, command_line(["surface", "--scenario", "toy", "--out", str(d), "--html"]))
    return d


@pytest.fixture(scope="module")
def page(fake_output) -> Page:
    path = write_html_report(fake_output)
    assert path == fake_output / "report.html"
    return Page(path.read_text(encoding="utf-8"))


def test_every_figure_is_embedded_and_decodes_to_the_file(fake_output, page):
    pngs = sorted(fake_output.glob("*.png"))
    assert len(page.images) == len(pngs) == 2
    for src, png in zip(page.images, pngs, strict=True):
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.partition(",")[2], validate=True)
        assert data[:8] == PNG_MAGIC
        assert data == png.read_bytes()


def test_every_table_is_rectangular(page):
    assert len(page.tables) >= 8  # small, big, ragged, notes' table, records, prefs, versions, regret
    for rows in page.tables:
        assert rows, "a table without rows"
        assert len(set(rows)) == 1, f"rows with different cell counts: {rows}"


def test_no_reference_outside_the_page(page):
    assert page.refs, "the page has no src/href at all: the parser saw nothing"
    for tag, attr, value in page.refs:
        assert value.startswith(("data:", "#")), (tag, attr, value[:80])
    # no script, no external stylesheet or font, no frames; the title's <script> is text
    assert not {"script", "link", "iframe", "object", "embed", "base"} & set(page.tags)
    assert "toy <script>alert(1)</script>" in page.plain
    # a Markdown link is shown as text, its target in plain text
    assert "the docs (https://example.org/x)" in page.plain


def test_large_csv_shows_first_and_last_rows_and_says_how_many(page):
    big = [rows for rows in page.tables if len(rows) == 1 + HEAD_ROWS + 1 + TAIL_ROWS]
    assert big, "the long table is not shown as head + gap + tail"
    assert f"100 rows × 2 columns; showing rows 1–{HEAD_ROWS} and {100 - TAIL_ROWS + 1}–100" in page.plain
    assert f"{100 - HEAD_ROWS - TAIL_ROWS} rows not shown" in page.plain
    assert 100 > MAX_ROWS


def test_small_csv_whole_rounded_escaped_and_twin_noted(page):
    text = page.plain
    assert "0.8484" in text and "0.8484000020921231" not in text  # rounded for reading, says so
    assert "a, quoted <cell>" in text
    assert "small.csv (also as small.md)" in text
    assert "2 rows × 3 columns" in text
    assert "malformed: rows have [2, 3, 4] cells" in text
    assert "empty table: no columns and no rows" in text


def test_command_versions_and_notes_present(fake_output, page):
    text = page.plain
    assert f"jaxfair surface --scenario toy --out {fake_output} --html" in text
    assert "recorded by the command that wrote this directory" in text
    for name in ("jaxfair", "jax", "jaxlib", "numpy", "torch", "botorch", "python", "platform", "cpu"):
        assert f" {name} " in f" {text} ", name
    assert metadata.version("numpy") in text
    assert "This study is unfinished" in text and "2 of 5" in text
    assert "rows/" in text and "not opened" in text  # a subdirectory is listed, not silently skipped


def test_prefs_mapping_table(page):
    text = page.plain
    assert "Preferences: which row went to which group" in text
    assert "from summary.json.prefs" in text
    assert "group watched liked student 0.7 0.3 tech 0.2 0.8" in text


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"prefs": {"a": [0.8, 0.2], "b": [0.2, 0.8]}, "label_names": ["x", "y"]}, "group x y a 0.8 0.2 b 0.2 0.8"),
        (
            {"config": {"prefs": [[0.8, 0.2], [0.2, 0.8]], "group_names": ["maj", "min"]}},
            "group label 0 label 1 maj 0.8 0.2 min 0.2 0.8",
        ),
        ({"prefs_by_group": {"g": {"l": 1.0}}, "prefs": [[0.5]]}, "group l g 1"),
        ({"prefs": [[0.5, 0.5]]}, "row 0 (group not named) 0.5 0.5"),
    ],
)
def test_prefs_mapping_forms(tmp_path, record, expected):
    (tmp_path / "summary.json").write_text(json.dumps(record))
    page = Page(write_html_report(tmp_path).read_text())
    assert expected in page.plain


def test_without_records_says_so(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"x": 1}))
    text = Page(write_html_report(tmp_path, command="jaxfair report DIR --html").read_text()).plain
    assert "does not record the command that wrote it" in text
    assert "jaxfair report DIR --html" in text
    assert "No preference mapping is recorded" in text
    assert "these are the versions of the process that wrote this report" in text


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="out_dir: not a directory"):
        write_html_report(tmp_path / "missing")
    (tmp_path / "summary.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        write_html_report(tmp_path)
    (tmp_path / "summary.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        write_html_report(tmp_path)
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "command.json").write_text('{"runs": "jaxfair bo"}')
    with pytest.raises(ValueError, match=r"command.json: expected \{"):
        write_html_report(tmp_path)


def test_extra_json_and_its_command_log(tmp_path):
    study, report = tmp_path / "study", tmp_path / "study" / "report"
    report.mkdir(parents=True)
    (study / "study.json").write_text(json.dumps({"prefs": [[1.0, 0.0], [0.0, 1.0]], "group_names": ["a", "b"]}))
    record_command(study, "jaxfair bo --out study")
    record_command(study, "jaxfair bo --out study --trials 3")
    extra = (p for p in [study / "study.json"])  # any iterable, a generator included
    text = Page(write_html_report(report, command="jaxfair report study --html", extra_json=extra).read_text()).plain
    assert "run 1 of 2: jaxfair bo --out study run 2 of 2: jaxfair bo --out study --trials 3" in text
    assert "the command that wrote this report: jaxfair report study --html" in text
    assert "group label 0 label 1 a 1 0 b 0 1" in text and "from study.json.prefs" in text
    assert "recorded by the command that wrote this directory" in text


def test_record_command_merges_into_summary_or_appends_command_json(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"a": 1}))
    record_command(tmp_path, "jaxfair surface --users 5")
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["a"] == 1 and s["command"] == "jaxfair surface --users 5"
    assert s["environment"]["numpy"] == metadata.version("numpy")
    study = tmp_path / "study"
    study.mkdir()
    record_command(study, "jaxfair bo --out study")
    record_command(study, "jaxfair bo --out study")  # a resumed run
    assert [r["command"] for r in json.loads((study / "command.json").read_text())["runs"]] == [
        "jaxfair bo --out study"
    ] * 2
    record_command(tmp_path / "study", None)  # unknown command: the environment alone
    assert "command" not in json.loads((study / "command.json").read_text())["runs"][-1]
    assert command_line(["report", "my dir"]) == "jaxfair report 'my dir'"
    assert set(environment()) >= {"jaxfair", "jax", "jaxlib", "numpy", "torch", "botorch", "python", "cpu"}


@pytest.mark.long
def test_cli_surface_html_and_report_html(tmp_path, capsys):
    from jaxfair.cli import main

    out = tmp_path / "surface"
    argv = ["surface", "--scenario", "toy", "--users", "400", "--grid", "11", "--out", str(out), "--html"]
    assert main(argv) == 0
    assert f"wrote {out / 'report.html'}" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["command"] == command_line(argv)
    page = Page((out / "report.html").read_text())
    assert len(page.images) == len(list(out.glob("*.png"))) == 2
    assert all(len(set(rows)) == 1 for rows in page.tables)
    assert command_line(argv) in page.plain
    # `report DIR --html` on a directory that is not a BO study: DIR/report.html only
    (out / "report.html").unlink()
    assert main(["report", str(out), "--html"]) == 0
    assert (out / "report.html").exists() and not (out / "report").exists()
    assert command_line(["report", str(out), "--html"]) in Page((out / "report.html").read_text()).plain
    assert main(["report", str(out), "--html", "--out", str(tmp_path / "x")]) == 2
    assert "jaxfair: error: --out:" in capsys.readouterr().err


@pytest.mark.long
def test_cli_bo_report_html(tmp_path):
    from jaxfair.cli import main

    study = tmp_path / "study"
    bo = ["bo", "--scenario", "toy", "--methods", "random", "--trials", "1", "--iterations", "1", "--n-init", "2"]
    bo += ["--users", "100", "--exact-users", "1000", "--out", str(study)]
    assert main(bo) == 0
    assert json.loads((study / "command.json").read_text())["runs"][0]["command"] == command_line(bo)
    assert main(["report", str(study), "--html"]) == 0
    html = study / "report" / "report.html"
    page = Page(html.read_text())
    assert len(page.images) == len(list((study / "report").glob("*.png"))) >= 1
    assert all(len(set(rows)) == 1 for rows in page.tables)
    assert command_line(bo) in page.plain  # the study's command, from command.json beside study.json
    assert "study.json" in page.plain and "majority 0.8 0.2 minority 0.2 0.8" in page.plain


def test_parts_are_embedded_not_linked(tmp_path):
    """A subdirectory with its own summary.json (a pair of `diagnose --groups all|pairs`) is
    shown whole in the top page — notes, figures, numbers, tables — and supplies the prefs."""
    part = tmp_path / "a-vs-b"
    part.mkdir()
    _figure(part / "terms.png", "C2")
    (part / "pairs.csv").write_text("term,estimate\ngap,0.125\n")
    (part / "report.md").write_text("# Diagnosis\n\n- attribution: **blames scoring**\n")
    (part / "summary.json").write_text(
        json.dumps({"scenario": {"big": 1}, "prefs": {"a": {"x": 0.9, "y": 0.1}, "b": {"x": 0.1, "y": 0.9}}})
    )
    (part / "report.html").write_text("<p>its own page</p>")  # the same content: not repeated
    (tmp_path / "notes").mkdir()  # a plain subdirectory stays listed, not opened
    page = Page(write_html_report(tmp_path).read_text())
    text = page.plain
    assert len(page.images) == 1
    assert base64.b64decode(page.images[0].partition(",")[2]) == (part / "terms.png").read_bytes()
    assert "a-vs-b/terms.png" in text and "a-vs-b/pairs.csv" in text and "blames scoring" in text
    assert "group x y a 0.9 0.1 b 0.1 0.9" in text and "from a-vs-b/summary.json.prefs" in text
    assert "its own page" not in text and "big" not in text  # the part's page and scenario are not repeated
    assert "notes/" in text and "not opened" in text and "a-vs-b/ (a directory" not in text
    for tag, attr, value in page.refs:
        assert value.startswith(("data:", "#")), (tag, attr, value[:80])
