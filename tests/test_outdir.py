"""Output directories are complete or untouched (jaxfair.utils.outdir), in every command that writes one.

Interrupted runs — by a KeyboardInterrupt raised while the files are written, or by a real
SIGINT to the ``jaxfair`` script — leave ``OUT`` absent or exactly as the previous run left it,
and no ``OUT.partial-*`` staging directory or ``*.tmp`` file behind; a finished run leaves
exactly its own files (a rerun replaces the old ones, it never mixes the two runs).
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from jaxfair.cli import main
from jaxfair.utils.cliargs import UsageError
from jaxfair.utils.interrupt import sigint_deferred
from jaxfair.utils.outdir import check_replaceable, final_path, staged_dir

ROOT = Path(__file__).resolve().parents[1]
SURFACE = ["surface", "--scenario", "toy", "--users", "300", "--grid", "5", "--quiet"]
K2_FILES = {"surface.png", "groups.png", "surface.csv", "direction.csv", "summary.json"}


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative name → bytes); {} when ``root`` does not exist."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _assert_no_leftovers(parent: Path) -> None:
    left = [p for p in parent.rglob("*") if ".partial-" in p.name or p.name.endswith(".tmp")]
    assert not left, left


def _interrupt_when(monkeypatch, target: str) -> None:
    """Make ``target`` (``module:attribute``, a function the command calls while writing) raise
    KeyboardInterrupt, as a Ctrl-C landing there would."""
    module, _, name = target.partition(":")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    # The module object itself: a package may re-export a function under the module's name (jaxfair.bo.report).
    monkeypatch.setattr(importlib.import_module(module), name, interrupted)


# The mechanism itself


def test_staged_dir_moves_into_place_last_and_replaces_whole(tmp_path):
    out = tmp_path / "out"
    with staged_dir(out) as stage:
        (stage.path / "a.csv").write_text("1")
        (stage.path / "summary.json").write_text("old")
        assert not out.exists() and stage.path.parent.name == f"out.partial-{os.getpid()}"
        assert final_path(stage.path / "a.csv") == out / "a.csv"  # what a page that names its folder shows
    assert stage.final({"a": stage.path / "a.csv"}) == {"a": out / "a.csv"}
    assert _snapshot(out) == {"a.csv": b"1", "summary.json": b"old"}
    with staged_dir(out) as stage:  # the previous results are replaced, not merged
        (stage.path / "b.csv").write_text("2")
        (stage.path / "summary.json").write_text("new")
        assert _snapshot(out) == {"a.csv": b"1", "summary.json": b"old"}
    assert _snapshot(out) == {"b.csv": b"2", "summary.json": b"new"}
    _assert_no_leftovers(tmp_path)


@pytest.mark.parametrize("error", [KeyboardInterrupt, ValueError])
def test_staged_dir_error_leaves_out_untouched(tmp_path, error):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("old")
    with pytest.raises(error), staged_dir(out) as stage:
        (stage.path / "surface.png").write_text("new")
        raise error("mid-write")
    assert _snapshot(out) == {"summary.json": b"old"}
    _assert_no_leftovers(tmp_path)


def test_leftover_of_a_killed_run_is_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp_path / f"out.partial-{int(dead.stdout)}" / "out"
    leftover.mkdir(parents=True)
    (leftover / "surface.png").write_text("half")
    with staged_dir(tmp_path / "out") as stage:
        (stage.path / "summary.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_only_an_empty_dir_or_a_jaxfair_output_is_replaced(tmp_path):
    check_replaceable(tmp_path / "new")
    check_replaceable(tmp_path)  # empty
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not a jaxfair output directory"):
        check_replaceable(tmp_path)
    with pytest.raises(UsageError, match="not a jaxfair output"), staged_dir(tmp_path):
        pass
    (tmp_path / "summary.json").write_text("{}")
    check_replaceable(tmp_path)


def test_ctrl_c_during_the_move_waits_for_it():
    # Python's own handler, whatever an earlier test in this worker left installed (a command run
    # through jaxfair.console ignores Ctrl-C once it has returned): the interrupt comes after the block.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with sigint_deferred():
                os.kill(os.getpid(), signal.SIGINT)
                done = True
    finally:
        signal.signal(signal.SIGINT, previous)
    assert done


# The commands


def test_surface_interrupted_while_writing_leaves_out_absent_or_as_it_was(tmp_path, monkeypatch, capsys):
    out = tmp_path / "surface"
    # The tables come after the figures: an interrupt there found the PNGs in OUT before.
    _interrupt_when(monkeypatch, "jaxfair.surface.output:atomic_write_text")
    assert main([*SURFACE, "--out", str(out)]) == 130
    assert not out.exists()
    _assert_no_leftovers(tmp_path)
    monkeypatch.undo()
    assert main([*SURFACE, "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == K2_FILES  # exactly the command's files
    wrote = [line.split("wrote ", 1)[1] for line in capsys.readouterr().out.splitlines() if "wrote " in line]
    assert {Path(p) for p in wrote} == {out / f for f in K2_FILES}  # the "wrote" lines name OUT, not the stage
    before = _snapshot(out)
    _interrupt_when(monkeypatch, "jaxfair.surface.output:atomic_write_text")
    assert main([*SURFACE, "--option", "n_labels=3", "--out", str(out)]) == 130
    assert _snapshot(out) == before  # the old results, untouched
    _assert_no_leftovers(tmp_path)
    monkeypatch.undo()
    assert main([*SURFACE, "--option", "n_labels=3", "--html", "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert "simplex.png" in names and not names & {"surface.png", "groups.png", "direction.csv"}  # not mixed
    assert ".partial-" not in (out / "report.html").read_text()  # the page names OUT, not the stage
    _assert_no_leftovers(tmp_path)


def test_surface_refuses_a_folder_it_did_not_write(tmp_path, capsys):
    (tmp_path / "mydata.csv").write_text("user,group\n")
    assert main([*SURFACE, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a jaxfair output directory" in err[0]
    assert _snapshot(tmp_path) == {"mydata.csv": b"user,group\n"}


def test_real_sigint_while_surface_writes(tmp_path):
    """A real Ctrl-C ends the process at once (os._exit: no finally blocks); the staging
    directory goes through the interrupt hook. The signal is sent by the process itself as the
    first table is written, after the figures."""
    out = tmp_path / "surface"
    code = (
        "import os, signal\n"
        "import jaxfair.surface.output as o\n"
        "o.atomic_write_text = lambda *a, **k: os.kill(os.getpid(), signal.SIGINT)\n"
        "from jaxfair.console import main\n"
        "main()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-c", code, *SURFACE, "--out", str(out)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "jaxfair: interrupted"
    assert not out.exists()
    _assert_no_leftovers(tmp_path)


def _prefs_data(tmp_path: Path) -> Path:
    import numpy as np

    from jaxfair.preferences.synthetic import served_sessions

    log = served_sessions(
        np.array([[0.7, 0.3], [0.2, 0.8]]), users_per_group=60, sessions_per_user=5, label_names=["click", "like"],
        group_names=["a", "b"], seed=0,
    )  # fmt: skip
    path = tmp_path / "served.csv"
    log.to_csv(path, index=False)
    return path


COMMANDS = {
    "diagnose-groups-all": [
        "diagnose", "--scenario", "toy", "--users", "300", "--grid", "3", "--n-boot", "0", "--exact",
        "--pool-factor", "2", "--groups", "all",
    ],
    "dynamics": ["dynamics", "--periods", "2", "--slots", "8", "--bank-users", "16", "--grid", "3"],
    "prefs": [
        "prefs", "--data", "{data}", "--user", "user", "--group", "group", "--labels", "click,like",
        "--satisfaction", "satisfied", "--n-boot", "20",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_interrupted_at_its_last_step_writes_nothing(name, tmp_path, monkeypatch, capsys):
    """The last step of every command (recording its command line into summary.json) is
    interrupted: OUT must not appear, though every other file was already written."""
    argv = [a.replace("{data}", str(_prefs_data(tmp_path))) if a == "{data}" else a for a in COMMANDS[name]]
    out = tmp_path / "out"
    _interrupt_when(monkeypatch, "jaxfair.htmlreport.commands:record_command")
    assert main([*argv, "--quiet", "--out", str(out)]) == 130
    assert not out.exists()
    _assert_no_leftovers(tmp_path)
    monkeypatch.undo()
    assert main([*argv, "--quiet", "--out", str(out)]) == 0
    assert (out / "summary.json").is_file()
    if name.startswith("diagnose"):  # the pair folders are inside the one staged directory
        assert any((p / "summary.json").is_file() for p in out.iterdir() if p.is_dir())
    _assert_no_leftovers(tmp_path)
    assert not any(".partial-" in p.read_text() for p in out.rglob("*.json"))


def test_bo_report_complete_or_untouched_and_the_study_rows_stay(tmp_path, monkeypatch, capsys):
    from jaxfair.bo.study import run_study

    study = tmp_path / "study"
    run_study(
        "toy", ["random"], out=study, trials=2, iterations=1, n_init=2, users_per_eval=100, exact_users=200,
        progress=False,
    )  # fmt: skip
    rows = _snapshot(study)
    _interrupt_when(monkeypatch, "jaxfair.bo.report:atomic_write_text")  # after the summary table is written
    assert main(["report", str(study), "--no-figures"]) == 130
    assert _snapshot(study) == rows and not (study / "report").exists()
    _assert_no_leftovers(tmp_path)
    monkeypatch.undo()
    assert main(["report", str(study), "--no-figures"]) == 0
    assert (study / "report" / "summary.csv").is_file() and (study / "report" / "report.md").is_file()
    _assert_no_leftovers(tmp_path)


def test_every_function_that_finishes_an_output_dir_stages_it():
    """A command's last step (finish_outputs: the command record, report.html) runs inside
    ``with staged_dir(...)`` in the same function, so a new command (or a new output file of an
    old one) is complete-or-untouched by construction. The BO study directory is the one exception:
    it is written incrementally and resumed."""
    import ast

    exempt = {("jaxfair/bo/cli.py", "_run_bo")}
    unstaged = []
    for path in sorted((ROOT / "jaxfair").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, ast.FunctionDef) or (rel, fn.name) in exempt:
                continue
            calls = {n.func.id for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
            staged = any(
                isinstance(item.context_expr, ast.Call) and getattr(item.context_expr.func, "id", None) == "staged_dir"
                for n in ast.walk(fn)
                if isinstance(n, ast.With)
                for item in n.items
            )
            if "finish_outputs" in calls and not staged:
                unstaged.append(f"{rel}:{fn.name}")
    assert not unstaged, "writes an output directory without staged_dir: " + ", ".join(unstaged)
