import pytest
import torch


@pytest.fixture(autouse=True)
def _two_threads():
    # the same thread count everywhere keeps CPU results bitwise reproducible across tests
    torch.set_num_threads(2)
    yield


@pytest.fixture
def one_thread():
    """One torch thread for the test: closed-loop rollouts are many small ops, which one thread
    runs faster, and on a busy machine much faster (two threads wait on each other at every op).
    """
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(2)
