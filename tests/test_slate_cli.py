"""`jaxfair surface --slate` end to end on small sizes, and its one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import jaxfair as jf
from jaxfair.cli import main


def test_surface_cli_slate_writes_provider_figures(tmp_path):
    out = tmp_path / "s"
    assert (
        main(
            [
                "surface",
                "--scenario",
                "toy",
                "--users",
                "300",
                "--grid",
                "5",
                "--slate",
                "3",
                "--position-weights",
                "geometric",
                "--gamma",
                "0.5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["slate"] == 3 and summary["method"] == "grid"
    np.testing.assert_allclose(summary["position_weights"], [1.0, 0.5, 0.25])
    for g, v in summary["oracle_full_information_by_group"].items():
        assert v >= summary["oracle_by_group"][g] - 1e-6
        assert summary["regret_at_best_utility_by_group"][g]["full_information"] >= -1e-6
    d = pd.read_csv(out / "direction.csv")
    if "provider_der" in d:  # the scenario has provider groups
        assert (out / "tradeoff.png").stat().st_size > 0
        assert summary["provider"]["n_item_groups"] >= 2


@pytest.mark.parametrize(
    "args,match",
    [
        (["--slate", "0"], "slate"),
        (["--slate", "2.5"], "slate"),
        (["--slate", "50"], "--slate"),
        (["--slate", "2", "--position-weights", "0.5,1"], "position_weights"),
        (["--slate", "2", "--position-weights", "zipf"], "position-weights"),
        (["--slate", "2", "--position-weights", "geometric", "--gamma", "2"], "gamma"),
    ],
)
def test_surface_cli_bad_slate_arguments_are_one_line_errors(tmp_path, capsys, args, match):
    assert main(["surface", "--users", "50", "--grid", "3", "--out", str(tmp_path / "x")] + args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxfair: error:") and match in err[0]


def test_sweep2_refuses_slates_and_surface_uses_the_grid():
    rng = np.random.default_rng(0)
    b = jf.make_batch(rng.random((20, 4, 2)), rng.integers(0, 2, (20, 4, 2)), group=np.arange(20) % 2)
    with pytest.raises(ValueError, match="slate"):
        jf.sweep2(b, np.eye(2), slate=3)


def _texts(fig) -> list[str]:
    """Every text of a figure: its title, the axes' titles and texts, the legends."""
    out = [fig._suptitle.get_text()] if fig._suptitle else []
    for ax in fig.axes:
        out += [ax.get_title()] + [t.get_text() for t in ax.texts]
    out += [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    return out


@pytest.fixture(scope="module")
def k3_slate():
    """A K = 3 toy surface served as slates of 5 (the toy has provider groups)."""
    from jaxfair.surface import compute_surface

    sc = jf.scenarios.load("toy", n_labels=3)
    return compute_surface(sc, n_users=300, n_grid=6, slate=5)


def test_k3_slate_simplex_names_the_slate_and_adds_the_provider_panel(k3_slate):
    """K = 3 with slates: the title says k, the position weights and what a utility is (up to
    Σ v, not 1), and provider DER gets a panel, as in the K = 2 slate surface."""
    import matplotlib.pyplot as plt

    from jaxfair.surface.simplex_figures import plot_simplex

    fig = plot_simplex(k3_slate)
    title = fig._suptitle.get_text()
    w = k3_slate.summary["position_weights"]
    assert "slate of 5, DCG 1/log2(1+r) position weights v = (1, 0.631, 0.5, 0.431, 0.387)" in title, title
    assert f"utility = Σ_r v_r α*(g)·Y of the item at rank r, from 0 up to Σ v = {sum(w):.3g}" in title, title
    panels = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert "provider DER (1 = exposure ∝ merit)" in panels and "viewer DER (1 = equal utility)" in panels, panels
    assert all("provider DER" in t for t in _texts(fig) if t.startswith(("best utility α", "DER-best α")))
    plt.close(fig)


def test_simplex_edges_carry_tick_values_and_ders_are_told_apart(k3_slate):
    """Each edge measures one α_k: tick values 0.2 … 0.8 and the label's name along it; two DERs
    that read 1.000 at 3 decimals (0.99981 vs 0.99992) are printed so they differ."""
    import copy

    import matplotlib.pyplot as plt

    from jaxfair.surface.simplex_figures import plot_simplex

    surf = copy.deepcopy(k3_slate)
    surf.summary["best_utility"]["der"], surf.summary["best_der"]["der"] = 0.99981, 0.99992
    fig = plot_simplex(surf)
    heat = [ax for ax in fig.axes if ax.get_title() == "global utility"][0]
    texts = [t.get_text() for t in heat.texts]
    for tick in ("0.2", "0.4", "0.6", "0.8"):
        assert texts.count(tick) == 3, texts  # one per edge
    assert {"α (label1) →", "← α (label2)", "← α (label0)"} <= set(texts), texts
    legend = [t for t in _texts(fig) if t.startswith(("best utility α", "DER-best α"))]
    assert "DER 0.9998," in legend[0] and "DER 0.9999," in legend[1], legend
    plt.close(fig)
