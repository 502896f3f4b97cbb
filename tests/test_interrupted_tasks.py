"""A run that ends while its tasks run: a Dask task that outlived its run publishes nothing (no
file that looks complete holds another run's result, no temporary file left), and an interrupted
run records the tiles whose outcomes came back before it stopped as done."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path

import pytest
from helpers import write_point_cloud

from vl3d_focal.config import load_spec
from vl3d_focal.runner import cloud_phase, run_owner
from vl3d_focal.runner.cloud_task import CloudTask, PhaseContext, run_cloud_task
from vl3d_focal.runner.executor import DaskExecutor
from vl3d_focal.runner.pipeline import execute_pipeline
from vl3d_focal.runner.run_owner import RunOwner

pytestmark = pytest.mark.usefixtures("restore_logging")

COPY = {"writer": "Writer", "out_pcloud": "*copy.las"}


def _task(tmp_path: Path, owner: RunOwner) -> tuple[CloudTask, PhaseContext]:
    cloud = write_point_cloud(tmp_path / "t0.las", points=5)
    (tmp_path / "s.json").write_text(
        json.dumps({"in_pcloud": ["t0.las"], "out_pcloud": ["out/a/"], "sequential_pipeline": [COPY]})
    )
    steps = load_spec(tmp_path / "s.json")["sequential_pipeline"]
    task = CloudTask(number=0, path=str(cloud), prefix=f"{tmp_path}/out/a/", points=5)
    shipped = {"model_prefix": "", "mapping": None, "tile_index": None, "relay_log": True}  # as to a worker
    return task, PhaseContext(steps=steps, needs=[frozenset()], owner=owner, **shipped)


def _lock(tmp_path: Path, pid: int) -> Path:
    lock = tmp_path / "run.lock"
    lock.write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "spec_file": "s.json"}) + "\n")
    return lock


def test_a_task_of_a_live_run_publishes_its_files(tmp_path):
    task, context = _task(tmp_path, RunOwner.of(_lock(tmp_path, os.getpid())))
    assert run_cloud_task(task, context).status == "done"
    assert [p.name for p in (tmp_path / "out" / "a").iterdir()] == ["copy.las"]


@pytest.mark.parametrize("gone", ["another run", "lock deleted", "driver dead", "dask released"])
def test_a_task_whose_run_is_gone_publishes_nothing_and_leaves_no_temporary_file(tmp_path, monkeypatch, gone):
    lock = _lock(tmp_path, os.getpid())
    task, context = _task(tmp_path, RunOwner.of(lock))
    reasons = {
        "another run": "another run took its outputs",
        "lock deleted": "its run ended",
        "driver dead": "its run is gone (the process that holds",
        "dask released": "its run is gone (Dask released the task)",
    }
    if gone == "another run":  # the next run took the prefix before the task published
        lock.write_text(json.dumps({"pid": os.getpid(), "host": "h", "started": "later"}) + "\n")
    elif gone == "lock deleted":
        lock.unlink()
    elif gone == "driver dead":  # its lock names a process of this host that ended
        monkeypatch.setattr("vl3d_focal.io.prefix_lock._process_alive", lambda pid: False)
    else:
        monkeypatch.setattr(run_owner, "released_on_worker", lambda: True)
    outcome = run_cloud_task(task, context)
    assert outcome.status == "failed" and f"not written: {reasons[gone]}" in outcome.error
    assert outcome.messages == ()  # quiet: nothing relayed to a run that is gone
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]  # no output, no .partial file
    if gone != "another run":  # (the folders of a prefix another run took are that run's)
        assert not (tmp_path / "out" / "a").exists()  # nor the cloud's folder, which the task made


def test_a_task_whose_run_is_gone_keeps_the_files_already_in_its_folder(tmp_path):
    lock = _lock(tmp_path, os.getpid())
    task, context = _task(tmp_path, RunOwner.of(lock))
    (tmp_path / "out" / "a" / "eval").mkdir(parents=True)
    (tmp_path / "out" / "a" / "notes.txt").write_text("the user's")
    lock.unlink()
    assert run_cloud_task(task, context).status == "failed"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "out").rglob("*")) == [
        "out/a",
        "out/a/notes.txt",
    ]  # the empty folder went, the folder holding a file stayed


def test_an_owner_without_a_lock_relies_on_dask_alone(tmp_path):
    task, context = _task(tmp_path, RunOwner.of(tmp_path / "absent.lock"))
    assert context.owner.holder is None and context.owner.gone() is None  # no lock: Dask's state alone tells


class _Interrupted:
    """An executor interrupted (SIGTERM) while it waits for the third tile: the first two came back."""

    in_process, workers = True, 1

    def run(self, function, tasks, *, shared):
        tasks = list(tasks)
        finished = [function(task, shared) for task in tasks[:2]]
        try:
            yield finished[0]
            raise KeyboardInterrupt("signal 15")
        except KeyboardInterrupt:  # as DaskExecutor.run: what came back first, then the interruption
            yield finished[1]
            raise


def test_an_interrupted_survey_records_the_tiles_whose_outcomes_came_back(tmp_path, monkeypatch):
    for stem in ("t0", "t1", "t2"):
        write_point_cloud(tmp_path / f"{stem}.las", points=5)
    spec = {
        "in_pcloud": ["t0.las", "t1.las", "t2.las"],
        "out_pcloud": ["out/t0/", "out/t1/", "out/t2/"],
        "sequential_pipeline": [COPY],
    }
    (tmp_path / "s.json").write_text(json.dumps(spec))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cloud_phase, "open_executor", lambda settings: contextlib.nullcontext(_Interrupted()))
    with pytest.raises(KeyboardInterrupt):
        execute_pipeline(load_spec(tmp_path / "s.json"))
    record = json.loads((tmp_path / "out" / "t0" / "survey.json").read_text())
    status = {Path(tile["path"]).stem: tile["status"] for tile in record["tiles"]}
    assert record["status"] == "interrupted"
    assert status == {"t0": "done", "t1": "done", "t2": "pending"}
    assert (tmp_path / "out" / "t1" / "copy.las").is_file() and not (tmp_path / "out" / "t2" / "copy.las").exists()


class _Future:
    def __init__(self, value, status):
        self.value, self.status = value, status

    def result(self):
        return self.value

    def release(self):
        pass


def test_dask_yields_the_finished_outcomes_before_the_interruption(monkeypatch):
    futures = iter([_Future("t0", "finished"), _Future("t1", "finished"), _Future("t2", "pending")])

    class Client:
        def scatter(self, shared, **kwargs):
            return shared

        def submit(self, function, task, shared, pure):
            return next(futures)

    def as_completed(submitted):  # the first came back, then SIGTERM while waiting
        yield next(iter(submitted))
        raise KeyboardInterrupt

    monkeypatch.setattr("dask.distributed.as_completed", as_completed)
    executor = object.__new__(DaskExecutor)
    executor._client = Client()
    taken = []
    with pytest.raises(KeyboardInterrupt):
        taken.extend(executor.run(lambda task, shared: task, ["a", "b", "c"], shared=None))
    assert taken == ["t0", "t1"]  # t1 finished meanwhile; t2 still ran


def test_a_task_whose_prefix_another_run_took_leaves_that_runs_empty_folders(tmp_path):
    """The next run may have just made the folders it is about to fill: they stay."""
    lock = _lock(tmp_path, os.getpid())
    task, context = _task(tmp_path, RunOwner.of(lock))
    lock.write_text(json.dumps({"pid": os.getpid(), "host": "h", "started": "later"}) + "\n")
    (tmp_path / "out" / "a" / "eval").mkdir(parents=True)  # the next run's, still empty
    assert run_cloud_task(task, context).status == "failed"
    assert (tmp_path / "out" / "a" / "eval").is_dir() and not list((tmp_path / "out" / "a" / "eval").iterdir())
