"""Center-out reaching: plants (point mass, two-joint arm), the closed-loop task, and a
single-trial gymnasium env (``neurobias/CenterOutReach-v0``, registered when ``neurobias`` is
imported)."""

from .gym import GYM_ID, CenterOutReachGym
from .plants import PLANTS, Plant, PointMass, TwoJointArm
from .task import INPUT_NAMES, CenterOutReach, ReachRollout, score_reaches

__all__ = ["CenterOutReach", "ReachRollout", "score_reaches", "INPUT_NAMES", "Plant",
           "PointMass", "TwoJointArm", "PLANTS", "CenterOutReachGym", "GYM_ID"]
