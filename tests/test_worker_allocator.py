"""A Dask worker's allocator: Dask starts workers with ``MALLOC_TRIM_THRESHOLD_``, which turns
glibc's adaptive thresholds off (every freed 1 MiB block is unmapped and the next one mapped
again); :func:`restore_malloc_thresholds` sets them back, also on the workers of a survey."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from vl3d_focal.runner.executor import DaskExecutor, ExecutorSettings

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")

PROBE = """
import ctypes

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Mallinfo2
libc.malloc.restype = ctypes.c_void_p

def mapped_megabytes(times=2):
    '''Whether each of ``times`` 1 MiB blocks, allocated and freed in turn, was mapped from the kernel.'''
    mapped = []
    for _ in range(times):
        before = libc.mallinfo2().hblks
        block = libc.malloc(1 << 20)
        mapped.append(libc.mallinfo2().hblks > before)
        libc.free(ctypes.c_void_p(block))
    return mapped
"""


def _run(code: str, *, trim: bool) -> list[str]:
    env = {key: value for key, value in os.environ.items() if key != "MALLOC_TRIM_THRESHOLD_"}
    if trim:
        env["MALLOC_TRIM_THRESHOLD_"] = "65536"
    done = subprocess.run([sys.executable, "-c", PROBE + code], env=env, capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_the_trim_variable_maps_every_large_block_and_the_restore_stops_it():
    assert _run("print(*mapped_megabytes())", trim=False) == ["True", "False"]  # adaptive: mapped once
    assert _run("print(*mapped_megabytes())", trim=True) == ["True", "True"]  # fixed: mapped every time
    restored = (
        "from vl3d_focal.runner.worker_process import restore_malloc_thresholds\n"
        "print(restore_malloc_thresholds(), *mapped_megabytes())\n"
    )
    assert _run(restored, trim=True) == ["True", "False", "False"]
    assert _run(restored, trim=False) == ["False", "True", "False"]  # nothing to restore


def test_a_dask_worker_keeps_large_blocks_allocated():
    def probe(task, shared):
        scope: dict = {}
        exec(PROBE, scope)  # the probe travels as text: the worker cannot import this test module
        return os.environ.get("MALLOC_TRIM_THRESHOLD_"), scope["mapped_megabytes"]()

    executor = DaskExecutor(ExecutorSettings("dask", workers=1, threads_per_worker=1, scheduler=None))
    try:
        (outcome,) = list(executor.run(probe, [None], shared=None))
    finally:
        executor.close()
    assert outcome == ("65536", [False, False])  # started with Dask's variable, thresholds restored
