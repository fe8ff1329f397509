"""Shared helpers of the figure modules: pyplot, array conversion, saving.

The library never selects a matplotlib backend: in Jupyter the figures it returns show inline,
and a script keeps whatever backend it chose. The command line selects Agg itself (it only
saves files).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from .._atomic import save_figure_atomic

__all__ = ["plt", "_np", "_save"]


def _np(x) -> np.ndarray:
    """A numpy copy of a tensor (detached, on the CPU) or array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _save(fig, path: Path, paths: list[Path]) -> None:
    save_figure_atomic(fig, path, dpi=120)
    plt.close(fig)
    paths.append(path)
