"""Classifying a whole survey (issue 14): tiles from a folder, failures recorded while the other
tiles go on, survey.json and survey.geojson, resume after SIGKILL, the same outputs on Dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import laspy
import numpy as np
import pytest
from helpers import DEMO_CLASSES, random_bundle, split_scene

from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.io.las import PointCloud
from vl3d_focal.models.model_file import save_bundle
from vl3d_focal.reports.run_summary import summed_metrics
from vl3d_focal.runner.survey import KILL_AFTER_VARIABLE

FNAMES = ["intensity", "gps_time"]
PER_CLOUD = [
    {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
    {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"},
]


@pytest.fixture(scope="module")
def survey(tmp_path_factory) -> Path:
    """``tiles/``: 4 adjacent tiles; ``model.keras``: an untrained model on intensity and GPS time."""
    root = tmp_path_factory.mktemp("survey")
    las = generate_urban_scene(seed=11, size_m=40.0)
    split_scene(las, root / "tiles")
    bundle = random_bundle(fnames=FNAMES, radius=2.5, num_points=32, fit_on=PointCloud.from_las(las))
    save_bundle(bundle, root / "model.keras")
    return root


def _run(folder: Path, spec: dict, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``vl3d-focal run`` in a subprocess."""
    (folder / "spec.json").write_text(json.dumps(spec))
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "vl3d_focal", "run", "spec.json", *args],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _main(folder: Path, spec: dict, capsys, *args: str) -> tuple[int, str]:
    """``vl3d-focal run`` in this process (TensorFlow already loaded): exit status and stderr."""
    from vl3d_focal.cli import main

    (folder / "spec.json").write_text(json.dumps(spec))
    capsys.readouterr()
    status = main(["run", str(folder / "spec.json"), *args])
    return status, capsys.readouterr().err


def _predict_spec(root: Path, out: str, **extra) -> dict:
    return {
        "in_pcloud": str(root / "tiles"),
        "out_pcloud": f"{out}/*",
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": str(root / "model.keras"), "buffer": 2.0},
            *PER_CLOUD,
        ],
        **extra,
    }


def _classes(out: Path) -> dict[str, np.ndarray]:
    return {p.parent.name: np.asarray(laspy.read(p).classification) for p in sorted(out.glob("*/predicted.laz"))}


pytestmark = pytest.mark.usefixtures("restore_logging")


def test_failed_tiles_are_recorded_the_others_go_on_and_the_run_exits_2(survey, tmp_path, capsys, monkeypatch):
    from vl3d_focal.models import model_file
    from vl3d_focal.runner import cloud_phase

    declared, walks = cloud_phase.declared_outputs, []  # a phase finds its tiles' output paths once
    monkeypatch.setattr(cloud_phase, "declared_outputs", lambda spec: walks.append(spec) or declared(spec))
    load, loads = model_file.load_keras_model, []  # the local executor loads the model once, not per tile
    monkeypatch.setattr(model_file, "load_keras_model", lambda path, meta: loads.append(path) or load(path, meta))
    folder = tmp_path / "tiles"
    folder.mkdir()
    for tile in (survey / "tiles").iterdir():
        (folder / tile.name).write_bytes(tile.read_bytes())
    whole = laspy.read(folder / "tile_0_0.las")
    shifted = laspy.LasData(header=whole.header, points=whole.points.copy())
    shifted.X = shifted.X + 100_000  # 1 km east: nobody's neighbour
    shifted.write(folder / "corrupt.laz")
    data = (folder / "corrupt.laz").read_bytes()
    (folder / "corrupt.laz").write_bytes(data[: len(data) // 2])  # a truncated LAZ: its header still reads
    old = laspy.create(point_format=0, file_version="1.2")  # no gps_time
    old.header.offsets, old.header.scales = whole.header.offsets, whole.header.scales
    old.x, old.y, old.z = np.asarray(whole.x) - 1000.0, np.asarray(whole.y), np.asarray(whole.z)
    old.classification = np.full(len(whole.points), 2, dtype=np.uint8)
    old.write(folder / "old_format.las")
    spec = _predict_spec(survey, "out")
    spec["in_pcloud"] = "tiles/*"
    # point format 0 holds classification codes up to 31: the model's 64 and 68 go to an extra dimension
    spec["sequential_pipeline"][-1] = {**PER_CLOUD[-1], "prediction_dimension": "predicted_code"}
    status, stderr = _main(tmp_path, spec, capsys)
    assert status == 2, stderr[-3000:]
    assert "Traceback" not in stderr
    error = [line for line in stderr.splitlines() if line.startswith("vl3d-focal: error:")]
    assert len(error) == 1 and "2 of 6 tiles failed" in error[0], stderr[-3000:]
    assert "corrupt.laz: point cloud" in error[0] and "old_format.las: point cloud" in error[0]
    final = stderr[stderr.index("vl3d-focal: error:") :]
    assert final.count("\n") == 1, final  # each tile's error by its first line; survey.json has the rest
    record = json.loads((tmp_path / "out" / "survey.json").read_text())
    tiles = {Path(t["path"]).name: t for t in record["tiles"]}
    assert list(tiles) == [
        "corrupt.laz",
        "old_format.las",
        "tile_0_0.las",
        "tile_0_1.las",
        "tile_1_0.las",
        "tile_1_1.las",
    ]  # sorted expansion of tiles/*
    assert record["counts"] == {"done": 4, "skipped": 0, "failed": 2, "pending": 0}
    assert len(walks) == 1, "the per-cloud output paths must be found once per phase, not per tile"
    assert "truncated or corrupted" in tiles["corrupt.laz"]["error"]
    assert (
        "1 unknown feature 'gps_time' (not in the file nor derived); the cloud offers:\n"
        in tiles["old_format.las"]["error"]
    )
    for name in ("tile_0_0", "tile_0_1", "tile_1_0", "tile_1_1"):
        tile = tiles[f"{name}.las"]
        assert tile["status"] == "done" and tile["error"] is None and tile["seconds"] > 0
        assert tile["points"] == laspy.read(folder / f"{name}.las").header.point_count
        assert (
            sorted(Path(p).relative_to(tmp_path / "out").as_posix() for p in tile["outputs"])[-1]
            == f"{name}/predicted.laz"
        )
        assert all(Path(p).is_file() for p in tile["outputs"])
        assert 0.0 <= tile["metrics"]["mIoU"] <= 1.0 and len(tile["metrics"]["confusion_matrix"]) == 5
    summed = np.sum([tiles[f"tile_{i}_{j}.las"]["metrics"]["confusion_matrix"] for i in (0, 1) for j in (0, 1)], axis=0)
    assert record["metrics"]["confusion_matrix"] == summed.tolist()
    assert record["metrics"]["OA"] == pytest.approx(np.trace(summed) / summed.sum())
    assert record["points_done"] == sum(tiles[f"tile_{i}_{j}.las"]["points"] for i in (0, 1) for j in (0, 1))
    assert len(loads) == 1, loads
    # the fingerprint of the loaded model is the one its file stores (what a Dask driver records)
    assert record["model_fingerprint"] == model_file.stored_fingerprint(survey / "model.keras")
    assert record["crs"] == "EPSG:2154"
    geo = json.loads((tmp_path / "out" / "survey.geojson").read_text())
    assert geo["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::2154"
    features = {f["properties"]["name"]: f for f in geo["features"]}
    assert sorted(features) == ["corrupt", "old_format", "tile_0_0", "tile_0_1", "tile_1_0", "tile_1_1"]
    assert features["corrupt"]["properties"]["status"] == "failed"
    assert features["tile_1_1"]["properties"]["mIoU"] == tiles["tile_1_1.las"]["metrics"]["mIoU"]
    header = laspy.read(folder / "tile_1_1.las").header
    ring = features["tile_1_1"]["geometry"]["coordinates"][0]
    assert ring[0] == [header.mins[0], header.mins[1]] and ring[2] == [header.maxs[0], header.maxs[1]]
    assert not [p for p in tmp_path.rglob("*") if ".partial" in p.name or ".vl3d_focal_tiles" in p.name]


def test_a_sigkilled_survey_resumed_ends_with_the_outputs_of_an_uninterrupted_one(survey, tmp_path, capsys):
    killed = tmp_path / "killed"
    killed.mkdir()
    first = _run(killed, _predict_spec(survey, "out"), env={KILL_AFTER_VARIABLE: "2"})
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    record = json.loads((killed / "out" / "survey.json").read_text())
    assert record["status"] == "running" and record["counts"] == {"done": 2, "skipped": 0, "failed": 0, "pending": 2}
    whole = tmp_path / "whole"
    whole.mkdir()
    assert _main(whole, _predict_spec(survey, "out"), capsys)[0] == 0
    status, stderr = _main(killed, _predict_spec(survey, "out"), capsys, "--resume")
    assert status == 0, stderr[-3000:]
    assert "resume: 2 tiles already done with the same model and steps, skipped" in stderr
    resumed = json.loads((killed / "out" / "survey.json").read_text())
    assert resumed["counts"] == {"done": 2, "skipped": 2, "failed": 0, "pending": 0}
    expected = json.loads((whole / "out" / "survey.json").read_text())
    assert resumed["metrics"] == expected["metrics"] and resumed["points_done"] == expected["points_done"]
    report, whole_report = (json.loads((root / "out" / "report.json").read_text()) for root in (killed, whole))
    assert sorted(e["cloud"] for e in report["evaluations"]) == sorted(e["cloud"] for e in whole_report["evaluations"])
    assert summed_metrics(report)["confusion_matrix"] == summed_metrics(whole_report)["confusion_matrix"]
    files = sorted(p.relative_to(whole).as_posix() for p in whole.rglob("*") if p.is_file() and p.suffix != ".svg")
    assert files == sorted(
        p.relative_to(killed).as_posix() for p in killed.rglob("*") if p.is_file() and p.suffix != ".svg"
    )
    compared = [name for name in files if name.endswith((".laz", "evaluation.json", ".csv", ".txt"))]
    assert len(compared) == 4 * 4
    for name in compared:
        assert (killed / name).read_bytes() == (whole / name).read_bytes(), name


def test_a_survey_trained_in_the_run_gives_the_same_outputs_on_dask_workers(survey, tmp_path, capsys):
    """Classes reduced in the driver (ClassReducer), a model trained there, then predicted,
    evaluated and written (ClassifiedPcloudWriter, and VL3D's Writer with the reduced classes) on
    the workers: the same files as in one process."""
    groups = [["ground"], ["vegetation"], ["building", "vehicle", "pole"]]
    spec = {
        "in_pcloud": [str(survey / "tiles" / "tile_0_0.las"), str(survey / "tiles" / "tile_1_1.las")],
        "out_pcloud": "out/*",
        "sequential_pipeline": [
            {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 1, 7]},
            {
                "class_transformer": "ClassReducer",
                "input_class_names": [c["name"] for c in DEMO_CLASSES],
                "output_class_names": ["ground", "vegetation", "objects"],
                "class_groups": groups,
            },
            {
                "train": "PointNetPwiseClassifier",
                "fnames": ["intensity"],
                "random_seed": 4,
                "model_args": {
                    "num_classes": 3,
                    "pre_processing": {"neighborhood": {"type": "sphere", "radius": 3.0}, "num_points": 16},
                    "num_pwise_feats": 8,
                    "pretransf_feats_spec": [{"filters": 8}],
                    "postransf_feats_spec": [{"filters": 8}],
                    "tnet_pre_filters_spec": [],
                    "tnet_post_filters_spec": [],
                    "model_handling": {"training_epochs": 1, "batch_size": 16, "validation_split": 0.0},
                    "compilation_args": {
                        "loss": {
                            "function": "class_weighted_focal_categorical_crossentropy",
                            "class_weight": {"strategy": "balanced", "on_absent_class": "zero"},
                        }
                    },
                },
            },
            {"predict": "PreviousModel"},
            *PER_CLOUD,
            {"writer": "Writer", "out_pcloud": "*pcloud.laz"},
        ],
    }
    local, dask = tmp_path / "local", tmp_path / "dask"
    for folder in (local, dask):
        folder.mkdir()
    status, stderr = _main(local, spec, capsys)
    assert status == 0, stderr[-3000:]
    status, stderr = _main(dask, {**spec, "executor": {"engine": "dask", "workers": 2}}, capsys)
    assert status == 0, stderr[-3000:]
    assert "dask: started a local cluster of 2 worker processes, 1 thread each" in stderr
    assert "distributed." not in stderr and "Traceback" not in stderr, stderr[-3000:]  # Dask's INFO lines kept off
    assert "dask: the workers load the model trained in this run (a copy, removed at the end)" in stderr
    assert "survey_model" not in stderr, stderr[-3000:]  # before: "wrote model <out>/.survey_model...partial.keras"
    expected, got = _classes(local / "out"), _classes(dask / "out")
    assert sorted(expected) == ["tile_0_0", "tile_1_1"] and sorted(got) == sorted(expected)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])
        written = {run: laspy.read(run / "out" / name / "pcloud.laz") for run in (local, dask)}
        for dimension in ("classification", "prediction"):
            values = [np.asarray(written[run][dimension]) for run in (local, dask)]
            np.testing.assert_array_equal(values[1], values[0])
        source = np.asarray(laspy.read(survey / "tiles" / f"{name}.las").classification)
        reduced = np.full(256, 255)  # a point in no class: the highest code of its point format
        for value, group in enumerate(groups):
            for entry in DEMO_CLASSES:
                if entry["name"] in group:
                    reduced[entry["codes"]] = value
        np.testing.assert_array_equal(np.asarray(written[dask]["classification"]), reduced[source])
    record = json.loads((dask / "out" / "survey.json").read_text())
    assert record["counts"]["done"] == 2
    assert record["metrics"] == json.loads((local / "out" / "survey.json").read_text())["metrics"]
    report = json.loads((dask / "out" / "report.json").read_text())  # the workers' evaluations reach the run record
    assert sorted(Path(e["cloud"]).name for e in report["evaluations"]) == ["tile_0_0.las", "tile_1_1.las"]
    assert not [p for p in dask.rglob("*") if "survey_model" in p.name]  # the shipped model is removed


def test_a_resumed_survey_predicts_again_the_neighbours_of_a_repaired_tile(survey, tmp_path, capsys):
    """A tile whose points cannot be read is left out of its neighbours' buffers; once it is
    repaired, ``--resume`` predicts it and its neighbours again, and the survey ends with the
    outputs of a run that never failed; a second ``--resume`` then skips every tile."""
    folder = tmp_path / "tiles"
    folder.mkdir()
    for tile in (survey / "tiles").iterdir():
        (folder / tile.name).write_bytes(tile.read_bytes())
    broken = folder / "tile_0_0.laz"
    laspy.read(folder / "tile_0_0.las").write(broken)
    (folder / "tile_0_0.las").unlink()
    good = broken.read_bytes()
    spec = _predict_spec(survey, "whole")
    spec["in_pcloud"] = str(folder)
    spec["sequential_pipeline"][-1] = {**PER_CLOUD[-1], "probabilities": True}  # the probabilities show the buffer
    assert _main(tmp_path, spec, capsys)[0] == 0
    expected = {
        name: (tmp_path / "whole" / name / "predicted.laz").read_bytes() for name in _classes(tmp_path / "whole")
    }
    neighbours = ["tile_0_1", "tile_1_0", "tile_1_1"]

    broken.write_bytes(good[: len(good) // 2])  # its header reads, its points do not
    spec = {**spec, "out_pcloud": f"{tmp_path}/out/*"}
    status, stderr = _main(tmp_path, spec, capsys)
    assert status == 2, stderr[-3000:]
    record = json.loads((tmp_path / "out" / "survey.json").read_text())
    tiles = {Path(t["path"]).stem: t for t in record["tiles"]}
    assert tiles["tile_0_0"]["status"] == "failed"
    for name in neighbours:
        (used,) = tiles[name]["buffers"]
        assert list(used["left_out"]) == [str(broken)] and len(used["used"]) == 2, used
    predicted = {name: (tmp_path / "out" / name / "predicted.laz").read_bytes() for name in neighbours}
    assert all(predicted[name] != expected[name] for name in neighbours)  # without tile_0_0's points as context

    status, stderr = _main(tmp_path, spec, capsys, "--resume")  # still broken: nothing to redo
    assert status == 2 and "processed again" not in stderr, stderr[-3000:]
    assert "resume: 3 tiles already done with the same model and steps, skipped" in stderr

    broken.write_bytes(good)
    status, stderr = _main(tmp_path, spec, capsys, "--resume")
    assert status == 0, stderr[-3000:]
    redone = [line for line in stderr.splitlines() if "processed again" in line]
    assert len(redone) == 1 and redone[0].endswith(
        "resume: 3 tiles done before processed again, as something changed since: "
        + "; ".join(f"{name}.las (tile_0_0.laz changed since it was left out)" for name in neighbours)
    ), stderr[-3000:]
    resumed = json.loads((tmp_path / "out" / "survey.json").read_text())
    assert resumed["counts"] == {"done": 4, "skipped": 0, "failed": 0, "pending": 0}
    assert resumed["metrics"] == json.loads((tmp_path / "whole" / "survey.json").read_text())["metrics"]
    for name, data in expected.items():
        assert (tmp_path / "out" / name / "predicted.laz").read_bytes() == data, name
    for tile in resumed["tiles"]:
        assert tile["buffers"][0]["left_out"] == {} and len(tile["buffers"][0]["used"]) == 3

    status, stderr = _main(tmp_path, spec, capsys, "--resume")
    assert status == 0 and "processed again" not in stderr, stderr[-3000:]
    assert "resume: 4 tiles already done with the same model and steps, skipped" in stderr
