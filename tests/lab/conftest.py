"""The lab's problems are tiny: one torch thread runs them fastest, as `genopt lab` does."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
