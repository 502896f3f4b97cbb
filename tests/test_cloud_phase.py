"""A per-cloud phase's outcomes: a failed cloud of a run that is no survey fails the run, with its message
once (no Dask traceback before it) and the failed step; a Dask worker's warnings reach the run's record."""

from __future__ import annotations

import logging

import pytest

from vl3d_focal.errors import DataError
from vl3d_focal.runner.cloud_phase import CloudPhases
from vl3d_focal.runner.cloud_task import FAILED_STEP_ATTRIBUTE, CloudOutcome, CloudTask, PhaseContext, run_cloud_task
from vl3d_focal.runner.executor import ExecutorSettings, _worker_failure
from vl3d_focal.runner.run_record import RunRecorder
from vl3d_focal.steps.state import PipelineState


def test_a_failed_cloud_of_a_run_of_one_cloud_on_dask_workers_fails_the_run_with_its_message():
    task = CloudTask(number=0, path="/data/a.laz", prefix="out/", points=3)
    phases = CloudPhases(
        settings=ExecutorSettings("dask", 1, 1, None), state=PipelineState(clouds=[], model_prefix="out/"), record=None
    )
    outcome = _worker_failure(task, DataError("point cloud a.laz: class code 64 is not mapped"))
    assert outcome.error == "point cloud a.laz: class code 64 is not mapped"  # the task's own error, as it is
    with pytest.raises(DataError, match=r"^a.laz: point cloud a.laz: class code 64 is not mapped$"):
        phases._take(outcome, task=task, patterns=[], phase=None)
    lost = _worker_failure(task, OSError("connection lost"))
    assert lost.error == "the Dask worker running it failed (OSError: connection lost)"


@pytest.mark.parametrize("raise_failures", [False, True])
def test_a_task_of_one_cloud_returns_its_failure_on_a_worker_and_raises_it_in_process(raise_failures, caplog):
    context = PhaseContext(
        steps=[{"bogus": "step"}],
        needs=[frozenset()],
        model_prefix="out/",
        mapping=None,
        tile_index=None,
        survey=False,
        raise_failures=raise_failures,
    )
    task = CloudTask(number=0, path="/data/a.laz", prefix="out/", points=3)
    if raise_failures:  # the local executor: the driver's own error, with the failed step for the run's record
        with pytest.raises(DataError, match="not a registered step") as raised:
            run_cloud_task(task, context)
        assert getattr(raised.value, FAILED_STEP_ATTRIBUTE) == 0
        return
    # a Dask worker: a raised error would print Dask's "Compute Failed" traceback before the driver's message
    with caplog.at_level(logging.DEBUG, logger="vl3d_focal.runner.cloud_task"):
        outcome = run_cloud_task(task, context)
    assert (outcome.status, outcome.failed_step) == ("failed", 0)
    assert all(r.levelno < logging.WARNING for r in caplog.records)  # the driver tells it, once
    phases = CloudPhases(
        settings=ExecutorSettings("dask", 1, 1, None), state=PipelineState(clouds=[], model_prefix="out/"), record=None
    )
    with pytest.raises(DataError, match=r"^a.laz: not a registered step: \['bogus'\]") as raised:
        phases._take(outcome, task=task, patterns=[], phase=None)
    assert getattr(raised.value, FAILED_STEP_ATTRIBUTE) == 0  # the run's record names the failed step


def test_a_dask_worker_s_warnings_reach_the_run_s_record():
    task = CloudTask(number=0, path="/data/a.laz", prefix="out/", points=3)
    phases = CloudPhases(
        settings=ExecutorSettings("dask", 1, 1, None), state=PipelineState(clouds=[], model_prefix="out/"), record=None
    )
    message = (logging.WARNING, "vl3d_focal.inference.prediction", "intensity is 17x its training range")
    relayed = CloudOutcome(number=0, path=task.path, status="done", warnings=(message[2],), messages=(message,))
    in_process = CloudOutcome(number=0, path=task.path, status="done", warnings=(message[2],))
    recorder = RunRecorder(spec={"in_pcloud": [], "out_pcloud": ["o/"], "sequential_pipeline": []}, kinds=[])
    with recorder.collecting():
        phases._take(relayed, task=task, patterns=[], phase=None)  # a worker's outcome: what it logged, once
        phases._take(in_process, task=task, patterns=[], phase=None)  # in process: logged here already
    assert [(w["logger"], w["message"]) for w in recorder.data["warnings"]] == [
        ("vl3d_focal.inference.prediction", "a.laz: intensity is 17x its training range")
    ]
