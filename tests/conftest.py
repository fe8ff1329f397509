import os
import signal
import time
from pathlib import Path

import pytest
import torch

# NEUROBIAS_TEST_THREADS=1 when several test runs share the machine
THREADS = int(os.environ.get("NEUROBIAS_TEST_THREADS", "2"))


@pytest.fixture(autouse=True)
def _two_threads():
    # the same thread count everywhere keeps CPU results bitwise reproducible across tests
    torch.set_num_threads(THREADS)
    yield


@pytest.fixture
def one_thread():
    """One torch thread for the test: closed-loop rollouts are many small ops, which one thread
    runs faster, and on a busy machine much faster (two threads wait on each other at every op).
    """
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(THREADS)


def restore_sigint() -> None:
    """``preexec_fn`` for a child a test interrupts with SIGINT: a shell that starts the suite
    in the background (``make test &`` in a script) leaves SIGINT ignored for its children, and
    Python keeps an ignored SIGINT ignored; this gives the child the default disposition back,
    so that Python's own Ctrl-C handling is what the test exercises."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_ok(*args: str, paths: list) -> str:
    """Run ``python -m neurobias.cli ARGS`` with ``paths`` on PYTHONPATH, one torch thread;
    assert exit 0 and return its stdout."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}
    done = subprocess.run([sys.executable, "-m", "neurobias.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def loss_and_grads(net, u, y, ctx, low=None):
    """One MSE forward and backward pass of ``net`` with its recurrent matmuls in ``low``
    (None: the circuit's dtype): (loss, {name: gradient}, outputs)."""
    net.zero_grad()
    net.matmul_dtype = low
    try:
        out = net(u, ctx).outputs
    finally:
        net.matmul_dtype = None
    loss = ((out - y) ** 2).mean()
    loss.backward()
    return (loss.detach(), {k: p.grad.detach().clone() for k, p in net.named_parameters()
                            if p.grad is not None}, out.detach())


def ignore_sigint() -> None:
    """``preexec_fn`` that starts a command as a shell starts a background job (``cmd &`` in a
    script): SIGINT ignored, and so ignored by every process it starts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def stop_and_collect(proc, sig, timeout: float = 120) -> str:
    """Send ``sig`` to a command started in its own session and return its stderr; the whole
    session is SIGKILLed if it has not exited by then."""
    try:
        proc.send_signal(sig)
        return proc.communicate(timeout=timeout)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def gone_within(pid: int, seconds: float = 30) -> bool:
    """Whether process ``pid`` is gone (no such pid, or a zombie) within ``seconds``; read
    directly from the OS, independently of the package's own liveness test."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        state = Path(f"/proc/{pid}/stat")
        if state.exists() and state.read_text().split()[2] == "Z":
            return True
        time.sleep(0.1)
    return False
