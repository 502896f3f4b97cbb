"""``--resume`` against what changed since a survey's tiles were done: a replaced input file
(and the neighbours whose buffers read it), a tile that now fails (no outputs of an earlier run
left behind), a resumed run that fails before its tiles (the record keeps its done tiles) and an
interrupted run (recorded as such). In this process, with the local executor."""

from __future__ import annotations

import json
import os
from pathlib import Path

import laspy
import numpy as np
import pytest
from helpers import random_bundle, split_scene

from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.io.las import PointCloud
from vl3d_focal.models.model_file import save_bundle
from vl3d_focal.runner import cloud_phase

pytestmark = pytest.mark.usefixtures("restore_logging")

FNAMES = ["intensity", "gps_time"]
OUTPUTS = ("predicted.laz", "eval/evaluation.json", "eval/evaluation.txt", "eval/evaluation_class_distribution.csv")


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    """``tiles/``: 3 x 3 adjacent tiles; ``model.keras``: an untrained model on intensity and GPS time."""
    root = tmp_path_factory.mktemp("scene")
    las = generate_urban_scene(seed=11, size_m=36.0, density=1.0)
    split_scene(las, root / "tiles", splits=3)
    bundle = random_bundle(fnames=FNAMES, radius=2.5, num_points=32, fit_on=PointCloud.from_las(las))
    save_bundle(bundle, root / "model.keras")
    return root


def _tiles(scene: Path, folder: Path, names: tuple[str, ...] | None = None) -> Path:
    """A copy of the scene's tiles (``names``: those only) in ``folder``."""
    folder.mkdir()
    for tile in sorted((scene / "tiles").iterdir()):
        if names is None or tile.stem in names:
            (folder / tile.name).write_bytes(tile.read_bytes())
    return folder


def _spec(scene: Path, tiles: Path, out: Path) -> dict:
    return {
        "in_pcloud": str(tiles),
        "out_pcloud": f"{out}/*",
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": str(scene / "model.keras"), "buffer": 2.0},
            {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json", "pictures": False},
            {  # an extra dimension: a tile of point format 0 (codes up to 31 only) validates
                "writer": "ClassifiedPcloudWriter",
                "out_pcloud": "*predicted.laz",
                "probabilities": True,
                "prediction_dimension": "predicted_code",
            },
        ],
    }


def _main(spec: dict, capsys, *args: str) -> tuple[int, str]:
    """``vl3d-focal run`` in this process: exit status and stderr."""
    from vl3d_focal.cli import main

    out = Path(spec["out_pcloud"]).parent
    path = out.parent / f"{out.name}.json"
    path.write_text(json.dumps(spec))
    capsys.readouterr()
    status = main(["run", str(path), *args])
    return status, capsys.readouterr().err


def _record(out: Path) -> tuple[dict, dict[str, dict]]:
    record = json.loads((out / "survey.json").read_text())
    return record, {Path(tile["path"]).stem: tile for tile in record["tiles"]}


def _halve(path: Path) -> int:
    """Replaces a tile by a copy of every second point; returns its points."""
    las = laspy.read(path)
    half = laspy.LasData(header=las.header, points=las.points[::2].copy())
    half.write(path)
    return len(half.points)


def test_a_replaced_input_is_predicted_again_with_the_neighbours_whose_buffer_read_it(scene, tmp_path, capsys):
    tiles = _tiles(scene, tmp_path / "tiles")
    spec = _spec(scene, tiles, tmp_path / "out")
    assert _main(spec, capsys)[0] == 0
    points = _halve(tiles / "tile_0_0.las")
    status, stderr = _main(spec, capsys, "--resume")
    assert status == 0, stderr[-3000:]
    assert "resume: 5 tiles already done with the same model and steps, skipped" in stderr
    assert (
        "resume: 4 tiles done before processed again, as something changed since: tile_0_0.las (input changed since it was done); tile_0_1.las (tile_0_0.las changed since it "
        "was used); tile_1_0.las (tile_0_0.las changed since it was used); tile_1_1.las (tile_0_0.las changed "
        "since it was used)"
    ) in stderr
    record, by_name = _record(tmp_path / "out")
    assert record["counts"] == {"done": 4, "skipped": 5, "failed": 0, "pending": 0}
    assert (
        by_name["tile_0_0"]["points"]
        == points
        == laspy.read(tmp_path / "out/tile_0_0/predicted.laz").header.point_count
    )
    stat = (tiles / "tile_0_0.las").stat()
    assert by_name["tile_0_0"]["input"] == [stat.st_size, stat.st_mtime_ns, points]
    assert by_name["tile_1_1"]["buffers"][0]["used_inputs"][str(tiles / "tile_0_0.las")] == by_name["tile_0_0"]["input"]

    fresh = _spec(scene, tiles, tmp_path / "fresh")  # a run that never saw the old tile
    assert _main(fresh, capsys)[0] == 0
    for tile in by_name:
        for name in OUTPUTS:
            assert (tmp_path / "out" / tile / name).read_bytes() == (tmp_path / "fresh" / tile / name).read_bytes()
    assert record["metrics"] == _record(tmp_path / "fresh")[0]["metrics"]
    status, stderr = _main(spec, capsys, "--resume")  # nothing changed since
    assert status == 0 and "processed again" not in stderr and "9 tiles already done" in stderr, stderr[-3000:]

    (tmp_path / "out/tile_1_1/predicted.laz").unlink()
    status, stderr = _main(spec, capsys, "--resume")
    assert status == 0 and "resume: 8 tiles already done" in stderr, stderr[-3000:]
    assert (
        "resume: 1 tile done before processed again, as something changed since: "
        "tile_1_1.las (output tile_1_1/predicted.laz missing)\n"
    ) in stderr
    assert (tmp_path / "out/tile_1_1/predicted.laz").read_bytes() == (
        tmp_path / "fresh/tile_1_1/predicted.laz"
    ).read_bytes()


def test_a_tile_that_fails_keeps_no_outputs_of_an_earlier_run(scene, tmp_path, capsys):
    tiles = _tiles(scene, tmp_path / "tiles", ("tile_0_0", "tile_0_1", "tile_1_0", "tile_1_1"))
    out = tmp_path / "out"
    spec = _spec(scene, tiles, out)
    assert _main(spec, capsys)[0] == 0
    whole = laspy.read(tiles / "tile_1_1.las")
    old = laspy.create(point_format=0, file_version="1.2")  # no gps_time, which the model reads: its task fails
    old.header.offsets, old.header.scales = whole.header.offsets, whole.header.scales
    old.x, old.y, old.z = whole.x, whole.y, whole.z
    old.classification = np.full(len(whole.points), 2, dtype=np.uint8)
    old.write(tiles / "tile_1_1.las")
    (tiles / "tile_0_1.las").write_bytes(b"no LAS header")  # fails before the tiles' phase
    for args in (("--resume",), ()):
        status, stderr = _main(spec, capsys, *args)
        assert status == 2, stderr[-3000:]
        record, by_name = _record(out)
        assert record["status"] == "finished" and record["counts"]["failed"] == 2, stderr[-3000:]
        for name in ("tile_1_1", "tile_0_1"):
            assert not any((out / name / output).exists() for output in OUTPUTS), name
            assert by_name[name]["status"] == "failed"
        if args:  # the first of the two runs found them
            for name in ("tile_1_1", "tile_0_1"):
                assert sorted(by_name[name]["removed_outputs"]) == sorted(str(out / name / o) for o in OUTPUTS)
                assert (
                    "earlier run left for it were deleted: evaluation.json, evaluation.txt, evaluation_class_distribution.csv, predicted.laz)"
                    in by_name[name]["error"]
                )
            assert "deleted the outputs an earlier run left for it" in stderr
        else:
            assert by_name["tile_1_1"]["removed_outputs"] == [] and "deleted" not in by_name["tile_1_1"]["error"]
    assert all((out / name / "predicted.laz").is_file() for name in ("tile_0_0", "tile_1_0"))


def test_a_resumed_run_that_fails_before_its_tiles_keeps_the_record_of_the_done_ones(
    scene, tmp_path, capsys, monkeypatch
):
    tiles = _tiles(scene, tmp_path / "tiles", ("tile_0_0", "tile_0_1", "tile_1_0", "tile_1_1"))
    out = tmp_path / "out"
    spec = _spec(scene, tiles, out)
    assert _main(spec, capsys)[0] == 0
    done = _record(out)[0]
    geojson = (out / "survey.geojson").read_text()

    def no_executor(settings):
        raise DataError("dask: no scheduler at tcp://127.0.0.1:1 (timed out after 1 s)")

    with monkeypatch.context() as patch:
        patch.setattr(cloud_phase, "open_executor", no_executor)
        status, stderr = _main(spec, capsys)  # not resumed: the previous record is left as it was
        assert status == 2 and "no scheduler" in stderr, stderr[-3000:]
        assert _record(out)[0] == done and (out / "survey.geojson").read_text() == geojson
        changed = tiles / "tile_1_1.las"  # a tile left to run: a resumed run with none opens no executor
        os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
        status, stderr = _main(spec, capsys, "--resume")
        assert status == 2 and "no scheduler" in stderr, stderr[-3000:]
    record, by_name = _record(out)
    assert record["status"] == "failed" and "no scheduler at tcp://127.0.0.1:1" in record["error"]
    assert record["counts"] == done["counts"] == {"done": 4, "skipped": 0, "failed": 0, "pending": 0}
    assert record["tiles"] == done["tiles"] and record["phases"] == done["phases"]
    assert record["metrics"] == done["metrics"]
    features = json.loads((out / "survey.geojson").read_text())["features"]
    assert [feature["properties"]["status"] for feature in features] == ["done"] * 4

    status, stderr = _main(spec, capsys, "--resume")
    assert status == 0, stderr[-3000:]
    assert "tile_1_1.las (input changed since it was done)" in stderr  # and its neighbours, whose buffer used it
    assert _record(out)[0]["counts"] == {"done": 4, "skipped": 0, "failed": 0, "pending": 0}


def test_an_interrupted_run_is_recorded_as_interrupted_with_its_done_tiles(scene, tmp_path, capsys, monkeypatch):
    tiles = _tiles(scene, tmp_path / "tiles", ("tile_0_0", "tile_0_1", "tile_1_0", "tile_1_1"))
    out = tmp_path / "out"
    spec = _spec(scene, tiles, out)
    run_task, started = cloud_phase.run_cloud_task, []

    def interrupted_at(count: int):
        def task(task, context):
            started.append(task.path)
            if len(started) == count:
                raise KeyboardInterrupt  # Ctrl-C (SIGTERM reads the same: cli turns it into one)
            return run_task(task, context)

        return task

    monkeypatch.setattr(cloud_phase, "run_cloud_task", interrupted_at(3))
    assert _main(spec, capsys)[0] == 130
    record, by_name = _record(out)
    assert record["status"] == "interrupted" and record["error"]
    assert record["counts"] == {"done": 2, "skipped": 0, "failed": 0, "pending": 2}
    assert [by_name[name]["status"] for name in sorted(by_name)] == ["done", "done", "pending", "pending"]

    started.clear()
    monkeypatch.setattr(cloud_phase, "run_cloud_task", interrupted_at(1))
    assert _main(spec, capsys, "--resume")[0] == 130
    record = _record(out)[0]
    assert record["status"] == "interrupted"
    assert record["counts"] == {"done": 0, "skipped": 2, "failed": 0, "pending": 2}
