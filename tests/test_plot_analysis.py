"""The analysis figures a reviewer would send back: checked on the drawn matplotlib figures."""

import numpy as np
import torch

from neurobias import CircuitConfig, RateRNN
from neurobias import analysis as A
from neurobias.plot import analysis as P
from neurobias.plot._common import plt


def _inside(fig, artist):
    fig.canvas.draw()
    box = artist.get_window_extent()
    width, height = fig.canvas.get_width_height()
    return box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height


def _planted_clusters():
    """Three groups of 20 units, each active mostly in one of three tasks."""
    rng = np.random.default_rng(0)
    tv = rng.uniform(0.0, 0.05, size=(60, 3))
    for k in range(3):
        tv[20 * k: 20 * (k + 1), k] += rng.uniform(0.2, 1.0, size=20)
    return A.SelectivityClustering(k_range=(2, 20), seed=0).fit(tv)


def test_fixed_points_of_one_context_fit_and_name_their_input():
    net = RateRNN(CircuitConfig(n_units=16, n_inputs=1, n_outputs=1, gain=0.8), seed=0)
    with torch.no_grad():
        roll = net(torch.zeros(30, 4, 1), 0, return_states=True)
    fps = {"default": A.find_fixed_points(net, 0, states=roll.states, n_starts=8, seed=0)}
    means = roll.rates.double().numpy()
    pca = A.pca(means.reshape(-1, 16), n_components=3)
    fig = P.fixed_points_pca(fps, {"default": means}, pca, net.phi)
    title = fig._suptitle
    assert _inside(fig, title)  # was cut off on both sides over a single panel
    assert all(_inside(fig, text) for text in fig.legends[0].get_texts())
    assert "zero input" in title.get_text() and "fixation" not in title.get_text()
    plt.close(fig)
    fig = P.fixed_points_pca(fps, {"default": means}, pca, net.phi, "fixation-period input")
    assert "under fixation-period input" in fig._suptitle.get_text()
    plt.close(fig)


def test_dimensionality_labels_do_not_overlap_the_title():
    names = ["PerceptualDecisionMaking", "GoNogo", "DelayMatchSample", "yang19.go",
             "yang19.anti", "yang19.dm1", "yang19.dms", "yang19.ctxdm1"]  # long, rotated
    pcs = {name: A.pca(np.random.default_rng(k).normal(size=(40, 12)), 10)
           for k, name in enumerate(names)}
    fig = P.population_dimensionality(pcs)
    fig.canvas.draw()
    title = fig._suptitle.get_window_extent()
    for ax in fig.axes:
        assert not ax.yaxis.label.get_window_extent().overlaps(title)
    plt.close(fig)


def test_variance_matrix_blocks_are_not_flat():
    clu = _planted_clusters()
    fig = P.variance_matrix(clu, ["a", "b", "c"])
    shown = fig.axes[0].images[0].get_array()
    labels = clu.labels_[clu.order_]
    for k, task in enumerate(clu.preferred_):
        block = np.asarray(shown[labels == k, task])
        assert block.std() > 0.02, "the preferred-task block is one flat colour"
        assert block.max() <= fig.axes[0].images[0].norm.vmax
    # the shown values are each unit's share of its total task variance
    np.testing.assert_allclose(np.asarray(shown).sum(1), 1.0, atol=1e-9)
    plt.close(fig)


def test_silhouette_ticks_are_whole_numbers():
    clu = _planted_clusters()
    fig = P.silhouette_curve(clu)
    fig.canvas.draw()
    ticks = fig.axes[0].get_xticks()
    assert len(ticks) >= 2 and np.all(ticks == np.round(ticks))
    plt.close(fig)


def test_psychometric_axis_has_a_unit():
    from neurobias.plot.training import psychometric_curves

    levels = np.array([0.0, 6.4, 12.8, 25.6, 51.2])
    fig = psychometric_curves({"PDM": (levels, np.linspace(0.5, 1.0, 5), np.full(5, 20))})
    assert fig.axes[0].get_xlabel() == "stimulus coherence (%)"
    plt.close(fig)
