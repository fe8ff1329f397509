"""Scores of outputs against targets."""

from __future__ import annotations

import torch

__all__ = ["r2_score"]


def r2_score(outputs: torch.Tensor, targets: torch.Tensor,
             mask: torch.Tensor | None = None) -> float:
    """Coefficient of determination R^2 = 1 - SS_res / SS_tot over the masked entries.

    SS_tot is taken about each output channel's own mean, so a constant prediction of the mean
    scores 0 and a perfect one 1.

    Args:
        outputs: (time, trial, channel) predictions.
        targets: same shape, the truth.
        mask: same shape, weights (0 excludes an entry); default all ones.
    """
    outputs = outputs.detach().double()
    targets = targets.detach().double()
    if outputs.shape != targets.shape:
        raise ValueError(f"outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)} "
                         "differ in shape")
    w = torch.ones_like(targets) if mask is None else mask.detach().double()
    dims = tuple(range(targets.ndim - 1))
    mean = (w * targets).sum(dims) / w.sum(dims).clamp_min(1e-12)
    ss_res = (w * (outputs - targets) ** 2).sum()
    ss_tot = (w * (targets - mean) ** 2).sum()
    if ss_tot <= 0:
        raise ValueError("targets are constant over the mask: R^2 is undefined")
    return float(1.0 - ss_res / ss_tot)
