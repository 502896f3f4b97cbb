"""JSON Schema of ``model_args.compilation_args``: optimizer, learning rate (or schedule), loss, metrics.

VL3D's ``compilation_args``: ``optimizer.algorithm`` (SGD, Adam), ``learning_rate`` a number or
``{"schedule": "exponential_decay", "schedule_args": {...}}`` (Keras' ``ExponentialDecay``),
``loss`` (any registered loss) and Keras ``metrics``.

Example:
    >>> sorted(compilation_args_schema(loss={"type": "object"})["properties"])
    ['loss', 'metrics', 'optimizer']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vl3d_focal.config.schema_parts import closed_object

TRAINING_METRICS = (
    "accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "precision",
    "recall",
    "binary_accuracy",
)
"""Keras metrics ``compilation_args.metrics`` accepts (VL3D's names)."""
DEFAULT_TRAINING_METRICS = ("accuracy",)


def logged_quantities(metrics: Sequence[str]) -> list[str]:
    """The names a training with ``compilation_args.metrics`` gives its callbacks each epoch,
    which monitors may name (the ``val_*`` ones with validation data). The learning rate is not
    one: it joins the logs after the callbacks that monitor.

    Example:
        >>> logged_quantities(["accuracy"])
        ['loss', 'accuracy', 'val_loss', 'val_accuracy']
    """
    names = ["loss", *metrics]
    return [*names, *(f"val_{name}" for name in names)]


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
                    "decay_steps": {"type": "integer", "minimum": 1, "description": "Steps per decay period."},
                    "decay_rate": {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "description": "Factor applied per decay period.",
                    },
                    "staircase": {"type": "boolean", "default": False, "description": "Decay in discrete steps."},
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
                "items": {"enum": list(TRAINING_METRICS), "title": "metric"},
                "default": list(DEFAULT_TRAINING_METRICS),
                "description": "Metrics reported while training, weighted like the loss (ignored points left "
                "out): accuracy, categorical_accuracy and sparse_categorical_accuracy are the fraction of "
                "points whose most probable class is the reference, whatever the label format; precision, "
                "recall and binary_accuracy are Keras' (probability above 0.5) of class 1 with a binary loss "
                "(class_weighted_binary_crossentropy, as VL3D's single sigmoid output), else over every point "
                "and class.",
            },
        },
        required=["loss"],
        description="How the model is compiled.",
    )
