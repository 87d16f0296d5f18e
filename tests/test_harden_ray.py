"""Field-hardening (issue #14): Ray's processes do not outlive a `bo --workers 2` driver killed by SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")
from jaxfair.bo.parallel import _session_processes  # noqa: E402

pytestmark = pytest.mark.long

ROOT = Path(__file__).resolve().parents[1]
DRIVER = """
import sys
from jaxfair.bo import run_study
run_study("toy", ["random"], trials=8, iterations=500, n_init=2, users_per_eval=100, exact_users=200,
          out=sys.argv[1], workers=2, progress=False)
"""


def _alive(pid: int, start: str) -> bool:
    from jaxfair.bo.parallel import _start_time

    return _start_time(pid) == start


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:  # ended meanwhile
        return ""


def test_sigkill_of_the_driver_ends_rays_processes(tmp_path):
    if not os.path.isdir("/proc"):
        pytest.skip("needs /proc (Linux)")
    reap = tmp_path / "reap"
    env = dict(
        os.environ, JAXFAIR_RAY_REAP_DIR=str(reap), PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path / "study")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    record = reap / f"{driver.pid}.json"
    try:
        deadline = time.monotonic() + 120
        procs, session_dir = [], None
        # Wait until Ray runs, its agents included (they are what used to outlive the driver).
        while time.monotonic() < deadline and driver.poll() is None:
            if record.exists():
                rec = json.loads(record.read_text())
                procs, session_dir = rec["procs"], rec["session_dir"]
                names = " ".join(_cmdline(p) for p, t in procs if _alive(p, t))
                if "DashboardAgent" in names and "RuntimeEnvAgent" in names and _session_processes(session_dir):
                    break  # agents up, workers starting
            time.sleep(0.2)
        assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
        assert procs, "no Ray processes recorded"
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(p, t) for p, t in procs):
            time.sleep(0.2)
        left = [_cmdline(p)[:60] for p, t in procs if _alive(p, t)]
        assert not left, left
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _session_processes(session_dir):
            time.sleep(0.2)
        assert not _session_processes(session_dir)  # workers that were starting end too
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and record.exists():
            time.sleep(0.1)
        assert not record.exists()  # the watchdog removed the record it acted on
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        if record.exists():  # do not leave Ray running if the test failed
            from jaxfair.bo.parallel import _reap

            _reap(record)


def test_leftovers_of_a_dead_driver_are_reaped_on_the_next_start(tmp_path, monkeypatch):
    from jaxfair.bo.parallel import _start_time, reap_leftovers

    monkeypatch.setenv("JAXFAIR_RAY_REAP_DIR", str(tmp_path))
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        rec = {
            "driver": dead.pid,
            "driver_start": "0",
            "session_dir": None,
            "procs": [[orphan.pid, _start_time(orphan.pid)]],
        }
        (tmp_path / f"{dead.pid}.json").write_text(json.dumps(rec))
        live = {"driver": os.getpid(), "driver_start": _start_time(os.getpid()), "procs": [[orphan.pid, "0"]]}
        (tmp_path / f"{os.getpid()}.json").write_text(json.dumps(live))  # a running driver's record: kept
        assert reap_leftovers() == 1
        assert orphan.wait(timeout=10) != 0
        assert not (tmp_path / f"{dead.pid}.json").exists() and (tmp_path / f"{os.getpid()}.json").exists()
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


def test_only_rays_processes_are_recorded(tmp_path):
    from jaxfair.bo.parallel import _write_record

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _write_record(tmp_path / "r.json", None, set())
        assert child.pid not in [p for p, _ in json.loads((tmp_path / "r.json").read_text())["procs"]]
    finally:
        child.kill()
        child.wait()
