"""Files are written whole or not at all: a figure whose drawing fails leaves the previous file
byte for byte and no temporary file beside it; a writer killed halfway leaves the previous file
(and its hidden temporary, which no reader takes for the file)."""

import os
import signal
import subprocess
import sys

import pytest
from matplotlib.figure import Figure

from neurobias._atomic import save_figure_atomic


def _figure(y):
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], y)
    return fig


def test_a_figure_is_saved_in_the_format_its_suffix_names(tmp_path):
    assert save_figure_atomic(_figure([0, 1]), tmp_path / "a.png") == tmp_path / "a.png"
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    save_figure_atomic(_figure([0, 1]), tmp_path / "a.pdf")
    assert (tmp_path / "a.pdf").read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf", "a.png"]


def test_a_failed_save_leaves_the_previous_file(tmp_path):
    path = tmp_path / "fig.png"
    save_figure_atomic(_figure([0, 1]), path)
    before = path.read_bytes()

    class Broken(Figure):
        def savefig(self, fname, **kw):  # writes part of a file, then fails
            with open(fname, "wb") as f:
                f.write(b"\x89PNG half")
            raise RuntimeError("drawing failed")

    with pytest.raises(RuntimeError, match="drawing failed"):
        save_figure_atomic(Broken(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]


def test_a_killed_writer_leaves_the_previous_file(tmp_path):
    # a child saves a figure whose drawing blocks; killed meanwhile, it leaves the old file
    path = tmp_path / "fig.png"
    save_figure_atomic(_figure([0, 1]), path)
    before = path.read_bytes()
    code = f"""
import sys, time
from matplotlib.figure import Figure
from neurobias._atomic import save_figure_atomic
class Slow(Figure):
    def savefig(self, fname, **kw):
        open(fname, "wb").write(b"partial")
        print("writing", flush=True)
        time.sleep(60)
save_figure_atomic(Slow(), {str(path)!r})
"""
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert path.read_bytes() == before  # the partial bytes went to a temporary file only
