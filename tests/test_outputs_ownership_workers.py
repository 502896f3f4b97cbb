"""Files a run's Dask workers write outside the run's folders (a final cloud ``out_pcloud`` naming a
file, a per-cloud writer's ``*../`` path) are the run's as the driver's own are: checked before the
task writes, recorded in ``run.json`` with their identities as the outcome arrives, so that a
re-run of the spec replaces them and another spec is refused before any work; the local
executor records the same lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import write_point_cloud

from vl3d_focal.config import load_spec
from vl3d_focal.io.output_guard import file_identity
from vl3d_focal.runner.cloud_task import CloudTask, PhaseContext, run_cloud_task
from vl3d_focal.runner.executor import DaskExecutor
from vl3d_focal.runner.manifest import OutputsTaken
from vl3d_focal.runner.pipeline import execute_pipeline

pytestmark = pytest.mark.usefixtures("restore_logging")

COPY = {"writer": "Writer", "out_pcloud": "*../copy.las"}  # out/a/../copy.las: beside the prefix's folder


def _run(root: Path, engine: str, *, name: str = "s", inputs=("t0.las", "t1.las"), outputs=None) -> dict:
    """Runs two tiny clouds (final clouds ``out/a.las`` and ``out/deep/b.las``, a writer's copy
    beside each prefix's folder) on ``engine`` (Dask: one worker of one thread); returns the
    manifest with its file names relative to ``root``."""
    for stem in ("t0", "t1"):
        if not (root / f"{stem}.las").exists():
            write_point_cloud(root / f"{stem}.las", points=5)
    executor = {"engine": engine, "workers": 1, "threads_per_worker": 1}
    spec = {
        "in_pcloud": list(inputs),
        "out_pcloud": outputs or ["out/a.las", "out/deep/b.las"],
        "sequential_pipeline": [COPY],
        "executor": executor,
    }
    (root / f"{name}.json").write_text(json.dumps(spec))
    execute_pipeline(load_spec(root / f"{name}.json"))
    manifest = json.loads((root / "out" / "a" / "run.json").read_text())
    relative = {key: [name.replace(f"{root}/", "") for name in manifest[key]] for key in ("outside", "files")}
    return {**manifest, **relative}


OUTSIDE = ["out/a/../copy.las", "out/deep/b/../copy.las", "out/a.las", "out/deep/b.las"]


def test_files_dask_workers_write_outside_the_run_folders_are_recorded_and_guarded(tmp_path, monkeypatch):
    local, dask = tmp_path / "local", tmp_path / "dask"
    local.mkdir(), dask.mkdir()
    by_local = _run(local, "local")
    by_dask = _run(dask, "dask")
    assert by_dask["outside"] == by_local["outside"] == OUTSIDE
    assert by_dask["files"] == by_local["files"]  # the workers' files as the driver's own
    assert set(OUTSIDE) <= set(by_dask["files"])
    for name in OUTSIDE:  # each with the identity of the file on disk
        assert by_dask["identities"][str(dask / name)] == file_identity(dask / name)
        assert by_local["identities"][str(local / name)] == file_identity(local / name)

    copy, before = dask / "out" / "copy.las", file_identity(dask / "out" / "copy.las")
    with pytest.raises(OutputsTaken, match=r"out/z/\.\./copy\.las: exists outside this run's output folders"):
        _run(dask, "dask", name="other", inputs=["t0.las"], outputs=["out/z/"])  # another spec, the same file
    assert file_identity(copy) == before  # refused before any work
    assert not [path for path in (dask / "out").rglob("*") if path.is_file() and "z" in path.parts]

    found, send = {}, DaskExecutor.run

    def sent(executor, function, tasks, *, shared):  # what the disk holds as the tasks go to the workers
        found.update({name: file_identity(dask / name) for name in OUTSIDE})
        return send(executor, function, tasks, shared=shared)

    monkeypatch.setattr(DaskExecutor, "run", sent)
    again = _run(dask, "dask")  # the same spec again: its previous run's files, replaced without --overwrite
    assert found == dict.fromkeys(OUTSIDE)  # deleted before a worker wrote: a killed re-run leaves no mix
    assert again["outside"] == OUTSIDE and again["earlier_files"] == []
    for name in OUTSIDE:
        assert again["identities"][str(dask / name)] == file_identity(dask / name)
    assert file_identity(copy) != before


def test_a_task_on_a_worker_does_not_replace_a_guarded_file_another_process_wrote(tmp_path):
    cloud = write_point_cloud(tmp_path / "t0.las", points=5)
    (tmp_path / "s.json").write_text(
        json.dumps({"in_pcloud": ["t0.las"], "out_pcloud": ["out/a/"], "sequential_pipeline": [COPY]})
    )
    steps = load_spec(tmp_path / "s.json")["sequential_pipeline"]
    copy = tmp_path / "out" / "copy.las"
    copy.parent.mkdir()
    copy.write_text("another run's cloud")  # written since the run found it absent
    task = CloudTask(number=0, path=str(cloud), prefix=f"{tmp_path}/out/a/", points=5)

    def context(expected):  # as the driver ships it to a Dask worker
        shipped = {"model_prefix": "", "mapping": None, "tile_index": None, "relay_log": True}
        return PhaseContext(steps=steps, needs=[frozenset()], guarded={str(copy): expected}, **shipped)

    refused = run_cloud_task(task, context(None))
    assert refused.status == "failed" and "copy.las: was written by another process while this run ran" in refused.error
    assert copy.read_text() == "another run's cloud" and refused.written_outside == ()

    done = run_cloud_task(task, context(file_identity(copy)))  # the file the run found: the run's to replace
    assert done.status == "done"
    assert done.written_outside == ((str(copy), file_identity(copy)),)
