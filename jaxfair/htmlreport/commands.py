"""What the commands share: the ``--html`` flag, and the last step that records the command line
(:func:`~jaxfair.htmlreport.provenance.record_command`) and writes ``report.html``.

Kept apart from :mod:`~jaxfair.htmlreport.provenance` so that the page (which reads the
environment from there) and the commands' finishing step do not import each other.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from jaxfair.htmlreport.page import write_html_report
from jaxfair.htmlreport.provenance import command_line, record_command

__all__ = ["add_html_argument", "finish_outputs"]


def add_html_argument(parser) -> None:
    """``--html``: also write a self-contained ``report.html`` into the output directory."""
    parser.add_argument(
        "--html",
        action="store_true",
        help="also write report.html: every table, figure, the command, prefs and versions in one "
        "self-contained file that opens in a browser without a server",
    )


def finish_outputs(out_dir: str | os.PathLike, args, *, parts: Iterable[str | os.PathLike] = ()) -> dict[str, Path]:
    """The last step of a command: record its command line and the warnings it printed; with ``--html``
    write ``report.html``.

    ``args`` is the command's ``argparse`` namespace; ``args.argv`` is set by :func:`jaxfair.cli.main`
    (a namespace built elsewhere, e.g. by a test's own parser, has none: then no command is
    recorded, rather than the hosting program's ``sys.argv``). ``parts``: subdirectories that
    hold reports of their own (``diagnose --groups all|pairs``: one per pair): each gets the same
    record and, with ``--html``, its own ``report.html`` — the top page also embeds them.
    Returns ``{"report.html": path, ...}`` with ``--html``, else ``{}``, for the command's "wrote"
    lines (the record amends files already listed).
    """
    argv = getattr(args, "argv", None)
    command = None if argv is None else command_line(argv)
    shown = getattr(args, "warnings_shown", None)  # set by jaxfair.cli.main, as args.argv
    parts = [Path(p) for p in parts]
    for part in parts:
        record_command(part, command, shown)
    record_command(out_dir, command, shown)
    if not getattr(args, "html", False):
        return {}
    written = {f"{p.name}/report.html": write_html_report(p, command=command) for p in parts}
    return {**written, "report.html": write_html_report(out_dir, command=command)}
