import pytest
import torch


@pytest.fixture(autouse=True)
def _two_threads():
    # the same thread count everywhere keeps CPU results bitwise reproducible across tests
    torch.set_num_threads(2)
    yield
