"""How many threads this process's own parallel loops use (KD-tree queries, furthest-point
sampling batches).

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

THREADS_VARIABLE = "VL3D_FOCAL_THREADS"


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
