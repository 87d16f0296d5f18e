"""``report.html``: one self-contained page of everything an output directory holds.

:func:`write_html_report` reads the files a jaxfair command wrote (it needs nothing from the
command itself, so it works on any output directory, old ones included) and lays them out as:
the command line, notes (``notes.md``/``report.md``), the preference mapping (which α* row went
to which group), every figure, the key numbers of ``summary.json`` (and any other JSON there),
every table, every *part* (a subdirectory with its own ``summary.json``, e.g. one pair of
groups of ``diagnose --groups all|pairs``: its notes, figures, key numbers and tables, embedded
in this page rather than linked, so the page stays one self-contained file), the software
versions, and a list of what the page does not show. The page has
inline CSS only, no script, and no reference outside itself (figures are ``data:`` URIs), so it
opens from disk in any browser and can be mailed as one file.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import re
import shlex
from collections import deque
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

from jaxfair.htmlreport.elements import DIGITS, figure_html, json_html, markdown_html, table_html
from jaxfair.htmlreport.provenance import environment
from jaxfair.utils.atomic import atomic_write_text
from jaxfair.utils.outdir import final_path

__all__ = ["write_html_report"]

# A CSV with more rows than MAX_ROWS is shown as its first HEAD_ROWS and last TAIL_ROWS rows,
# with a line saying how many were left out (never cut silently).
MAX_ROWS, HEAD_ROWS, TAIL_ROWS = 40, 20, 10
# jaxfair prefs' summary.json: the estimated mapping (not a true α* anything was evaluated with).
ESTIMATED = "estimated_prefs_by_group"
# Markdown documents shown as prose (not as the twin of a CSV table), in this order.
_NOTES = ("notes.md", "report.md")

_CSS = """
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1d2430;
 background:#f6f7f9;margin:0}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px;background:#fff;min-height:100vh}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:20px;margin:36px 0 10px;padding-bottom:4px;border-bottom:2px solid #e3e6eb}
h3{font-size:17px;margin:22px 0 8px}
h4,h5,h6{font-size:15px;margin:16px 0 6px}
.sub{color:#5b6472;margin:0 0 14px;overflow-wrap:anywhere}
nav.toc{background:#f1f3f6;border-radius:6px;padding:8px 14px;margin:14px 0}
nav.toc a{margin-right:16px;color:#1f5fbf;text-decoration:none;white-space:nowrap}
pre{background:#f1f3f6;border-radius:6px;padding:10px 12px;white-space:pre-wrap;overflow-wrap:anywhere;
 font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin:6px 0}
code{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f3f6;padding:0 3px;border-radius:3px}
.scroll{overflow-x:auto;max-width:100%;margin:6px 0 4px}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums;overflow-wrap:normal;word-break:normal}
th,td{border:1px solid #dde1e7;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600;white-space:nowrap}
tbody th{background:#f6f8fa;font-weight:500}
td.num{text-align:right;white-space:nowrap}
tbody tr:nth-child(even){background:#fafbfc}
tr.gap td{text-align:center;color:#5b6472;font-style:italic;background:#fff8e6}
.note{color:#5b6472;font-size:13px;margin:2px 0 14px}
.muted{color:#7a8391}
.box{border-left:4px solid #e0a800;background:#fffaf0;padding:6px 14px;margin:10px 0;border-radius:0 6px 6px 0}
figure{margin:14px 0 24px;text-align:center}
figure img{max-width:100%;height:auto;border:1px solid #e3e6eb}
figcaption{font-size:13px;color:#5b6472;margin-top:4px}
dl{margin:4px 0;display:grid;grid-template-columns:max-content minmax(0,1fr);column-gap:14px;row-gap:2px}
dt{font-weight:600;color:#33405a;overflow-wrap:anywhere}
dd{margin:0;overflow-wrap:anywhere;min-width:0}
dd dl{border-left:2px solid #e3e6eb;padding-left:10px}
ol.items{margin:0;padding-left:20px}
"""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def _runs(path: Path) -> list[dict]:
    """The runs recorded in a ``command.json`` (``[]`` when there is none)."""
    if not path.is_file():
        return []
    data = _read_json(path)
    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise ValueError(f'{path}: expected {{"runs": [{{"command": ..., "environment": ...}}, ...]}}')
    return runs


def _csv_section(path: Path) -> str:
    """A CSV as a table: whole when short, else its first/last rows and how many are left out."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or header == [""]:  # pandas writes an empty DataFrame as one blank line
            return '<p class="note">empty table: no columns and no rows</p>'
        head: list[list[str]] = []
        tail: deque[list[str]] = deque(maxlen=TAIL_ROWS)
        n = 0
        widths = {len(header)}
        for row in reader:
            n += 1
            widths.add(len(row))
            if n <= HEAD_ROWS:
                head.append(row)
            else:
                tail.append(row)
    cols = len(header)
    facts = [f"{n} row{'s' if n != 1 else ''} × {cols} column{'s' if cols != 1 else ''}"]
    if n <= MAX_ROWS:
        body, gap = head + list(tail), None
    else:
        body, gap = head + list(tail), HEAD_ROWS - 1
        facts.append(f"showing rows 1–{HEAD_ROWS} and {n - TAIL_ROWS + 1}–{n}; the full table is in {path.name}")
    if len(widths) > 1:
        facts.append(f"malformed: rows have {sorted(widths)} cells; short rows are padded with empty cells")
    gap_text = f"… {n - HEAD_ROWS - TAIL_ROWS} rows not shown (rows {HEAD_ROWS + 1}–{n - TAIL_ROWS}) …"
    note = f'<p class="note">{escape("; ".join(facts))}</p>'
    return table_html(header, body, gap_after=gap, gap_text=gap_text) + note


def _find_prefs(data: Any, where: str) -> tuple[list[str], list[list[Any]], str] | None:
    """The first preference mapping in a JSON tree, as (label columns, rows [group, w...], where).

    Recognised: ``prefs_by_group``/``prefs``/``estimated_prefs_by_group`` (``jaxfair prefs``) =
    ``{group: {label: w}}``, ``{group: [w, ...]}``, or ``[[w, ...], ...]`` named by a sibling
    ``group_names`` (and ``label_names``).
    """
    if isinstance(data, list):
        for i, v in enumerate(data):
            found = _find_prefs(v, f"{where}[{i}]")
            if found:
                return found
        return None
    if not isinstance(data, dict):
        return None
    # Names of the rows and columns of a bare matrix, from its siblings (study.json writes
    # group_names/label_names, a scenario's record groups/labels).
    group_hint = _names(data.get("group_names", data.get("groups")))
    labels_hint = _names(data.get("label_names", data.get("labels")))
    for key in ("prefs_by_group", "prefs", ESTIMATED):
        v = data.get(key)
        if isinstance(v, dict) and v and all(isinstance(r, dict) for r in v.values()):
            labels = list(dict.fromkeys(str(lab) for r in v.values() for lab in r))
            return labels, [[str(g), *(r.get(lab, "") for lab in labels)] for g, r in v.items()], f"{where}.{key}"
        if isinstance(v, dict) and v and all(isinstance(r, list) for r in v.values()):
            k = max(len(r) for r in v.values())
            labels = labels_hint if len(labels_hint) == k else [f"label {j}" for j in range(k)]
            return labels, [[str(g), *r] for g, r in v.items()], f"{where}.{key}"
        if isinstance(v, list) and v and all(isinstance(r, list) for r in v):
            names = group_hint if len(group_hint) == len(v) else [f"row {i} (group not named)" for i in range(len(v))]
            k = max(len(r) for r in v)
            labels = labels_hint if len(labels_hint) == k else [f"label {j}" for j in range(k)]
            return labels, [[g, *r] for g, r in zip(names, v, strict=True)], f"{where}.{key}"
    for key, v in data.items():
        found = _find_prefs(v, f"{where}.{key}")
        if found:
            return found
    return None


def _names(value: Any) -> list[str]:
    """A list of names (strings or numbers) as strings, else ``[]``."""
    if isinstance(value, list) and all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in value):
        return [str(x) for x in value]
    return []


def _section(anchor: str, heading: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(heading)}</h2>{body}</section>'


def _commands(summary: dict, runs: list[dict], command: str | None) -> tuple[str, dict | None]:
    """The command section's HTML and the environment recorded with the directory (or None)."""
    parts = []
    recorded = summary.get("command")
    env = summary.get("environment")
    if recorded:
        parts.append(f'<p class="note">the command that wrote this directory:</p><pre>{escape(str(recorded))}</pre>')
    for i, run in enumerate(runs):
        label = "the command that wrote this directory" if len(runs) == 1 else f"run {i + 1} of {len(runs)}"
        parts.append(f'<p class="note">{label}:</p><pre>{escape(str(run.get("command", "")))}</pre>')
        env = run.get("environment", env)
    if not parts:
        parts.append(
            '<p class="box">This directory does not record the command that wrote it (written before '
            "jaxfair recorded commands, or by the Python API).</p>"
        )
    if command and command != recorded:
        parts.append(f'<p class="note">the command that wrote this report:</p><pre>{escape(command)}</pre>')
    shown = [w for run in runs for w in run.get("warnings", [])] + list(summary.get("warnings") or [])
    if shown:  # what the command warned on the terminal, kept with its outputs
        items = "".join(f"<li>{escape(str(w))}</li>" for w in dict.fromkeys(shown))
        parts.append(f'<div class="box"><p>the command warned:</p><ul>{items}</ul></div>')
    return "".join(parts), env if isinstance(env, dict) else None


def write_html_report(
    out_dir: str | os.PathLike,
    *,
    title: str | None = None,
    command: str | None = None,
    extra_json: Iterable[str | os.PathLike] = (),
) -> Path:
    """Write ``out_dir/report.html``: the whole output directory as one self-contained page.

    Args:
      out_dir: a directory written by a jaxfair command (``surface``, ``diagnose``, ``dynamics``,
        ``prefs``, a ``report`` of a BO study, ...); only its own files are read (subdirectories
        are listed, not opened).
      title: the page's title (default: ``summary.json``'s ``title``, else the directory's name).
      command: the command line that asked for the page, shown beside the one the directory
        recorded when they differ.
      extra_json: more JSON files to show as configuration (e.g. a BO study's ``study.json``,
        which lives one level above its report directory).
    Returns:
      the path of ``report.html``.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ValueError(f"out_dir: not a directory: {str(out_dir)!r}")
    files = sorted(p for p in out_dir.iterdir() if p.name != "report.html" and not p.name.endswith(".tmp"))
    summary_path = out_dir / "summary.json"
    summary = _read_json(summary_path) if summary_path.is_file() else {}
    if not isinstance(summary, dict):
        raise ValueError(f"{summary_path}: expected a JSON object, got {type(summary).__name__}")
    command_log = out_dir / "command.json"
    runs = _runs(command_log)
    extra = [Path(p) for p in extra_json]
    jsons = [p for p in files if p.suffix == ".json" and p.name not in ("summary.json", "command.json")]
    jsons += [p for p in extra if p.is_file()]
    for p in extra:  # a BO study's command log sits beside its study.json
        if p.parent / "command.json" != command_log:
            runs = _runs(p.parent / "command.json") + runs
    configs = {p: _read_json(p) for p in jsons}
    parts = [p for p in files if p.is_dir() and (p / "summary.json").is_file()]
    title = title or _default_title(summary, runs, out_dir)
    shown: set[Path] = {summary_path, command_log, *jsons}

    sections = []
    command_html, env = _commands(summary, runs, command)
    sections.append(("command", "Command", command_html))

    notes = [out_dir / n for n in _NOTES if (out_dir / n).is_file()]
    if notes:
        body = "".join(f'<div class="box">{markdown_html(p.read_text(encoding="utf-8"))}</div>' for p in notes)
        sections.append(("notes", "Notes", body))
        shown.update(notes)

    prefs = _find_prefs(summary, "summary.json")
    for p, data in configs.items():
        prefs = prefs or _find_prefs(data, p.name)
    for part in parts:  # a directory of parts may record its mapping only in them
        prefs = prefs or _find_prefs(_read_json(part / "summary.json"), f"{part.name}/summary.json")
    if prefs:
        labels, rows, where = prefs
        what = (
            "the preferences estimated from the log (point estimates; their CIs are in prefs.csv)"
            if where.endswith(f".{ESTIMATED}")
            else "the true preferences α*(g) each group was evaluated with"
        )
        body = f'<p class="note">{what}: one row per group (from {escape(where)})</p>' + table_html(
            ["group", *labels], [[str(c) for c in r] for r in rows], row_names=True
        )
    else:
        body = '<p class="note">No preference mapping is recorded in this directory.</p>'
    sections.append(("prefs", "Preferences: which row went to which group", body))

    figures = [p for p in files if p.suffix.lower() == ".png" and p.is_file()]
    if figures:
        sections.append(("figures", f"Figures ({len(figures)})", "".join(figure_html(p) for p in figures)))
        shown.update(figures)

    numbers = {k: v for k, v in summary.items() if k not in ("command", "environment")}
    body = ""
    if numbers:
        body += f'<p class="note">summary.json (numbers to {DIGITS} significant digits)</p>' + json_html(numbers)
    for p, data in configs.items():
        body += f"<h3>{escape(p.name)}</h3>" + json_html(data)
    if body:
        sections.append(("summary", "Key numbers and configuration", body))

    n_tables, tables = _tables(files, shown)
    if tables:
        sections.append(("tables", f"Tables ({n_tables})", tables))

    for part in parts:
        anchor = "part-" + re.sub(r"[^A-Za-z0-9_-]", "-", part.name)
        sections.append((anchor, f"{part.name}/", _part(part, anchor)))
        shown.add(part)

    if env is None:
        env_note = (
            "this directory records no environment: these are the versions of the process that wrote "
            "this report, which may differ from the one that computed the results"
        )
        env = environment()
    else:
        env_note = "recorded by the command that wrote this directory"
    versions = table_html(["", "version"], [[k, str(v)] for k, v in env.items()], row_names=True)
    sections.append(("versions", "Versions", f'<p class="note">{env_note}</p>' + versions))

    others = [p for p in files if p not in shown]
    if others:
        items = "".join(
            f"<li><code>{escape(p.name)}{'/' if p.is_dir() else ''}</code> "
            f'<span class="muted">({_describe(p)})</span></li>'
            for p in others
        )
        sections.append(("other", "Files not shown", f"<ul>{items}</ul>"))

    written = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    toc = " ".join(f'<a href="#{a}">{escape(h)}</a>' for a, h, _ in sections)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · jaxfair</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="sub">jaxfair output directory <code>{escape(str(final_path(out_dir).resolve()))}</code> · '
        f"page written {written}</p>"
        f'<nav class="toc">{toc}</nav>' + "".join(_section(a, h, b) for a, h, b in sections) + "</main></body></html>\n"
    )
    return atomic_write_text(out_dir / "report.html", page)


def _tables(files: list[Path], shown: set[Path], prefix: str = "") -> tuple[int, str]:
    """``(number of CSVs, HTML)``: every CSV as a table (its Markdown twin noted), then any Markdown
    that is neither a note nor a twin; adds what it shows to ``shown``. ``prefix``: the folder
    the files are in, for headings and anchors of a part."""
    csvs = [p for p in files if p.suffix == ".csv" and p.is_file()]
    tables = []
    for p in csvs:
        twin = p.with_suffix(".md")
        also = f' <span class="muted">(also as {escape(twin.name)})</span>' if twin.is_file() else ""
        anchor = escape(f"table-{prefix}{p.stem}".replace("/", "-"))
        tables.append(f'<h3 id="{anchor}">{escape(prefix + p.name)}{also}</h3>' + _csv_section(p))
        shown.update({p, twin})
    for p in files:
        if p.suffix == ".md" and p not in shown and p.is_file():
            tables.append(
                f"<h3>{escape(prefix + p.name)}</h3>" + markdown_html(p.read_text(encoding="utf-8"), top_level=4)
            )
            shown.add(p)
    if not tables:
        return 0, ""
    note = f'<p class="note">numbers to {DIGITS} significant digits; the files hold full precision</p>'
    return len(csvs), note + "".join(tables)


def _part(part: Path, anchor: str) -> str:
    """One part (a subdirectory with its own ``summary.json``) embedded whole: notes, figures, key
    numbers (without what the top of the page already shows: scenario, command, versions) and
    tables, then what it holds that is not shown. Its own ``report.html``, if any, is the same
    content and is not repeated."""
    prefix = f"{part.name}/"
    files = sorted(
        p for p in part.iterdir() if p.name not in ("report.html", "summary.json") and not p.name.endswith(".tmp")
    )
    shown: set[Path] = set()
    body = []
    notes = [part / n for n in _NOTES if (part / n).is_file()]
    for p in notes:
        body.append(f'<div class="box">{markdown_html(p.read_text(encoding="utf-8"), top_level=4)}</div>')
    shown.update(notes)
    figures = [p for p in files if p.suffix.lower() == ".png" and p.is_file()]
    if figures:
        body.append("<h3>Figures</h3>" + "".join(figure_html(p, caption=prefix + p.name) for p in figures))
        shown.update(figures)
    summary = _read_json(part / "summary.json")
    numbers = (
        summary
        if not isinstance(summary, dict)
        else {k: v for k, v in summary.items() if k not in ("scenario", "command", "environment")}
    )
    body.append(f'<h3 id="{anchor}-numbers">{escape(prefix)}summary.json</h3>' + json_html(numbers))
    _, tables = _tables(files, shown, prefix)
    body.append(tables)
    others = [p for p in files if p not in shown]
    if others:
        items = "".join(f"<li><code>{escape(prefix + p.name)}</code> ({_describe(p)})</li>" for p in others)
        body.append(f'<p class="note">not shown:</p><ul>{items}</ul>')
    return "".join(body)


def _default_title(summary: dict, runs: list[dict], out_dir: Path) -> str:
    """``"surface · toy"``: the recorded command's name and the scenario's title, else the directory's name."""
    name = str(summary.get("title") or out_dir.resolve().name)
    recorded = summary.get("command") or (runs[-1].get("command") if runs else None)
    try:
        words = shlex.split(str(recorded)) if recorded else []
    except ValueError:  # an unbalanced quote in a hand-edited file: no command name, not an error
        words = []
    return f"{words[1]} · {name}" if len(words) > 1 and words[0] == "jaxfair" else name


def _describe(p: Path) -> str:
    if p.is_dir():
        n = sum(1 for _ in p.iterdir())
        return f"a directory of {n} entr{'y' if n == 1 else 'ies'}, not opened"
    return f"{p.stat().st_size:,} bytes"
