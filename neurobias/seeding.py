"""One run seed, separate random streams: connectivity, trials, noise, evaluation, export, and
re-evaluation on fresh trials after training (analyses/reevaluate.py).

Each stream's seed is derived from the run seed with ``numpy.random.SeedSequence`` so that changing
the number of trials drawn never changes the connectivity, and so on.
"""

from __future__ import annotations

import numpy as np
import torch

# new streams go at the end: a stream's seed depends on its position
STREAMS = ("connectivity", "trials", "noise", "eval", "export", "reevaluate")


def derive_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for ``stream`` (one of STREAMS) derived from the run ``seed``."""
    if stream not in STREAMS:
        raise ValueError(f"stream={stream!r} is invalid: allowed: " + ", ".join(STREAMS))
    seq = np.random.SeedSequence(int(seed), spawn_key=(STREAMS.index(stream),))
    return int(seq.generate_state(1, dtype=np.uint64)[0]) & (2**63 - 1)


def generator(seed: int, stream: str, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded for ``stream`` of run ``seed``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed, stream))
    return gen
