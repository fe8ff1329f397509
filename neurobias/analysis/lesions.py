"""Lesions: silence a group of units and score every task, to ask whether the group is needed.

A silenced unit's rate is clamped to 0 at every step: it drives neither the other units nor the
readout (``RateRNN.forward(..., silence=...)``). Every condition is scored on the same held-out
trials (one evaluation seed), so differences come from the lesion alone. This follows the
cluster lesions of Yang et al., Nat. Neurosci. 22, 297-306 (2019), Fig. 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..seeding import generator as make_generator
from .variance import as_array

__all__ = ["Lesioned", "evaluate_lesion", "LesionResult", "lesion_clusters"]


class Lesioned:
    """A read-only view of a circuit whose ``silence`` units are clamped to zero.

    It can stand in for the circuit wherever an env scores one (``env.evaluate(view, gen)``);
    the circuit itself is not changed.
    """

    def __init__(self, circuit, silence):
        mask = torch.as_tensor(as_array(silence, "silence", 1, bool))
        if mask.shape != (circuit.n_units,):
            raise ValueError(f"silence has shape {tuple(mask.shape)}: expected "
                             f"({circuit.n_units},), one flag per unit")
        self.circuit = circuit
        self.silence = mask.to(circuit.W_rec.device)

    def __call__(self, inputs, context, **kwargs):
        return self.circuit(inputs, context, silence=self.silence, **kwargs)

    def __getattr__(self, name):  # W_rec, config, n_units, ...: the circuit's
        return getattr(self.circuit, name)


def evaluate_lesion(circuit, env, silence, seed: int = 0) -> dict[str, float]:
    """``env.evaluate`` of ``circuit`` with the units flagged in ``silence`` (unit,) silenced.

    The circuit must be in eval mode (noise-free); it is not modified.
    """
    return env.evaluate(Lesioned(circuit, silence), make_generator(seed, "eval"))


@dataclass
class LesionResult:
    """Per-task scores after silencing each cluster.

    Attributes:
        groups: names of the rows: "intact", then "cluster k".
        tasks: names of the columns.
        accuracy: (group, task) fraction of trials correct.
        n_silenced: (group,) units silenced.
    """

    groups: list[str]
    tasks: list[str]
    accuracy: np.ndarray
    n_silenced: np.ndarray

    @property
    def change(self) -> np.ndarray:
        """(cluster, task) accuracy after the lesion minus intact accuracy."""
        return self.accuracy[1:] - self.accuracy[:1]


def lesion_clusters(circuit, env, labels, seed: int = 0, metric: str = "accuracy"
                    ) -> LesionResult:
    """Silence each cluster in turn and score every task.

    Args:
        circuit: a trained ``RateRNN`` in eval mode (read only).
        env: its env; ``evaluate`` must report ``<metric>/<task>`` for every task.
        labels: (unit,) cluster labels (-1: unclustered units, never silenced).
        seed: evaluation seed (the same trials for every lesion).
        metric: the per-task score to collect.

    Returns:
        LesionResult with one row for the intact circuit and one per cluster.
    """
    lab = as_array(labels, "labels", 1, np.int64)
    if lab.shape != (circuit.n_units,):
        raise ValueError(f"labels has shape {lab.shape}: expected ({circuit.n_units},)")
    clusters = [int(k) for k in np.unique(lab) if k >= 0]
    rows, names, counts = [], ["intact"], [0]
    base = evaluate_lesion(circuit, env, np.zeros(circuit.n_units, bool), seed)
    tasks = [k.split("/", 1)[1] for k in base if k.startswith(f"{metric}/")]
    if not tasks:
        raise ValueError(f"the env reports no {metric!r}/<task> scores: available: "
                         + ", ".join(sorted(base)))
    rows.append([base[f"{metric}/{t}"] for t in tasks])
    for k in clusters:
        scores = evaluate_lesion(circuit, env, lab == k, seed)
        rows.append([scores[f"{metric}/{t}"] for t in tasks])
        names.append(f"cluster {k}")
        counts.append(int((lab == k).sum()))
    return LesionResult(names, tasks, np.array(rows), np.array(counts))
