"""What ``jaxfair diagnose`` writes (audit 21): the recorded command line, sessions vs logged
users, label names in every table, every pair of groups, the multi-pair HTML page, and the
figures' layout."""

from __future__ import annotations

import json

import pytest

from jaxfair.cli import main
from jaxfair.htmlreport import command_line


@pytest.mark.parametrize("flags", [["--quiet"], ["--debug"], ["--quiet", "--debug"]])
def test_recorded_command_keeps_quiet_and_debug(tmp_path, flags):
    out = tmp_path / "s"
    argv = ["surface", "--scenario", "toy", "--users", "200", "--grid", "3", *flags, "--out", str(out)]
    assert main(argv) == 0
    recorded = json.loads((out / "summary.json").read_text())["command"]
    for flag in flags:  # they act anywhere, so the record may move them to the end
        assert f" {flag}" in recorded
    rest = [a for a in argv if a not in flags]
    assert recorded == command_line(rest + flags)
