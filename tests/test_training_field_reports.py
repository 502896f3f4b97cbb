"""A train step's prediction reports of ``pre_processing`` (``receptive_fields_distribution_*``,
``support_points_report_path``) are written for the prediction of the training clouds after
training, as VL3D does, even without any ``training_*`` evaluation output, and hold what a
predict step's reports hold for the same cloud and model."""

from __future__ import annotations

import dataclasses
import json

import laspy
import numpy as np
import pytest
from helpers import DEMO_CLASSES, run_cli, tiny_pointnet_args

from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.inference.prediction import cloud_probabilities
from vl3d_focal.models.model_file import load_bundle
from vl3d_focal.training.fields import read_labelled_clouds

MAPPING = {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]}
KEYS = {
    "receptive_fields_distribution_report_path": "rf_distribution.log",
    "receptive_fields_distribution_plot_path": "rf_distribution.svg",
    "support_points_report_path": "support_points.laz",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from vl3d_focal.data.synthetic import write_demo_scene

    folder = tmp_path_factory.mktemp("training_field_reports")
    write_demo_scene(folder / "data" / "scene.las", seed=3, size_m=24.0, density=2.0)
    args = tiny_pointnet_args(5)
    args["pre_processing"].update({key: f"*training_eval/{name}" for key, name in KEYS.items()})
    spec = {
        "in_pcloud": "data/scene.las",
        "out_pcloud": "out/*",
        "sequential_pipeline": [
            MAPPING,
            {"train": "PointNetPwiseClassifier", "fnames": ["intensity"], "random_seed": 1, "model_args": args},
            {"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"},
        ],
    }
    (folder / "spec.json").write_text(json.dumps(spec))
    done = run_cli("run", "spec.json", cwd=folder)
    assert done.returncode == 0, done.stderr[-4000:]
    return folder


def _distribution(path):
    rows = [line.split(",") for line in path.read_text().splitlines()[1:6]]
    return [int(row[1]) for row in rows], [int(row[5]) for row in rows]  # PRED COUNT, TRUE COUNT per class


def test_training_prediction_writes_the_reports_a_predict_step_writes(run, tmp_path):
    folder = run
    out = folder / "out" / "training_eval"
    assert not (out / "evaluation.log").exists()  # no training_* evaluation output was asked
    bundle = load_bundle(folder / "out" / "model" / "model.keras")
    assert bundle.field_reports is None  # a model file keeps no report paths (VL3D neither)
    (record,) = read_labelled_clouds(
        [str(folder / "data" / "scene.las")], mapping=ClassMapping.from_spec(MAPPING), role="test"
    )
    paths = {key: tmp_path / name for key, name in KEYS.items()}
    _, num_fields = cloud_probabilities(
        record, dataclasses.replace(bundle, field_reports=lambda _prefix: paths), chunk_points=None
    )
    written = laspy.read(out / "support_points.laz").xyz
    assert len(written) == num_fields > 0  # one support point per field
    np.testing.assert_allclose(written, laspy.read(paths["support_points_report_path"]).xyz)
    predicted, reference = _distribution(out / "rf_distribution.log")
    assert sum(predicted) == num_fields * 32  # every point of every field of 32 points
    assert 0 < sum(reference) <= num_fields * 32  # ignored points left out
    assert (predicted, reference) == _distribution(paths["receptive_fields_distribution_report_path"])
    assert "<svg" in (out / "rf_distribution.svg").read_text()
