"""The predicted classes every prediction output writes, on a cloud whose LAS codes (2, 5, 6)
are not 0..K-1: without a class mapping step the classes are the cloud's codes and VL3D writes
the codes its model learnt, so ``PredictionsWriter``, ``Writer``'s ``prediction`` dimension and
the predict form's ``out_preds``/``prediction`` hold the codes ``ClassifiedPcloudWriter`` writes;
with a class mapping step they hold the class indices (VL3D's transformed classes). The scores
stay those of the class indices.
"""

from __future__ import annotations

import json
from pathlib import Path

import laspy
import numpy as np
import pytest
from helpers import tiny_pointnet_args

from vl3d_focal.cli import main
from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.synthetic import generate_urban_scene

CODES = np.array([2, 5, 6])
"""The cloud's codes: ground 2, vegetation 5 (synthetic 3, 4, 5), the rest 6."""
FOREST = {
    "train": "RandomForestClassifier",
    "fnames": ["height"],
    "training_type": "base",
    "random_seed": 0,
    "model_args": {"n_estimators": 2, "max_depth": 6, "n_jobs": 1},
}


def _cloud(path: Path, *, seed: int) -> Path:
    las = generate_urban_scene(seed=seed, size_m=24.0, density=2.0)
    table = np.full(256, 6, dtype=np.uint8)
    table[[2, 3, 4, 5]] = [2, 5, 5, 5]
    las.classification = table[np.asarray(las.classification)]
    las.add_extra_dim(laspy.ExtraBytesParams(name="height", type=np.float32))
    las["height"] = (np.asarray(las.z) - np.asarray(las.z).min()).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    las.write(path)
    return path


def _run(folder: Path, name: str, spec: dict) -> None:
    (folder / name).write_text(json.dumps(spec))
    assert main(["run", str(folder / name)]) == 0


def _train_and_predict(folder: Path, *, class_steps: list[dict], model_step: dict = FOREST) -> Path:
    """Trains the model (default the forest) on one cloud, predicts another with every prediction writer and an
    evaluator, then with VL3D's predict form; returns the output folder."""
    train, test = _cloud(folder / "data" / "train.laz", seed=0), _cloud(folder / "data" / "test.laz", seed=1)
    model = folder / "out" / "trained.model"
    _run(
        folder,
        "train.json",
        {
            "in_pcloud": [str(train)],
            "out_pcloud": [str(folder / "out") + "/*"],
            "sequential_pipeline": [
                *class_steps,
                model_step,
                {"writer": "PredictiveModelWriter", "out_model": str(model)},
            ],
        },
    )
    _run(
        folder,
        "predict.json",
        {
            "in_pcloud": [str(test)],
            "out_pcloud": [str(folder / "out" / "predict") + "/*"],
            "sequential_pipeline": [
                {"predict": "ModelLoader", "model_path": str(model)},
                {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"},
                {"writer": "PredictionsWriter", "out_preds": "*predictions.lbl"},
                {"writer": "Writer", "out_pcloud": "*state.laz"},
                {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
            ],
        },
    )
    _run(
        folder,
        "predict_form.json",
        {
            "predict": "ModelLoader",
            "in_model": str(model),
            "in_pcloud": str(test),
            "out_pcloud": str(folder / "out" / "form" / "test.laz"),
            "out_preds": str(folder / "out" / "form" / "test.lbl"),
        },
    )
    return folder / "out"


def _outputs(out: Path) -> dict[str, np.ndarray]:
    return {
        "classified": np.asarray(laspy.read(out / "predict" / "predicted.laz").classification, dtype=np.int64),
        "lbl": np.loadtxt(out / "predict" / "predictions.lbl", dtype=np.int64),
        "writer": np.asarray(laspy.read(out / "predict" / "state.laz")["prediction"], dtype=np.int64),
        "form_lbl": np.loadtxt(out / "form" / "test.lbl", dtype=np.int64),
        "form_dim": np.asarray(laspy.read(out / "form" / "test.laz")["prediction"], dtype=np.int64),
    }


def _confusion(reference: np.ndarray, predicted: np.ndarray) -> list[list[int]]:
    """The confusion matrix of class indices, rows the reference (NumPy reference)."""
    k = len(CODES)
    return np.bincount(reference * k + predicted, minlength=k * k).reshape(k, k).tolist()


def test_without_class_mapping_every_prediction_output_writes_the_cloud_s_codes(tmp_path, restore_logging):
    out = _train_and_predict(tmp_path, class_steps=[])
    found = _outputs(out)
    codes = found["classified"]
    assert set(np.unique(codes)) <= set(CODES.tolist()) and len(np.unique(codes)) >= 2
    for name in ("lbl", "writer", "form_lbl", "form_dim"):
        assert np.array_equal(found[name], codes), name
    report = json.loads((out / "predict" / "eval" / "evaluation.json").read_text())
    reference = np.searchsorted(CODES, np.asarray(laspy.read(tmp_path / "data" / "test.laz").classification))
    assert report["class_names"] == ["class_2", "class_5", "class_6"]
    assert report["confusion_matrix"] == _confusion(reference, np.searchsorted(CODES, codes))


def test_a_pointnet_of_the_cloud_s_classification_values_writes_them(tmp_path, restore_logging):
    """VL3D's network classes are the classification values 0..num_classes-1: the codes 2, 5, 6
    are classes 2, 5 and 6 of 7, each written as its value."""
    pointnet = {"train": "PointNetPwiseClassifier", "fnames": ["height"], "model_args": tiny_pointnet_args(7)}
    found = _outputs(_train_and_predict(tmp_path, class_steps=[], model_step=pointnet))
    assert set(np.unique(found["classified"])) <= set(range(7))
    for name in ("lbl", "writer", "form_lbl", "form_dim"):
        assert np.array_equal(found[name], found["classified"]), name


def test_with_class_mapping_the_prediction_outputs_write_class_indices(tmp_path, restore_logging):
    mapping = {
        "class_mapping": "LASClassMapping",
        "classes": [
            {"name": "ground", "codes": [2]},
            {"name": "vegetation", "codes": [5]},
            {"name": "other", "codes": [6]},
        ],
    }
    found = _outputs(_train_and_predict(tmp_path, class_steps=[mapping]))
    indices = np.searchsorted(CODES, found["classified"])  # the classified cloud: the classes' LAS codes
    assert set(np.unique(found["classified"])) <= set(CODES.tolist())
    for name in ("lbl", "writer", "form_lbl", "form_dim"):
        assert np.array_equal(found[name], indices), name


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        (ClassMapping.from_codes(np.array([6, 2, 5])), [6, 2, 5, 2]),  # the cloud's codes: written as codes
        (ClassMapping.from_values(["a", "b", "c"]), [2, 0, 1, 0]),  # VL3D's values 0..C-1 are their codes
        (ClassMapping(names=["g", "v", "o"], codes=[[2], [5], [6]]), [2, 0, 1, 0]),  # a class mapping: indices
    ],
)
def test_prediction_values_of_each_kind_of_mapping(mapping, expected):
    values = mapping.prediction_values(np.array([2, 0, 1, 0]))
    assert values.dtype == np.int64 and values.tolist() == expected
    assert ClassMapping.from_config(mapping.to_config()).prediction_values(np.array([2, 0, 1, 0])).tolist() == expected
