"""One self-contained ``report.html`` per output directory (issue #21 item 9).

* :mod:`~jaxfair.htmlreport.page` — :func:`write_html_report`: the page (tables, figures,
  command, preference mapping, key numbers, versions) of any output directory.
* :mod:`~jaxfair.htmlreport.elements` — escaped HTML pieces: tables, nested JSON, a Markdown
  subset, embedded figures.
* :mod:`~jaxfair.htmlreport.provenance` — the command line and software versions each command
  records in its ``summary.json``.
* :mod:`~jaxfair.htmlreport.commands` — the ``--html`` flag and the finishing step the commands share.
"""

from jaxfair.htmlreport.commands import add_html_argument, finish_outputs
from jaxfair.htmlreport.page import write_html_report
from jaxfair.htmlreport.provenance import command_line, environment, record_command

__all__ = ["add_html_argument", "command_line", "environment", "finish_outputs", "record_command", "write_html_report"]
