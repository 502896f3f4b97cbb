"""A train step in VL3D's vocabulary runs and does what each key says: training_class_distribution
with the focal loss, the training sequencer, checkpoint_path, the training reports, the
receptive-field reports, summary, graph, history folder, verbosity (one small run)."""

from __future__ import annotations

import csv
import json

import laspy
import numpy as np
import pytest
from helpers import DEMO_CLASSES, run_cli

from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.synthetic import write_demo_scene
from vl3d_focal.models.model_file import load_bundle

DISTRIBUTION = [20, 20, 20, 10, 10]
METRICS = ["OA", "P", "R", "F1", "IoU", "wP", "wR", "wF1", "wIoU", "MCC", "Kappa"]


def _spec() -> dict:
    rf = "*training_eval/"
    return {
        "in_pcloud": "data/scene.las",
        "out_pcloud": "out/*",
        "sequential_pipeline": [
            {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]},
            {
                "train": "PointNetPwiseClassifier",
                "fnames": ["intensity"],
                "random_seed": 4,
                "training_type": "base",
                "model_args": {
                    "num_classes": 5,
                    "pre_processing": {
                        "pre_processor": "furthest_point_subsampling",
                        "num_points": 32,
                        "neighborhood": {"type": "rectangular3D", "radius": 3.0, "separation_factor": 0.8},
                        "training_class_distribution": DISTRIBUTION,
                        "center_on_pcloud": True,
                        "to_unit_sphere": True,
                        "num_encoding_neighbors": 2,
                        "support_strategy": "grid",
                        "support_chunk_size": 2000,
                        "support_strategy_fast": False,
                        "fast": False,
                        "nthreads": 12,
                        "training_receptive_fields_distribution_report_path": rf + "training_rf_distribution.log",
                        "training_receptive_fields_distribution_plot_path": rf + "training_rf_distribution.svg",
                        "training_receptive_fields_dir": None,
                        "receptive_fields_distribution_report_path": rf + "rf_distribution.log",
                        "receptive_fields_distribution_plot_path": rf + "rf_distribution.png",
                        "training_support_points_report_path": rf + "training_support_points.laz",
                        "support_points_report_path": rf + "support_points.laz",
                    },
                    "num_pwise_feats": 8,
                    "pretransf_feats_spec": [{"filters": 8}],
                    "postransf_feats_spec": [{"filters": 16}],
                    "tnet_pre_filters_spec": [],
                    "tnet_post_filters_spec": [],
                    "model_handling": {
                        "training_epochs": 3,
                        "batch_size": 8,
                        "validation_split": 0.2,
                        "checkpoint": False,
                        "summary_report_path": "*model_summary.log",
                        "training_history_dir": rf + "history",
                        "checkpoint_path": "*checkpoint.model.keras",
                        "checkpoint_monitor": "loss",
                        "fit_verbose": 0,
                        "predict_verbose": 1,
                        "learning_rate_on_plateau": {
                            "monitor": "loss",
                            "mode": "min",
                            "factor": 0.1,
                            "patience": 2000,
                            "cooldown": 5,
                            "min_delta": 0.01,
                            "min_lr": 1e-6,
                        },
                        "early_stopping": {"monitor": "loss", "mode": "min", "min_delta": 0.01, "patience": 5000},
                        "training_sequencer": {
                            "type": "DLSequencer",
                            "random_shuffle_indices": True,
                            "augmentor": {
                                "transformations": [
                                    {
                                        "type": "Rotation",
                                        "axis": [0, 0, 1],
                                        "angle_distribution": {"type": "uniform", "start": -3.141592, "end": 3.141592},
                                    },
                                    {
                                        "type": "Scale",
                                        "scale_distribution": {"type": "uniform", "start": 0.99, "end": 1.01},
                                    },
                                    {
                                        "type": "Jitter",
                                        "noise_distribution": {"type": "normal", "mean": 0, "stdev": 0.001},
                                    },
                                ]
                            },
                        },
                    },
                    "compilation_args": {
                        "optimizer": {"algorithm": "SGD", "learning_rate": 0.01},
                        "loss": {
                            "function": "class_weighted_focal_categorical_crossentropy",
                            "class_weight": {"strategy": "balanced", "on_absent_class": "zero"},
                        },
                        "metrics": ["categorical_accuracy", "precision", "recall"],
                    },
                    "architecture_graph_path": "*model_graph.png",
                    "architecture_graph_args": {
                        "show_shapes": True,
                        "show_dtype": True,
                        "show_layer_names": True,
                        "rankdir": "TB",
                        "expand_nested": True,
                        "dpi": 300,
                        "show_layer_activations": True,
                    },
                },
                "autoval_metrics": METRICS,
                "training_evaluation_metrics": METRICS,
                "training_class_evaluation_metrics": ["P", "R", "F1", "IoU"],
                "training_evaluation_report_path": rf + "evaluation.log",
                "training_class_evaluation_report_path": rf + "class_evaluation.log",
                "training_confusion_matrix_report_path": rf + "confusion.log",
                "training_confusion_matrix_plot_path": rf + "confusion.svg",
                "training_class_distribution_report_path": rf + "class_distribution.log",
                "training_class_distribution_plot_path": rf + "class_distribution.svg",
                "training_classified_point_cloud_path": rf + "classified_point_cloud.laz",
                "training_activations_path": rf + "activations.laz",
            },
            {"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"},
            {"predict": "PreviousModel"},
        ],
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vl3d")
    write_demo_scene(folder / "data" / "scene.las", seed=2, size_m=40.0, density=2.0)
    (folder / "spec.json").write_text(json.dumps(_spec()))
    done = run_cli("run", "spec.json", cwd=folder)
    assert done.returncode == 0, done.stderr[-4000:]
    return folder, done.stdout + done.stderr


def _mapped(codes: np.ndarray) -> np.ndarray:
    mapping = ClassMapping.from_spec(
        {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]}
    )
    lookup = {code: k for k, codes_of in enumerate(mapping.codes) for code in codes_of}
    return np.array([lookup.get(int(c), -1) for c in codes])


def test_training_fields_are_centred_on_the_asked_number_of_points_per_class(run):
    folder, _ = run
    scene = laspy.read(folder / "data" / "scene.las")
    centres = laspy.read(folder / "out" / "training_eval" / "training_support_points.laz").xyz
    index = {tuple(p): k for k, p in enumerate(np.round(scene.xyz, 3))}
    classes = _mapped(np.asarray(scene.classification)[[index[tuple(p)] for p in np.round(centres, 3)]])
    assert np.bincount(classes, minlength=5).tolist() == DISTRIBUTION  # validation split included


def test_training_with_the_distribution_and_the_focal_loss_ran_its_epochs(run):
    folder, log = run
    rows = list(csv.DictReader((folder / "out" / "training_eval" / "history" / "training_history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and all(np.isfinite(float(r["loss"])) for r in rows)
    assert {"categorical_accuracy", "precision", "recall", "val_loss", "learning_rate"} <= set(rows[0])
    assert "training fields: 64, validation fields: 16" in log
    assert (folder / "out" / "training_eval" / "history" / "training_history.svg").read_text().find("<svg") >= 0
    assert "Epoch 1/3" not in log  # fit_verbose 0: Keras silent
    assert "INFO vl3d_focal.progress: prediction: " in log  # predict_verbose 1: progress shown at once


def test_checkpoint_path_holds_the_best_model_loadable_by_model_loader(run):
    folder, _ = run
    checkpoint = load_bundle(folder / "out" / "checkpoint.model.keras")
    final = load_bundle(folder / "out" / "model" / "model.keras")
    for got, expected in zip(checkpoint.model.get_weights(), final.model.get_weights()):
        np.testing.assert_array_equal(got, expected)  # the final model is the best epoch's
    assert checkpoint.field_spec.to_unit_sphere and checkpoint.field_spec.num_encoding_neighbors == 2


def test_training_evaluation_matches_the_classified_training_cloud(run):
    folder, _ = run
    out = folder / "out" / "training_eval"
    scene = laspy.read(folder / "data" / "scene.las")
    classified = laspy.read(out / "classified_point_cloud.laz")
    # VL3D's ClassifiedPcloudReport: the reference kept as read, Prediction (class index), Success, a dimension per class
    np.testing.assert_array_equal(np.asarray(classified.classification), np.asarray(scene.classification))
    reference, predicted = _mapped(np.asarray(scene.classification)), np.asarray(classified["Prediction"])
    names = ["Prediction", "Success", "ground", "vegetation", "building", "vehicle", "pole"]
    assert list(classified.point_format.extra_dimension_names) == names
    probabilities = np.stack([np.asarray(classified[name], dtype=np.float64) for name in names[2:]], axis=1)
    np.testing.assert_array_equal(predicted, probabilities.argmax(axis=1))
    np.testing.assert_array_equal(np.asarray(classified["Success"]), (reference == predicted).astype(np.int64))
    scored = reference >= 0
    header, values = [line.split(",") for line in (out / "evaluation.log").read_text().splitlines()]
    report = dict(zip([h.strip() for h in header], [float(v) for v in values]))
    assert list(report) == METRICS
    assert report["OA"] == pytest.approx(100 * np.mean(predicted[scored] == reference[scored]), abs=1e-3)
    confusion = np.array(
        [[int(c) for c in line.split(",")[1:]] for line in (out / "confusion.log").read_text().splitlines()[1:]]
    )
    assert confusion.sum() == scored.sum() and confusion.shape == (5, 5)
    for name in ("class_evaluation.log", "class_distribution.log"):
        assert (out / name).read_text().startswith("class")
    assert "<svg" in (out / "confusion.svg").read_text() and "<svg" in (out / "class_distribution.svg").read_text()


def test_activations_are_the_last_layers_inputs_per_point(run):
    folder, _ = run
    activations = laspy.read(folder / "out" / "training_eval" / "activations.laz")
    names = list(activations.point_format.extra_dimension_names)
    width = load_bundle(folder / "out" / "model" / "model.keras").model.layers[-1].input.shape[-1]
    assert names == [f"f{k}" for k in range(1, width + 1)] and len(activations.points) == 4126  # VL3D's names
    scene = laspy.read(folder / "data" / "scene.las")
    np.testing.assert_array_equal(np.asarray(activations.classification), np.asarray(scene.classification))
    assert all(np.isfinite(np.asarray(activations[n])).all() for n in names)
    assert any(np.ptp(np.asarray(activations[n])) > 0 for n in names)


def test_receptive_field_reports_and_auto_validation(run):
    folder, log = run
    out = folder / "out" / "training_eval"
    training = [line.split(",") for line in (out / "training_rf_distribution.log").read_text().splitlines() if line]
    assert training[0][0].strip() == "CLASS" and len(training) == 1 + 5 + 1
    predicted_counts, true_counts = [int(row[1]) for row in training[1:6]], [int(row[5]) for row in training[1:6]]
    assert sum(predicted_counts) == 64 * 32  # the 64 training fields of 32 points
    assert 0 < sum(true_counts) <= 64 * 32 and all(count > 0 for count in true_counts)  # ignored points left out
    assert "<svg" in (out / "training_rf_distribution.svg").read_text()
    # prediction-time reports, written by the predict step for the cloud it predicts
    assert (out / "rf_distribution.log").read_text().startswith("CLASS")
    assert (out / "rf_distribution.png").read_bytes()[:4] == b"\x89PNG"
    assert len(laspy.read(out / "support_points.laz").points) > 64
    assert "auto-validation on 16 fields: OA=" in log


def test_summary_and_architecture_graph(run):
    folder, log = run
    assert "PointNetPwiseClassifier" in (folder / "out" / "model_summary.log").read_text()
    graph, fallback = folder / "out" / "model_graph.png", folder / "out" / "model_graph.txt"
    assert graph.is_file() != fallback.is_file()  # the picture where pydot and graphviz exist, else the text
    if fallback.is_file():
        assert "Total params" in fallback.read_text() and log.count("cannot draw") == 1
