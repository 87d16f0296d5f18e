"""Ctrl-C on the command line: one line, exit status 130, and the clean-ups that must still run.

Why not Python's KeyboardInterrupt: it is raised wherever the main thread happens to be, and
inside JAX/XLA that is unsafe — raised in ``_xla_gc_callback`` (a gc callback) it is swallowed
and the run goes on to exit 0; raised elsewhere, the interpreter's shutdown with XLA's threads
still busy segfaulted (exit 139). So a real SIGINT ends the process at once (``os._exit(130)``)
after printing one line. Ending at once is safe because every result file is written atomically
and incrementally (:mod:`jaxfair.utils.atomic`; a killed writer leaves at most a ``*.tmp`` file
that later runs ignore), every output directory is written aside and moved into place last
(:mod:`jaxfair.utils.outdir`: its clean-up hook removes the half-written copy), the study lock
is an flock the OS releases, and a Ray driver's processes are reaped by its watchdog: a rerun
resumes exactly as after a kill. The few renames that move a directory into place run under
:func:`sigint_deferred`, so that a Ctrl-C cannot cut them in half.

``os._exit`` runs no ``finally`` blocks and no ``atexit`` hooks. A held resource that wants to
say it was let go on purpose — a study's lock file, left naming a live pid, would make the
resumed run warn about a "killed or crashed run" after a clean Ctrl-C — registers a small,
signal-safe callable with :func:`on_interrupt` while it holds the resource.

This module imports nothing heavy: the console script (:mod:`jaxfair.console`) installs the
handler before it imports the command line, so that a Ctrl-C while the CLI is still importing
is handled too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

__all__ = [
    "exit_on_sigint",
    "forget",
    "interrupt_message",
    "on_interrupt",
    "run_interrupt_hooks",
    "sigint_deferred",
    "sigint_handler",
]

_HOOKS: dict[int, Callable[[], None]] = {}


def on_interrupt(hook: Callable[[], None]) -> int:
    """Register ``hook`` to run if Ctrl-C ends the process; returns a token for :func:`forget`."""
    token = id(hook)
    _HOOKS[token] = hook
    return token


def forget(token: int | None) -> None:
    """Unregister a hook (the resource was released normally)."""
    _HOOKS.pop(token, None)


def run_interrupt_hooks() -> None:
    """Run and clear every registered hook; a hook that fails is skipped (we are exiting)."""
    while _HOOKS:
        _, hook = _HOOKS.popitem()
        try:
            hook()
        except Exception:  # the process ends next: one failed clean-up must not stop the others
            continue


def interrupt_message(argv: Sequence[str]) -> str:
    """The one line a Ctrl-C prints: a BO study (the ``bo`` command) adds that a rerun resumes it."""
    command = next((a for a in argv if not a.startswith("-")), None)
    return "jaxfair: interrupted" + ("; rerun the same command to resume" if command == "bo" else "")


def sigint_handler(message: str) -> Callable:
    """A SIGINT handler that prints ``message`` (ending an open progress line first), runs the
    registered clean-ups and exits with status 130 at once."""

    def handler(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the exit short
        # Raw writes: the handler may run while the main thread is inside a print to the same
        # stream, where buffered I/O would raise "reentrant call".
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            sys.stdout.flush()
        # An open progress bar leaves its line unended (``\r`` redraws): end it first.
        bar = bool(getattr(getattr(sys.modules.get("tqdm.std"), "tqdm", None), "_instances", ()))
        with contextlib.suppress(OSError):
            os.write(2, (("\n" if bar else "") + message + "\n").encode())
        run_interrupt_hooks()  # e.g. a study lock says it was let go on purpose
        os._exit(130)

    return handler


@contextlib.contextmanager
def exit_on_sigint(message: str, *, enabled: bool = True, restore: bool = True):
    """While the block runs, a real Ctrl-C prints ``message`` and ends the process with status 130.

    ``enabled=False`` (``--debug``) keeps Python's default, a traceback; off the main thread
    (where signal handlers cannot be set) it does nothing. ``restore=False`` leaves the handler
    installed after the block (the console script, about to exit).
    """
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, sigint_handler(message))
    try:
        yield
    finally:
        if restore:
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def sigint_deferred():
    """While the block runs, a Ctrl-C waits; it takes effect (as the handler in place says) right after.

    For a step that must not be cut in half and takes milliseconds (the renames that move an
    output directory into place). A handler swap, not a signal mask: a mask on the main thread
    does not stop the signal reaching JAX's threads, whose delivery runs the handler anyway.
    Off the main thread (where handlers cannot be set) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if pending:
            if callable(previous):  # ours (exit 130) or Python's (KeyboardInterrupt)
                previous(signal.SIGINT, None)
            elif previous == signal.SIG_DFL:
                os.kill(os.getpid(), signal.SIGINT)
