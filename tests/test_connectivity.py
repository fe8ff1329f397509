import math

import pytest
import torch

from neurobias import connectivity as cx


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("kind", ["gaussian", "uniform", "sparse", "dale"])
@pytest.mark.parametrize("gain", [0.5, 1.5])
def test_spectral_radius_tracks_gain(kind, gain):
    w = cx.recurrent(kind, 600, gain, gen(1), p=0.2, frac_excitatory=0.8)
    # circular law: the bulk radius is gain; finite-size deviation a few percent at N=600
    assert cx.spectral_radius(w) == pytest.approx(gain, rel=0.12)


def test_entry_variance_and_ranges():
    n = 500
    g = 1.3
    w = cx.uniform(n, n, g, gen())
    radius = g * math.sqrt(3 / n)
    assert w.abs().max() <= radius
    assert w.var().item() == pytest.approx(g**2 / n, rel=0.02)
    w = cx.gaussian(n, n, g, gen())
    assert w.var().item() == pytest.approx(g**2 / n, rel=0.02)


def test_sparse_connection_probability():
    w = cx.sparse(400, 400, 1.0, gen(), p=0.25)
    assert (w != 0).float().mean().item() == pytest.approx(0.25, abs=0.01)


def test_dale_signs_and_balance():
    w, sign = cx.dale(400, 400, 1.0, gen(), frac_excitatory=0.8)
    assert int((sign > 0).sum()) == 320
    exc, inh = w[:, sign > 0], w[:, sign < 0]
    assert (exc >= 0).all() and (inh <= 0).all()
    # balanced: the mean input to a unit is near zero compared with its spread
    row_sum = w.sum(1)
    assert row_sum.mean().abs().item() < 0.1 * row_sum.std().item() + 0.05


def test_seeded():
    assert torch.equal(cx.gaussian(5, 5, 1.0, gen(3)), cx.gaussian(5, 5, 1.0, gen(3)))
    assert not torch.equal(cx.gaussian(5, 5, 1.0, gen(3)), cx.gaussian(5, 5, 1.0, gen(4)))


def test_bad_kind():
    with pytest.raises(ValueError, match="allowed: gaussian"):
        cx.recurrent("cauchy", 5, 1.0, gen())
