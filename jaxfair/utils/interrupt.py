"""What must still happen when Ctrl-C ends the process at once.

The command line ends a real SIGINT with ``os._exit(130)`` (see ``jaxfair.cli``), which runs no
``finally`` blocks and no ``atexit`` hooks. Nothing is lost by that — every result file is
written atomically — but a held resource may want to say it was let go on purpose: a study's
lock file, left naming a live pid, would make the resumed run warn about a "killed or crashed
run" after a clean Ctrl-C. Holders register a small, signal-safe callable here while they hold
the resource; the SIGINT handler runs them (each at most once, errors ignored: the process is
ending either way) just before it exits.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["on_interrupt", "forget", "run_interrupt_hooks"]

_HOOKS: dict[int, Callable[[], None]] = {}


def on_interrupt(hook: Callable[[], None]) -> int:
    """Register ``hook`` to run if Ctrl-C ends the process; returns a token for :func:`forget`."""
    token = id(hook)
    _HOOKS[token] = hook
    return token


def forget(token: int) -> None:
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
