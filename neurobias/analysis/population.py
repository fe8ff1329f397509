"""Population structure: principal components of condition-averaged activity, participation-ratio
dimensionality, and the Jacobian spectrum along a trajectory.

References: Cunningham & Yu, "Dimensionality reduction for large-scale neural recordings",
Nat. Neurosci. 17, 1500-1509 (2014); Gao et al., "A theory of multineuronal dimensionality,
dynamics and measurement", bioRxiv 214262 (2017) for the participation ratio; Williams et al.,
ICLR 2025, Fig. 3B for the Jacobian spectrum of a bias-learning circuit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .variance import as_array, check_finite

__all__ = ["PCA", "pca", "condition_average", "participation_ratio", "jacobian_spectrum"]


def condition_average(rates_tbn, labels, window_tb=None) -> tuple[np.ndarray, np.ndarray]:
    """Mean rates over the trials of each condition.

    Args:
        rates_tbn: (time, trial, unit) rates.
        labels: (trial,) condition of each trial (any values; e.g. the ground-truth choice).
        window_tb: optional (time, trial) bool; steps outside a trial's window do not count.

    Returns:
        (means (time, condition, unit), conditions (condition,)): a step where no trial of a
        condition is inside its window is NaN.
    """
    rates = as_array(rates_tbn, "rates_tbn", 3)
    check_finite(rates, "rates_tbn")
    lab = np.asarray(labels.detach().cpu().numpy() if hasattr(labels, "detach") else labels)
    if lab.shape != (rates.shape[1],):
        raise ValueError(f"labels has shape {lab.shape}: expected ({rates.shape[1]},)")
    win = np.ones(rates.shape[:2], bool) if window_tb is None else as_array(window_tb,
                                                                            "window_tb", 2, bool)
    levels = np.unique(lab)
    out = np.empty((rates.shape[0], len(levels), rates.shape[2]))
    for k, level in enumerate(levels):
        w = (win[:, lab == level]).astype(float)[..., None]
        n = w.sum(1)
        with np.errstate(invalid="ignore"):
            out[:, k] = np.where(n > 0, (w * rates[:, lab == level]).sum(1) / np.maximum(n, 1),
                                 np.nan)
    return out, levels


@dataclass
class PCA:
    """Principal components of a (sample, unit) matrix.

    Attributes:
        mean: (unit,) the mean that was subtracted.
        components: (k, unit) orthonormal principal axes, by decreasing variance.
        variance: (k,) variance along each axis.
        explained: (k,) fraction of the total variance along each axis.
        participation_ratio: (sum variance)^2 / sum variance^2 over all axes.
    """

    mean: np.ndarray
    components: np.ndarray
    variance: np.ndarray
    explained: np.ndarray
    participation_ratio: float

    def transform(self, x) -> np.ndarray:
        """Project (..., unit) onto the components: (..., k)."""
        return (as_array(x, "x") - self.mean) @ self.components.T


def participation_ratio(variances) -> float:
    """PR = (sum lambda)^2 / sum lambda^2 of covariance eigenvalues: 1 when one axis holds all
    the variance, n when n axes hold equal shares."""
    lam = as_array(variances, "variances", 1)
    if (lam < -1e-12 * max(lam.max(initial=0), 1)).any():
        raise ValueError("variances must be >= 0")
    total = lam.sum()
    return float(total ** 2 / (lam ** 2).sum()) if total > 0 else 0.0


def pca(x_su, n_components: int | None = None) -> PCA:
    """PCA of samples x (sample, unit), or of (time, condition, unit) activity (flattened).

    NaN rows (e.g. steps outside every trial) are dropped.
    """
    x = as_array(x_su, "x_su")
    if x.ndim < 2:
        raise ValueError(f"x_su has shape {x.shape}: expected (sample, unit) or "
                         "(time, condition, unit)")
    x = x.reshape(-1, x.shape[-1])
    x = x[np.isfinite(x).all(1)]
    if len(x) < 2:
        raise ValueError("pca needs at least two finite samples")
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s ** 2 / (len(x) - 1)
    k = len(var) if n_components is None else min(int(n_components), len(var))
    total = var.sum()
    explained = var / total if total > 0 else np.zeros_like(var)
    return PCA(mean, vt[:k], var[:k], explained[:k], participation_ratio(var))


@torch.no_grad()
def jacobian_spectrum(circuit, states_tn, context, inputs_tn=None) -> torch.Tensor:
    """Eigenvalues of the Jacobian dF/dx along a trajectory (Williams et al. 2025, Fig. 3B).

    Args:
        circuit: a ``RateRNN`` (read only).
        states_tn: (time, unit) states x(t) of one trial.
        context: the trial's context index.
        inputs_tn: (time, n_inputs) inputs (they do not change the Jacobian; accepted for
            symmetry with ``RateRNN.jacobian``).

    Returns:
        (time, unit) complex eigenvalues per ms, each row sorted by decreasing real part. The
        Euler map's eigenvalues are 1 + dt_ms * lambda.
    """
    x = torch.as_tensor(states_tn).detach().to(circuit.W_rec.device, torch.float64)
    if x.ndim != 2 or x.shape[1] != circuit.n_units:
        raise ValueError(f"states_tn has shape {tuple(x.shape)}: expected (time, "
                         f"{circuit.n_units})")
    if not torch.isfinite(x).all():
        raise ValueError("states_tn holds NaN or infinite values")
    from .fixed_points import _Field

    u = torch.zeros(circuit.config.n_inputs, dtype=torch.float64)
    fld = _Field(circuit, int(context), u, torch.float64, x.device)
    lam = torch.linalg.eigvals(fld.jtilde(x)) / circuit.config.tau_ms
    return torch.stack([row[torch.argsort(-row.real)] for row in lam])
