"""The ``jaxfair`` console script: the command line in a process of its own.

Two windows where a Ctrl-C would otherwise escape the one-line exit 130 of
:func:`jaxfair.utils.interrupt.exit_on_sigint`:

* **before the command line is imported** (~0.1 s of imports): the handler is installed first,
  from a module that imports nothing heavy;
* **after the command returned**: the interpreter's shutdown (JAX's exit clean-up) can take a
  while, and Python resets its signal handlers to the default during shutdown, so a Ctrl-C there
  killed the process silently (status −2). The command's work is complete and written by then,
  so Ctrl-C is ignored from that point and the command's own status stands.

What remains is the interpreter's own start-up (~40 ms, before any jaxfair code runs), where a
Ctrl-C gets Python's default KeyboardInterrupt.
"""

from __future__ import annotations

import signal
import sys

from jaxfair.utils.interrupt import interrupt_message, sigint_handler

__all__ = ["main"]


def main() -> None:
    """Run ``jaxfair`` with ``sys.argv`` and exit with its status."""
    if "--debug" not in sys.argv[1:]:
        signal.signal(signal.SIGINT, sigint_handler(interrupt_message(sys.argv[1:])))
    from jaxfair.cli import main as cli_main  # after the handler: this import takes ~0.1 s

    status = cli_main(keep_sigint_handler=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the work is done: see the module docstring
    sys.exit(status)
