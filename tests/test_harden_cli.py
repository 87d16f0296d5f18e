"""Field-hardening (issue #14): report on unfinished studies, Ctrl-C, lazy imports, --version, umask, diagnose folds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jaxfair.bo.study import run_study
from jaxfair.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(trials=2, iterations=1, n_init=2, users_per_eval=100, exact_users=200, progress=False)


# 3. report on an unfinished study


def test_report_marks_unfinished_trials_and_says_the_comparison_is_partial(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        run_study("toy", ["random"], out=tmp_path, **dict(TINY, trials=3))
    finally:
        os.umask(old)
    for f in [tmp_path / "study.json", tmp_path / "rows.csv", *(tmp_path / "rows").iterdir()]:
        assert f.stat().st_mode & 0o777 == 0o644, f  # 12. not tempfile's 0o600
    from jaxfair.bo.report import report

    done = report(tmp_path, figures=False)
    assert not done["partial"] and done["notes"] == [] and done["metrics"]["finished"].all()
    assert not (tmp_path / "report" / "notes.md").exists()
    # Cut one trial short and lose another entirely, as a killed study would leave them.
    rows = tmp_path / "rows"
    pd.read_csv(rows / "random__trial001.csv").iloc[:2].to_csv(rows / "random__trial001.csv", index=False)
    (rows / "random__trial002.csv").unlink()
    (tmp_path / "rows.csv").unlink()
    res = report(tmp_path, figures=False)
    assert res["partial"]
    m = res["metrics"].set_index("trial")
    assert not m.loc[1, "finished"] and m.loc[1, "evaluations"] == 2 and m.loc[0, "finished"]
    assert res["summary"]["unfinished_trials"].tolist() == [1]
    text = " ".join(res["notes"])
    assert "random trial 1 (2 of 3 evaluations)" in text and "random trial 2" in text and "partial" in text
    assert "partial" in (tmp_path / "report" / "notes.md").read_text()
    assert main(["report", str(tmp_path), "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("note: unfinished: 1 of 2 trials were cut short") and "comparison is partial" in out


# 7. Ctrl-C during bo


def test_ctrl_c_during_bo_is_one_line_exit_130(tmp_path, capsys, monkeypatch):
    import jaxfair.bo.study

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(jaxfair.bo.study, "run_study", interrupted)
    assert main(["bo", "--scenario", "toy", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert err == "jaxfair: interrupted; rerun the same command to resume\n"
    with pytest.raises(KeyboardInterrupt):  # --debug shows the traceback
        main(["bo", "--scenario", "toy", "--out", str(tmp_path), "--debug"])


# 13. lazy imports, --version


def test_cli_parser_imports_no_jax_torch_botorch_or_scipy():
    code = (
        "import sys, jaxfair.cli; jaxfair.cli.build_parser(); "
        "print([m for m in ('jax', 'torch', 'botorch', 'sklearn', 'scipy') if m in sys.modules])"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert res.stdout.strip() == "[]", res.stdout + res.stderr


def test_lazy_package_still_exports_functions_not_submodules():
    import jaxfair
    import jaxfair.bo
    import jaxfair.bo.report  # noqa: F401
    import jaxfair.evaluate  # noqa: F401 - the submodule, imported before the attribute is read

    assert callable(jaxfair.evaluate) and jaxfair.evaluate.__name__ == "evaluate"
    assert callable(jaxfair.bo.report) and jaxfair.bo.report.__name__ == "report"
    assert {"evaluate", "Batch", "scenarios"} <= set(dir(jaxfair))
    with pytest.raises(AttributeError):
        jaxfair.no_such_name  # noqa: B018


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("jaxfair ")


def test_seed_help_says_what_each_seed_means(capsys):
    from jaxfair.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices
    bo_help, surface_help = sub["bo"].format_help(), sub["surface"].format_help()
    assert "root seed of the study" in " ".join(bo_help.split()) and "--scenario-seed" in bo_help
    assert "seed of the scenario and of the sampled batch" in " ".join(surface_help.split())


# 12. files respect the umask


def test_atomic_writes_respect_the_umask(tmp_path):
    from jaxfair.scenarios.cache import load_or_build
    from jaxfair.utils.atomic import atomic_write_text

    old = os.umask(0o022)
    try:
        p = atomic_write_text(tmp_path / "a.txt", "x")
        assert p.stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        assert atomic_write_text(tmp_path / "b.txt", "x").stat().st_mode & 0o777 == 0o600
        os.umask(0o002)
        load_or_build({"name": "umask-test"}, lambda: ({"a": np.arange(3)}, {}), cache_dir=tmp_path / "cache")
        for f in (tmp_path / "cache" / "pools").iterdir():
            assert f.stat().st_mode & 0o777 == 0o664, f
    finally:
        os.umask(old)


# 8. diagnose with a binary covariate; --n-folds; --features named when missing


def test_binary_covariate_uses_plain_folds_with_a_warning():
    from jaxfair import make_batch
    from jaxfair.diagnose.weights import CrossFitWarning, shared_space_weights

    rng = np.random.default_rng(0)
    n = 400
    group = rng.integers(0, 2, n)
    is_female = (rng.random(n) < np.where(group == 1, 0.7, 0.4)).astype(np.float32)[:, None]
    batch = make_batch(
        scores=rng.random((n, 3, 2)), labels=rng.integers(0, 2, (n, 3, 2)), group=group, features=is_female
    )
    with pytest.warns(CrossFitWarning, match="only 2 distinct value"):
        w = shared_space_weights(batch, (1, 0), n_folds=5)
    assert w.n_folds == 5 and np.all(np.isfinite(w.weights))
    # Each covariate value's propensity is close to its share of group 1 (not the other value's).
    for v in (0.0, 1.0):
        cell = is_female[:, 0] == v
        np.testing.assert_allclose(w.propensity[cell].mean(), np.mean(group[cell] == 1), atol=0.05)


def test_diagnose_logs_without_features_and_n_folds(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    u = np.repeat(np.arange(40), 3)
    pd.DataFrame(
        {
            "u": u,
            "g": u % 2,
            "s0": rng.random(u.size),
            "s1": rng.random(u.size),
            "y0": rng.integers(0, 2, u.size),
            "y1": rng.integers(0, 2, u.size),
            "is_female": (u % 3 == 0).astype(int),
        }
    ).to_csv("l.csv", index=False)
    flags = ["diagnose", "--data", "l.csv", "--scores", "s0,s1", "--labels", "y0,y1", "--group", "g", "--user", "u"]
    flags += ["--prefs", "0.8,0.2;0.2,0.8"]
    assert main(flags) == 2
    assert "--features: diagnose needs user covariates" in capsys.readouterr().err
    assert main(flags + ["--features", "is_female", "--n-folds", "1"]) == 2
    assert "--n-folds" in capsys.readouterr().err
    import jaxfair.diagnose.pipeline as pipeline

    seen = {}

    def fake(sc, **kwargs):
        seen.update(kwargs)
        raise ValueError("stop here")

    monkeypatch.setattr(pipeline, "diagnose_scenario", fake)
    assert main(flags + ["--features", "is_female", "--n-folds", "3"]) == 2
    assert seen["n_folds"] == 3
