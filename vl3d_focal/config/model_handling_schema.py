"""JSON Schema of ``model_args.model_handling``: the training loop, its callbacks and reports.

VL3D's ``model_handling`` vocabulary (``training_epochs``, ``batch_size``, ``checkpoint_path``,
``checkpoint_monitor``, ``learning_rate_on_plateau``, ``early_stopping``, ``summary_report_path``,
``training_history_dir``, ``fit_verbose``, ``predict_verbose``, ``training_sequencer``) with this
project's own keys (``training_pcloud``, validation, ``checkpoint``, ``reduce_lr_on_plateau``,
``predict_batch_size``). VL3D passes ``learning_rate_on_plateau`` and ``early_stopping`` to
Keras' ``ReduceLROnPlateau`` and ``EarlyStopping``, so their defaults are Keras'.

Example:
    >>> model_handling_schema(class_weight_ref="cw.json")["properties"]["batch_size"]["default"]
    16
"""

from __future__ import annotations

from typing import Any

from vl3d_focal.config.augmentation_schema import training_sequencer_schema
from vl3d_focal.config.monitoring_schema import tensorboard_dir_schema
from vl3d_focal.config.schema_parts import closed_object, input_paths_schema, monitor_schema
from vl3d_focal.schema_annotations import FOLDER_OUTPUT, PATH_ANNOTATION, no_effect, optional_output_schema

MODES = ("auto", "min", "max")


def _mode(what: str) -> dict[str, Any]:
    return {
        "enum": list(MODES),
        "title": "mode",
        "default": "auto",
        "description": f"Whether the monitored quantity should decrease (min) or increase (max) {what}; "
        "auto: max for accuracies, precision and recall, min otherwise.",
    }


def _verbose() -> dict[str, Any]:
    return no_effect(
        {
            "type": "integer",
            "minimum": 0,
            "maximum": 1,
            "default": 0,
            "description": "Keras: print a message when the callback acts.",
        },
        why="vl3d-focal logs what the callback does",
    )


def _early_stopping() -> dict[str, Any]:
    return closed_object(
        {
            "monitor": monitor_schema("val_loss"),
            "mode": _mode("to count as an improvement"),
            "patience": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": "Epochs without improvement before stopping (Keras' default 0).",
            },
            "min_delta": {
                "type": "number",
                "minimum": 0,
                "default": 0.0,
                "description": "Smallest change counted as an improvement.",
            },
            "baseline": {
                "type": ["number", "null"],
                "default": None,
                "description": "Stop when the quantity does not improve on this value; null: none.",
            },
            "restore_best_weights": {
                "type": "boolean",
                "default": False,
                "description": "Restore the weights of the best epoch when stopping.",
            },
            "start_from_epoch": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": "Epochs before improvement is watched.",
            },
            "verbose": _verbose(),
        },
        required=[],
        description="Keras' EarlyStopping.",
        title="an early-stopping object",
    )


def _plateau() -> dict[str, Any]:
    return closed_object(
        {
            "monitor": monitor_schema("val_loss"),
            "mode": _mode("to count as an improvement"),
            "factor": {
                "type": "number",
                "exclusiveMinimum": 0,
                "exclusiveMaximum": 1,
                "default": 0.1,
                "description": "Factor applied to the learning rate.",
            },
            "patience": {
                "type": "integer",
                "minimum": 0,
                "default": 10,
                "description": "Epochs without improvement before reducing.",
            },
            "cooldown": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": "Epochs after a reduction during which no improvement is awaited.",
            },
            "min_delta": {
                "type": "number",
                "minimum": 0,
                "default": 0.0001,
                "description": "Smallest change counted as an improvement.",
            },
            "min_lr": {
                "type": "number",
                "minimum": 0,
                "default": 0.0,
                "description": "Lower bound of the learning rate.",
            },
            "verbose": _verbose(),
        },
        required=[],
        description="Keras' ReduceLROnPlateau (not used with a learning-rate schedule).",
        title="a reduce-on-plateau object",
    )


def _nullable(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "default": None, "anyOf": [{"type": "null", "title": "null"}, schema]}


def _verbosity(what: str) -> dict[str, Any]:
    return {
        "description": f"Keras' verbosity of {what} (VL3D's values: 0 silent, 1 progress bar, 2 one line "
        "per epoch, 'auto'); null: vl3d-focal's own (a progress bar on a terminal, one line per epoch "
        "otherwise).",
        "default": None,
        "anyOf": [
            {"type": "null", "title": "null"},
            {"type": "integer", "title": "0, 1 or 2", "minimum": 0, "maximum": 2},
            {"const": "auto", "title": "auto"},
        ],
    }


def _reports() -> dict[str, Any]:
    return {
        "summary_report_path": optional_output_schema("A text summary of the network's layers."),
        "training_history_dir": {
            "type": ["string", "null"],
            "minLength": 1,
            "default": None,
            PATH_ANNOTATION: FOLDER_OUTPUT,
            "description": "A folder receiving training_history.csv (one row per epoch) and its plots "
            "training_history.svg. A leading '*' stands for the output prefix; null: not written.",
        },
        "checkpoint_path": optional_output_schema(
            "Where the model of the best epoch on checkpoint_monitor is saved, at each improvement: a "
            "'.weights.h5' path gets its weights, any other a model file loadable by ModelLoader "
            "by that name (a .keras archive, whatever the name: VL3D's checkpoint.model too). Given, the best epoch's "
            "weights are also kept as with checkpoint."
        ),
    }


def model_handling_schema(*, class_weight_ref: str) -> dict[str, Any]:
    """``model_args.model_handling`` (see the module docstring).

    Example:
        >>> model_handling_schema(class_weight_ref="cw.json")["properties"]["batch_size"]["default"]
        16
    """
    plateau = _plateau()
    schema = closed_object(
        {
            "training_pcloud": input_paths_schema(
                "Point clouds (LAS/LAZ) to train on instead of in_pcloud, which are then only "
                "predicted and evaluated; one path or a list, relative to the spec file's folder."
            ),
            "training_epochs": {
                "type": "integer",
                "minimum": 1,
                "default": 20,
                "description": "Number of training epochs.",
            },
            "batch_size": {
                "type": "integer",
                "minimum": 1,
                "default": 16,
                "description": "Receptive fields per training batch.",
            },
            "validation_split": {
                "type": "number",
                "minimum": 0,
                "exclusiveMaximum": 1,
                "default": 0.0,
                "description": "Fraction of the training fields held out for validation "
                "(0: none); not together with validation_pcloud.",
            },
            "validation_pcloud": input_paths_schema("Point clouds used for validation instead of a split."),
            "checkpoint": {
                "type": "boolean",
                "default": True,
                "description": "Keep the weights of the best epoch on checkpoint_monitor.",
            },
            "checkpoint_monitor": monitor_schema("val_loss"),
            "early_stopping": _nullable(_early_stopping(), "Early stopping, or null for none."),
            "learning_rate_on_plateau": _nullable(
                plateau,
                "VL3D's name of the learning-rate reduction on plateau, or null for none; not "
                "together with reduce_lr_on_plateau.",
            ),
            "reduce_lr_on_plateau": _nullable(
                plateau, "This project's name of learning_rate_on_plateau, or null for none."
            ),
            "class_weight": {
                "$ref": class_weight_ref,
                "description": (
                    "VL3D's place for class weights; used when the loss entry gives none. A strategy "
                    "('auto') counts the classes over the points of the training receptive fields as "
                    "fitted (training_class_distribution applied, validation fields left out), as VL3D does."
                ),
                "default": None,
            },
            "predict_batch_size": {
                "type": "integer",
                "minimum": 1,
                "default": 32,
                "description": "Receptive fields per prediction batch.",
            },
            "fit_verbose": _verbosity("the fit"),
            "predict_verbose": _verbosity("prediction (1 or 2: progress lines in the log)"),
            "training_sequencer": training_sequencer_schema(),
            "tensorboard_dir": tensorboard_dir_schema(),
            **_reports(),
        },
        required=[],
        description="Training loop settings.",
    )
    schema["default"] = {}
    return schema
