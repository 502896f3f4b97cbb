"""A per-cloud phase's outcomes: a failed cloud of a run that is no survey fails the run."""

from __future__ import annotations

import pytest

from vl3d_focal.errors import DataError
from vl3d_focal.runner.cloud_phase import CloudPhases
from vl3d_focal.runner.cloud_task import CloudTask
from vl3d_focal.runner.executor import ExecutorSettings, _worker_failure
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
