"""End to end: a generated scene, and the shared IGN tiles, through train, predict, eval, write."""

from __future__ import annotations

import json
import time
from pathlib import Path

import laspy
import numpy as np
import pytest
from helpers import DEMO_CLASSES, PINNED_KEYS

from vl3d_focal.config import load_spec
from vl3d_focal.data.synthetic import write_demo_scene
from vl3d_focal.losses import compute_class_weight
from vl3d_focal.runner.pipeline import execute_pipeline, run_pipeline

IGNORED = [0, 7]


def _train_step(*, epochs: int, fnames: list[str], radius: float, num_points: int, class_weight, seed: int = 5):
    return {
        "train": "PointNetPwiseClassifier",
        "fnames": fnames,
        "random_seed": seed,
        "model_args": {
            "num_classes": 5,
            "pre_processing": {
                "neighborhood": {"type": "sphere", "radius": radius, "separation_factor": 0.8},
                "num_points": num_points,
            },
            "num_pwise_feats": 16,
            "pretransf_feats_spec": [{"filters": 16}, {"filters": 32}],
            "postransf_feats_spec": [{"filters": 32}, {"filters": 64}],
            "tnet_pre_filters_spec": [],
            "tnet_post_filters_spec": [],
            "model_handling": {
                "training_epochs": epochs,
                "batch_size": 16,
                "validation_split": 0.2,
                "checkpoint": True,
                "predict_batch_size": 50,
            },
            "compilation_args": {
                "optimizer": {"algorithm": "Adam", "learning_rate": 0.005},
                "loss": {
                    "function": "class_weighted_focal_categorical_crossentropy",
                    "gamma": 2.0,
                    "class_weight": class_weight,
                },
            },
        },
    }


def _write_spec(folder: Path, name: str, spec: dict) -> Path:
    path = folder / name
    path.write_text(json.dumps(spec, indent=1))
    return path


def _majority_baseline(reference: np.ndarray, num_classes: int) -> tuple[float, float]:
    """mIoU and macro-F1 of predicting the most frequent class everywhere (classes present)."""
    counts = np.bincount(reference, minlength=num_classes)
    present = counts > 0
    share = counts.max() / counts.sum()
    iou = np.zeros(num_classes)
    f1 = np.zeros(num_classes)
    iou[counts.argmax()] = share
    f1[counts.argmax()] = 2 * share / (1 + share)
    return float(iou[present].mean()), float(f1[present].mean())


def _crs_records(las: laspy.LasData) -> list[str]:
    """The WKT strings of a cloud's coordinate-system VLRs (pyproj is not needed)."""
    return [vlr.string for vlr in [*las.header.vlrs, *las.header.evlrs] if hasattr(vlr, "string")]


def _mapped(codes: np.ndarray) -> np.ndarray:
    labels = np.full(codes.shape, -1)
    for index, cls in enumerate(DEMO_CLASSES):
        labels[np.isin(codes, cls["codes"])] = index
    return labels


@pytest.fixture(scope="module")
def scene_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    write_demo_scene(root / "data" / "scene.las", seed=3, size_m=40.0, density=8.0)
    spec = {
        "in_pcloud": "data/scene.las",
        "out_pcloud": "out/*",
        "sequential_pipeline": [
            {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": IGNORED},
            _train_step(
                epochs=6,
                fnames=["intensity", "return_number", "height_above_ground"],
                radius=4.0,
                num_points=128,
                class_weight="balanced",
            ),
            {"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"},
            {"predict": "PreviousModel"},
            {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
            {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz", "probabilities": True},
        ],
    }
    start = time.perf_counter()
    state = execute_pipeline(load_spec(_write_spec(root, "spec.json", spec)))
    return root, state, time.perf_counter() - start


def test_every_output_is_written(scene_run):
    root, _, _ = scene_run
    out = root / "out"
    for name in [
        "model/model.keras",
        "predicted.laz",
        "eval/evaluation.json",
        "eval/evaluation.txt",
        "eval/evaluation_confusion.svg",
        "eval/evaluation_topdown.svg",
        "training/history.csv",
        "training/history.png",
        "training/class_weights.json",
    ]:
        assert (out / name).is_file(), name


def test_run_fits_in_a_minute(scene_run):
    assert scene_run[2] < 60


def test_classified_cloud_keeps_points_dims_and_crs(scene_run):
    root, state, _ = scene_run
    source = laspy.read(root / "data" / "scene.las")
    written = laspy.read(root / "out" / "predicted.laz")
    assert len(written.points) == len(source.points)
    source_dims = list(source.point_format.dimension_names)
    assert list(written.point_format.dimension_names)[: len(source_dims)] == source_dims
    extra = set(written.point_format.extra_dimension_names)
    assert {f"prob_{c['name']}" for c in DEMO_CLASSES} <= extra
    assert _crs_records(written) == _crs_records(source) and _crs_records(source)
    np.testing.assert_array_equal(written.x, source.x)
    np.testing.assert_array_equal(written.intensity, source.intensity)
    probabilities = np.column_stack([written[f"prob_{c['name']}"] for c in DEMO_CLASSES])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    expected_codes = np.array([c["codes"][0] for c in DEMO_CLASSES])[probabilities.argmax(axis=1)]
    np.testing.assert_array_equal(written.classification, expected_codes)
    assert state.clouds[0].result.classes.shape == (len(source.points),)


def test_evaluation_matches_the_written_cloud_and_beats_chance(scene_run):
    root, _, _ = scene_run
    report = json.loads((root / "out" / "eval" / "evaluation.json").read_text())
    assert PINNED_KEYS <= set(report)
    assert report["class_names"] == [c["name"] for c in DEMO_CLASSES]
    for stats in report["per_class"].values():
        assert set(stats) == {"P", "R", "F1", "IoU", "support"}
    reference = _mapped(np.asarray(laspy.read(root / "data" / "scene.las").classification))
    predicted = _mapped(np.asarray(laspy.read(root / "out" / "predicted.laz").classification))
    scored = reference >= 0
    assert np.sum(~scored) > 0, "the scene has ignored (noise) points"
    confusion = np.zeros((5, 5), dtype=int)
    np.add.at(confusion, (reference[scored], predicted[scored]), 1)
    np.testing.assert_array_equal(report["confusion_matrix"], confusion)
    assert report["OA"] == pytest.approx(np.trace(confusion) / confusion.sum())
    base_miou, base_f1 = _majority_baseline(reference[scored], 5)
    assert report["mIoU"] > base_miou + 0.1
    assert report["macro_F1"] > base_f1 + 0.1


def test_class_weights_are_computed_from_the_mapped_training_labels(scene_run):
    root, state, _ = scene_run
    doc = json.loads((root / "out" / "training" / "class_weights.json").read_text())
    reference = _mapped(np.asarray(laspy.read(root / "data" / "scene.las").classification))
    counts = np.bincount(reference[reference >= 0], minlength=5)
    assert list(doc["class_counts"].values()) == counts.tolist()
    np.testing.assert_allclose(list(doc["class_weight"].values()), compute_class_weight("balanced", counts))
    np.testing.assert_allclose(state.bundle.loss_info.class_weight, compute_class_weight("balanced", counts))


def test_model_loader_needs_only_the_model_path(scene_run):
    root, state, _ = scene_run
    spec = {
        "in_pcloud": ["data/scene.las"],
        "out_pcloud": ["reloaded/*"],
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": "out/model/model.keras"},
            {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
            {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.las", "prediction_dimension": "predicted"},
        ],
    }
    reloaded = execute_pipeline(load_spec(_write_spec(root, "reload.json", spec)))
    np.testing.assert_allclose(reloaded.clouds[0].result.probabilities, state.clouds[0].result.probabilities, atol=1e-5)
    first = json.loads((root / "out" / "eval" / "evaluation.json").read_text())
    second = json.loads((root / "reloaded" / "eval" / "evaluation.json").read_text())
    assert second["confusion_matrix"] == first["confusion_matrix"]
    written = laspy.read(root / "reloaded" / "predicted.las")
    source = laspy.read(root / "data" / "scene.las")
    np.testing.assert_array_equal(written.classification, source.classification)  # reference kept
    np.testing.assert_array_equal(written["predicted"], laspy.read(root / "out" / "predicted.laz").classification)


def test_ign_training_beats_the_majority_baseline_on_the_held_out_tile(ign_dir, tmp_path):
    """Brief training on three real tiles, evaluated on the held-out tile 77060_627760."""
    tiles = ["77050_627760", "77055_627755", "77055_627760"]
    classes = [
        {"name": "ground", "codes": [2]},
        {"name": "low_vegetation", "codes": [3, 4]},
        {"name": "high_vegetation", "codes": [5]},
        {"name": "building", "codes": [6]},
        {"name": "other", "codes": [1, 17, 64, 67]},
    ]
    train = {
        "in_pcloud": [str(ign_dir / f"test_data_{tile}_LA93_IGN69.laz") for tile in tiles],
        "out_pcloud": "train/*",
        "sequential_pipeline": [
            {"class_mapping": "LASClassMapping", "classes": classes, "ignore_codes": [0, 7, 65, 66]},
            _train_step(
                epochs=5,
                fnames=["intensity", "return_number", "number_of_returns", "height_above_ground"],
                radius=5.0,
                num_points=192,
                class_weight="sqrt_inverse_frequency",
                seed=11,
            ),
            {"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"},
        ],
    }
    run_pipeline(load_spec(_write_spec(tmp_path, "train.json", train)))
    held_out = {
        "in_pcloud": str(ign_dir / "test_data_77060_627760_LA93_IGN69.laz"),
        "out_pcloud": "test/*",
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": "train/model/model.keras"},
            {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
        ],
    }
    run_pipeline(load_spec(_write_spec(tmp_path, "test.json", held_out)))
    report = json.loads((tmp_path / "test" / "eval" / "evaluation.json").read_text())
    codes = np.asarray(laspy.read(ign_dir / "test_data_77060_627760_LA93_IGN69.laz").classification)
    reference = np.full(codes.shape, -1)
    for index, cls in enumerate(classes):
        reference[np.isin(codes, cls["codes"])] = index
    assert int(np.sum(report["confusion_matrix"])) == int(np.sum(reference >= 0))
    base_miou, base_f1 = _majority_baseline(reference[reference >= 0], 5)
    assert report["mIoU"] > base_miou + 0.1
    assert report["macro_F1"] > base_f1 + 0.1
