"""VL3D's training vocabulary is accepted by validation, checked where a schema cannot, and its
paths declared as outputs (fast: no training)."""

from __future__ import annotations

import copy

import pytest

from vl3d_focal.config import validate_spec
from vl3d_focal.config.normalise import apply_defaults
from vl3d_focal.config.schemas import generate_schemas
from vl3d_focal.runner.outputs import output_files

MAPPING = {
    "class_mapping": "LASClassMapping",
    "classes": [{"name": "ground", "codes": [2]}, {"name": "other", "codes": [6]}],
}


def _spec(**train) -> dict:
    step = {
        "train": "PointNetPwiseClassifier",
        "model_args": {
            "num_classes": 2,
            "pre_processing": {"neighborhood": {"type": "sphere", "radius": 2.0}},
            "compilation_args": {"loss": {"function": "class_weighted_categorical_crossentropy"}},
        },
    }
    for path, value in train.items():
        node = step
        *parents, key = path.split("__")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[key] = value
    return {
        "in_pcloud": ["a.las", "b.las"],
        "out_pcloud": "out/*",
        "sequential_pipeline": [copy.deepcopy(MAPPING), step, {"predict": "PreviousModel"}],
    }


def _issues(spec: dict) -> dict[str, str]:
    return {issue.path: issue.message for issue in validate_spec(spec, check_files=False)}


def test_the_vocabulary_of_vl3d_s_documented_specs_is_valid():
    spec = _spec(
        training_type="base",
        autoval_metrics=["OA", "MCC"],
        training_evaluation_metrics=["OA", "wF1", "Kappa"],
        training_evaluation_report_path="*/training_eval/evaluation.log",
        training_confusion_matrix_plot_path="*/training_eval/confusion.svg",
        training_classified_point_cloud_path="*/training_eval/classified_point_cloud.laz",
        training_activations_path=None,
        model_args__pre_processing__support_strategy="FPS",
        model_args__pre_processing__support_strategy_num_points=50,
        model_args__pre_processing__neighborhood={"type": "rectangular3d", "radius": 5.0, "separation_factor": 0.8},
        model_args__pre_processing__training_class_distribution=[1000, 500],
        model_args__pre_processing__nthreads=12,
        model_args__pre_processing__fast=False,
        model_args__pre_processing__receptive_fields_dir=None,
        model_args__model_handling__checkpoint_path="*/checkpoint.model",
        model_args__model_handling__learning_rate_on_plateau={
            "monitor": "loss",
            "mode": "min",
            "factor": 0.1,
            "patience": 2000,
            "cooldown": 5,
            "min_delta": 0.01,
            "min_lr": 1e-6,
        },
        model_args__model_handling__early_stopping={
            "monitor": "loss",
            "mode": "min",
            "min_delta": 0.01,
            "patience": 5000,
        },
        model_args__model_handling__fit_verbose="auto",
        model_args__model_handling__predict_verbose=0,
        model_args__compilation_args__optimizer={
            "algorithm": "SGD",
            "learning_rate": {
                "schedule": "exponential_decay",
                "schedule_args": {
                    "initial_learning_rate": 1e-2,
                    "decay_steps": 2000,
                    "decay_rate": 0.96,
                    "staircase": False,
                },
            },
        },
        model_args__compilation_args__metrics=["categorical_accuracy", "precision", "recall"],
        model_args__architecture_graph_path="*/model_graph.png",
    )
    assert _issues(spec) == {}


def test_checks_name_the_key_expected_and_received():
    at = "$.sequential_pipeline[1].model_args"
    issues = _issues(
        _spec(
            model_args__pre_processing__training_class_distribution=[10, 10, 10],
            model_args__model_handling__learning_rate_on_plateau={"factor": 0.5},
            model_args__model_handling__reduce_lr_on_plateau={"factor": 0.5},
        )
    )
    assert issues == {
        f"{at}.pre_processing.training_class_distribution": "expected one count per class (2); got 3",
        f"{at}.model_handling.reduce_lr_on_plateau": "learning_rate_on_plateau (VL3D's name) is given too; keep one of the two",
    }
    wrong = _issues(
        _spec(
            model_args__model_handling__training_sequencer={
                "augmentor": {
                    "transformations": [
                        {
                            "type": "Rotation",
                            "axis": [0, 0, 0],
                            "angle_distribution": {"type": "uniform", "start": 0, "end": 1},
                        }
                    ]
                }
            },
            training_confusion_matrix_plot_path="*/confusion.log",
        )
    )
    assert set(wrong) == {
        f"{at}.model_handling.training_sequencer.augmentor.transformations[0]",
        "$.sequential_pipeline[1].training_confusion_matrix_plot_path",
    }
    assert (
        "expected a path ending in .svg, .png or .pdf"
        in wrong["$.sequential_pipeline[1].training_confusion_matrix_plot_path"]
    )


def test_output_paths_are_declared_model_level_or_per_cloud():
    spec = apply_defaults(
        _spec(
            training_evaluation_report_path="*/training_eval/evaluation.log",
            model_args__model_handling__training_history_dir="*/training_eval/history",
            model_args__pre_processing__support_points_report_path="*/rf/support.laz",
            model_args__architecture_graph_path="*/graph.svg",
        )
    )
    spec["in_pcloud"], spec["out_pcloud"] = ["a.las", "b.las"], ["out/"]
    files = {p.as_posix() for p in output_files(spec)}
    assert {
        "out/training_eval/evaluation.log",
        "out/training_eval/history/training_history.csv",
        "out/training_eval/history/training_history.svg",
        "out/graph.svg",
        "out/graph.txt",
    } <= files
    assert {"out/a/rf/support.laz", "out/b/rf/support.laz"} <= files  # predicted cloud by cloud


def test_keys_tuning_vl3d_internals_carry_the_reason_they_have_no_effect():
    notes = {}

    def walk(node, path=()):
        if isinstance(node, dict):
            if "x-vl3d-no-effect" in node:
                notes[path[-1]] = node["x-vl3d-no-effect"]
            for key, value in node.items():
                walk(value, path + (key,))
        elif isinstance(node, list):
            for value in node:
                walk(value, path)

    walk(generate_schemas()["pipeline.schema.json"]["$defs"]["model_args.PointNetPwiseClassifier"])
    assert {"nthreads", "fast", "support_chunk_size", "support_strategy_fast", "verbose"} <= set(notes)
    assert "receptive_fields_dir" not in notes  # the prediction fields are written (test_receptive_field_clouds)
    assert "training_receptive_fields_dir" not in notes  # and the training fields (test_training_field_clouds)
    assert all(len(why) > 20 for why in notes.values())


@pytest.mark.parametrize("name", ["sphere", "Cylinder", "rectangular2d", "RECTANGULAR3D"])
def test_neighbourhood_names_are_case_insensitive_as_in_vl3d(name):
    assert _issues(_spec(model_args__pre_processing__neighborhood={"type": name, "radius": 1.0})) == {}


def test_training_history_dir_may_exist_as_a_folder_but_not_as_a_file(tmp_path):
    at = "$.sequential_pipeline[1].model_args.model_handling.training_history_dir"
    (tmp_path / "history").mkdir()
    (tmp_path / "taken").write_text("a file")
    for name, expected in (("history", None), ("taken", "is an existing file; expected the path of a folder")):
        spec = _spec(model_args__model_handling__training_history_dir=str(tmp_path / name))
        message = {i.path: i.message for i in validate_spec(spec, check_files=True, base_dir=tmp_path)}.get(at)
        assert message is None if expected is None else expected in message, message
