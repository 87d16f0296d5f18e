"""dynamics over a preference set (issue #20.3): shared serving, per-member simulation, set summary,
robust statements, the CLI, and the dynamics figures' labels (issue #21.8)."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from jaxfair import scenarios
from jaxfair.cli import main
from jaxfair.dynamics import bank_for, session_utilities, simulate
from jaxfair.dynamics.policies import Fixed, Retune, RetuneFair
from jaxfair.dynamics.prefs_set import DEFAULT_SET_MEMBERS, parse_dynamics_set, simulate_over_set
from jaxfair.dynamics.serving import LabelSumTable
from jaxfair.dynamics.set_report import amplification_statements, set_table
from jaxfair.dynamics.simulate import simulate_members
from jaxfair.engine import grids
from jaxfair.engine.slate import as_slate
from jaxfair.preferences import PrefSet

KW = dict(periods=6, slots=256, bank_users=128, sessions_per_user=4)  # the sizes of test_dynamics.py


@pytest.fixture(scope="module")
def toy():
    return scenarios.load("toy")


@pytest.mark.parametrize("k", [1, 3])
def test_label_sums_give_session_utilities_for_any_prefs(toy, k):
    bank = bank_for(toy, 0, KW["bank_users"], KW["sessions_per_user"])
    slate = as_slate(k, None, None, toy.n_candidates)
    table = LabelSumTable(bank.batch, slate)
    alphas = np.array([[1.0, 0.0], [0.5, 0.5], [0.2, 0.8]], np.float32)
    rng = np.random.default_rng(k)
    for _ in range(3):
        prefs = rng.dirichlet([1.0, 1.0], size=2)
        direct = np.asarray(session_utilities(alphas, bank.batch, prefs, slate), np.float64)
        via = np.asarray(table.utilities(alphas, prefs), np.float64)
        np.testing.assert_allclose(via, direct, rtol=1e-5, atol=1e-6)  # float32 rounding only
    assert len(table._sums) == 1  # one serving for every preference matrix
    # The one pass carries every label as a channel: the bits of K passes with α*(g) = e_k.
    sums = np.asarray(table.label_sums(alphas))  # [N, K, P]
    for j in range(2):
        basis = np.zeros((2, 2), np.float32)
        basis[:, j] = 1.0
        np.testing.assert_array_equal(sums[:, j, :], np.asarray(session_utilities(alphas, bank.batch, basis, slate)).T)


@pytest.fixture(scope="module")
def toy3():
    return scenarios.load("toy", n_labels=3)


@pytest.mark.parametrize("member_chunk", [None, 2])
def test_members_at_once_equal_each_member_alone(toy3, monkeypatch, member_chunk):
    """The vectorised scan over members (issue #28) has the bits of each member simulated alone."""
    if member_chunk is not None:  # members split over two scans: nothing changes either
        sim = sys.modules[simulate_members.__module__]  # the module (jaxfair.dynamics.simulate is the function)
        monkeypatch.setattr(sim, "_MAX_STATE", KW["slots"] * member_chunk)
    kw = dict(KW, periods=9)
    bank = bank_for(toy3, 3, kw.pop("bank_users"), kw.pop("sessions_per_user"))
    table = LabelSumTable(bank.batch, as_slate(2, None, None, toy3.n_candidates))
    grid = grids.simplex_grid(3, 4)
    pols = [Fixed([0.6, 0.2, 0.2]), Fixed([0.1, 0.1, 0.8]), Retune(grid, every=3), RetuneFair(grid, every=2, tau=0.95)]
    members = np.random.default_rng(0).dirichlet(np.ones(3), size=(3, 2))  # [M, G, K]
    together = simulate_members(
        toy3, pols, members, seed=3, bank=bank, label_sums=table, slate=2, record_sessions=True, **kw
    )
    assert len(together) == 3
    for m, run in enumerate(together):
        alone = simulate(
            toy3, pols, seed=3, bank=bank, label_sums=table, slate=2, record_sessions=True, prefs=members[m], **kw
        )
        for field in ("counts", "churn", "final_counts", "sums", "alphas", "sessions"):
            np.testing.assert_array_equal(getattr(run, field), getattr(alone, field), err_msg=field)
        assert run.config == alone.config and run.config["prefs"] == alone.config["prefs"]
    # Different members really ran with their own prefs (and the re-tuning followed them).
    assert not np.array_equal(together[0].sums, together[1].sums)
    # The label-sum route equals the direct one (one table per prefs) up to float32 rounding.
    direct = simulate(toy3, pols[:2], seed=3, bank=bank, slate=2, prefs=members[1], **kw)
    np.testing.assert_array_equal(direct.counts, together[1].counts[:, :2])
    np.testing.assert_allclose(direct.sums, together[1].sums[:, :2], rtol=1e-5)


def test_members_are_validated(toy):
    kw = {k: v for k, v in KW.items() if k in ("periods", "slots")}
    with pytest.raises(ValueError, match="members"):
        simulate_members(toy, [[0.5, 0.5]], [], **kw)
    with pytest.raises(ValueError, match="prefs"):
        simulate_members(toy, [[0.5, 0.5]], [[[0.5, 0.5]]], **kw)  # one group's row for two groups
    with pytest.raises(ValueError, match="label_sums: requires bank"):
        bank = bank_for(toy, 0, KW["bank_users"], KW["sessions_per_user"])
        simulate_members(
            toy, [[0.5, 0.5]], None, label_sums=LabelSumTable(bank.batch, as_slate(1, None, None, 20)), **kw
        )


def test_label_sums_of_another_bank_are_refused(toy):
    b0, b1 = (bank_for(toy, s, KW["bank_users"], KW["sessions_per_user"]) for s in (0, 1))
    with pytest.raises(ValueError, match="label_sums"):
        simulate(
            toy,
            [[0.5, 0.5]],
            bank=b0,
            label_sums=LabelSumTable(b1.batch, as_slate(1, None, None, 20)),
            **{k: v for k, v in KW.items() if k in ("periods", "slots")},
        )


def test_members_are_separate_simulations_sharing_seeds(toy):
    point = np.asarray(toy.prefs)
    ps = PrefSet.explicit(
        [point, [[0.5, 0.5], [0.5, 0.5]], [[0.2, 0.8], [0.8, 0.2]]],
        group_names=toy.group_names,
        label_names=toy.label_names,
    )
    runs = simulate_over_set(toy, [[0.7, 0.3], [0.3, 0.7]], ps, seeds=[0], **KW)
    assert len(runs) == 3 and all(len(r) == 1 for r in runs)
    # Member 0 is the given prefs: the same simulation as the point run (utilities equal to float32 rounding).
    point_run = simulate(toy, [[0.7, 0.3], [0.3, 0.7]], seed=0, **KW)
    np.testing.assert_allclose(runs[0][0].horizon_utility, point_run.horizon_utility, rtol=1e-4)
    # Different prefs, different utilities: each member really ran with its own prefs.
    assert not np.allclose(runs[0][0].horizon_utility, runs[2][0].horizon_utility)
    table = set_table(runs)
    assert list(table["policy"].unique()) == list(runs[0][0].names)
    assert (table["amplification_min"] <= table["amplification_median"]).all()
    assert (table["amplification_median"] <= table["amplification_max"]).all()
    np.testing.assert_allclose(
        table["amplification_given"].to_numpy().reshape(2, 2), runs[0][0].amplification, rtol=0, atol=0
    )


def _fake_runs(amp):
    """``runs[q][s]`` with given amplification ``[Q, S, P, G]`` (the statements read nothing else)."""
    amp = np.asarray(amp, float)
    return [
        [
            SimpleNamespace(amplification=amp[q, s], names=("A", "B"), group_names=("maj", "min"))
            for s in range(amp.shape[1])
        ]
        for q in range(amp.shape[0])
    ]


def test_robust_only_when_every_member_agrees():
    q = 16
    amp = np.ones((q, 1, 2, 2))
    amp[:, 0, 0, 1], amp[:, 0, 1, 1] = 0.5, 0.7  # minority: A below B for every member
    (maj, mino) = amplification_statements(_fake_runs(amp))
    assert mino["robust"] and mino["holds"] == 16 and "robust" in mino["text"] and "one seed" in mino["text"]
    assert not maj["robust"] and maj["undecided"] == 16  # equal: nobody supports either direction
    amp[:2, 0, 0, 1] = 0.9  # two members now disagree: the statement weakens to "holds for 14/16"
    mino = amplification_statements(_fake_runs(amp))[1]
    assert not mino["robust"] and mino["holds"] == 14 and mino["against"] == 2
    assert "holds for 87.5 % of the set (14/16 members)" in mino["text"]  # the share by the one rule (#28.5)


def test_several_seeds_need_a_ci_that_excludes_zero():
    rng = np.random.default_rng(0)
    amp = np.ones((4, 3, 2, 2))
    amp[:, :, 0, 0] = 0.8 + 0.001 * rng.standard_normal((4, 3))  # A clearly below B = 1
    amp[:, :, 0, 1] = 1.0 + 0.3 * rng.standard_normal((4, 3))  # noise: undecided
    s = amplification_statements(_fake_runs(amp))
    assert s[0]["robust"] and "95 % CI" in s[0]["text"]
    assert s[1]["undecided"] >= 3 and not s[1]["robust"]


def test_parse_caps_members_unless_q_given(toy):
    assert parse_dynamics_set("dirichlet:50", toy).n_members == DEFAULT_SET_MEMBERS
    assert parse_dynamics_set("dirichlet:50:5", toy).n_members == 5
    assert parse_dynamics_set("box:0.05", toy, max_members=4).n_members == 4
    with pytest.raises(ValueError, match="--prefs-set"):
        parse_dynamics_set("gauss:3", toy)


def test_cli_prefs_set_writes_table_figure_and_statements(tmp_path, capsys):
    out = tmp_path / "d"
    argv = ["dynamics", "--policies", "fixed:0.7,fixed:0.3", "--periods", "6", "--slots", "256", "--bank-users", "128"]
    argv += ["--sessions-per-user", "4", "--prefs-set", "dirichlet:30:3", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "over the preference set (dirichlet, 3 members" in printed and "amplification is lower under" in printed
    assert {"prefs_set.csv", "prefs_set.md", "amplification_set.png", "share.png"} <= {p.name for p in out.iterdir()}
    summary = json.loads((out / "summary.json").read_text())
    rec = summary["prefs_set"]
    assert rec["members_run"] == 3 and rec["set"]["kind"] == "dirichlet" and len(rec["table"]) == 4
    assert all(s["robust"] == (s["holds"] == 3) for s in rec["statements"])


def test_cli_bad_prefs_set_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["dynamics", "--periods", "2", "--slots", "8", "--bank-users", "16", "--prefs-set", "dirichlet:x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--prefs-set" in err[0]
    assert not (tmp_path / "results").exists()


def test_figures_name_twin_curves_and_label_the_bands(toy):
    import matplotlib.pyplot as plt

    from jaxfair.dynamics.report import plot_dynamics

    pol = [[0.7, 0.3], [0.7, 0.3], [0.3, 0.7]]  # two identical populations: one line would hide the other
    results = [simulate(toy, pol, seed=s, **KW) for s in (0, 1)]
    figs = plot_dynamics(results, "toy")
    for fig in figs:
        texts = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        assert any("same curve as" in t for t in texts), texts
        assert any("95 % CI of the mean" in t and "2 seeds" in t for t in texts), texts
        lines = [ln for ax in fig.axes for ln in ax.get_lines()]
        assert all(ln.get_marker() not in (None, "None", "") for ln in lines)
        plt.close(fig)
