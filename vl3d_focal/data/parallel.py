"""How many threads this process's own parallel loops use (KD-tree queries, furthest-point
sampling batches, the tiles of a streamed cloud), and :func:`ordered_map` to run such a loop.

Every CPU the process may run on, unless the environment variable :data:`THREADS_VARIABLE`
says otherwise: a Dask worker of a survey gets ``threads_per_worker`` there
(:mod:`vl3d_focal.runner.executor`), so that several workers on one machine do not each
spread over every core.

Example:
    >>> cpu_threads() >= 1
    True
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

THREADS_VARIABLE = "VL3D_FOCAL_THREADS"
PIECES_AT_ONCE = 2
"""At most how many pieces of work :func:`ordered_map` runs at once by default: each piece spreads
its heavy parts over the cores itself (KD-tree queries, furthest-point sampling, TensorFlow), and
memory grows with the pieces in work (a streamed cloud's tiles: two tiles' fields, whatever the
number of cores)."""
THREAD_NAME_PREFIX = "vl3d-focal-parallel"
"""The names of :func:`ordered_map`'s threads start so (a profiler finds them)."""


def cpu_threads() -> int:
    """Threads for this process's parallel loops (see the module docstring).

    Example:
        >>> os.environ[THREADS_VARIABLE] = "3"; cpu_threads()
        3
        >>> del os.environ[THREADS_VARIABLE]
    """
    given = os.environ.get(THREADS_VARIABLE, "").strip()
    if given.isdigit() and int(given) >= 1:
        return int(given)
    affinity = getattr(os, "sched_getaffinity", None)  # Linux; elsewhere every CPU
    return max(1, len(affinity(0)) if affinity else (os.cpu_count() or 1))


def ordered_map(function: Callable[[T], R], items: Iterable[T], *, threads: int | None = None) -> Iterator[R]:
    """``function`` of each item, in the items' order, run on up to ``threads`` threads at once
    (default :func:`cpu_threads`, at most :data:`PIECES_AT_ONCE`; in this thread when one): for
    independent pieces of work whose heavy parts release the GIL (numpy, KD-trees, TensorFlow),
    such as the tiles of a streamed cloud. At most ``threads`` items are in work at any time (one
    more waits), so memory grows with the threads, not with the items. An item's error is raised
    when its turn comes.

    Example:
        >>> list(ordered_map(lambda x: x * x, range(5), threads=2))
        [0, 1, 4, 9, 16]
    """
    threads = min(cpu_threads(), PIECES_AT_ONCE) if threads is None else threads
    if threads < 2:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix=THREAD_NAME_PREFIX) as pool:
        pending = []
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) > threads:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()
