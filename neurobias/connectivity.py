"""Random connectivity generators, each seeded by an explicit ``torch.Generator``.

All recurrent generators are scaled so that the entries have variance ``gain**2 / n``, which puts
the bulk of the eigenvalues of an ``n x n`` matrix in a disc of radius ``gain`` (circular law;
Rajan & Abbott 2006 for the excitatory/inhibitory case). Matrices are (post, pre): row ``i`` holds
the inputs to unit ``i``, so the drive is ``W @ r``.
"""

from __future__ import annotations

import math

import torch

__all__ = ["gaussian", "uniform", "sparse", "dale", "recurrent", "spectral_radius"]


def gaussian(n_post: int, n_pre: int, gain: float, generator: torch.Generator) -> torch.Tensor:
    """Entries i.i.d. N(0, gain^2 / n_pre).

    Returns:
        (n_post, n_pre) float32 tensor.
    """
    w = torch.randn(n_post, n_pre, generator=generator)
    return w.mul_(gain / math.sqrt(max(n_pre, 1)))  # in place: a wide W needs no second copy


def uniform(n_post: int, n_pre: int, gain: float, generator: torch.Generator) -> torch.Tensor:
    """Entries i.i.d. U[-R, R] with R = gain * sqrt(3 / n_pre) (variance gain^2 / n_pre).

    The uniform distribution is the one the expressivity theorems of Williams et al. (ICLR 2025)
    are stated for.
    """
    radius = gain * math.sqrt(3.0 / max(n_pre, 1))
    return torch.rand(n_post, n_pre, generator=generator).mul_(2.0).sub_(1.0).mul_(radius)


def sparse(n_post: int, n_pre: int, gain: float, generator: torch.Generator,
           p: float = 0.1) -> torch.Tensor:
    """Each connection present with probability ``p``; present weights N(0, gain^2 / (p n_pre)).

    The rescaling by 1/p keeps the per-entry variance at gain^2 / n_pre and so the spectral
    radius near ``gain`` (Rajan & Abbott 2006).
    """
    if not 0 < p <= 1:
        raise ValueError(f"p={p!r} is invalid: must be in (0, 1]")
    present = torch.rand(n_post, n_pre, generator=generator) < p
    w = torch.randn(n_post, n_pre, generator=generator) * (gain / math.sqrt(p * max(n_pre, 1)))
    return w * present


def dale(n_post: int, n_pre: int, gain: float, generator: torch.Generator,
         frac_excitatory: float = 0.8) -> tuple[torch.Tensor, torch.Tensor]:
    """Dale's law: each presynaptic unit is excitatory (all outgoing weights >= 0) or inhibitory.

    Magnitudes are half-normal. In every row the inhibitory weights are scaled so that they
    cancel the excitatory ones exactly (zero net input: the balanced case of Rajan & Abbott
    2006, which removes the outlier eigenvalue). The matrix is then scaled so that
    n_pre (f var_E + (1 - f) var_I) = gain^2, where var_E and var_I are the variances of the
    excitatory and inhibitory entries: by Rajan & Abbott (2006) the eigenvalues then fill a disc
    of radius ``gain``.

    Returns:
        (w, sign): the (n_post, n_pre) weights and the (n_pre,) sign of each presynaptic unit.
    """
    if not 0 < frac_excitatory < 1:
        raise ValueError(f"frac_excitatory={frac_excitatory!r} is invalid: must be in (0, 1)")
    n_exc = min(max(int(round(frac_excitatory * n_pre)), 1), n_pre - 1)
    sign = torch.ones(n_pre)
    sign[n_exc:] = -1.0
    mag = torch.randn(n_post, n_pre, generator=generator).abs()
    exc, inh = mag[:, :n_exc], mag[:, n_exc:]
    inh = inh * (exc.sum(1, keepdim=True) / inh.sum(1, keepdim=True))
    f = n_exc / n_pre
    spread = n_pre * (f * exc.var() + (1 - f) * inh.var())
    scale = gain / float(spread.sqrt())
    w = torch.cat([exc, -inh], 1) * scale
    return w, sign


def recurrent(kind: str, n: int, gain: float, generator: torch.Generator, *, p: float = 0.1,
              frac_excitatory: float = 0.8) -> torch.Tensor:
    """Draw an (n, n) recurrent matrix of the named ``kind`` (gaussian|uniform|sparse|dale)."""
    if kind == "gaussian":
        return gaussian(n, n, gain, generator)
    if kind == "uniform":
        return uniform(n, n, gain, generator)
    if kind == "sparse":
        return sparse(n, n, gain, generator, p=p)
    if kind == "dale":
        return dale(n, n, gain, generator, frac_excitatory=frac_excitatory)[0]
    raise ValueError(f"weights={kind!r} is invalid: allowed: gaussian, uniform, sparse, dale")


def spectral_radius(w: torch.Tensor) -> float:
    """Largest absolute eigenvalue of a square matrix (computed in float64)."""
    return float(torch.linalg.eigvals(w.double()).abs().max())
