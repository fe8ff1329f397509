"""Progress of long jobs (training, export, analysis, sweeps): the one place that writes to stderr.

Where a person watches, a bar; where a log file collects stderr (a cluster job), plain lines:

* ``progress=False``: nothing.
* ``progress=True``: a tqdm bar when stderr is a terminal or the code runs in Jupyter (a notebook
  widget through ``tqdm.auto``), otherwise one plain line every ``every`` of the work (5%),
  at the start and at the end.
* ``progress=None`` (the default everywhere): the same as True, except that nothing is written
  when stderr is missing or is a character device that is not a terminal (``/dev/null``).

A plain line is ``<job>: <done>/<total> <unit>s (<percent>%) | key value | ... | <elapsed> s``;
it never holds a carriage return, so a log reads line by line.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from typing import Any, TextIO

__all__ = ["Progress", "progress_mode"]

MODES = ("bar", "lines", "off")


def _in_jupyter() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:  # noqa: BLE001 - an IPython of another shape: not a notebook
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _is_null_device(stream) -> bool:
    """Whether ``stream`` is a character device that is not a terminal (/dev/null)."""
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (AttributeError, ValueError, OSError):  # no file descriptor (StringIO, a notebook)
        return False
    return stat.S_ISCHR(mode) and not _isatty(stream)


def progress_mode(progress: bool | None, stream: TextIO | None = None) -> str:
    """How to show progress: "bar", "lines" or "off" (see the module docstring).

    Args:
        progress: True (on), False (off) or None (auto).
        stream: where it goes (default: sys.stderr now).
    """
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"progress={progress!r} is invalid: use True, False or None (auto)")
    stream = sys.stderr if stream is None else stream
    if progress is False or stream is None:
        return "off"
    if _in_jupyter() or _isatty(stream):
        return "bar"
    if progress is None and _is_null_device(stream):
        return "off"
    return "lines"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class Progress:
    """A progress report over ``total`` units of work: a bar, plain lines, or nothing.

    Args:
        total: units of work (steps, trials, stages, runs).
        job: name at the start of each line and on the bar ("train", "export", ...).
        unit: the unit of work, singular ("step").
        progress: True, False or None (auto); see the module docstring.
        initial: units already done (a resumed run).
        every: fraction of ``total`` between two plain lines.
        stream: where to write (default: sys.stderr when created).
        **info: what the first line shows (as ``set``).

    Use ``update(n, key=value, ...)`` after work is done and ``set(key=value)`` to change what
    the next line or the bar shows; ``close()`` (or the ``with`` block) writes the last line.
    """

    def __init__(self, total: int, job: str, unit: str, progress: bool | None = None, *,
                 initial: int = 0, every: float = 0.05, stream: TextIO | None = None,
                 **info: Any):
        self.stream = sys.stderr if stream is None else stream
        self.mode = progress_mode(progress, self.stream)
        self.total = int(total)
        self.job = job
        self.unit = unit
        self.done = int(initial)
        self.info: dict[str, Any] = {k: v for k, v in info.items() if v is not None}
        self._step = max(1, int(round(self.total * every))) if self.total > 0 else 1
        self._next = (self.done // self._step + 1) * self._step
        self._last_line = None
        self._t0 = time.perf_counter()
        self._bar = None
        self._closed = False
        if self.mode == "bar":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, initial=self.done, desc=job, unit=unit,
                             dynamic_ncols=True, leave=False, file=self.stream)
        elif self.mode == "lines" and self.total > 0:
            self._line()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def set(self, **info: Any) -> None:
        """Change what the next line (or the bar's postfix) shows; ``None`` removes a key."""
        for key, value in info.items():
            if value is None:
                self.info.pop(key, None)
            else:
                self.info[key] = value
        if self._bar is not None:
            self._bar.set_postfix({k: _fmt(v) for k, v in self.info.items()}, refresh=False)

    def update(self, n: int = 1, **info: Any) -> None:
        """Count ``n`` more units done; write a line when a new ``every`` share is reached."""
        self.set(**info)
        self.done += int(n)
        if self._bar is not None:
            self._bar.update(int(n))
        elif self.mode == "lines" and self.done >= self._next:
            self._line()
            self._next = (self.done // self._step + 1) * self._step

    def close(self) -> None:
        """Close the bar, or write a last line if the previous one does not show the end (or
        what ``set`` changed since)."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.mode == "lines" and self.total > 0 and \
                self._last_line != (self.done, repr(self.info)):
            self._line()

    def _line(self) -> None:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        parts = [f"{self.job}: {self.done}/{self.total} {self.unit}s ({pct:.0f}%)"]
        parts += [f"{k} {_fmt(v)}" for k, v in self.info.items()]
        parts.append(f"{time.perf_counter() - self._t0:.0f} s")
        try:
            self.stream.write(" | ".join(parts) + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken log: progress is not worth a crash
            self.mode = "off"
        self._last_line = (self.done, repr(self.info))
