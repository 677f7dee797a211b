"""A one-process gloo group, so that the distributed optimizers run in-process (multi-process tests spawn their own)."""

from __future__ import annotations

import pytest
import torch.distributed as dist

from tasks.distributed.collective import TorchCollective


@pytest.fixture
def solo(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/rendezvous", rank=0, world_size=1)
    yield TorchCollective()
    dist.destroy_process_group()
