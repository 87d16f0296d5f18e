"""Output directories that are complete or untouched: written aside, moved into place last.

A command that writes a directory ``OUT`` writes every file of it into a staging directory
beside it, ``OUT.partial-<pid>/<name of OUT>`` (the same filesystem, so the move is a rename;
the same last name, so a page titled after its folder reads the same), and renames it onto
``OUT`` once everything is written. The rule:

* until that moment ``OUT`` is as it was: absent, or the previous run's results untouched;
* after it, ``OUT`` holds this run's files only: an existing ``OUT`` is replaced as a whole,
  never mixed with the new files (a K = 3 run does not leave a K = 2 run's ``surface.png``);
* an error, a ``KeyboardInterrupt`` or a Ctrl-C (which ends the process at once,
  :mod:`jaxfair.utils.interrupt`, and runs this module's clean-up hook) removes the staging
  directory; a run killed outright (SIGKILL, power cut) leaves it, and the next run into the
  same ``OUT`` removes it once its pid is gone.

Because ``OUT`` is replaced as a whole, an existing ``OUT`` must be one a jaxfair command
wrote (it holds one of :data:`OUTPUT_MARKERS`) or empty: :func:`check_replaceable` refuses
anything else before any computation (``--out .`` in a project folder must not delete it).
A BO study directory is not replaced: it is written incrementally and resumed; its report
directory is.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jaxfair.utils.cliargs import UsageError
from jaxfair.utils.interrupt import forget, on_interrupt, sigint_deferred

__all__ = ["OUTPUT_MARKERS", "PARTIAL", "StagedDir", "check_replaceable", "final_path", "staged_dir"]

#: Between ``OUT`` and the writer's pid in a staging directory's name.
PARTIAL = ".partial-"
#: A directory holding one of these at its top is a previous jaxfair output (every command
#: that writes a directory writes ``summary.json``; a BO study's report writes ``report.md``).
OUTPUT_MARKERS = ("summary.json", "report.md")

_ACTIVE: dict[Path, Path] = {}  # staging directory -> where it goes, while a command writes it


def _target(out: str | os.PathLike) -> Path:
    """The absolute directory that will be replaced (a link to a directory: the directory)."""
    path = Path(os.path.abspath(out))
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_replaceable(out: str | os.PathLike, flag: str = "--out") -> None:
    """Refuse an ``OUT`` that a run would replace but that jaxfair did not write.

    Raises:
      UsageError: ``out`` is an existing directory that is not empty and holds none of
        :data:`OUTPUT_MARKERS` (anything else: another check's job, e.g. an existing file).
    """
    target = _target(out)
    if target.name == "":
        raise UsageError(f"{flag}: {str(out)!r} is the filesystem root (expected a directory for the results)")
    if not target.is_dir():
        return
    entries = [p.name for p in target.iterdir()]
    if entries and not any(m in entries for m in OUTPUT_MARKERS):
        raise UsageError(
            f"{flag}: {str(out)!r} already holds files and is not a jaxfair output directory (no "
            f"{' or '.join(OUTPUT_MARKERS)}); a run replaces its output directory as a whole, so give a new "
            "or empty directory"
        )


def final_path(path: str | os.PathLike) -> Path:
    """Where ``path`` will be once its staging directory is in place (``path`` itself when it is
    not being staged): for a writer that records a path inside a file (the HTML page's folder)."""
    path = Path(os.path.abspath(path))
    for stage, target in _ACTIVE.items():
        if path == stage or stage in path.parents:
            return target / path.relative_to(stage)
    return path


class StagedDir:
    """A staging directory being written (``path``) and the output directory it becomes (``out``)."""

    def __init__(self, path: Path, out: Path):
        self.path = path
        self.out = out

    def final(self, paths: Any) -> Any:
        """A path under :attr:`path` (or a dict / list of them) as it reads once moved to :attr:`out`."""
        if isinstance(paths, dict):
            return {k: self.final(v) for k, v in paths.items()}
        if isinstance(paths, list):
            return [self.final(v) for v in paths]
        return self.out / Path(paths).relative_to(self.path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _remove_leftovers(target: Path) -> None:
    """Remove staging directories of ``target`` whose writer is gone (killed outright)."""
    for leftover in target.parent.glob(glob.escape(target.name + PARTIAL) + "*"):
        pid = leftover.name[len(target.name + PARTIAL) :]
        if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(out: str | os.PathLike) -> Iterator[StagedDir]:
    """Write ``out`` aside; move it into place when the block ends normally (see the module docstring).

    Usage::

        with staged_dir(out) as stage:
            paths = write_results(..., stage.path)
        paths = stage.final(paths)  # the paths as they are now, for the "wrote" lines

    Raises:
      UsageError: from :func:`check_replaceable` (normally already raised by the command's
        pre-flight, :func:`jaxfair.utils.preflight.check_out_dir`).
    """
    check_replaceable(out)
    target = _target(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(target)
    wrapper = target.parent / f"{target.name}{PARTIAL}{os.getpid()}"
    wrapper.mkdir()
    stage = wrapper / target.name
    token = on_interrupt(lambda: shutil.rmtree(wrapper, ignore_errors=True))
    _ACTIVE[stage] = target
    try:
        stage.mkdir()
        yield StagedDir(stage, Path(out))
        _ACTIVE.pop(stage, None)
        previous = wrapper / f"{target.name}.previous"
        with sigint_deferred():  # the renames run whole: OUT is the old results or the new, never neither
            replacing = os.path.lexists(target)
            if replacing:
                os.rename(target, previous)
            try:
                os.rename(stage, target)
            except BaseException:
                if replacing:
                    os.rename(previous, target)
                raise
    finally:
        _ACTIVE.pop(stage, None)
        shutil.rmtree(wrapper, ignore_errors=True)  # the half-written copy, or the previous results
        forget(token)
