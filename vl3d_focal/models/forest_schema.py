"""The arguments of ``RandomForestClassifier`` (VL3D's baseline, scikit-learn's forest): JSON schema.

Kept apart from scikit-learn so that specs are validated without importing it. The names and
meanings are scikit-learn's (``sklearn.ensemble.RandomForestClassifier``), as VL3D passes them;
``class_weight`` takes this project's forms (a list, ``{class: weight}``, a strategy such as
``balanced``: see ``vl3d-focal list class-weights``); ``max_training_points`` caps the training
points (a seeded random draw), which bounds memory and time on big clouds.

Example:
    >>> FOREST_SCHEMA["properties"]["n_estimators"]["default"]
    100
"""

from __future__ import annotations

from typing import Any

_INT_OR_NULL = {"type": ["integer", "null"], "minimum": 1}

FOREST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "RandomForestClassifier arguments",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "n_estimators": {"type": "integer", "minimum": 1, "default": 100, "description": "Number of trees."},
        "criterion": {"enum": ["gini", "entropy", "log_loss"], "default": "gini", "description": "Split quality."},
        "max_depth": {**_INT_OR_NULL, "default": None, "description": "Maximum depth of a tree; null: unlimited."},
        "min_samples_split": {
            "type": ["integer", "number"],
            "exclusiveMinimum": 0,
            "default": 2,
            "description": "Samples needed to split a node (a count, or a fraction <= 1).",
        },
        "min_samples_leaf": {
            "type": ["integer", "number"],
            "exclusiveMinimum": 0,
            "default": 1,
            "description": "Samples needed in a leaf (a count, or a fraction < 1).",
        },
        "min_weight_fraction_leaf": {
            "type": "number",
            "minimum": 0,
            "maximum": 0.5,
            "default": 0.0,
            "description": "Minimum weighted fraction of the samples in a leaf.",
        },
        "max_features": {
            "default": "sqrt",
            "description": "Features tried per split: sqrt, log2, a count, a fraction, or null (all).",
            "anyOf": [
                {"enum": ["sqrt", "log2", None]},
                {"type": "integer", "minimum": 1},
                {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            ],
        },
        "max_leaf_nodes": {
            "type": ["integer", "null"],
            "minimum": 2,
            "default": None,
            "description": "Maximum leaves per tree; null: unlimited.",
        },
        "min_impurity_decrease": {
            "type": "number",
            "minimum": 0,
            "default": 0.0,
            "description": "A split must decrease the impurity by at least this.",
        },
        "bootstrap": {"type": "boolean", "default": True, "description": "Each tree learns from a bootstrap sample."},
        "oob_score": {
            "type": "boolean",
            "default": False,
            "description": "Estimate the accuracy on the out-of-bag samples (logged).",
        },
        "n_jobs": {"type": ["integer", "null"], "default": -1, "description": "Parallel jobs (-1: every core)."},
        "warm_start": {"const": False, "default": False, "description": "Only false: every training starts afresh."},
        "class_weight": {
            "$ref": "class_weight.schema.json",
            "default": None,
            "description": "Class weights (VL3D's place for the forest; model_handling.class_weight "
            "is used when this is null).",
        },
        "ccp_alpha": {"type": "number", "minimum": 0, "default": 0.0, "description": "Cost-complexity pruning."},
        "max_samples": {
            "default": None,
            "description": "Samples drawn per tree with bootstrap: a count, a fraction, "
            "or null (as many as the training points).",
            "anyOf": [
                {"type": "null"},
                {"type": "integer", "minimum": 1},
                {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            ],
        },
        "max_training_points": {
            **_INT_OR_NULL,
            "default": None,
            "description": "Train on at most this many labelled points (a seeded random draw); "
            "null: every labelled point.",
        },
    },
}
"""JSON Schema (draft 2020-12) of the forest's part of ``model_args``."""

SKLEARN_ARGS: tuple[str, ...] = tuple(
    name for name in FOREST_SCHEMA["properties"] if name not in ("class_weight", "max_training_points")
)
"""The arguments passed to scikit-learn as they are."""
