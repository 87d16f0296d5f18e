"""Where an output directory came from: the command line that wrote it and the software it ran on.

Each command that writes ``summary.json`` merges two records into it when it finishes
(:func:`record_command`): ``command`` (the exact command line, shell-quoted, so it can be pasted
back) and ``environment`` (:func:`environment`: versions of jaxfair and the numeric stack, the
Python and the machine). ``jaxfair bo`` writes no ``summary.json`` (its ``study.json`` is the
resume identity and must not change between runs), so it appends its record to
``command.json`` beside ``study.json`` instead: one entry per run, the resumed ones included.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from jaxfair.utils.atomic import atomic_write_text

__all__ = ["command_line", "environment", "record_command"]

# Distributions whose versions decide the numbers (jax/jaxlib: kernels; numpy/scipy/pandas:
# statistics and tables; torch/botorch: BO; matplotlib: figures).
_PACKAGES = ("jax", "jaxlib", "numpy", "scipy", "pandas", "torch", "botorch", "matplotlib")


def command_line(argv: list[str] | tuple[str, ...]) -> str:
    """``["surface", "--users", "500"]`` → ``"jaxfair surface --users 500"`` (shell-quoted)."""
    return shlex.join(["jaxfair", *map(str, argv)])


def _cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``; elsewhere what :mod:`platform` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _git_commit(package_dir: Path) -> str | None:
    """``<sha>`` or ``<sha>+dirty`` when the running jaxfair is a git checkout, else None."""
    try:
        head = subprocess.run(
            ["git", "-C", str(package_dir), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(package_dir), "status", "--porcelain", "--untracked-files=no", "--", "."],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):  # no git on the machine, or a hung filesystem
        return None
    return head.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def environment() -> dict[str, Any]:
    """Versions and machine of this process: ``{"jaxfair": ..., "jax": ..., ..., "cpu": ...}``.

    A package that is not installed is recorded as ``"not installed"``; JAX's backend and devices
    only when JAX is already imported (so that writing a report never starts JAX).
    """
    package = sys.modules["jaxfair"]  # the running code (this module's parent package), not the wheel metadata
    env: dict[str, Any] = {"jaxfair": getattr(package, "__version__", "unknown")}
    commit = _git_commit(Path(package.__file__).parent)
    if commit:
        env["jaxfair_git"] = commit
    for name in _PACKAGES:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            env[name] = "not installed"
    env["python"] = f"{platform.python_version()} ({platform.python_implementation()})"
    env["platform"] = platform.platform()
    env["cpu"] = f"{_cpu_model()} ({os.cpu_count()} logical cores)"
    jax = sys.modules.get("jax")
    if jax is not None and hasattr(jax, "devices"):
        devices = jax.devices()
        env["jax_backend"] = jax.default_backend()
        env["jax_devices"] = ", ".join(sorted({f"{d.platform}:{d.device_kind}" for d in devices})) + (
            f" ({len(devices)} device{'s' if len(devices) != 1 else ''})"
        )
    return env


def record_command(out_dir: str | os.PathLike, command: str | None, shown_warnings: list[str] | None = None) -> Path:
    """Record ``command`` and :func:`environment` in ``out_dir``'s ``summary.json`` (merged, atomic).

    ``command`` None (not known) records the environment alone: a guessed command line would
    be worse than none. ``shown_warnings``: the warnings the command printed (``"Category: message"``),
    recorded as ``warnings`` (an empty list: none); None (not known, e.g. the Python API) records nothing.

    Without a ``summary.json`` (a ``bo`` study directory) the record is appended to
    ``command.json`` (``{"runs": [...]}``). Returns the file written.
    """
    out_dir = Path(out_dir)
    record = {"command": command, "environment": environment()} if command else {"environment": environment()}
    if shown_warnings is not None:
        record["warnings"] = list(shown_warnings)
    summary = out_dir / "summary.json"
    if summary.exists():
        data = json.loads(summary.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{summary}: expected a JSON object, got {type(data).__name__}")
        data.update(record)
        return atomic_write_text(summary, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    log = out_dir / "command.json"
    runs = json.loads(log.read_text(encoding="utf-8"))["runs"] if log.exists() else []
    return atomic_write_text(log, json.dumps({"runs": [*runs, record]}, indent=2, ensure_ascii=False) + "\n")
