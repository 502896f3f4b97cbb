"""Timing of repeated calls, shared by the benchmarks.

Example:
    >>> median_seconds(lambda: sum(range(100)), repetitions=3) >= 0.0
    True
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_seconds(call: Callable[[], Any], *, repetitions: int, warmup: int = 1) -> float:
    """Median wall time of ``call`` over ``repetitions`` calls, after ``warmup`` untimed calls
    (tracing, compilation, first allocations)."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
