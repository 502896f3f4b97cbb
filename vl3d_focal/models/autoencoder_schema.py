"""JSON Schemas of VL3D's ``ConvolutionalAutoencoderPwiseClassifier`` spec entries.

* :func:`hierarchical_fps_schema`: ``model_args.pre_processing`` with ``"pre_processor":
  "hierarchical_fps"`` (the depths of the hierarchical receptive fields);
* :data:`AUTOENCODER_SCHEMA`: the architecture part of ``model_args`` (it includes that
  ``pre_processing``: the model's inputs depend on it).

VL3D keys that change nothing here carry ``x-vl3d-no-effect`` with the reason, which validation
reports (:mod:`vl3d_focal.schema_annotations`).

Per-operation lists (``sigma``, ``W_initializer``, ``H_activation``...) have one entry per
feature extraction operation (``sum(operations_per_depth)`` of them, depth 0's first); a list
left out means its default for every operation.

Example:
    >>> sorted(hierarchical_fps_schema()["properties"])[:3]
    ['center_on_pcloud', 'fast_flag_per_depth', 'neighborhood']
    >>> AUTOENCODER_SCHEMA["properties"]["downsampling_filter"]["enum"]
    ['strided_kpconv', 'mean', 'gaussian']
"""

from __future__ import annotations

from typing import Any

from vl3d_focal.data.field_schemas import shared_properties
from vl3d_focal.data.hierarchy_defaults import (
    DEFAULT_NUM_DOWNSAMPLING_NEIGHBORS,
    DEFAULT_NUM_POINTS_PER_DEPTH,
    DEFAULT_NUM_PWISE_NEIGHBORS,
    DEFAULT_NUM_UPSAMPLING_NEIGHBORS,
)
from vl3d_focal.schema_annotations import no_effect

DOWNSAMPLING_FILTERS = ("strided_kpconv", "mean", "gaussian")
UPSAMPLING_FILTERS = ("mean", "gaussian")
FEATURE_EXTRACTION_TYPES = ("KPConv", "PointNet")

FEATURE_EXTRACTION_DEFAULTS: dict[str, Any] = {
    "type": "KPConv",
    "operations_per_depth": [2, 1, 1, 1, 1],
    "feature_space_dims": [64, 64, 128, 256, 512, 1024],
    "bn": True,
    "bn_momentum": 0.99,
    "activate": True,
}
"""Defaults of ``feature_extraction`` (VL3D's KPConv example, Keras' batch-norm momentum)."""

_NAME = {"type": "string", "minLength": 1}
_NAME_OR_NULL = {"type": ["string", "null"], "minLength": 1}
KPCONV_PER_OPERATION: dict[str, tuple[Any, dict[str, Any], str]] = {
    "num_kernel_points": (15, {"type": "integer", "minimum": 1}, "Kernel points of each KPConv (centre included)."),
    "kernel_radius": (
        3.0,
        {"type": "number", "exclusiveMinimum": 0},
        "Radius of the sphere of each KPConv's kernel points, in coordinate units.",
    ),
    "sigma": (
        3.0,
        {"type": "number", "exclusiveMinimum": 0},
        "Influence distance of each KPConv's kernel points, in coordinate units.",
    ),
    "deformable": (False, {"const": False}, "Only false: the kernels are rigid."),
    "W_initializer": ("glorot_uniform", _NAME, "Keras initializer of each KPConv's weights."),
    "W_regularizer": (None, _NAME_OR_NULL, "Keras regularizer of each KPConv's weights, or null."),
    "W_constraint": (None, _NAME_OR_NULL, "Keras constraint of each KPConv's weights, or null."),
}
"""KPConv's per-operation keys: (default for every operation, item schema, description)."""

POINTNET_PER_OPERATION: dict[str, tuple[Any, dict[str, Any], str]] = {
    "H_activation": ("relu", _NAME, "Activation of the shared MLP applied to each neighbour."),
    "H_initializer": ("glorot_uniform", _NAME, "Initializer of that shared MLP."),
    "H_regularizer": (None, _NAME_OR_NULL, "Kernel regularizer of that shared MLP, or null."),
    "H_constraint": (None, _NAME_OR_NULL, "Kernel constraint of that shared MLP, or null."),
    "gamma_activation": ("relu", _NAME, "Activation of the MLP applied after the max over the neighbours."),
    "gamma_kernel_initializer": ("glorot_uniform", _NAME, "Kernel initializer of that MLP."),
    "gamma_kernel_regularizer": (None, _NAME_OR_NULL, "Kernel regularizer of that MLP, or null."),
    "gamma_kernel_constraint": (None, _NAME_OR_NULL, "Kernel constraint of that MLP, or null."),
    "gamma_bias_enabled": (True, {"type": "boolean"}, "Whether that MLP has a bias."),
    "gamma_bias_initializer": ("zeros", _NAME, "Bias initializer of that MLP."),
    "gamma_bias_regularizer": (None, _NAME_OR_NULL, "Bias regularizer of that MLP, or null."),
    "gamma_bias_constraint": (None, _NAME_OR_NULL, "Bias constraint of that MLP, or null."),
}
"""PointNet's per-operation keys (a PointNet++ grouping: ``gamma(max_j H(y_j - x, f_j)))``."""


def _counts(description: str, default: tuple[int, ...]) -> dict[str, Any]:
    return {
        "type": "array",
        "minItems": 1,
        "items": {"type": "integer", "minimum": 1},
        "default": list(default),
        "description": description,
    }


def hierarchical_fps_schema() -> dict[str, Any]:
    """``model_args.pre_processing`` of VL3D's ``hierarchical_fps`` pre-processor (closed object).

    Example:
        >>> hierarchical_fps_schema()["properties"]["num_points_per_depth"]["default"]
        [512, 256, 128, 64, 32]
    """
    return {
        "type": "object",
        "description": "Hierarchical receptive fields: furthest point sampling of the field, then of each depth.",
        "additionalProperties": False,
        "required": ["pre_processor", "neighborhood"],
        "properties": {
            "pre_processor": {"const": "hierarchical_fps", "description": "VL3D's hierarchical FPS."},
            "neighborhood": {
                "type": "object",
                "description": "The neighbourhood of each field centre (as for the other pre-processors).",
                "additionalProperties": False,
                "required": ["radius"],
                "properties": {
                    "type": {
                        "enum": ["sphere", "cylinder", "rectangular2D", "rectangular3D"],
                        "default": "sphere",
                        "description": "Shape of a receptive field.",
                    },
                    "radius": {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "description": "Radius (half side for rectangular) in metres.",
                    },
                    "separation_factor": {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "default": 0.8,
                        "description": "Distance between field centres, in radii.",
                    },
                },
            },
            "to_unit_sphere": {
                "type": "boolean",
                "default": False,
                "description": "Divide the centred coordinates by the radius (else metres).",
            },
            "num_points_per_depth": _counts(
                "Points of the field at each depth (non-increasing).", DEFAULT_NUM_POINTS_PER_DEPTH
            ),
            "num_pwise_neighbors": _counts(
                "Nearest same-depth neighbours a feature extraction operation at depth d convolves over.",
                DEFAULT_NUM_PWISE_NEIGHBORS,
            ),
            "num_downsampling_neighbors": _counts(
                "For d >= 1: nearest depth d-1 points of each depth-d point "
                "(the downsampling into depth d); entry 0: no effect.",
                DEFAULT_NUM_DOWNSAMPLING_NEIGHBORS,
            ),
            "num_upsampling_neighbors": _counts(
                "For d >= 1: nearest depth-d points of each depth d-1 point "
                "(the upsampling back to depth d-1); entry 0: no effect.",
                DEFAULT_NUM_UPSAMPLING_NEIGHBORS,
            ),
            "fast_flag_per_depth": no_effect(
                {"type": "array", "items": {"type": "boolean"}, "description": "VL3D: approximate sampling per depth."},
                why="every depth takes the exact furthest points",
            ),
            **shared_properties(),
        },
    }


def _per_operation(keys: dict[str, tuple[Any, dict[str, Any], str]]) -> dict[str, Any]:
    return {
        key: {
            "type": "array",
            "items": item,
            "description": f"{text} One entry per operation; default {default!r} for every operation.",
        }
        for key, (default, item, text) in keys.items()
    }


def feature_extraction_schema() -> dict[str, Any]:
    """``model_args.feature_extraction``: KPConv or PointNet operations per depth.

    Example:
        >>> feature_extraction_schema()["default"]["type"]
        'KPConv'
    """
    common = {
        "type": {"enum": list(FEATURE_EXTRACTION_TYPES), "default": "KPConv", "description": "The operator."},
        "operations_per_depth": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "integer", "minimum": 1},
            "default": FEATURE_EXTRACTION_DEFAULTS["operations_per_depth"],
            "description": "Feature extraction operations at each depth.",
        },
        "feature_space_dims": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "integer", "minimum": 1},
            "default": FEATURE_EXTRACTION_DEFAULTS["feature_space_dims"],
            "description": "Output features of each operation (depth 0's first).",
        },
        "bn": {"type": "boolean", "default": True, "description": "Batch normalisation after each operation."},
        "bn_momentum": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "default": 0.99,
            "description": "Momentum of those batch normalisations' moving statistics (Keras').",
        },
    }

    def closed(properties: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False, "properties": properties}

    kpconv = closed(
        {
            **common,
            "activate": {
                "type": "boolean",
                "default": True,
                "description": "ReLU after each KPConv (and its batch norm).",
            },
            **_per_operation(KPCONV_PER_OPERATION),
        }
    )
    pointnet = closed({**common, **_per_operation(POINTNET_PER_OPERATION)})
    return {  # an object of either closed form, told apart by its type
        "description": "Feature extraction operations of the encoder (KPConv: Thomas et al. 2019; PointNet: "
        "PointNet++ grouping).",
        "default": dict(FEATURE_EXTRACTION_DEFAULTS),
        "if": {"required": ["type"], "properties": {"type": {"const": "PointNet"}}},
        "then": pointnet,
        "else": kpconv,
    }


AUTOENCODER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "ConvolutionalAutoencoderPwiseClassifier architecture arguments",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "pre_processing": hierarchical_fps_schema(),
        "feature_extraction": feature_extraction_schema(),
        "downsampling_filter": {
            "enum": list(DOWNSAMPLING_FILTERS),
            "default": "strided_kpconv",
            "description": "Downsampling into each deeper depth: a strided KPConv (KPConv "
            "feature extraction only), the mean or a gaussian-weighted mean of the neighbours.",
        },
        "upsampling_filter": {
            "enum": list(UPSAMPLING_FILTERS),
            "default": "mean",
            "description": "Upsampling back to each shallower depth: mean or gaussian-weighted mean of the neighbours.",
        },
        "upsampling_bn": {
            "type": "boolean",
            "default": True,
            "description": "Batch normalisation after each upsampling's shared layer.",
        },
        "upsampling_momentum": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "default": 0.99,
            "description": "Momentum of those batch normalisations (Keras').",
        },
        "conv1d_kernel_initializer": {
            **_NAME,
            "default": "glorot_normal",
            "description": "Initializer of the upsamplings' shared layers.",
        },
        "output_kernel_initializer": {
            **_NAME,
            "default": "glorot_normal",
            "description": "Initializer of the last layer (the logits).",
        },
        "structure_alignment": {"type": "null", "default": None, "description": "Only null (no T-Net)."},
        "features_alignment": {"type": "null", "default": None, "description": "Only null (no T-Net)."},
        "fnames": {
            "type": "array",
            "uniqueItems": True,
            "items": {"type": "string", "minLength": 1},
            "description": "VL3D's autoencoder reads its point features here: when the train step gives no "
            "fnames, these are its fnames.",
        },
    },
}
"""JSON Schema (draft 2020-12) of the architecture part of ``model_args``."""
