"""Run one worker script in two local JAX processes (``jaxfair.distributed`` over localhost)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def run_two_processes(worker: str, out_prefix: Path, timeout: float = 240) -> None:
    """Run ``python -c worker out_prefix`` as processes 0 and 1 of a 2-process job; assert both exit 0."""
    port = free_port()
    procs = []
    for pid in range(2):
        env = {
            **os.environ,
            "JAX_PLATFORMS": "cpu",
            "JAXFAIR_COORDINATOR": f"localhost:{port}",
            "JAXFAIR_NUM_PROCESSES": "2",
            "JAXFAIR_PROCESS_ID": str(pid),
        }
        env.pop("XLA_FLAGS", None)  # one CPU device per process, whatever the parent simulates
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", worker, str(out_prefix)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        for p in procs:
            out, _ = p.communicate(timeout=timeout)  # bounded: a hang fails the test
            assert p.returncode == 0, out[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
