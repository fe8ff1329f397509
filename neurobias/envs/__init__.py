"""The worlds a circuit is trained in. ``ENVS`` maps the ``kind`` of a spec to its class."""

from .batch import Env, TrialBatch
from .dynamics import LorenzForecast, SineGenerator, VanDerPol
from .neurogym import NeuroGymEnv
from .reaching import CenterOutReach
from .recording import RecordingEnv

ENVS = {
    "sine": SineGenerator,
    "vanderpol": VanDerPol,
    "lorenz": LorenzForecast,
    "neurogym": NeuroGymEnv,
    "reaching": CenterOutReach,
    "recording": RecordingEnv,
}

__all__ = ["ENVS", "Env", "TrialBatch", "SineGenerator", "VanDerPol", "LorenzForecast",
           "NeuroGymEnv", "CenterOutReach", "RecordingEnv"]
