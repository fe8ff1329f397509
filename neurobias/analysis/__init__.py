"""Pure analysis functions: arrays in, arrays or small dataclasses out (no plotting, no files).

* ``task_variance``, ``fractional_variance``: Yang et al. (2019) task variance.
* ``SelectivityClustering``: k-means of task-variance profiles, k by silhouette.
* ``bias_variance_correlation``: learned tonic input against task variance (Spearman).
* ``lesion_clusters``: silence each cluster, score each task.
* ``find_fixed_points``: fixed and slow points per context with their Jacobian spectra.
* ``pca``, ``participation_ratio``, ``jacobian_spectrum``: population structure.
* ``per_neuron_r2``, ``pvar``, ``psth_r2``, ``bits_per_spike``: fits to recorded activity.
* ``current_decomposition``, ``tonic_share``: recurrent, external and tonic input (CURBD).
* ``compare_activity`` (``procrustes_distance``, ``linear_cka``, ``mean_cca``, ``rsa``,
  ``unit_variance_correlation``): two activity sets matched on conditions and time.
"""

from .clustering import SelectivityClustering
from .currents import Currents, CurrentSummary, current_decomposition, tonic_share
from .fitting import (
    bits_per_spike,
    choose_alpha,
    fit_poisson_glm,
    fit_ridge,
    per_neuron_r2,
    psth,
    psth_r2,
    pvar,
)
from .fixed_points import FixedPoints, deduplicate, find_fixed_points
from .lesions import Lesioned, LesionResult, evaluate_lesion, lesion_clusters
from .metrics import r2_score
from .population import PCA, condition_average, jacobian_spectrum, participation_ratio, pca
from .similarity import (
    Similarity,
    SimilarityError,
    compare_activity,
    linear_cka,
    mean_cca,
    procrustes_distance,
    rdm,
    rsa,
    unit_variance_correlation,
)
from .tonic import BiasVariance, bias_variance_correlation, spearman
from .variance import epoch_window, fractional_variance, task_variance, task_variance_by_epoch

__all__ = ["r2_score", "task_variance", "task_variance_by_epoch", "epoch_window",
           "fractional_variance", "SelectivityClustering", "bias_variance_correlation",
           "BiasVariance", "spearman", "find_fixed_points", "FixedPoints", "deduplicate",
           "Lesioned", "evaluate_lesion", "lesion_clusters", "LesionResult", "PCA", "pca",
           "condition_average", "participation_ratio", "jacobian_spectrum", "per_neuron_r2",
           "pvar", "psth", "psth_r2", "bits_per_spike", "fit_ridge", "fit_poisson_glm",
           "choose_alpha", "Currents", "CurrentSummary", "current_decomposition", "tonic_share",
           "compare_activity", "Similarity", "SimilarityError", "procrustes_distance",
           "linear_cka", "mean_cca", "rsa", "rdm", "unit_variance_correlation"]
