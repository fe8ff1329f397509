"""process_alive: the liveness test behind sweep run locks and tune's reaping of dead workers."""

import os
import subprocess
import sys
import time

import pytest

from neurobias._proc import process_alive


@pytest.mark.skipif(sys.platform != "linux", reason="reads the process state from /proc")
def test_a_running_child_is_alive_and_an_exited_unreaped_one_is_not():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert process_alive(child.pid)
    finally:
        child.kill()
    # killed but not yet waited for: a zombie, which os.kill still reaches
    deadline = time.time() + 10
    while time.time() < deadline:
        with open(f"/proc/{child.pid}/stat") as f:
            if f.read().rpartition(")")[2].split()[0] == "Z":
                break
        time.sleep(0.01)
    os.kill(child.pid, 0)  # no error: the pid still exists
    assert not process_alive(child.pid)
    child.wait()
    assert not process_alive(child.pid)


@pytest.mark.parametrize("pid", [0, -1])
def test_pids_that_would_address_a_process_group_are_not_processes(pid):
    assert not process_alive(pid)


def test_this_process_is_alive():
    assert process_alive(os.getpid())
