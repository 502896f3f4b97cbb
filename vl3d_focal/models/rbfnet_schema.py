"""The architecture arguments of ``RBFNetPwiseClassifier``: names, defaults, JSON schema, checks.

Kept apart from the Keras model (:mod:`vl3d_focal.models.rbfnet`) so that specs are validated
without importing Keras. Defaults are VL3D's (its ``RBFNet`` and ``RBFNetPwiseClassif``
configuration), the T-Net widths this project's PointNet defaults.

Example:
    >>> RBFNET_SCHEMA["properties"]["enhanced_dim"]["default"]
    [16, 128, 1024]
    >>> rbfnet_args_issues({"rbfs": [{"max_radii": [1, 1, 1], "angular_resolutions": [2, 4]}]})[0][1]
    'expected 1 first (the centre point), got 2'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vl3d_focal.errors import did_you_mean
from vl3d_focal.models.keras_names import KERAS_ACTIVATIONS, keras_name_issues
from vl3d_focal.models.kernel_structures import STRUCTURE_TYPES, max_radii_schema
from vl3d_focal.models.pointnet_schema import DEFAULT_TNET_POST_FILTERS_SPEC, DEFAULT_TNET_PRE_FILTERS_SPEC
from vl3d_focal.schema_annotations import case_insensitive_pattern, no_effect

KERNEL_FUNCTION_TYPES = ("Gaussian", "Markov")
AFTER_FEATURES_TYPES = ("MLP", "Conv1D")
DEFAULT_ENHANCED_DIM: tuple[int, ...] = (16, 128, 1024)
DEFAULT_AFTER_FEATURES_DIM: tuple[int, ...] = (512, 128)
DEFAULT_INITIALIZER = "glorot_normal"

_WIDTHS = {"type": "array", "items": {"type": "integer", "minimum": 1}}
_KERNEL_FUNCTION = {
    "type": "string",
    "pattern": case_insensitive_pattern(KERNEL_FUNCTION_TYPES),
    "examples": list(KERNEL_FUNCTION_TYPES),
    "default": "Gaussian",
}


def _rbf_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["max_radii", "angular_resolutions"],
        "properties": {
            "max_radii": max_radii_schema(
                "Radii of the outermost shell of kernel points along x, y, z (coordinate units)."
            ),
            "radii_resolution": {
                "type": "integer",
                "minimum": 1,
                "description": "Number of shells, the centre point included; the length of angular_resolutions "
                "(default: that length).",
            },
            "angular_resolutions": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "integer", "minimum": 1},
                "description": "Resolution of each shell, 1 (the centre point) first: angles (ellipsoids), points per "
                "edge (grids, rectangulars) or heights (cylinders, cone).",
            },
            "structure_initialization_type": {
                "type": "string",
                "pattern": case_insensitive_pattern(STRUCTURE_TYPES),
                "examples": list(STRUCTURE_TYPES),
                "default": "concentric_ellipsoids",
                "description": "Initial placement of the kernel points (case-insensitive).",
            },
            "trainable_kernel_structure": {
                "type": "boolean",
                "default": True,
                "description": "The kernel points learn.",
            },
            "trainable_kernel_sizes": {"type": "boolean", "default": True, "description": "The kernel sizes learn."},
            "kernel_function_type": {
                **_KERNEL_FUNCTION,
                "description": "Gaussian exp(-d^2/w^2) or Markov exp(-d/w^2) of the distance d to each kernel point.",
            },
            "batch_normalization": {
                "type": "boolean",
                "default": False,
                "description": "Batch normalisation of this RBF's features.",
            },
            "activation": {
                "type": ["string", "null"],
                "minLength": 1,
                "default": None,
                "description": "Keras activation of this RBF's features (VL3D: relu), or null for none.",
            },
        },
    }


def _feature_processing_schema() -> dict[str, Any]:
    numbers = {"type": "array", "minItems": 1, "items": {"type": "number"}}
    return {
        "type": ["object", "null"],
        "additionalProperties": False,
        "required": ["num_kernels"],
        "default": None,
        "description": "RBF processing of the point features: each feature meets num_kernels 1D kernels; "
        "null for none (needs point features).",
        "properties": {
            "num_kernels": {"type": "integer", "minimum": 1, "description": "Kernels per feature."},
            "means": {
                **numbers,
                "description": "One per feature: the middle of its kernels' centres (default: uniform in [-a, a]).",
            },
            "stdevs": {
                **numbers,
                "description": "One per feature: its centres span mean -+ 3 stdev, and it scales the sizes "
                "(default: uniform in [a, b]).",
            },
            "a": {"type": "number", "default": 0.01, "description": "Floor of the initial kernel sizes."},
            "b": {"type": "number", "default": 1.0, "description": "Spread of the initial kernel sizes."},
            "kernel_function_type": {**_KERNEL_FUNCTION, "description": "Gaussian or Markov kernels."},
            "trainable_M": {"type": "boolean", "default": True, "description": "The kernels' centres learn."},
            "trainable_Omega": {"type": "boolean", "default": True, "description": "The kernels' sizes learn."},
            "enhance": {
                "type": "boolean",
                "default": False,
                "description": "A shared layer of num_kernels x features widths after the kernels.",
            },
            "batch_normalization": {
                "type": "boolean",
                "default": True,
                "description": "Batch normalisation in that enhancement layer.",
            },
        },
    }


def _initializer(description: str) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "default": DEFAULT_INITIALIZER, "description": description}


def _flag(description: str) -> dict[str, Any]:
    return {"type": "boolean", "default": True, "description": description}


RBFNET_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "RBFNetPwiseClassifier architecture arguments",
    "type": "object",
    "additionalProperties": False,
    "required": ["rbfs"],
    "properties": {
        "fnames": {
            "type": "array",
            "uniqueItems": True,
            "items": {"type": "string", "minLength": 1},
            "description": "VL3D's RBFNet reads its point features here: when the train step gives no fnames, "
            "these are its fnames.",
        },
        "rbfs": {
            "type": "array",
            "minItems": 1,
            "items": _rbf_schema(),
            "description": "The RBF feature extraction layers, each on the (transformed) coordinates.",
        },
        "feature_processing": _feature_processing_schema(),
        "tnet_pre_filters_spec": {
            **_WIDTHS,
            "default": list(DEFAULT_TNET_PRE_FILTERS_SPEC),
            "description": "Widths of the T-Nets' shared per-point layers; empty together with "
            "tnet_post_filters_spec means no T-Net.",
        },
        "tnet_post_filters_spec": {
            **_WIDTHS,
            "default": list(DEFAULT_TNET_POST_FILTERS_SPEC),
            "description": "Widths of the T-Nets' dense layers after their max pooling.",
        },
        "tnet_kernel_initializer": _initializer("Initializer of the T-Nets' kernels."),
        "enhanced_dim": {
            "type": ["array", "null"],
            "items": {"type": "integer", "minimum": 1},
            "default": list(DEFAULT_ENHANCED_DIM),
            "description": "Widths of the shared layers after the concatenated RBF features (null: none).",
        },
        "enhancement_kernel_initializer": _initializer("Initializer of those enhancement layers."),
        "after_features_type": {
            "type": "string",
            "pattern": case_insensitive_pattern(AFTER_FEATURES_TYPES),
            "examples": list(AFTER_FEATURES_TYPES),
            "default": "MLP",
            "description": "MLP or Conv1D (kernel 1) shared layers after the full features: the same per-point "
            "maths, a Dense layer on the last axis with batch normalisation and ReLU.",
        },
        "after_features_dim": {
            **_WIDTHS,
            "default": list(DEFAULT_AFTER_FEATURES_DIM),
            "description": "Widths of the shared layers before the logits.",
        },
        "after_features_kernel_initializer": _initializer("Initializer of those layers."),
        "output_kernel_initializer": _initializer("Initializer of the last layer (the logits)."),
        "include_prepooling_features": _flag("Concatenate the enhanced RBF features before the final layers."),
        "include_global_features": _flag("Concatenate the max-pooled global feature to every point."),
        "skip_link_features": _flag("Concatenate the (transformed) point features."),
        "transform_input_features": _flag("A feature T-Net transforms the point features (when there is a T-Net)."),
        "feature_structuring": no_effect(
            {"type": ["object", "null"], "description": "VL3D's experimental features structuring layer."},
            why="this project's RBFNet has no features structuring layer",
        ),
    },
}
"""JSON Schema (draft 2020-12) of the architecture part of ``model_args``."""

Issue = tuple[tuple[str | int, ...], str]


def _rbf_issues(index: int, rbf: Mapping[str, Any]) -> list[Issue]:
    at: tuple[str | int, ...] = ("model_args", "rbfs", index)
    resolutions = rbf.get("angular_resolutions")
    if not isinstance(resolutions, list) or not resolutions:
        return []
    issues: list[Issue] = []
    if resolutions[0] != 1:
        issues.append((at + ("angular_resolutions", 0), f"expected 1 first (the centre point), got {resolutions[0]!r}"))
    activation = rbf.get("activation")
    if isinstance(activation, str) and activation not in KERAS_ACTIVATIONS:
        hint = did_you_mean(activation, KERAS_ACTIVATIONS) or ""
        issues.append((at + ("activation",), f"expected a Keras activation name, received {activation!r}{hint}"))
    count = rbf.get("radii_resolution")
    if isinstance(count, int) and not isinstance(count, bool) and count != len(resolutions):
        issues.append(
            (
                at + ("radii_resolution",),
                f"expected the length of angular_resolutions ({len(resolutions)}), got {count}",
            )
        )
    return issues


def rbfnet_args_issues(model_args: Mapping[str, Any]) -> list[Issue]:
    """What the RBFNet's build refuses in ``model_args`` that its JSON Schema does not say (the
    model registry's ``args_check``): a shell list not starting with the centre, a
    ``radii_resolution`` other than its length, an unknown Keras initializer. Paths are below the
    train step. (Its per-feature lists: :func:`rbfnet_features_issues`.)

    Example:
        >>> rbfnet_args_issues({"rbfs": [{"radii_resolution": 3, "angular_resolutions": [1]}]})[0][1]
        'expected the length of angular_resolutions (1), got 3'
    """
    issues = keras_name_issues(model_args)
    rbfs = model_args.get("rbfs")
    for index, rbf in enumerate(rbfs if isinstance(rbfs, list) else []):
        issues += _rbf_issues(index, rbf) if isinstance(rbf, Mapping) else []
    return issues


def rbfnet_features_issues(model_args: Mapping[str, Any], *, num_features: int) -> list[Issue]:
    """What the RBFNet's build refuses in ``model_args`` for ``num_features`` point features (the
    model registry's ``features_check``): a ``feature_processing`` without features, its ``means``
    or ``stdevs`` not one per feature. Paths are below the train step.

    Example:
        >>> rbfnet_features_issues({"feature_processing": {"num_kernels": 4, "means": [0.5]}}, num_features=2)
        [(('model_args', 'feature_processing', 'means'), 'expected one per point feature (2), got 1')]
    """
    processing = model_args.get("feature_processing")
    if not isinstance(processing, Mapping):
        return []
    if num_features == 0:
        return [
            (
                ("model_args", "feature_processing"),
                "expected point features to process; the model learns from none (no fnames, nor model_args.fnames)",
            )
        ]
    return [
        (
            ("model_args", "feature_processing", key),
            f"expected one per point feature ({num_features}), got {len(values)}",
        )
        for key, values in ((key, processing.get(key)) for key in ("means", "stdevs"))
        if isinstance(values, list) and len(values) != num_features
    ]
