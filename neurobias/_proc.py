"""Whether a process of this machine is still running (run locks of sweeps and tune workers)."""

from __future__ import annotations

import os
from pathlib import Path


def process_alive(pid: int) -> bool:
    """True while process ``pid`` of this machine runs.

    A process that has exited but not yet been reaped (a zombie: killed workers whose parent died
    too wait for PID 1 to collect them) counts as gone, as does a process of another user (not
    one of ours) and any pid <= 0 (``os.kill`` would address a process group).
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # Linux: the state letter follows the parenthesised command name
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS) or it vanished just now: trust os.kill
    return state not in ("Z", "X")
