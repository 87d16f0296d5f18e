"""jaxfair.utils.progress (issue #21.8): one progress factory; plain lines off a terminal; --quiet; each CLI
warning once; the duplicate-rows advice works in pool mode."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pandas as pd
import pytest

from jaxfair.cli import main
from jaxfair.utils import progress

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _not_quiet():
    progress.set_quiet(False)
    yield
    progress.set_quiet(False)


def test_plain_progress_is_newline_lines_without_escapes():
    buf = io.StringIO()  # not a TTY
    bar = progress.progress_bar(total=3, desc="work", unit="step", file=buf)
    assert isinstance(bar, progress.PlainProgress)
    bar.interval = 0.0
    with bar:
        for i in range(3):
            bar.set_postfix_str(f"part {i}")
            bar.update(1)
    text = buf.getvalue()
    assert text.endswith("\n") and "\r" not in text and "\x1b[" not in text
    lines = text.splitlines()
    assert lines[0].startswith("work: 1/3 step (part 0)") and lines[-1].endswith(", done")


def test_plain_progress_is_throttled_and_iterates():
    buf = io.StringIO()
    bar = progress.PlainProgress(range(5), desc="x", file=buf, interval=3600.0)
    assert list(bar) == [0, 1, 2, 3, 4]
    assert buf.getvalue() == ""  # a quick loop leaves no trace in the log


def test_quiet_disables_every_bar():
    progress.set_quiet(True)
    buf = io.StringIO()
    bar = progress.progress_bar(total=2, desc="x", file=buf)
    bar.update(2)
    bar.set_postfix_str("y")
    bar.close()
    assert buf.getvalue() == ""


def test_no_package_module_imports_tqdm_directly():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "jaxfair").rglob("*.py")
        if p.name != "progress.py" and "from tqdm" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []


# The sizes and policies of test_dynamics_prefs_set.py's CLI test: the compiled scans are reused.
DYNAMICS = ["dynamics", "--policies", "fixed:0.7,fixed:0.3", "--periods", "6", "--slots", "256", "--bank-users", "128"]
DYNAMICS += ["--sessions-per-user", "4", "--out", "d"]


def test_cli_progress_in_a_log_has_no_carriage_returns_or_escapes(tmp_path, monkeypatch, capsys):
    # Under pytest's capture stderr is not a terminal, as when a run's stderr goes to a log file.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JAXFAIR_PROGRESS_INTERVAL", "0")
    assert main(DYNAMICS) == 0
    err = capsys.readouterr().err
    (tmp_path / "stderr.log").write_text(err)
    assert "\r" not in err and "\x1b[" not in err
    assert "dynamics: " in err and err.endswith("\n")  # status lines are there, one per line
    assert main([*DYNAMICS[:1], "--quiet", *DYNAMICS[1:]]) == 0  # --quiet, anywhere: no progress
    err = capsys.readouterr().err
    assert "dynamics: " not in err and "\r" not in err


def test_cli_shows_a_repeated_warning_once(monkeypatch, capsys, tmp_path):
    import jaxfair.dynamics.cli as dcli

    def run(args):
        for _ in range(2):  # two call sites, as the negative-score warning of a diagnosis has
            warnings.warn("batch.scores: some scores are negative", UserWarning, stacklevel=1)
        warnings.warn("batch.scores: some scores are negative", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(dcli, "_run_dynamics", run)
    monkeypatch.chdir(tmp_path)
    assert main(["dynamics"]) == 0
    err = capsys.readouterr().err
    assert err.count("some scores are negative") == 1, err


def _viewers_in_two_sessions():
    """Each viewer saw one film in two sessions: a pool legitimately holds that row twice."""
    rows = []
    for u in range(6):
        for item in range(4):
            rows.append(dict(user=u, group=u % 2, item=f"i{item}", session=0, f=0.1 * item, y=item % 2))
        rows.append(dict(user=u, group=u % 2, item="i0", session=1, f=0.0, y=0))
    return pd.DataFrame(rows)


def test_duplicate_advice_in_pool_mode_is_what_works():
    from jaxfair.scenarios import from_frame
    from jaxfair.scenarios.logs import DuplicateRowsWarning

    df = _viewers_in_two_sessions()
    kw = dict(user="user", group="group", scores=["f"], labels=["y"], prefs=[[1.0], [1.0]])
    with pytest.warns(DuplicateRowsWarning) as rec:
        from_frame(df, **kw)
    msg = str(rec[0].message)
    assert "--candidate" not in msg and "drop_duplicates" in msg and "--replay --session" in msg
    with pytest.raises(ValueError) as exc:  # naming the candidate column in a pool is an error ...
        from_frame(df, candidate="item", **kw)
    assert "drop_duplicates(subset=['user', 'item'])" in str(exc.value)
    # ... and what the messages advise works: one row per (user, candidate), or replay with sessions.
    from_frame(df.drop_duplicates(subset=["user", "item"]), candidate="item", **kw)
    from_frame(df, candidate="item", session="session", replay=True, **kw)
