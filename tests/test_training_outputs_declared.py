"""The files of the training clouds' prediction after training (the ``pre_processing``
receptive-field reports, each training cloud's ``training_*`` cloud) are declared outputs of the
train step: the run manifest lists them and ``--overwrite`` replaces them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import DEMO_CLASSES, tiny_pointnet_args

from vl3d_focal.cli import main
from vl3d_focal.config.step_files import StepPlace
from vl3d_focal.data.synthetic import write_demo_scene
from vl3d_focal.registry import STEPS

REPORTS = {"receptive_fields_distribution_report_path": "*te/rf.log", "support_points_report_path": "*te/sp.laz"}
WRITTEN = ["te/rf_a.log", "te/rf_b.log", "te/sp_a.laz", "te/sp_b.laz", "te/classified_a.laz", "te/classified_b.laz"]


def _train_step(training: list[str]) -> dict:
    args = tiny_pointnet_args(5)
    args["pre_processing"].update(REPORTS)
    args["model_handling"]["training_pcloud"] = training
    return {
        "train": "PointNetPwiseClassifier",
        "fnames": ["intensity"],
        "random_seed": 1,
        "training_classified_point_cloud_path": "*te/classified.laz",
        "model_args": args,
    }


def test_the_train_step_declares_its_training_prediction_files():
    outputs = STEPS.get("train").metadata["outputs"]
    place = StepPlace(ordinal=1, inputs=("a.las",), prefixes=("out/",))
    assert [path for _, path in outputs(_train_step(["a.las"]), place) if path.startswith("*te/")] == []  # output paths
    two = [path for _, path in outputs(_train_step(["x/a.las", "y/b.laz"]), place) if path.startswith("*te/")]
    assert sorted(two) == sorted(f"*{name}" for name in WRITTEN)


def test_a_run_lists_them_in_its_manifest_and_overwrite_replaces_them(tmp_path):
    for seed, name in ((3, "a"), (4, "b")):
        write_demo_scene(tmp_path / "data" / f"{name}.las", seed=seed, size_m=10.0, density=1.0)
    spec = {
        "in_pcloud": "data/a.las",
        "out_pcloud": "out/*",
        "sequential_pipeline": [
            {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]},
            _train_step(["data/a.las", "data/b.las"]),
            {"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"},
        ],
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    out = tmp_path / "out"
    assert main(["run", str(path)]) == 0
    manifest = json.loads((out / "run.json").read_text())
    assert set(WRITTEN) <= set(manifest["files"])
    assert all((out / name).is_file() for name in WRITTEN)
    stale = {name: _mark_stale(out / name) for name in WRITTEN}

    assert main(["run", str(path), "--overwrite"]) == 0
    assert set(WRITTEN) <= set(json.loads((out / "run.json").read_text())["files"])
    assert all((out / name).stat().st_mtime_ns != stale[name] for name in WRITTEN)  # written again


def _mark_stale(path: Path) -> int:
    """Sets the file's modification time far in the past; returns it."""
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    return path.stat().st_mtime_ns


@pytest.mark.parametrize(
    ("training", "written"),
    [
        (None, WRITTEN),  # the input clouds, each its own files
        (["data/a.las"], ["te/rf.log", "te/sp.laz", "te/classified.laz"]),  # one, under the first prefix: no cloud's
    ],
)
def test_every_file_the_training_writes_for_two_input_clouds_and_one_prefix_is_in_the_manifest(
    tmp_path, training, written
):
    for seed, name in ((3, "a"), (4, "b")):
        write_demo_scene(tmp_path / "data" / f"{name}.las", seed=seed, size_m=10.0, density=1.0)
    step = _train_step(training or [])
    if training is None:
        del step["model_args"]["model_handling"]["training_pcloud"]
    spec = {
        "in_pcloud": ["data/a.las", "data/b.las"],
        "out_pcloud": "out/*",
        "sequential_pipeline": [
            {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]},
            step,
        ],
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    assert main(["run", str(path)]) == 0
    out = tmp_path / "out"
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(written) <= files
    assert files <= set(json.loads((out / "run.json").read_text())["files"])  # every file the run wrote
