"""Matplotlib figures by family. Every function returns a Figure; the ``*_figures`` functions
save a run's PNGs into a folder and return their paths.

``training``   learning curves, outputs against targets, per-task and psychometric curves
``reaching``   center-out trajectories, speed profiles, reaching learning curve
``analysis``   task variance, clusters, lesions, fixed points, dimensionality
``fitting``    circuits fitted to recordings: PSTHs, per-neuron R^2, current decomposition
``tune``       recipe search: optimisation history, parameter importances
"""

from .analysis import analysis_figures
from .fitting import fit_figures
from .reaching import reaching_figures
from .training import (
    learning_curve,
    outputs_vs_targets,
    psychometric_curves,
    run_figures,
    task_learning_curves,
)

__all__ = ["learning_curve", "outputs_vs_targets", "task_learning_curves", "psychometric_curves",
           "run_figures", "reaching_figures", "analysis_figures", "fit_figures"]
