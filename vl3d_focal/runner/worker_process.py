"""What a Dask worker process of a run sets up when it joins (the executor's worker plugin,
:class:`~vl3d_focal.runner.executor.DaskExecutor`): its compute threads (:func:`apply_threads`,
from ``threads_per_worker``), glibc's allocator thresholds that Dask's nannies turn off
(:func:`restore_malloc_thresholds`), and a close without Dask's cancellation warnings
(:func:`quiet_worker_close`).

Example:
    >>> sorted(thread_environment(1))[:2]
    ['MKL_NUM_THREADS', 'OMP_NUM_THREADS']
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

from vl3d_focal.data.parallel import THREADS_VARIABLE, cpu_threads
from vl3d_focal.wording import counted

logger = logging.getLogger(__name__)

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    THREADS_VARIABLE,
)
"""Environment variables a worker process gets ``threads_per_worker`` in (read at start-up)."""
MALLOC_MMAP_THRESHOLD = 32 * 1024 * 1024
"""Blocks at least this large are mapped from the kernel (glibc's ``M_MMAP_THRESHOLD``) once a
worker's allocator is set back by :func:`restore_malloc_thresholds`: the largest value glibc's
own adaptive threshold reaches on a 64-bit system."""


def thread_environment(threads: int) -> dict[str, str]:
    """The :data:`THREAD_VARIABLES` of a worker process of ``threads`` compute threads.

    Example:
        >>> thread_environment(2)["OMP_NUM_THREADS"]
        '2'
    """
    return {name: str(threads) for name in THREAD_VARIABLES}


def apply_threads(threads: int, *, quiet: bool = False) -> None:
    """Sets this process's compute threads: the environment (for what starts later), the BLAS
    and OpenMP pools already loaded (a forked worker inherits its server's), TensorFlow's
    intra-op threads (only before TensorFlow runs anything here); imports Keras and then lists
    the devices (``quiet``: without TensorFlow's C++ start-up lines, :func:`vl3d_focal.lazy.import_keras`).

    Example:
        >>> import subprocess, sys  # a process of its own: the threads of this one stay as they are
        >>> subprocess.run([sys.executable, "-c", "import os; from vl3d_focal.runner.worker_process import apply_threads; "
        ...                 "apply_threads(1); print(os.environ['OMP_NUM_THREADS'])"], capture_output=True,
        ...                text=True, check=True).stdout
        '1\\n'
    """
    from threadpoolctl import threadpool_limits

    from vl3d_focal.lazy import import_keras, list_devices

    os.environ.update(thread_environment(threads))
    threadpool_limits(limits=threads)
    import_keras(quiet=quiet, devices=False)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(2, threads))
    except RuntimeError:  # TensorFlow already ran in this process: its pools are fixed
        logger.warning("worker %d: TensorFlow already initialised, its threads stay as they are", os.getpid())
    list_devices(quiet=quiet)
    logger.info("worker %d: %s", os.getpid(), counted(cpu_threads(), "compute thread"))


def restore_malloc_thresholds() -> bool:
    """Sets glibc's allocator back to large-block thresholds in a process that was started with
    ``MALLOC_TRIM_THRESHOLD_`` (as Dask's nannies start every worker, by default 65,536 bytes).

    Setting that variable turns glibc's adaptive thresholds off: every block above 128 KiB is then
    mapped from the kernel and unmapped when freed, so each of a tile's many temporary arrays
    costs fresh page faults. A survey's tiles took about 1.5x longer on a Dask worker than in the
    local executor with the same threads (``benchmarks/README.md``, "Eighth re-measure"). This
    sets the mapping threshold to :data:`MALLOC_MMAP_THRESHOLD` and the trim threshold to twice
    that, where the adaptive thresholds would have settled. Returns whether it changed anything:
    not where the variable is unset or the C library is not glibc.

    Example:
        >>> import subprocess, sys  # processes of their own: this one's allocator stays as it is
        >>> code = "from vl3d_focal.runner.worker_process import restore_malloc_thresholds as r; print(r())"
        >>> env = {key: value for key, value in os.environ.items() if key != "MALLOC_TRIM_THRESHOLD_"}
        >>> run = lambda extra: subprocess.run([sys.executable, "-c", code], env={**env, **extra},
        ...                                    capture_output=True, text=True, check=True).stdout.strip()
        >>> run({"MALLOC_TRIM_THRESHOLD_": "65536"}) == str(platform.libc_ver()[0] == "glibc"), run({})
        (True, 'False')
    """
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    changed = libc.mallopt(m_mmap_threshold, MALLOC_MMAP_THRESHOLD) == 1
    changed = libc.mallopt(m_trim_threshold, 2 * MALLOC_MMAP_THRESHOLD) == 1 and changed
    if changed:
        logger.info("worker %d: allocator thresholds restored from MALLOC_TRIM_THRESHOLD_", os.getpid())
    return changed


def quiet_worker_close() -> None:
    """Drops, in this worker process, Dask's warning that a task was cancelled because the worker
    closed (what closing a cluster under a run stopped by Ctrl-C does); other messages stay.

    Example:
        >>> quiet_worker_close()
        >>> record = logging.makeLogRecord({"msg": "Async instruction for <Task ...> ended with CancelledError"})
        >>> bool(logging.getLogger("distributed.worker.state_machine").filter(record))
        False
    """
    logging.getLogger("distributed.worker.state_machine").addFilter(_not_cancelled_on_close)


def _not_cancelled_on_close(record: logging.LogRecord) -> bool:
    return not record.getMessage().endswith("ended with CancelledError")  # Dask: only ever in Worker.close()


HEARTBEAT_FAILURE = "Failed to communicate with scheduler during heartbeat"
"""The start of Dask's message (``distributed.worker``, at ERROR with a traceback) when a worker's
heartbeat finds the scheduler unreachable."""


def quiet_shutdown_heartbeats() -> None:
    """Drops, in this worker process, Dask's heartbeat failure (:data:`HEARTBEAT_FAILURE`): the run
    calls it on every worker of its local cluster once its tasks are over, just before it closes
    the cluster (:meth:`~vl3d_focal.runner.executor.DaskExecutor.close`), so that a heartbeat
    caught between the scheduler's close and its worker's leaves no traceback. It is never
    called while tasks run: a scheduler lost then is still told. Other messages stay.

    Example:
        >>> quiet_shutdown_heartbeats()
        >>> record = lambda text: logging.makeLogRecord({"msg": text, "levelno": logging.ERROR})
        >>> worker_logger = logging.getLogger("distributed.worker")
        >>> bool(worker_logger.filter(record(HEARTBEAT_FAILURE + "."))), bool(worker_logger.filter(record("Compute Failed")))
        (False, True)
        >>> worker_logger.removeFilter(_not_heartbeat_failure)  # this process is no worker
    """
    logging.getLogger("distributed.worker").addFilter(_not_heartbeat_failure)  # once: Logger.addFilter checks


def _not_heartbeat_failure(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(HEARTBEAT_FAILURE)
