"""JSON Schema of ``model_args``, what every registered model takes, and of class weights.

:mod:`vl3d_focal.config.schemas` joins it with each model's architecture arguments (from
``MODELS``) into ``$defs/model_args.<model>``. Every property has a ``description`` and, where the runner
has one, the ``default`` it really uses. Class-weight strategy names and option defaults are
read from :mod:`vl3d_focal.losses` (``CLASS_WEIGHT_STRATEGIES``, ``STRATEGY_ALIASES`` and
``compute_class_weight``'s signature), so they cannot drift from what the losses accept.

Example:
    >>> model_handling_schema(class_weight_ref="cw.json")["properties"]["batch_size"]["default"]
    16
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from vl3d_focal.config.monitoring_schema import tensorboard_dir_schema
from vl3d_focal.config.schema_parts import closed_object, input_paths_schema, monitor_schema

OPTION_NAMES = ("beta", "k", "on_absent_class")
"""Options of a ``{"strategy": ...}`` class-weight object (``compute_class_weight``'s)."""


def _learning_rate() -> dict[str, Any]:
    schedule = closed_object(
        {
            "schedule": {
                "enum": ["exponential_decay"],
                "title": "learning-rate schedule",
                "description": "Schedule kind.",
            },
            "schedule_args": closed_object(
                {
                    "initial_learning_rate": {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "description": "Learning rate at step 0.",
                    },
                    "decay_steps": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "Steps per decay period.",
                    },
                    "decay_rate": {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "description": "Factor applied per decay period.",
                    },
                    "staircase": {
                        "type": "boolean",
                        "default": False,
                        "description": "Decay in discrete steps.",
                    },
                },
                required=["initial_learning_rate", "decay_steps", "decay_rate"],
                description="Arguments of the schedule.",
            ),
        },
        required=["schedule", "schedule_args"],
        description="A learning-rate schedule.",
        title="a schedule object",
    )
    return {
        "description": "A constant learning rate or a schedule.",
        "default": 0.001,
        "anyOf": [{"title": "a positive number", "type": "number", "exclusiveMinimum": 0}, schedule],
    }


def compilation_args_schema(*, loss: dict[str, Any]) -> dict[str, Any]:
    """``model_args.compilation_args``: optimizer, loss, metrics.

    Args:
        loss: the schema of the loss object (chosen by ``function``).

    Example:
        >>> sorted(compilation_args_schema(loss={"type": "object"})["properties"])
        ['loss', 'metrics', 'optimizer']
    """
    optimizer = closed_object(
        {
            "algorithm": {
                "enum": ["Adam", "SGD"],
                "title": "optimizer",
                "default": "Adam",
                "description": "Optimization algorithm.",
            },
            "learning_rate": _learning_rate(),
        },
        required=[],
        description="The optimizer.",
    )
    optimizer["default"] = {"algorithm": "Adam", "learning_rate": 0.001}
    return closed_object(
        {
            "optimizer": optimizer,
            "loss": loss,
            "metrics": {
                "type": "array",
                "uniqueItems": True,
                "items": {"enum": ["accuracy"], "title": "metric"},
                "default": ["accuracy"],
                "description": "Metrics reported while training ('accuracy' follows the label format).",
            },
        },
        required=["loss"],
        description="How the model is compiled.",
    )


def model_handling_schema(*, class_weight_ref: str) -> dict[str, Any]:
    """``model_args.model_handling``: training loop settings.

    Example:
        >>> model_handling_schema(class_weight_ref="cw.json")["properties"]["batch_size"]["default"]
        16
    """
    early = closed_object(
        {
            "monitor": monitor_schema("val_loss"),
            "patience": {"type": "integer", "minimum": 0, "default": 5, "description": "Epochs without improvement before stopping."},
            "min_delta": {"type": "number", "minimum": 0, "default": 0.0, "description": "Smallest change counted as an improvement."},
        },
        required=[],
        description="Early stopping.",
        title="an early-stopping object",
    )
    plateau = closed_object(
        {
            "monitor": monitor_schema("val_loss"),
            "factor": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.5, "description": "Factor applied to the learning rate."},
            "patience": {"type": "integer", "minimum": 0, "default": 3, "description": "Epochs without improvement before reducing."},
            "min_lr": {"type": "number", "minimum": 0, "default": 0.0, "description": "Lower bound of the learning rate."},
        },
        required=[],
        description="Reduce the learning rate on plateau (not used with a schedule).",
        title="a reduce-on-plateau object",
    )
    schema = closed_object(
        {
            "training_pcloud": input_paths_schema(
                "Point clouds (LAS/LAZ) to train on instead of in_pcloud, which are then only "
                "predicted and evaluated; one path or a list, relative to the spec file's folder."
            ),
            "training_epochs": {"type": "integer", "minimum": 1, "default": 20, "description": "Number of training epochs."},
            "batch_size": {"type": "integer", "minimum": 1, "default": 16, "description": "Receptive fields per training batch."},
            "validation_split": {
                "type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.0,
                "description": "Fraction of the training fields held out for validation "
                "(0: none); not together with validation_pcloud.",
            },
            "validation_pcloud": {
                **input_paths_schema("Point clouds used for validation instead of a split."),
            },
            "checkpoint": {"type": "boolean", "default": True, "description": "Keep the weights of the best epoch on checkpoint_monitor."},
            "checkpoint_monitor": monitor_schema("val_loss"),
            "early_stopping": {"description": "Early stopping, or null for none.", "default": None, "anyOf": [{"type": "null", "title": "null"}, early]},
            "reduce_lr_on_plateau": {"description": "Reduce-on-plateau, or null for none.", "default": None, "anyOf": [{"type": "null", "title": "null"}, plateau]},
            "class_weight": {
                "$ref": class_weight_ref,
                "description": "VL3D's place for class weights; used when the loss entry gives none.",
                "default": None,
            },
            "predict_batch_size": {"type": "integer", "minimum": 1, "default": 32, "description": "Receptive fields per prediction batch."},
            "tensorboard_dir": tensorboard_dir_schema(),
        },
        required=[],
        description="Training loop settings.",
    )
    schema["default"] = {}
    return schema


def pre_processing_schema() -> dict[str, Any]:
    """``model_args.pre_processing``: receptive fields.

    Example:
        >>> pre_processing_schema()["properties"]["num_points"]["default"]
        512
    """
    neighborhood = closed_object(
        {
            "type": {
                "enum": ["sphere", "cylinder", "rectangular2D", "rectangular3D"],
                "title": "neighborhood type",
                "default": "sphere",
                "description": "Shape of a receptive field.",
            },
            "radius": {"type": "number", "exclusiveMinimum": 0, "description": "Radius (half side for rectangular) in metres."},
            "separation_factor": {
                "type": "number", "exclusiveMinimum": 0, "default": 0.8,
                "description": "Distance between field centres, in radii (< 2 makes fields overlap).",
            },
        },
        required=["radius"],
        description="The neighbourhood of each field centre.",
    )
    return closed_object(
        {
            "pre_processor": {
                "enum": ["furthest_point_subsampling", "grid_subsampling"],
                "title": "pre-processor",
                "default": "furthest_point_subsampling",
                "description": "How a field's points are sampled down to num_points.",
            },
            "neighborhood": neighborhood,
            "num_points": {"type": "integer", "minimum": 1, "default": 512, "description": "Points per receptive field."},
            "scale": {"type": "boolean", "default": True, "description": "Divide the centred coordinates by the radius."},
        },
        required=["neighborhood"],
        description="How the cloud is cut into fixed-size receptive fields.",
    )


def model_args_common(*, loss: dict[str, Any], class_weight_ref: str) -> dict[str, dict[str, Any]]:
    """The ``model_args`` properties every model takes (architecture ones come from MODELS).

    Example:
        >>> sorted(model_args_common(loss={}, class_weight_ref="cw.json"))[:2]
        ['class_names', 'compilation_args']
    """
    return {
        "num_classes": {"type": "integer", "minimum": 2, "description": "Number of classes (C)."},
        "class_names": {
            "type": "array",
            "uniqueItems": True,
            "items": {"type": "string", "minLength": 1},
            "description": "Class names in class-index order; default: the class mapping step's.",
        },
        "pre_processing": pre_processing_schema(),
        "model_handling": model_handling_schema(class_weight_ref=class_weight_ref),
        "compilation_args": compilation_args_schema(loss=loss),
    }


def class_weight_strategies() -> tuple[str, ...]:
    """The class-weight strategy names the losses package accepts, plus the ``auto`` alias.

    Example:
        >>> "auto" in class_weight_strategies()
        True
    """
    import vl3d_focal.losses as losses

    from vl3d_focal.losses import class_weights

    names = tuple(losses.CLASS_WEIGHT_STRATEGIES)
    return names + tuple(alias for alias in class_weights.STRATEGY_ALIASES if alias not in names)


def _case_insensitive(names: tuple[str, ...]) -> str:
    def letters(name: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in name)

    return "^(" + "|".join(letters(name) for name in names) + ")$"


def _strategy_option_defaults() -> dict[str, Any]:
    import vl3d_focal.losses as losses

    params = inspect.signature(losses.compute_class_weight).parameters
    return {
        name: params[name].default
        for name in OPTION_NAMES
        if name in params and params[name].default is not inspect.Parameter.empty
    }


def class_weight_schema() -> dict[str, Any]:
    """The shared ``class_weight`` definition (loss entries and ``model_handling``).

    Example:
        >>> [b["title"] for b in class_weight_schema()["anyOf"]][:2]
        ['null (no class weights)', 'a list of one non-negative number per class']
    """
    strategies = class_weight_strategies()
    name: dict[str, Any] = {"type": "string", "title": "a class-weight strategy name"}
    if len(strategies) > 1:
        name.update(pattern=_case_insensitive(strategies), examples=list(strategies))
    name["description"] = "Strategy computing the weights from the training labels (case-insensitive; 'auto' = 'balanced')."
    defaults = _strategy_option_defaults()
    options = {
        "beta": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "description": "effective_number: the beta of (1 - beta^n) / (1 - beta)."},
        "k": {"type": "number", "exclusiveMinimum": 1, "description": "log: the k of 1 / ln(k + frequency)."},
        "on_absent_class": {"enum": ["error", "zero"], "description": "A class absent from the training labels: stop with an error, or weight it 0."},
    }
    for option, value in defaults.items():
        options[option]["default"] = value
    strategy_object = {
        "type": "object",
        "additionalProperties": False,
        "required": ["strategy"],
        "properties": {"strategy": {**name, "description": "Strategy name."}, **options},
    }
    weight_dict = {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": {"type": "number", "minimum": 0, "description": "Weight of the class."},
    }
    return {
                "title": "class weights",
        "description": "Per-class weights: a list (one per class, in class order), an object "
        "{class name: weight} naming every class, a strategy name, or a strategy object "
        "{'strategy': name, ...options}; null for none.",
        "anyOf": [
            {"type": "null", "title": "null (no class weights)"},
            {"type": "array", "title": "a list of one non-negative number per class", "minItems": 1, "items": {"type": "number", "minimum": 0}},
            name,
            {"type": "object", "title": "a {class name: weight} object or a strategy object",
             "if": {"required": ["strategy"]}, "then": strategy_object, "else": weight_dict},
        ],
    }
