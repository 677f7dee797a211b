"""The one timing helper the benchmark scripts share (they run as ``python benchmarks/<script>.py``, which puts this
folder on ``sys.path``)."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], repeat: int, warmup: bool = True) -> float:
    """Median wall seconds of ``repeat`` calls of ``fn``, after one untimed call (lazy initialisation, caches)
    unless ``warmup`` is false."""
    if warmup:
        fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
