"""Overlap: the exchange returns while the collective is in flight (the DDP hook hands DDP that future), and its
value is the synchronous compressed mean."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from spotlab.tasks.compress.config import COMPRESSORS
from spotlab.tasks.distributed.collective import CompressedMean
from spotlab.tasks.distributed.spawn import run_workers

LATE = 0.5  # seconds rank 1 waits before taking part: long enough that rank 0's collective cannot have finished


def _started_exchanges(collective) -> dict:
    """Per compressor: whether rank 0's mean future was done when ``mean`` returned (rank 1 joins ``LATE`` seconds
    later), its value, and the synchronous exchange's mean of the same input."""
    out = {}
    for kind in ("random-block", "top-k", "eden"):
        codec = COMPRESSORS[kind]().build()
        x = torch.randn(4096, generator=torch.Generator().manual_seed(collective.rank))
        if collective.rank == 1:
            time.sleep(LATE)
        future = CompressedMean(codec, collective, seed=3).mean([x], step=5)
        done_at_return = future.done()
        (mean,) = future.wait()
        _, (synchronous,) = CompressedMean(codec, collective, seed=3)([x], step=5)
        out[kind] = {"done_at_return": done_at_return, "mean": mean, "synchronous": synchronous}
    return out


def test_the_exchange_returns_before_its_collective_completes_and_gives_the_synchronous_mean(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3]))  # workers unpickle this module by name
    rank0, rank1 = run_workers(_started_exchanges, 2)
    # Allreduced payloads: launched asynchronously, so rank 0 returns while rank 1 has not yet contributed. (Gathered
    # payloads first exchange their sizes, a blocking round trip, so only their value is checked.)
    assert rank0["random-block"]["done_at_return"] is False
    for kind in ("random-block", "top-k", "eden"):
        assert torch.equal(rank0[kind]["mean"], rank0[kind]["synchronous"]), kind
        assert torch.equal(rank0[kind]["mean"], rank1[kind]["mean"]), kind  # one mean on every worker
