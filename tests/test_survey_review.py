"""A user review of surveys: a worker's messages told once, naming the tile, at their level;
one count of the tiles everywhere (an unreadable file included, on the map too); an empty tile
skipped, not failed; the run's last tally line; no executor for a resume with nothing left to
run; ``--overwrite`` leaves no empty folder of the previous run behind."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import laspy
import pytest
from helpers import random_bundle, split_scene

from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.io.las import PointCloud
from vl3d_focal.models.model_file import save_bundle
from vl3d_focal.runner.manifest import RunManifest
from vl3d_focal.runner.outputs import remove_empty_folders
from vl3d_focal.runner.task_log import captured_messages, relay_messages

FNAMES = ["intensity", "gps_time"]

pytestmark = pytest.mark.usefixtures("restore_logging")


@pytest.fixture(scope="module")
def survey(tmp_path_factory) -> Path:
    """``tiles/``: 2 tiles of a synthetic scene; ``model.keras``: an untrained model."""
    root = tmp_path_factory.mktemp("review")
    las = generate_urban_scene(seed=11, size_m=24.0)
    paths, _ = split_scene(las, root / "scene")
    (root / "tiles").mkdir()
    for path in paths[:2]:
        (root / "tiles" / path.name).write_bytes(path.read_bytes())
    save_bundle(
        random_bundle(fnames=FNAMES, radius=2.5, num_points=32, fit_on=PointCloud.from_las(las)), root / "model.keras"
    )
    return root


def _folder(survey: Path, target: Path) -> Path:
    folder = target / "tiles"
    folder.mkdir()
    for tile in (survey / "tiles").iterdir():
        (folder / tile.name).write_bytes(tile.read_bytes())
    return folder


def _spec(survey: Path, inputs: str, **extra) -> dict:
    return {
        "in_pcloud": inputs,
        "out_pcloud": "out/*",
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": str(survey / "model.keras"), "buffer": 2.0},
            {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json", "pictures": False},
            {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"},
        ],
        **extra,
    }


def _main(folder: Path, spec: dict, capsys, *args: str) -> tuple[int, str]:
    from vl3d_focal.cli import main

    (folder / "spec.json").write_text(json.dumps(spec))
    capsys.readouterr()
    status = main(["run", str(folder / "spec.json"), *args])
    return status, capsys.readouterr().err


def _empty_tile(like: Path, path: Path) -> None:
    header = laspy.read(like).header
    empty = laspy.LasData(header=laspy.LasHeader(point_format=header.point_format, version=header.version))
    empty.header.offsets, empty.header.scales = header.offsets, header.scales
    empty.write(path)


def test_a_workers_messages_are_kept_and_told_once_naming_the_tile(caplog):
    code = (
        "import logging\nfrom vl3d_focal.runner.task_log import captured_messages\n"
        "with captured_messages() as kept:\n"
        "    logging.getLogger('vl3d_focal.inference.buffered').warning('buffer: neighbour b.laz left out')\n"
        "    logging.getLogger('vl3d_focal.x').info('no news')\n"
        "print(kept)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # a process without handlers (a Dask worker) prints no bare line: the message is kept for the run
    assert done.stderr == ""
    assert done.stdout.strip() == "[(30, 'vl3d_focal.inference.buffered', 'buffer: neighbour b.laz left out')]"
    with caplog.at_level(logging.INFO, logger="vl3d_focal"):
        relay_messages(
            [
                (30, "vl3d_focal.inference.buffered", "buffer: neighbour /d/b.laz left out (unreadable)"),
                (40, "vl3d_focal.x", "a.laz: broken"),
            ],
            tile="/d/a.laz",
        )
    assert [(r.levelname, r.name, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "vl3d_focal.inference.buffered", "a.laz: buffer: neighbour /d/b.laz left out (unreadable)"),
        ("ERROR", "vl3d_focal.x", "a.laz: broken"),
    ]
    with captured_messages() as kept:
        pass
    assert kept == [] and not [h for h in logging.getLogger("vl3d_focal").handlers if type(h).__name__ == "_Collector"]


def test_unreadable_files_count_everywhere_and_failures_are_logged_once_at_error(survey, tmp_path, capsys):
    folder = _folder(survey, tmp_path)
    (folder / "junk.laz").write_text("this is no point cloud\n")
    laspy.read(survey / "scene" / "tile_1_0.las").write(folder / "truncated.laz")  # tile_0_0's neighbour
    data = (folder / "truncated.laz").read_bytes()
    (folder / "truncated.laz").write_bytes(data[: len(data) // 2])  # its header reads, its points do not
    status, stderr = _main(tmp_path, _spec(survey, "tiles/"), capsys)
    assert status == 2, stderr[-3000:]
    lines = stderr.splitlines()
    assert any(
        "INFO vl3d_focal.runner.inputs: 4 input clouds," in line and "(1 unreadable: failed)" in line for line in lines
    ), stderr[-3000:]
    junk = [line for line in lines if "junk.laz" in line and " ERROR " in line]
    truncated = [line for line in lines if "truncated.laz: failed:" in line]
    assert len(junk) == 1 and len(truncated) == 1, stderr[-3000:]
    assert " ERROR vl3d_focal.runner.cloud_phase: truncated.laz: failed: point cloud" in truncated[0]
    left_out = [line for line in lines if "left out (" in line]
    assert left_out and all(
        " WARNING vl3d_focal.inference.buffered: tile_0_" in line and ".las: buffer: neighbour" in line
        for line in left_out
    )
    assert len(left_out) == len(set(left_out))  # each once
    tally = [line for line in lines if "INFO vl3d_focal.runner.cloud_phase: survey: " in line]
    assert len(tally) == 1 and "survey: 2 tiles done, 0 skipped, 2 failed, " in tally[0], stderr[-3000:]
    assert "2 of 4 tiles failed" in lines[-1]
    record = json.loads((tmp_path / "out" / "survey.json").read_text())
    assert record["tiles_total"] == 4 and record["counts"] == {"done": 2, "skipped": 0, "failed": 2, "pending": 0}
    geo = json.loads((tmp_path / "out" / "survey.geojson").read_text())
    features = {f["properties"]["name"]: f for f in geo["features"]}
    assert sorted(features) == ["junk", "tile_0_0", "tile_0_1", "truncated"]
    assert features["junk"]["geometry"] is None and features["junk"]["properties"]["status"] == "failed"
    assert "not a LAS/LAZ file" in features["junk"]["properties"]["error"]
    assert features["truncated"]["geometry"]["type"] == "Polygon"
    report = (tmp_path / "out" / "report.html").read_text()
    assert "<b>DataError</b> after the last step: survey: 2 of 4 tiles failed" in report
    assert "in before the first step" not in report


def test_an_empty_tile_is_skipped_and_warned_of_not_failed(survey, tmp_path, capsys):
    folder = _folder(survey, tmp_path)
    _empty_tile(folder / "tile_0_0.las", folder / "empty.las")
    status, stderr = _main(tmp_path, _spec(survey, "tiles/"), capsys)
    assert status == 0, stderr[-3000:]
    warned = [line for line in stderr.splitlines() if "empty.las: empty (0 points), skipped" in line]
    assert len(warned) == 1 and " WARNING " in warned[0]
    assert "3 input clouds, 4776 points (1 empty: skipped)" in stderr
    assert "survey: 2 tiles done, 1 skipped, 0 failed, " in stderr
    record = json.loads((tmp_path / "out" / "survey.json").read_text())
    tiles = {Path(t["path"]).name: t for t in record["tiles"]}
    assert record["status"] == "finished" and record["counts"] == {"done": 2, "skipped": 1, "failed": 0, "pending": 0}
    assert tiles["empty.las"]["status"] == "skipped" and tiles["empty.las"]["reason"] == "empty (0 points)"
    assert tiles["empty.las"]["outputs"] == [] and not (tmp_path / "out" / "empty").exists()  # no outputs
    features = {
        f["properties"]["name"]: f for f in json.loads((tmp_path / "out" / "survey.geojson").read_text())["features"]
    }
    assert features["empty"]["geometry"] is None and features["empty"]["properties"]["reason"] == "empty (0 points)"
    # an earlier run's outputs of the tile (when it had points) are not its results now
    stale = tmp_path / "out" / "empty" / "predicted.laz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an earlier run's")
    status, stderr = _main(tmp_path, _spec(survey, "tiles/"), capsys, "--resume")
    assert status == 0, stderr[-3000:]
    assert not stale.exists() and "empty.las: empty (0 points); deleted the outputs an earlier run left" in stderr
    assert json.loads((tmp_path / "out" / "survey.json").read_text())["counts"]["skipped"] == 3
    # a run of that one cloud: an error as before
    status, stderr = _main(tmp_path, {**_spec(survey, "tiles/empty.las"), "out_pcloud": "one/"}, capsys)
    assert status == 2 and "contains no points (expected at least 1)" in stderr


def test_a_resume_with_nothing_left_opens_no_executor(survey, tmp_path, capsys, monkeypatch):
    from vl3d_focal.runner import cloud_phase

    _folder(survey, tmp_path)
    assert _main(tmp_path, _spec(survey, "tiles/"), capsys)[0] == 0
    first = json.loads((tmp_path / "out" / "survey.json").read_text())
    opened = []
    real = cloud_phase.open_executor
    monkeypatch.setattr(cloud_phase, "open_executor", lambda settings: opened.append(settings) or real(settings))
    status, stderr = _main(tmp_path, _spec(survey, "tiles/"), capsys, "--resume")
    assert status == 0, stderr[-3000:]
    assert opened == []
    assert "survey: 0 tiles done, 2 skipped, 0 failed, 0 points in " in stderr
    record = json.loads((tmp_path / "out" / "survey.json").read_text())
    assert record["status"] == "finished" and record["counts"] == {"done": 0, "skipped": 2, "failed": 0, "pending": 0}
    assert record["metrics"] == first["metrics"] and record["points_done"] == first["points_done"]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["status"] == "finished" and len(report["evaluations"]) == 2


def test_remove_empty_folders_stays_inside_its_root(tmp_path):
    (tmp_path / "out" / "a" / "eval").mkdir(parents=True)
    (tmp_path / "out" / "b" / "eval").mkdir(parents=True)
    (tmp_path / "out" / "b" / "keep.txt").write_text("a user's")
    (tmp_path / "elsewhere").mkdir()
    files = [
        tmp_path / "out" / "a" / "eval" / "r.json",
        tmp_path / "out" / "b" / "eval" / "r.json",
        tmp_path / "elsewhere" / "p.laz",
    ]
    removed = remove_empty_folders(files=files, root=tmp_path / "out")
    assert [Path(p).relative_to(tmp_path).as_posix() for p in removed] == ["out/a/eval", "out/a", "out/b/eval"]
    assert (tmp_path / "out" / "b").is_dir() and (tmp_path / "out").is_dir() and (tmp_path / "elsewhere").is_dir()


def test_overwrite_removes_the_folders_it_empties(tmp_path):
    def spec(report: str) -> dict:
        return {
            "in_pcloud": [str(tmp_path / "a.las"), str(tmp_path / "b.las")],
            "out_pcloud": [f"{tmp_path / 'out'}/"],
            "sequential_pipeline": [{"eval": "ClassificationEvaluator", "report_path": report}],
        }

    first = RunManifest(spec("*eval/r.json"), spec_file="first.json")
    first.claim()
    for tile in ("a", "b"):
        (tmp_path / "out" / tile / "eval").mkdir(parents=True)
        (tmp_path / "out" / tile / "eval" / "r.json").write_text("first run")
    (tmp_path / "out" / "b" / "notes.txt").write_text("a user's file")
    first.finish("done")
    RunManifest(spec("*other/r.json"), spec_file="second.json", overwrite=True).claim()
    assert not (tmp_path / "out" / "a").exists() and not (tmp_path / "out" / "b" / "eval").exists()
    assert (tmp_path / "out" / "b" / "notes.txt").read_text() == "a user's file"
