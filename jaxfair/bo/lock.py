"""One study per output directory: an exclusive lock on ``out/study.lock`` while it runs.

The lock is an ``fcntl.flock`` on the file, which the kernel releases when the holding
process ends *in any way* (including SIGKILL or a crash), so a lock left by a killed run is
never mistaken for a live one: the next run acquires it and takes over (with a warning
naming the previous pid). The file also records ``pid``, ``host`` and start time, only to
say who holds the directory in the error message.

Across machines, ``flock`` on a network filesystem is honoured where the filesystem
propagates locks (NFSv4, Lustre, CephFS with locking on); where it does not, a run on
another host cannot be detected and both would proceed — give each host its own ``--out``
(a Ray study writes everything through the one driver that holds the lock).
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import socket
import warnings
from pathlib import Path

from jaxfair.utils.interrupt import forget, on_interrupt

__all__ = ["StaleLockWarning", "StudyLock", "StudyLockedError", "LOCK_NAME"]

LOCK_NAME = "study.lock"


class StudyLockedError(ValueError):
    """Another live process is running a study in the same output directory."""


class StaleLockWarning(UserWarning):
    """The lock file named a process that no longer holds it (killed run); taken over."""


class StudyLock:
    """Context manager holding ``<out>/study.lock`` exclusively for this process.

    Raises :class:`StudyLockedError` (a ``ValueError``) naming the directory and the pid and
    host holding it when another live process has it.
    """

    def __init__(self, out: str | os.PathLike):
        self.out = Path(out)
        self.path = self.out / LOCK_NAME
        self._fd: int | None = None
        self._hook: int | None = None

    def acquire(self) -> StudyLock:
        self.out.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            who = (
                (
                    f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started "
                    f"{holder.get('started', '?')}"
                )
                if holder
                else "another process"
            )
            raise StudyLockedError(
                f"out: {str(self.out)!r} is in use by a running study ({who}); wait for it to finish, "
                "or use another --out"
            ) from None
        previous = _read_holder(fd)
        if previous and previous.get("pid") != os.getpid():
            # We got the lock, so its previous holder is gone (the kernel released it).
            warnings.warn(
                f"out: took over the lock of {str(self.out)!r} left by pid {previous.get('pid')} on host "
                f"{previous.get('host')} (started {previous.get('started')}), which no longer holds it "
                "(killed or crashed run)",
                StaleLockWarning,
                stacklevel=3,
            )
        record = json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
        )
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode(), 0)
        self._fd = fd
        # Ctrl-C ends the process without running release(): empty the record then as well, so
        # the resumed run does not take a deliberate interrupt for a killed or crashed run.
        self._hook = on_interrupt(lambda: os.ftruncate(fd, 0))
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        forget(self._hook)
        # Leave the file (removing it would race with a process blocked on it); empty it so
        # that the next run does not report a stale holder after a clean finish.
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> StudyLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> dict:
    data = os.pread(fd, 4096, 0)
    if not data.strip():
        return {}
    try:
        holder = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"pid": "?", "host": "?", "started": f"unreadable lock record {data[:40]!r}"}
    return holder if isinstance(holder, dict) else {}
