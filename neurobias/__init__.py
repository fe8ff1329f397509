"""neurobias: rate circuits with fixed random connectivity that learn their tonic inputs.

Reference: Williams et al., "Expressivity of Neural Networks with Random Weights and Learned
Biases", ICLR 2025.
"""

from . import analysis, connectivity, envs, io
from .circuit import RateRNN, Rollout
from .compare import compare
from .config import (
    CircuitConfig,
    ConfigError,
    EnvConfig,
    ExperimentConfig,
    TrainConfig,
    load_config,
)
from .run import load_run, train_run
from .sweep import sweep, sweep_report
from .train import History, fit
from .tune import tune, tune_report

__version__ = "0.1.0"

__all__ = [
    "RateRNN", "Rollout", "CircuitConfig", "TrainConfig", "EnvConfig", "ExperimentConfig",
    "ConfigError", "load_config", "fit", "History", "train_run", "load_run", "envs",
    "connectivity", "analysis", "io", "sweep", "sweep_report", "tune", "tune_report", "compare",
    "__version__",
]
