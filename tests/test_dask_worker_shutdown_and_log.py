"""A local Dask cluster's end and what its workers log: the run closes its cluster with the workers
told first, so that a heartbeat caught by the scheduler's close leaves no traceback (while tasks
run, that error is still shown); what a task logs or warns through other libraries is relayed to
the run's log, once each, naming the tile (:mod:`vl3d_focal.runner.task_log`).

The heartbeat failure is logged by hand on the worker, as Dask's ``Worker.heartbeat`` logs it,
at a chosen moment: no timing decides what the tests see."""

from __future__ import annotations

import logging
import sys
import warnings

import pytest

from vl3d_focal.runner.executor import DaskExecutor, ExecutorSettings
from vl3d_focal.runner.task_log import captured_messages, relay_messages
from vl3d_focal.runner.worker_process import HEARTBEAT_FAILURE

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")


def test_the_workers_drop_the_heartbeat_failure_only_once_the_run_closes_its_cluster():
    from dask.distributed import default_client

    def _heartbeat_failure_shown() -> list[str]:
        """On a worker, what ``distributed.worker``'s handlers receive of Dask's heartbeat failure
        (defined here: sent by value, as the worker cannot import this module)."""
        shown: list[str] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                shown.append(record.getMessage())

        worker_logger, handler = logging.getLogger("distributed.worker"), Keep()
        worker_logger.addHandler(handler)
        try:
            try:
                raise OSError("Timed out trying to connect to tcp://127.0.0.1:1")
            except OSError:
                worker_logger.exception("Failed to communicate with scheduler during heartbeat.")
        finally:
            worker_logger.removeHandler(handler)
        return shown

    executor = DaskExecutor(ExecutorSettings("dask", workers=1, threads_per_worker=1, scheduler=None))
    at_close: list[dict] = []
    try:
        during = list(executor.run(lambda task, shared: _heartbeat_failure_shown(), [None], shared=None))
        client = default_client()
        disconnect = client.close

        def close(*args, **kwargs):  # the client disconnects before the cluster closes its workers
            client.close = disconnect  # once
            at_close.append(client.run(_heartbeat_failure_shown))
            return disconnect(*args, **kwargs)

        client.close = close
    finally:
        executor.close()
    assert during == [[f"{HEARTBEAT_FAILURE}."]]  # while tasks run: shown
    assert [list(shown.values()) for shown in at_close] == [[[]]]  # at the run's close: dropped
    assert client.status == "closed"


def test_a_task_on_a_worker_relays_other_libraries_warnings_once_each_naming_its_tile(caplog):
    def task(path, shared):
        with captured_messages() as messages:
            logging.getLogger("vl3d_focal.inference.buffered").warning("buffer: b.laz left out")
            logging.getLogger("laspy.lasreader").warning("point count mismatch")
            logging.getLogger("laspy.lasreader").info("not relayed")
            logging.getLogger("distributed.worker").warning("the worker's own, printed by the worker")
            for _ in range(3):
                warnings.warn("scale factors differ", UserWarning, stacklevel=1)  # one place: once
        return messages

    executor = DaskExecutor(ExecutorSettings("dask", workers=1, threads_per_worker=1, scheduler=None))
    try:
        (messages,) = list(executor.run(task, ["/d/a.laz"], shared=None))
    finally:
        executor.close()
    caplog.clear()  # the cluster's own lines
    with caplog.at_level(logging.WARNING):
        relay_messages(messages, tile="/d/a.laz")
    relayed = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert [(name, level) for name, level, _ in relayed] == [
        ("vl3d_focal.inference.buffered", 30),
        ("laspy.lasreader", 30),
        ("py.warnings", 30),
    ]
    assert relayed[0][2] == "a.laz: buffer: b.laz left out"
    assert relayed[1][2] == "a.laz: point count mismatch"
    assert relayed[2][2].startswith("a.laz: ") and relayed[2][2].endswith(": UserWarning: scale factors differ")


def test_a_capture_keeps_every_logger_but_the_workers_and_each_warning_once_per_place():
    def warn(text: str) -> None:
        warnings.warn(text, RuntimeWarning, stacklevel=1)

    with captured_messages() as messages:
        logging.getLogger("numpy").error("overflow")
        logging.getLogger("tornado.general").warning("connection reset")
        for _ in range(2):
            warn("invalid value")
        warn("divide by zero")
    assert [(level, name) for level, name, _ in messages] == [(40, "numpy"), (30, "py.warnings"), (30, "py.warnings")]
    assert [text.split(": ", 1)[1] for _, _, text in messages[1:]] == [
        "RuntimeWarning: invalid value",
        "RuntimeWarning: divide by zero",
    ]
    with captured_messages() as again:  # a next task (tile) shows the same warning again, once
        warn("invalid value")
    assert [text.split(": ", 1)[1] for _, _, text in again] == ["RuntimeWarning: invalid value"]
