"""HTML pieces of a report: tables, nested JSON as definition lists, a Markdown subset, figures.

Every piece is built from strings with :func:`html.escape` (no template engine): text from the
output directory can never become markup. Nothing here refers to anything outside the page:
figures are ``data:`` URIs and a Markdown link becomes its text followed by its target in plain
text (no ``href``), so the page opens the same offline and never fetches.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

__all__ = ["figure_html", "format_number", "json_html", "markdown_html", "table_html"]

# Significant digits of a number shown in a table cell or a summary value. The files keep full
# precision; the page says so under each table.
DIGITS = 6
# A list of scalars longer than this is shown as its first and last entries and its length.
LIST_HEAD, LIST_TAIL = 12, 4


def format_number(v: float | int) -> str:
    """``0.8484000020921231`` → ``0.8484``; integers unchanged; NaN/inf as ``NaN``/``inf``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "−inf"
    return f"{v:.{DIGITS}g}"


def _cell(text: str) -> tuple[str, bool]:
    """A CSV cell as (escaped display text, is it a number)."""
    t = text.strip()
    if re.fullmatch(r"[+-]?\d+", t):
        return escape(t), True
    try:
        v = float(t)
    except ValueError:
        return escape(text), False
    return escape(format_number(v)), True


def table_html(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    gap_after: int | None = None,
    gap_text: str = "",
    row_names: bool = False,
) -> str:
    """``<table>`` of string cells (numbers rounded to :data:`DIGITS` and right-aligned).

    Every row gets exactly ``len(header)`` cells: a short row is padded with empty cells and a
    long one widens the header with unnamed columns (a malformed file is shown as it is, and
    the caller's note says so). ``gap_after``: index of the row after which ``gap_text`` spans
    the whole width (the rows left out of a long table). ``row_names``: the first cell of each
    row names it (a row header, never wrapped).
    """
    width = max([len(header), *(len(r) for r in rows)])
    head = list(header) + [""] * (width - len(header))
    out = ['<div class="scroll"><table>', "<thead><tr>"]
    out += [f"<th>{escape(str(h))}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        cells = [_cell(str(c)) for c in row] + [("", False)] * (width - len(row))
        tds = [f'<td class="num">{t}</td>' if n else f"<td>{t}</td>" for t, n in cells]
        if row_names and cells:
            tds[0] = f'<th scope="row">{escape(str(row[0])) if row else ""}</th>'
        out.append("<tr>" + "".join(tds) + "</tr>")
        if gap_after is not None and i == gap_after:
            out.append(f'<tr class="gap"><td colspan="{width}">{escape(gap_text)}</td></tr>')
    out.append("</tbody></table></div>")
    return "".join(out)


def _scalar(v: Any) -> str:
    if v is None:
        return '<span class="muted">null</span>'
    if isinstance(v, (bool, int, float)):
        return escape(format_number(v))
    return escape(str(v))


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _uniform_records(value: Any) -> list[str] | None:
    """Column names when ``value`` is a table in disguise: a list of flat dicts with the same
    keys, or a dict of flat dicts with the same keys (rows named by the outer keys)."""
    rows = list(value.values()) if isinstance(value, dict) else value
    if not isinstance(rows, list) or len(rows) < 2 or not all(isinstance(r, dict) and r for r in rows):
        return None
    keys = list(rows[0])
    if any(list(r) != keys for r in rows) or not all(_is_scalar(v) for r in rows for v in r.values()):
        return None
    return keys


def _scalar_list(values: list) -> str:
    shown = [_scalar(v) for v in values]
    if len(values) > LIST_HEAD + LIST_TAIL:
        left = len(values) - LIST_HEAD - LIST_TAIL
        shown = shown[:LIST_HEAD] + [f'<span class="muted">… {left} more …</span>'] + shown[-LIST_TAIL:]
        return ", ".join(shown) + f' <span class="muted">({len(values)} values)</span>'
    return "[" + ", ".join(shown) + "]"


def json_html(value: Any) -> str:
    """Nested JSON as HTML: objects as definition lists, lists of scalars inline, uniform
    records (a list of flat objects, or an object of flat objects) as tables."""
    if _is_scalar(value):
        return _scalar(value)
    keys = _uniform_records(value)
    if keys is not None:
        if isinstance(value, dict):
            rows = [[str(k), *(_plain(r[c]) for c in keys)] for k, r in value.items()]
            return table_html(["", *keys], rows, row_names=True)
        return table_html(keys, [[_plain(r[c]) for c in keys] for r in value])
    if isinstance(value, list):
        if all(_is_scalar(v) for v in value):
            return _scalar_list(value)
        if all(isinstance(v, list) and all(_is_scalar(x) for x in v) for v in value):  # a matrix
            return "<br>".join(_scalar_list(v) for v in value)
        return '<ol class="items">' + "".join(f"<li>{json_html(v)}</li>" for v in value) + "</ol>"
    if not value:
        return '<span class="muted">{}</span>'
    items = "".join(f"<dt>{escape(str(k))}</dt><dd>{json_html(v)}</dd>" for k, v in value.items())
    return f"<dl>{items}</dl>"


def _plain(v: Any) -> str:
    """A JSON scalar as the plain text a table cell gets (escaped by :func:`table_html`)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def figure_html(path: Path, *, caption: str | None = None) -> str:
    """``<figure>`` with the PNG at ``path`` embedded as a base64 ``data:`` URI, captioned by
    ``caption`` (default: its name)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    name = escape(caption or Path(path).name)
    return f'<figure><img src="data:image/png;base64,{data}" alt="{name}"><figcaption>{name}</figcaption></figure>'


_INLINE_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


def _inline(text: str) -> str:
    """Escaped text with `code` and **bold**; a link ``[t](u)`` becomes ``t (u)`` in plain text, an
    image ``![t](f.png)`` ``(figure: t — f.png, with the figures)``: the page embeds every figure
    of the directory in its figures section, so the note points there rather than showing a "!"."""
    parts = _INLINE_CODE.split(text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{escape(part)}</code>")
        else:
            part = _IMAGE.sub(lambda m: f"(figure: {m.group(1) or m.group(2)} — {m.group(2)}, with the figures)", part)
            part = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", part)
            out.append(_BOLD.sub(r"<strong>\1</strong>", escape(part)))
    return "".join(out)


def _pipe_cells(line: str) -> list[str]:
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)]


def _md_table(lines: list[str]) -> str:
    header = _pipe_cells(lines[0])
    body = [_pipe_cells(x) for x in lines[1:] if not re.fullmatch(r"\|?[\s:|-]+\|?", x.strip())]
    return table_html(header, body)


def markdown_html(text: str, *, top_level: int = 3) -> str:
    """The Markdown the commands write (headings, paragraphs, bullet and numbered lists, pipe
    tables, fenced code, `code`, **bold**) as HTML; ``# h`` becomes ``<h{top_level}>``.

    Anything else is shown as its text, escaped — a subset, not a full Markdown parser.
    """
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    para: list[str] = []

    def flush_para():
        if para:
            out.append("<p>" + _inline(" ".join(s.strip() for s in para)) + "</p>")
            para.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush_para()
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            out.append("<pre>" + escape("\n".join(lines[i + 1 : j])) + "</pre>")
            i = j + 1
            continue
        heading = re.match(r"(#{1,6})\s+(.*)", stripped)
        if heading:
            flush_para()
            level = min(6, top_level + len(heading.group(1)) - 1)
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            i += 1
            continue
        if stripped.startswith("|"):
            flush_para()
            j = i
            while j < len(lines) and lines[j].strip().startswith("|"):
                j += 1
            out.append(_md_table(lines[i:j]))
            i = j
            continue
        bullet = re.match(r"([-*+]|\d+[.)])\s+", stripped)
        if bullet:
            flush_para()
            tag = "ol" if bullet.group(1)[0].isdigit() else "ul"
            items: list[str] = []
            while i < len(lines):
                s = lines[i].strip()
                m = re.match(r"([-*+]|\d+[.)])\s+(.*)", s)
                if m and (m.group(1)[0].isdigit()) == (tag == "ol"):
                    items.append(m.group(2))
                elif s and items and lines[i][:1].isspace():  # an indented continuation line
                    items[-1] += " " + s
                else:
                    break
                i += 1
            out.append(f"<{tag}>" + "".join(f"<li>{_inline(x)}</li>" for x in items) + f"</{tag}>")
            continue
        if not stripped:
            flush_para()
        else:
            para.append(line)
        i += 1
    flush_para()
    return "\n".join(out)
