"""jaxfair.dynamics (SPEC §8): closed form, float64 loop reference, CRN, policies, bad inputs, CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from dynamics_reference import simulate_ref, table_ref
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxfair import scenarios
from jaxfair.cli import main
from jaxfair.dynamics import Custom, Fixed, Retention, Retune, RetuneFair, bank_for, simulate
from jaxfair.engine import grids
from jaxfair.engine.batch import Batch
from jaxfair.evaluate import evaluate
from jaxfair.scenarios.base import Scenario


class FixedUtility(Scenario):
    """A constructed scenario: every user of group g gets utility ``u[g]`` whatever α serves."""

    def __init__(self, u=(0.8, 0.3), prevalence=(0.8, 0.2), n_users=400):
        self.name, self.seed, self.n_candidates = "fixed-utility", 0, 3
        self.label_names, self.group_names = ("a", "b"), ("majority", "minority")
        self.prevalence, self.prefs, self.options = np.asarray(prevalence), np.eye(2), {}
        self.u, self.n_users = np.asarray(u, np.float32), n_users

    def sample(self, key, n_users):  # pragma: no cover - not used
        raise NotImplementedError

    def session_bank(self, key, n_users=None, n_sessions=4):
        ug = (np.arange(self.n_users) >= self.prevalence[0] * self.n_users).astype(np.int32)
        g = np.repeat(ug, n_sessions)
        n = len(g)
        labels = np.zeros((n, 3, 2), np.float32)
        labels[g == 0, :, 0] = self.u[0]
        labels[g == 1, :, 1] = self.u[1]
        scores = np.asarray(jax.random.uniform(key, (n, 3, 2)))
        return Batch(scores=scores, labels=labels, mask=np.ones((n, 3), bool), group=g), ug


# One set of sizes, so the compiled scan is reused across tests.
KW = dict(periods=6, slots=256, bank_users=128, sessions_per_user=4)


@pytest.fixture(scope="module")
def toy():
    return scenarios.load("toy")


def test_closed_form_recurrence_and_steady_share():
    sc = FixedUtility()
    ret = Retention(rho_min=0.3, rho_max=0.95, kappa=10.0, s_mid=0.5, smoothing=0.5)
    n, periods = 40_000, 40
    res = simulate(sc, np.array([[1.0, 1.0]]), periods=periods, slots=n, retention=ret, seed=3)
    rho = ret.rho(sc.u.astype(np.float64))
    pi = sc.prevalence
    c = n * pi.copy()
    expected = []
    for _ in range(periods):
        expected.append(c / n)
        c = rho * c + pi * np.sum((1 - rho) * c)
    expected = np.array(expected)  # [T, G]
    share = res.share[:, 0]
    sd = np.sqrt(expected * (1 - expected) / n)  # slots are independent chains
    assert np.all(np.abs(share - expected) <= 5 * sd + 1e-12), np.max(np.abs(share - expected) / sd)
    steady = (pi / (1 - rho)) / np.sum(pi / (1 - rho))
    np.testing.assert_allclose(expected[-1], steady, atol=1e-9)  # 40 periods: converged
    late = share[20:].mean(axis=0)
    assert np.all(np.abs(late - steady) <= 5 * np.sqrt(steady * (1 - steady) / n))
    np.testing.assert_allclose(res.group_utility[:, 0], np.broadcast_to(sc.u, (periods, 2)), rtol=1e-6)
    np.testing.assert_allclose(res.churn_rate[:, 0].mean(0), 1 - rho, atol=0.02)


def test_matches_float64_loop_reference(toy):
    sc = scenarios.load("toy", n_candidates=5)
    ret = Retention(rho_min=0.2, rho_max=0.95, kappa=8.0, s_mid=0.6, smoothing=0.4)
    alphas = np.array([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]])
    bank = bank_for(sc, seed=7, n_users=12, n_sessions=3)
    res = simulate(sc, alphas, periods=12, slots=9, retention=ret, seed=7, bank=bank)
    table = table_ref(alphas, bank.batch, sc.prefs)
    ref = simulate_ref(table, bank.user_group, 3, sc.prevalence, ret, 7, 12, 9)
    for p, (counts, churn, sums) in enumerate(ref):
        np.testing.assert_array_equal(res.counts[:, p], counts)
        np.testing.assert_array_equal(res.churn[:, p], churn)
        np.testing.assert_allclose(res.sums[:, p], sums, rtol=1e-6, atol=1e-6)
    assert res.churn.sum() > 0 and len(np.unique(res.counts[:, :, 1])) > 1  # the test has teeth


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    lo=st.floats(0.0, 1.0),
    span=st.floats(0.0, 1.0),
    kappa=st.floats(0.0, 30.0),
    mid=st.floats(0.0, 1.0),
    lam=st.floats(0.01, 1.0),
)
def test_reference_property(toy, seed, lo, span, kappa, mid, lam):
    """Any retention parameters and seed: the scan reproduces the float64 loop reference."""
    ret = Retention(rho_min=lo, rho_max=lo + span * (1 - lo), kappa=kappa, s_mid=mid, smoothing=lam)
    alphas = np.array([[0.9, 0.1], [0.2, 0.8]])
    bank = _small_bank(toy)
    res = simulate(toy, alphas, periods=8, slots=6, retention=ret, seed=seed, bank=bank)
    for p, (counts, churn, sums) in enumerate(
        simulate_ref(table_ref(alphas, bank.batch, toy.prefs), bank.user_group, 3, toy.prevalence, ret, seed, 8, 6)
    ):
        np.testing.assert_array_equal(res.counts[:, p], counts)
        np.testing.assert_array_equal(res.churn[:, p], churn)
        np.testing.assert_allclose(res.sums[:, p], sums, rtol=1e-6, atol=1e-6)


_BANKS: dict = {}


def _small_bank(sc):
    if "toy" not in _BANKS:
        _BANKS["toy"] = bank_for(sc, seed=11, n_users=10, n_sessions=3)
    return _BANKS["toy"]


def test_p_alphas_at_once_equal_each_alone_and_retune_one_alpha_is_fixed(toy):
    alphas = grids.direction_grid(5)
    kw = dict(KW, seed=1)
    together = simulate(toy, alphas, **kw)
    for p, a in enumerate(alphas):
        alone = simulate(toy, a[None], **kw)
        np.testing.assert_array_equal(alone.counts[:, 0], together.counts[:, p])
        np.testing.assert_array_equal(alone.sums[:, 0], together.sums[:, p])
        np.testing.assert_array_equal(alone.final_counts[0], together.final_counts[p])
    # Chunking P (a tiny memory budget) changes nothing either.
    chunked = simulate(toy, alphas, memory_budget=1, **kw)
    np.testing.assert_array_equal(chunked.sums, together.sums)
    fixed = simulate(toy, [Fixed(alphas[1])], **kw)
    r = simulate(toy, [Retune(alphas[1:2], every=3)], **kw)
    np.testing.assert_array_equal(r.counts, fixed.counts)
    np.testing.assert_array_equal(r.sums, fixed.sums)
    np.testing.assert_array_equal(r.final_counts, fixed.final_counts)


def test_retune_picks_the_best_grid_alpha_on_the_period_sessions(toy):
    grid = grids.direction_grid(5)
    kw = dict(KW, seed=2, record_sessions=True)
    res = simulate(
        toy, [Retune(grid, every=3), RetuneFair(grid, every=3, tau=0.999), Custom(grid, lambda mu, c: 2, every=3)], **kw
    )
    assert np.all(res.alphas[:, 2] == grid[2])
    bank = bank_for(toy, 2, KW["bank_users"], KW["sessions_per_user"])
    for t in (0, 3):
        for q in range(2):
            ev = evaluate(grid, _period_batch(bank, res.sessions[t, q]), toy.prefs)
            util = np.where(np.isfinite(ev.utility), ev.utility, -np.inf)
            if q == 0:
                want = int(np.argmax(util))
            else:
                ok = ev.der >= 0.999
                want = int(np.argmax(np.where(ok, util, -np.inf))) if ok.any() else int(np.nanargmax(ev.der))
            np.testing.assert_allclose(res.alphas[t, q], grid[want])
            np.testing.assert_allclose(res.alphas[t + 1, q], grid[want])


def _period_batch(bank, rows):
    idx = np.asarray(rows)
    b = bank.batch
    return Batch(scores=b.scores[idx], labels=b.labels[idx], mask=b.mask[idx], group=b.group[idx])


def test_no_churn_keeps_shares_and_matches_evaluate(toy):
    ret = Retention(rho_min=1.0, rho_max=1.0)
    alphas = grids.direction_grid(5)
    res = simulate(toy, alphas, retention=ret, record_sessions=True, **dict(KW, seed=4))
    assert res.churn.sum() == 0
    np.testing.assert_array_equal(res.counts, np.broadcast_to(res.counts[0], res.counts.shape))
    np.testing.assert_array_equal(res.final_counts, res.counts[0])
    np.testing.assert_array_equal(res.amplification, np.ones_like(res.amplification))
    bank = bank_for(toy, 4, KW["bank_users"], KW["sessions_per_user"])
    for t in range(KW["periods"]):
        for p in range(len(alphas)):
            ev = evaluate(alphas[p : p + 1], _period_batch(bank, res.sessions[t, p]), toy.prefs)
            # Same served items; the scan sums each group in float32 (evaluate: float32 blocks, float64 total).
            np.testing.assert_allclose(res.group_utility[t, p], ev.group_utility[0], rtol=2e-6)
            np.testing.assert_allclose(res.der[t, p], ev.der[0], rtol=2e-6)


def test_slates_pass_through_and_match_evaluate(toy):
    """slate=k (SPEC §7): no churn → each period's group utilities are evaluate(slate=k) on its sessions."""
    ret = Retention(rho_min=1.0, rho_max=1.0)
    alphas = grids.direction_grid(3)
    kw = dict(KW, seed=5, periods=2)
    res = simulate(toy, alphas, retention=ret, record_sessions=True, slate=3, position_weights="geometric", **kw)
    bank = bank_for(toy, 5, KW["bank_users"], KW["sessions_per_user"])
    for t in range(kw["periods"]):
        for p in range(len(alphas)):
            ev = evaluate(
                alphas[p : p + 1],
                _period_batch(bank, res.sessions[t, p]),
                toy.prefs,
                slate=3,
                position_weights="geometric",
            )
            np.testing.assert_allclose(res.group_utility[t, p], ev.group_utility[0], rtol=2e-6)
    top1 = simulate(toy, alphas, retention=ret, **kw)
    assert np.all(res.group_utility >= top1.group_utility - 1e-6)  # more ranks, weights >= 0: never less


def test_frame_and_horizon_summaries(toy):
    res = simulate(toy, [Fixed([0.7, 0.3]), Retune(grids.direction_grid(5), every=3)], **KW)
    f = res.to_frame()
    assert len(f) == KW["periods"] * 2 * 2
    assert {"period", "policy", "group", "share", "utility", "churn", "der"} <= set(f)
    np.testing.assert_allclose(f.groupby(["period", "policy"])["share"].sum(), 1.0)
    s = res.summary_frame()
    np.testing.assert_allclose(s["amplification_minority"], res.final_share[:, 1] / res.share[0, :, 1])
    w = res.counts.sum(0)
    np.testing.assert_allclose(res.horizon_utility, (res.horizon_group_utility * w).sum(1) / w.sum(1))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(periods=0), "periods"),
        (dict(slots=0), "slots"),
        (dict(retention=dict(smoothing=0.0)), "smoothing"),
        (dict(retention=dict(smoothing=1.5)), "smoothing"),
        (dict(retention=dict(rho_min=-0.1)), "rho_min"),
        (dict(retention=dict(rho_max=1.2)), "rho_max"),
        (dict(retention=dict(rho_min=0.9, rho_max=0.5)), "rho_min"),
        (dict(retention=dict(kappa=-1.0)), "kappa"),
        (dict(acquisition=[0.5, 0.6]), "acquisition"),
        (dict(acquisition=[1.0]), "acquisition"),
        (dict(acquisition=[1.2, -0.2]), "acquisition"),
        (dict(policy="tau"), "tau"),
        (dict(policy="grid"), "grid"),
        (dict(policy="every"), "every"),
        (dict(slate=0), "slate"),
        (dict(slate=2.0), "slate"),
        (dict(slate=99), "slate"),
        (dict(slate=3, position_weights=[1.0, 0.5]), "position_weights"),
        (dict(alphas=[[-1.0, 1.0]]), "alphas"),
    ],
)
def test_bad_inputs_name_the_argument(toy, kwargs, match):
    kwargs = dict(kwargs)
    with pytest.raises(ValueError, match=match):
        ret = kwargs.pop("retention", None)
        ret = None if ret is None else Retention(**ret)
        pol = kwargs.pop("policy", None)
        policies = kwargs.pop("alphas", [[0.5, 0.5]])
        if pol == "tau":
            policies = RetuneFair(grids.direction_grid(3), tau=1.5)
        elif pol == "grid":
            policies = Retune(np.zeros((0, 2)))
        elif pol == "every":
            policies = Retune(grids.direction_grid(3), every=0)
        base = dict(periods=2, slots=4, bank_users=16, sessions_per_user=2)
        simulate(toy, policies, **{**base, **kwargs, "retention": ret})


@pytest.mark.parametrize(
    "argv, word",
    [
        (["--periods", "0"], "--periods"),
        (["--slots", "0"], "--slots"),
        (["--smoothing", "0"], "smoothing"),
        (["--rho-min", "0.9", "--rho-max", "0.5"], "rho_min"),
        (["--kappa", "-1"], "kappa"),
        (["--acquisition", "0.5,0.6"], "acquisition"),
        (["--policies", "retune_fair:2"], "tau"),
        (["--every", "0"], "--every"),
        (["--policies", "nope"], "policies"),
        (["--slate", "0"], "slate"),
        (["--slate", "2", "--position-weights", "1,2"], "position_weights"),
    ],
)
def test_cli_mistakes_are_one_line_exit_2(argv, word, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["dynamics", "--periods", "2", "--slots", "8", "--bank-users", "16", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxfair: error: ") and word in err[0], err
    assert not (tmp_path / "results").exists()


def test_cli_writes_everything(tmp_path):
    out = tmp_path / "d"
    # The sizes of KW and the policies of the other tests: the compiled scans are reused.
    assert (
        main(
            [
                "dynamics",
                "--policies",
                "fixed:0.7,retune",
                "--periods",
                "6",
                "--slots",
                "256",
                "--bank-users",
                "128",
                "--sessions-per-user",
                "4",
                "--grid",
                "5",
                "--every",
                "3",
                "--seeds",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    names = {"share.png", "utility.png", "der.png", "trajectories.csv", "horizon.csv", "horizon.md", "summary.json"}
    assert {p.name for p in out.iterdir()} == names
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and len(summary["horizon"]) == 2
    assert "amplification_minority_lo" in (out / "horizon.csv").read_text()


def test_cli_default_policies_fit_k3(tmp_path, capsys):
    """No --policies on a K = 3 scenario: the default's fixed policy has one weight per label
    (fixed:0.5 has one, which only K = 2 reads); a one-weight fixed policy says the K-weight form."""
    from jaxfair.dynamics.policies import default_policies

    assert default_policies(2) == "fixed:0.5,retune,retune_fair:0.9"
    assert default_policies(3) == "fixed:1/1/1,retune,retune_fair:0.9"
    k3 = ["dynamics", "--option", "n_labels=3", "--periods", "2", "--slots", "32", "--bank-users", "16"]
    k3 += ["--sessions-per-user", "2", "--grid", "3"]
    out = tmp_path / "d3"
    assert main([*k3, "--out", str(out)]) == 0
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert [p["name"] for p in summary["policies"]] == ["fixed:1/1/1", "retune", "retune_fair:0.9"]
    assert summary["policies"][0]["alpha"] == [1.0, 1.0, 1.0]
    capsys.readouterr()
    assert main([*k3, "--policies", "fixed:0.5,retune", "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'fixed:0.5' gives 1 weight, the scenario has K=3 labels" in err[0], err
    assert "fixed:a/b/c" in err[0] and not (tmp_path / "e").exists()


def test_killed_run_leaves_no_partial_files(tmp_path):
    out = tmp_path / "killed"
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(__import__("pathlib").Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
        # A progress line at the first update, so the kill lands mid-run however fast this machine
        # is (at the default 15 s interval a fast machine finished before printing any line).
        JAXFAIR_PROGRESS_INTERVAL="0",
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jaxfair.cli",
            "dynamics",
            "--periods",
            "100000",
            "--slots",
            "64",
            "--bank-users",
            "64",
            "--out",
            str(out),
        ],
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    seen = ""
    deadline = time.time() + 120
    while "dynamics:" not in seen and time.time() < deadline:  # the progress bar: the run is under way
        char = proc.stderr.read(1)
        if not char:  # the process ended without a progress line: fail now, not after the deadline
            break
        seen += char
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert "dynamics:" in seen
    assert not out.exists() or not any(out.iterdir())


def _example_logs(replay):
    from pathlib import Path

    import pandas as pd

    df = pd.read_csv(Path(__file__).resolve().parents[1] / "examples" / "logs.csv")
    kw = dict(user="user_id", group="group", scores=["f_click", "f_like"], labels=["click", "like"])
    kw["prefs"] = {"majority": [0.8, 0.2], "minority": [0.2, 0.8]}  # logs carry no prefs
    if replay:
        return scenarios.from_frame(df, replay=True, session="session", **kw), df
    return scenarios.from_frame(df, retrieved="retrieved", n_candidates=5, **kw), df


def test_pool_and_replay_banks_draw_each_users_own_sessions():
    key = jax.random.PRNGKey(0)
    pool, _ = _example_logs(False)
    batch, ug = pool.session_bank(key, None, 3)
    assert batch.n_users == 3 * pool.n_pool_users and np.array_equal(ug, pool.arrays["user_group"])
    a = pool.arrays
    for u in (0, 5, pool.n_pool_users - 1):
        own = {tuple(r) for r in a["scores"][a["offsets"][u] : a["offsets"][u] + a["counts"][u]]}
        sess = np.asarray(batch.scores[3 * u : 3 * u + 3])[np.asarray(batch.mask[3 * u : 3 * u + 3])]
        assert {tuple(r) for r in sess} <= own
    replay, _ = _example_logs(True)
    batch, ug = replay.session_bank(key, None, 4)
    users = np.unique(replay.session_user)
    assert len(ug) == len(users)
    logged = np.asarray(replay.arrays["scores"])
    for i in (0, len(users) // 2):
        mine = logged[replay.session_user == users[i]]
        for s in np.asarray(batch.scores[4 * i : 4 * i + 4]):
            assert any(np.array_equal(s, m) for m in mine)  # one of that user's logged sessions
    res = simulate(replay, [[0.5, 0.5]], periods=3, slots=32, sessions_per_user=4)
    assert res.counts.sum() == 3 * 32


def test_summary_says_which_real_users_stand_behind_the_bank(tmp_path, toy):
    """summary.json of a run on logs records the logged users (and, in a replay, the logged
    sessions) behind the bank, as a surface's ``sample`` does; generated users say so."""
    import json

    from jaxfair.dynamics.report import write_dynamics

    replay, _ = _example_logs(True)
    res = simulate(replay, [[0.5, 0.5]], periods=3, slots=32, sessions_per_user=4)
    write_dynamics([res], tmp_path / "r")
    sample = json.loads((tmp_path / "r" / "summary.json").read_text())["sample"]
    users = replay.n_logged_users
    assert sample == {
        "bank_users": users,
        "sessions_per_user": 4,
        "source_users": users,
        "logged_sessions": replay.n_sessions,
        "resampled": True,
        "text": f"all {users:,} logged users ({replay.n_sessions:,} logged sessions), 4 sessions each drawn with "
        "replacement from the user's own logged sessions",
    }
    pool, _ = _example_logs(False)
    part = simulate(pool, [[0.5, 0.5]], periods=3, slots=32, bank_users=5, sessions_per_user=4).config["sample"]
    assert (part["bank_users"], part["source_users"], part["logged_sessions"]) == (5, pool.n_pool_users, None)
    assert part["text"].startswith(f"5 of {pool.n_pool_users:,} ")
    gen = simulate(toy, [[0.5, 0.5]], **KW).config["sample"]
    assert gen["source_users"] is None and gen["text"] == "128 generated users, 4 sessions each"


def test_horizon_evaluator_is_the_simulated_horizon(toy):
    import torch

    from jaxfair.bo.evaluator import Evaluator

    ev = Evaluator(toy, users=256, horizon=4, seed=5)
    key = ev.key_for(0, 1)
    res = ev.evaluate(torch.tensor([[0.3], [0.7]], dtype=torch.float64), key=key)
    seed = int(jax.random.bits(key, (), jax.numpy.uint32))
    sim = simulate(toy, res.alphas, periods=4, slots=256, seed=seed, bank=ev.horizon.bank)
    np.testing.assert_array_equal(res.utility, sim.horizon_utility)
    np.testing.assert_array_equal(res.der, sim.horizon_der)
    again = ev.evaluate(torch.tensor([[0.7]], dtype=torch.float64), key=key)  # CRN: same key, same draws
    assert again.utility[0] == res.utility[1]
    with pytest.raises(ValueError, match="horizon"):
        Evaluator(toy, horizon=0)


def test_t_interval_skips_missing_cells_without_warnings():
    import warnings

    from jaxfair.dynamics.report import t_interval

    x = np.array([[1.0, np.nan, np.nan], [3.0, 2.0, np.nan], [5.0, np.nan, np.nan]])  # [seeds, cells]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, lo, hi = t_interval(x, axis=0)
    assert mean[0] == 3.0 and mean[1] == 2.0 and np.isnan(mean[2])
    assert np.isnan(lo[1]) and np.isnan(hi[2])  # one finite seed: no interval; none: nothing
    from scipy import stats

    half = stats.t.ppf(0.975, 2) * 2.0 / np.sqrt(3)
    np.testing.assert_allclose([lo[0], hi[0]], [3.0 - half, 3.0 + half])
