"""Where the per-cloud tasks of a run go: this process (``local``) or Dask workers (``dask``).

The spec's top-level ``executor`` (schema: :func:`vl3d_focal.config.schema_parts.executor_schema`)
chooses. ``local`` runs the tasks here, one after the other. ``dask`` submits one task per
cloud to a Dask cluster and yields their outcomes as they finish: with ``scheduler`` null the
run starts a ``LocalCluster`` of ``workers`` processes (on Linux forked from a server that has
imported Keras and the task modules, :func:`start_worker_server`) and closes it at the end; with a
scheduler address it uses that running cluster (``dask scheduler`` / ``dask worker``). Every
worker process runs one cloud at a time with ``threads_per_worker`` threads for TensorFlow
(intra-op; set before TensorFlow runs anything there), BLAS and the KD-tree queries
(:func:`vl3d_focal.data.parallel.cpu_threads`), and with glibc's adaptive allocator thresholds
that Dask's default ``MALLOC_TRIM_THRESHOLD_`` turns off (:mod:`vl3d_focal.runner.worker_process`).

Dask is imported here only, and only when the ``dask`` engine is used.

Example:
    >>> settings = ExecutorSettings.from_spec({"executor": {"engine": "local", "workers": None,
    ...     "threads_per_worker": 1, "scheduler": None}})
    >>> with open_executor(settings) as executor:
    ...     list(executor.run(lambda task, shared: task * shared, [1, 2], shared=10))
    [10, 20]
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from vl3d_focal.config.scheduler_address import scheduler_address_problem
from vl3d_focal.config.schema_parts import executor_engine
from vl3d_focal.data.parallel import cpu_threads
from vl3d_focal.errors import DataError, VL3DFocalError
from vl3d_focal.runner.worker_process import (
    apply_threads,
    quiet_shutdown_heartbeats,
    quiet_worker_close,
    restore_malloc_thresholds,
    thread_environment,
)
from vl3d_focal.wording import counted

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 60
"""How long connecting to a running scheduler may take, in seconds."""
PRELOAD_MODULE = "vl3d_focal.runner.worker_preload"
"""What the fork server of local workers imports (Keras, the task modules) before any worker."""
PRELOAD_QUIET_VARIABLE = "VL3D_FOCAL_QUIET_PRELOAD"
"""``1`` in the fork server's environment: TensorFlow imported there without its C++ lines."""


class CommandLineAddress(str):
    """A scheduler address given as ``run --scheduler`` (:func:`with_overrides`): a string (in
    reports too) whose connection error names the option instead of ``executor.scheduler``.

    Example:
        >>> type(with_overrides({"executor": {}}, workers=None, scheduler="h:8786")["executor"]["scheduler"]).__name__
        'CommandLineAddress'
    """


@dataclass(frozen=True)
class ExecutorSettings:
    """The normalised ``executor`` object of a spec."""

    engine: str
    workers: int | None
    threads_per_worker: int
    scheduler: str | None

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> ExecutorSettings:
        """The settings of a normalised spec.

        Example:
            >>> ExecutorSettings.from_spec({"executor": {"engine": "dask", "workers": 2,
            ...     "threads_per_worker": 1, "scheduler": None}}).workers
            2
        """
        executor = spec["executor"]
        return cls(
            engine=executor["engine"],
            workers=executor["workers"],
            threads_per_worker=int(executor["threads_per_worker"]),
            scheduler=executor["scheduler"],
        )


def requested_settings(doc: Any, *, workers: int | None, scheduler: str | None) -> ExecutorSettings | None:
    """The executor settings a parsed spec document asks for before it is validated (with the
    command line's ``--workers`` / ``--scheduler``), or ``None`` where its ``executor`` holds
    anything unexpected: validation then says what.

    The command line starts the fork server of local workers (:func:`start_worker_server`) from
    these, so that its imports (TensorFlow's, the longest part of a survey's start) run while
    this process validates the spec and reads the clouds' headers.

    Example:
        >>> requested_settings({"executor": {"engine": "dask", "threads_per_worker": 2}}, workers=None, scheduler=None)
        ExecutorSettings(engine='dask', workers=None, threads_per_worker=2, scheduler=None)
        >>> requested_settings({"in_pcloud": "a.laz"}, workers=3, scheduler=None).engine
        'dask'
        >>> requested_settings({"executor": {"workers": 2}}, workers=None, scheduler=None).engine  # as --workers
        'dask'
        >>> requested_settings({"executor": {"threads_per_worker": "two"}}, workers=None, scheduler=None) is None
        True
    """
    executor = doc.get("executor", {}) if isinstance(doc, Mapping) else None
    if not isinstance(executor, Mapping):
        return None
    engine, threads = executor_engine(executor), executor.get("threads_per_worker", 1)
    address = executor.get("scheduler") if scheduler is None else scheduler
    if type(threads) is not int or threads < 1 or not isinstance(address, str | None):
        return None
    requested = workers if workers is not None else executor.get("workers")
    return ExecutorSettings(
        engine="dask" if workers is not None or scheduler is not None else engine,
        workers=requested if type(requested) is int else None,
        threads_per_worker=threads,
        scheduler=address,
    )


def with_overrides(spec: Mapping[str, Any], *, workers: int | None, scheduler: str | None) -> dict[str, Any]:
    """A copy of a normalised spec with the command line's ``--workers`` / ``--scheduler``:
    either selects the ``dask`` engine.

    Raises:
        DataError: ``workers`` below 1, a ``scheduler`` address Dask cannot parse, or either
            with ``in_pcloud_concat`` (one cloud, read in this process: Dask workers would read
            its first file instead).

    Example:
        >>> spec = {"executor": {"engine": "local", "workers": None, "threads_per_worker": 1, "scheduler": None}}
        >>> with_overrides(spec, workers=4, scheduler=None)["executor"]["engine"]
        'dask'
    """
    out = copy.deepcopy(dict(spec))
    if workers is not None and workers < 1:
        raise DataError(f"--workers: expected a number of worker processes >= 1, received {workers}")
    if scheduler is not None and (problem := scheduler_address_problem(scheduler)) is not None:
        raise DataError(f"--scheduler: {problem}")
    if (workers is not None or scheduler is not None) and "in_pcloud_concat" in out:
        raise DataError(
            "--workers/--scheduler: in_pcloud_concat makes one cloud, read in this process: Dask workers have no "
            "clouds to share; run it without them"
        )
    if workers is not None or scheduler is not None:
        out["executor"]["engine"] = "dask"
    if workers is not None:
        out["executor"]["workers"] = int(workers)
    if scheduler is not None:
        out["executor"]["scheduler"] = CommandLineAddress(scheduler)
    return out


class LocalExecutor:
    """Runs every task in this process, in order."""

    in_process = True
    workers = 1

    def run(self, function: Callable[[Any, Any], Any], tasks: Iterable[Any], *, shared: Any) -> Iterator[Any]:
        """``function(task, shared)`` of every task, in order.

        Example:
            >>> list(LocalExecutor().run(lambda t, s: t + s, [1], shared=1))
            [2]
        """
        for task in tasks:
            yield function(task, shared)


def start_worker_server(settings: ExecutorSettings, *, quiet: bool) -> bool:
    """Starts the process that a local Dask cluster's workers will be forked from
    (multiprocessing's fork server), which imports :data:`PRELOAD_MODULE` (Keras and the task
    modules) at once, while this process goes on; returns whether the workers of ``settings``
    are to be forked from it: a local cluster (no ``scheduler``) on Linux.

    Every worker then starts with TensorFlow imported instead of importing it itself, after
    the cluster is up (about 6 s of each survey's start on a 2-core machine), and the workers
    share those pages. The server gets the workers' thread variables
    (:data:`~vl3d_focal.runner.worker_process.THREAD_VARIABLES`) in its environment, read by the
    libraries it loads; it runs nothing with TensorFlow.
    Calling it again finds the server running.

    Example:
        >>> start_worker_server(ExecutorSettings("local", None, 1, None), quiet=True)
        False
    """
    if settings.engine != "dask" or settings.scheduler is not None or not sys.platform.startswith("linux"):
        return False
    import multiprocessing
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload([PRELOAD_MODULE])
    environment = {**thread_environment(settings.threads_per_worker), PRELOAD_QUIET_VARIABLE: "1" if quiet else "0"}
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        forkserver.ensure_running()
    finally:
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
    return True


def _worker_failure(task: Any, error: BaseException) -> Any:
    """The outcome of a task whose worker failed (killed, lost), or whose task raised a user's
    mistake (a run of one cloud: it is not recorded as a tile); asks the task for it."""
    if isinstance(error, VL3DFocalError):
        return task.failed(str(error))
    return task.failed(f"the Dask worker running it failed ({type(error).__name__}: {error})")


class DaskExecutor:
    """Submits the tasks to a Dask cluster (started here, or running at ``scheduler``). A start
    that fails (the client, the workers' plugin) closes what it had started before its error is
    raised: no worker processes outlive it."""

    in_process = False

    def __init__(self, settings: ExecutorSettings) -> None:
        from distributed.diagnostics.plugin import WorkerPlugin

        class WorkerSettings(WorkerPlugin):
            """Sets a worker's compute threads and its allocator when it joins (and quiets its close)."""

            name = "vl3d-focal-worker-settings"

            def __init__(self, threads: int, quiet: bool) -> None:
                self.threads, self.quiet = threads, quiet

            def setup(self, worker: Any) -> None:
                restore_malloc_thresholds()
                apply_threads(self.threads, quiet=self.quiet)
                if self.quiet:
                    quiet_worker_close()

        debug = logging.getLogger().isEnabledFor(logging.DEBUG)
        self._cluster: Any = None
        self._client: Any = None
        self._logging = contextlib.ExitStack()  # closed by close(), or here when the start fails
        if not debug:  # Dask's start, stop and shutdown lines (a closed connection's traceback among them)
            self._logging.enter_context(logger_level("distributed", logging.WARNING))
        try:
            self._start(settings, WorkerSettings, debug=debug)
        except BaseException:  # what started is closed (no worker processes left behind), the error is the news
            try:
                self._release()
            except Exception as err:  # noqa: BLE001  (a half-started cluster's close: the start's error says more)
                logger.debug("dask: closing after a failed start: %s", err)
            raise

    def _start(self, settings: ExecutorSettings, plugin: Any, *, debug: bool) -> None:
        import dask
        from dask.distributed import Client, LocalCluster

        threads = settings.threads_per_worker
        if settings.scheduler is None:
            count = settings.workers or cpu_threads()
            method = "forkserver" if start_worker_server(settings, quiet=not debug) else "spawn"
            with dask.config.set({"distributed.worker.multiprocessing-method": method}):
                self._cluster = LocalCluster(
                    n_workers=count,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    env=thread_environment(threads),
                )
            self._client = Client(self._cluster)
            logger.info(
                "dask: started a local cluster of %s, %s each",
                counted(count, "worker process", "worker processes"),
                counted(threads, "thread"),
            )
        else:
            logger.info("dask: connecting to the scheduler at %s (up to %g s)", settings.scheduler, CONNECT_TIMEOUT_S)
            try:
                self._client = Client(settings.scheduler, timeout=CONNECT_TIMEOUT_S)
            except Exception as err:  # noqa: BLE001  (a refused, unknown or unreachable host: Dask's many kinds)
                given = "--scheduler" if isinstance(settings.scheduler, CommandLineAddress) else "executor.scheduler"
                raise DataError(
                    f"{given}: cannot connect to the Dask scheduler at {settings.scheduler!r} "
                    f"({err or type(err).__name__}); start it with 'dask scheduler' and workers with 'dask worker "
                    f"{settings.scheduler} --nthreads 1'"
                ) from err
        self._client.register_plugin(plugin(threads, quiet=not debug))
        self.workers = max(1, len(self._client.scheduler_info()["workers"]))
        logger.info("dask: %s at %s", counted(self.workers, "worker"), self._client.scheduler.address)

    def run(self, function: Callable[[Any, Any], Any], tasks: Iterable[Any], *, shared: Any) -> Iterator[Any]:
        """``function(task, shared)`` of every task on the workers, yielded as they finish; a
        task whose worker dies yields ``task.failed(message)``. Interrupted (Ctrl-C, SIGTERM, or
        a ``KeyboardInterrupt`` thrown in), it first yields the outcomes of the tasks that finished
        and were not yielded yet, then raises.

        """
        from dask.distributed import as_completed

        tasks = list(tasks)
        if not tasks:
            return
        shared_future = self._client.scatter(shared, broadcast=True, hash=False)
        futures = {self._client.submit(function, task, shared_future, pure=False): task for task in tasks}
        taken: set[Any] = set()
        try:
            for future in as_completed(futures):
                taken.add(future)
                try:
                    yield future.result()
                except Exception as err:  # noqa: BLE001  (a lost worker, not the task: tasks catch their own)
                    yield _worker_failure(futures[future], err)
                finally:
                    future.release()
        except KeyboardInterrupt:  # the outcomes that came back already are the run's: yielded, then it stops
            yield from [future.result() for future in futures if future not in taken and future.status == "finished"]
            raise

    def close(self) -> None:
        """Disconnects; closes the local cluster it started, in order: its workers are told the run
        ends (:func:`~vl3d_focal.runner.worker_process.quiet_shutdown_heartbeats`, while all of
        them and the scheduler are up), then the client disconnects, then the cluster closes its
        workers (each joined, or killed after a few seconds where TensorFlow's threads keep it
        alive: that is no news) and its scheduler last. A cluster at a ``scheduler`` address is
        left as it is. The ``distributed`` logger gets back the level it had before the executor."""
        if self._cluster is not None:
            try:
                self._client.run(quiet_shutdown_heartbeats, on_error="ignore")
            except Exception as err:  # noqa: BLE001  (a cluster already broken: its close says more)
                logger.debug("dask: could not quiet the workers' shutdown: %s", err)
        self._release()

    def _release(self) -> None:
        """Closes what the executor started (the client, then the local cluster: each tried even
        when the other's close fails) and puts the loggers' levels back, at the end."""
        with self._logging, contextlib.ExitStack() as closing:
            if self._cluster is not None:
                closing.enter_context(logger_level("distributed.nanny", logging.ERROR))
                closing.callback(self._cluster.close)
            if self._client is not None:
                closing.callback(self._client.close)


@contextlib.contextmanager
def logger_level(name: str, level: int) -> Iterator[None]:
    """Logger ``name`` at ``level`` while the block runs, at its own level again after it (also
    when the block fails): the runner changes no logger for longer than a run.

    Example:
        >>> with logger_level("vl3d_focal.example", logging.ERROR):
        ...     logging.getLogger("vl3d_focal.example").level
        40
        >>> logging.getLogger("vl3d_focal.example").level
        0
    """
    target = logging.getLogger(name)
    before = target.level
    target.setLevel(level)
    try:
        yield
    finally:
        target.setLevel(before)


@contextlib.contextmanager
def open_executor(settings: ExecutorSettings) -> Iterator[LocalExecutor | DaskExecutor]:
    """The executor of ``settings``, closed (its local cluster stopped) on exit.

    Example:
        >>> with open_executor(ExecutorSettings("local", None, 1, None)) as executor:
        ...     executor.in_process
        True
    """
    if settings.engine != "dask":
        yield LocalExecutor()
        return
    executor = DaskExecutor(settings)
    try:
        yield executor
    finally:
        executor.close()
