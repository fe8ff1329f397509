"""Whether a process of this machine is still running (run locks of sweeps and tune workers)."""

from __future__ import annotations

import os
import signal
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


def _children(pid: int) -> list[int]:
    """Child pids of ``pid`` (Linux /proc; empty where it cannot be read)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            pass
    return out


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process below it, the deepest first.

    For a local submitit job that missed its cancel signal: a process started in the background
    by a shell ignores SIGINT, and so do the processes it starts, while SIGINT is how submitit
    cancels a local job. Its children are read before any is killed (a killed parent's children
    are re-parented and could no longer be found).
    """
    if pid <= 0:
        return
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += _children(p)
    for p in reversed(tree):
        try:
            os.kill(p, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
