"""Training tests run torch on one thread: on a shared two-core machine, two OpenMP threads that
spin while another process holds a core made a tiny model's steps 30x slower here."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
