"""Shared matplotlib setup of the figure modules: the Agg backend, array conversion, saving."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

__all__ = ["plt", "_np", "_save"]


def _np(x) -> np.ndarray:
    """A numpy copy of a tensor (detached, on the CPU) or array."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _save(fig, path: Path, paths: list[Path]) -> None:
    fig.savefig(path, dpi=120)
    plt.close(fig)
    paths.append(path)
