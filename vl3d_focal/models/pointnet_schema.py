"""The architecture arguments of ``PointNetPwiseClassifier``: names, defaults, JSON schema.

Kept apart from the Keras model (:mod:`vl3d_focal.models.pointnet`) so that specs are
validated without importing Keras.

Example:
    >>> POINTNET_SCHEMA["properties"]["num_pwise_feats"]["default"]
    32
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vl3d_focal.models.features_structuring_schema import FSL_SCHEMA, fsl_issues
from vl3d_focal.models.keras_names import keras_name_issues
from vl3d_focal.schema_annotations import NO_EFFECT_ANNOTATION

DEFAULT_NUM_PWISE_FEATS = 32
DEFAULT_PRETRANSF_FEATS_SPEC: tuple[dict[str, int], ...] = ({"filters": 32}, {"filters": 64})
DEFAULT_POSTRANSF_FEATS_SPEC: tuple[dict[str, int], ...] = ({"filters": 64}, {"filters": 128})
DEFAULT_TNET_PRE_FILTERS_SPEC: tuple[int, ...] = (32, 64)
DEFAULT_TNET_POST_FILTERS_SPEC: tuple[int, ...] = (64, 32)
DEFAULT_FINAL_SHARED_MLPS: tuple[int, ...] = ()
DEFAULT_KERNEL_INITIALIZER = "he_normal"

DEFAULT_KERNEL_INITIALIZER_F = "glorot_normal"
BRANCH_FLAG_DEFAULTS: dict[str, bool] = {
    "skip_link_features": False,
    "include_pretransf_feats": False,
    "include_transf_feats": True,
    "include_postransf_feats": False,
    "include_global_feats": True,
}
"""VL3D's defaults of what each branch (``_X``, ``_F``) concatenates before the final layers."""
VL3D_BRANCH_FLAGS: tuple[str, ...] = tuple(f"{flag}_{space}" for space in ("X", "F") for flag in BRANCH_FLAG_DEFAULTS)
"""VL3D's PointNet options choosing what its coordinate (X) and feature (F) branches concatenate."""
F_BRANCH_ARGS: tuple[str, ...] = (
    "pretransf_feats_F_spec",
    "postransf_feats_F_spec",
    "tnet_pre_filters_F_spec",
    "tnet_post_filters_F_spec",
    "kernel_initializer_F",
)
"""The feature branch's own layers (null: the coordinate branch's) and initializer."""
POINTNET_ARCHITECTURE_ARGS: tuple[str, ...] = (
    "num_pwise_feats",
    "pretransf_feats_spec",
    "postransf_feats_spec",
    "tnet_pre_filters_spec",
    "tnet_post_filters_spec",
    "final_shared_mlps",
    "kernel_initializer",
    "fnames",
    "pretransf_feats_F_spec",
    "postransf_feats_F_spec",
    "tnet_pre_filters_F_spec",
    "tnet_post_filters_F_spec",
    "kernel_initializer_F",
    *VL3D_BRANCH_FLAGS,
    "features_structuring_layer",
)
"""The names of the architecture arguments a spec gives in ``model_args``."""
ONE_BRANCH = (
    "without model_args.fnames this project's PointNet feeds coordinates and features through one "
    "branch and concatenates its transformed, post-transform and global features before the final "
    "layers (VL3D builds its feature branch only for model_args.fnames)"
)

_FLAG_MEANINGS = {
    "skip_link_features": "its input after the input T-Net",
    "include_pretransf_feats": "every pretransf layer's output",
    "include_transf_feats": "the feature T-Net's output",
    "include_postransf_feats": "every postransf layer's output but the last",
    "include_global_feats": "the global feature (max pooling of its last postransf layer) at every point",
}


def _branch_flag_schema(flag: str, space: str) -> dict[str, Any]:
    branch = "coordinate (X)" if space == "X" else "feature (F)"
    return {
        "type": "boolean",
        "default": BRANCH_FLAG_DEFAULTS[flag],
        "description": f"With model_args.fnames: the {branch} branch contributes {_FLAG_MEANINGS[flag]} "
        "to the concatenation before the final layers (VL3D's option).",
    }


def _feats_spec_schema(description: str, default: Sequence[Mapping[str, int]]) -> dict[str, Any]:
    return {
        "type": "array",
        "description": description,
        "default": [dict(layer) for layer in default],
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["filters"],
            "properties": {
                "filters": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Number of output features of this shared per-point layer.",
                },
                "name": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Name of the layer in the Keras model (default: generated).",
                },
            },
        },
    }


def _optional(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` also taking null (the default: the coordinate branch's value)."""
    description = schema["description"] + " Null: the coordinate branch's (only with model_args.fnames)."
    return {**schema, "type": [schema["type"], "null"], "default": None, "description": description}


def _filters_schema(description: str, default: Sequence[int]) -> dict[str, Any]:
    return {
        "type": "array",
        "description": description,
        "default": list(default),
        "items": {"type": "integer", "minimum": 1},
    }


POINTNET_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "PointNetPwiseClassifier architecture arguments",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "num_pwise_feats": {
            "type": "integer",
            "minimum": 1,
            "description": "Width of the shared per-point layer before the logits.",
            "default": DEFAULT_NUM_PWISE_FEATS,
        },
        "pretransf_feats_spec": _feats_spec_schema(
            "Shared per-point layers before the feature transform, in order.", DEFAULT_PRETRANSF_FEATS_SPEC
        ),
        "postransf_feats_spec": _feats_spec_schema(
            "Shared per-point layers after the feature transform; the last one is max-pooled into the global feature.",
            DEFAULT_POSTRANSF_FEATS_SPEC,
        ),
        "tnet_pre_filters_spec": _filters_schema(
            "Widths of the T-Nets' shared per-point layers (before their max pooling); "
            "empty together with tnet_post_filters_spec means no T-Net.",
            DEFAULT_TNET_PRE_FILTERS_SPEC,
        ),
        "tnet_post_filters_spec": _filters_schema(
            "Widths of the T-Nets' dense layers after their max pooling; empty together with "
            "tnet_pre_filters_spec means no T-Net.",
            DEFAULT_TNET_POST_FILTERS_SPEC,
        ),
        "final_shared_mlps": _filters_schema(
            "Widths of shared per-point layers between the concatenated features and the "
            "num_pwise_feats layer (VL3D's final shared MLPs).",
            DEFAULT_FINAL_SHARED_MLPS,
        ),
        "kernel_initializer": {
            "type": "string",
            "minLength": 1,
            "description": "Keras initializer name of every kernel (he_normal, glorot_uniform...).",
            "default": DEFAULT_KERNEL_INITIALIZER,
        },
        "fnames": {
            "type": ["array", "null"],
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string", "minLength": 1},
            "default": None,
            "description": "VL3D's two-branch PointNet: the point features (the train step's fnames, in "
            "this order) go through a feature (F) branch of their own, separate from the coordinate (X) branch; "
            "null: one branch for coordinates and features.",
        },
        "pretransf_feats_F_spec": _optional(_feats_spec_schema("The feature branch's pretransf layers.", ())),
        "postransf_feats_F_spec": _optional(_feats_spec_schema("The feature branch's postransf layers.", ())),
        "tnet_pre_filters_F_spec": _optional(_filters_schema("The feature branch's T-Net per-point widths.", ())),
        "tnet_post_filters_F_spec": _optional(_filters_schema("The feature branch's T-Net dense widths.", ())),
        "kernel_initializer_F": {
            "type": "string",
            "minLength": 1,
            "description": "Keras initializer of the feature branch's kernels (VL3D's default glorot_normal).",
            "default": DEFAULT_KERNEL_INITIALIZER_F,
        },
        **{flag: _branch_flag_schema(flag[:-2], flag[-1]) for flag in VL3D_BRANCH_FLAGS},
        "features_structuring_layer": FSL_SCHEMA,
    },
    "allOf": [
        {
            "if": {"properties": {"fnames": {"type": "null"}}},
            "then": {
                "properties": {key: {NO_EFFECT_ANNOTATION: ONE_BRANCH} for key in (*F_BRANCH_ARGS, *VL3D_BRANCH_FLAGS)}
            },
        }
    ],
}
"""JSON Schema (draft 2020-12) of the architecture part of a spec's ``model_args``."""

FEATS_SPEC_ARGS: tuple[str, ...] = (
    "pretransf_feats_spec",
    "postransf_feats_spec",
    "pretransf_feats_F_spec",
    "postransf_feats_F_spec",
)
"""The lists of shared layers, each needing at least one layer (an F one may be null)."""


def pointnet_args_issues(model_args: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """What the PointNet's build refuses in ``model_args`` that its JSON Schema does not say (the
    model registry's ``args_check``, run by validation): an empty list of shared layers, a
    ``kernel_initializer`` (or ``kernel_initializer_F``) Keras does not have, nothing to
    concatenate in the two-branch form, ``angular_resolutions`` not one per ellipsoid of the
    features structuring layer. Paths are below the train step.

    Example:
        >>> pointnet_args_issues({"pretransf_feats_spec": [], "postransf_feats_spec": [{"filters": 8}]})
        [(('model_args', 'pretransf_feats_spec'), 'expected at least one layer, got []')]
        >>> pointnet_args_issues({"kernel_initializer": "he_normall"})[0][1]
        "expected a Keras initializer name, received 'he_normall'; did you mean 'he_normal'?"
        >>> pointnet_args_issues({"fnames": ["a"], "include_transf_feats_X": False, "include_global_feats_X": False,
        ...                       "include_transf_feats_F": False, "include_global_feats_F": False})[0][1]
        'expected at least one include_*_feats_X|F or skip_link_features_X|F to be true with fnames'
    """
    initializer_f = {"kernel_initializer": model_args.get("kernel_initializer_F")}
    issues = keras_name_issues(model_args) + [
        (("model_args", "kernel_initializer_F"), message)
        for _, message in keras_name_issues(
            initializer_f if isinstance(initializer_f["kernel_initializer"], str) else {}
        )
    ]
    issues += [
        (("model_args", arg), "expected at least one layer, got []")
        for arg in FEATS_SPEC_ARGS
        if isinstance(model_args.get(arg), Sequence) and not isinstance(model_args[arg], str) and not model_args[arg]
    ]
    flags = {flag: model_args.get(flag, BRANCH_FLAG_DEFAULTS[flag[:-2]]) for flag in VL3D_BRANCH_FLAGS}
    if isinstance(model_args.get("fnames"), list) and not any(value is True for value in flags.values()):
        issues.append(
            (
                ("model_args", "fnames"),
                "expected at least one include_*_feats_X|F or skip_link_features_X|F to be true with fnames",
            )
        )
    return issues + fsl_issues(model_args.get("features_structuring_layer"))
