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

from vl3d_focal.models.initializer_names import initializer_issues
from vl3d_focal.schema_annotations import NO_EFFECT_ANNOTATION, NO_EFFECT_PROPERTIES

POINTNET_ARCHITECTURE_ARGS: tuple[str, ...] = (
    "num_pwise_feats",
    "pretransf_feats_spec",
    "postransf_feats_spec",
    "tnet_pre_filters_spec",
    "tnet_post_filters_spec",
    "final_shared_mlps",
    "kernel_initializer",
)
"""The names of the architecture arguments a spec gives in ``model_args``."""

DEFAULT_NUM_PWISE_FEATS = 32
DEFAULT_PRETRANSF_FEATS_SPEC: tuple[dict[str, int], ...] = ({"filters": 32}, {"filters": 64})
DEFAULT_POSTRANSF_FEATS_SPEC: tuple[dict[str, int], ...] = ({"filters": 64}, {"filters": 128})
DEFAULT_TNET_PRE_FILTERS_SPEC: tuple[int, ...] = (32, 64)
DEFAULT_TNET_POST_FILTERS_SPEC: tuple[int, ...] = (64, 32)
DEFAULT_FINAL_SHARED_MLPS: tuple[int, ...] = ()
DEFAULT_KERNEL_INITIALIZER = "he_normal"

ONE_BRANCH = (
    "this project's PointNet feeds coordinates and features through one branch and always "
    "concatenates the transformed, post-transform and global features before the final layers"
)
VL3D_BRANCH_FLAGS: tuple[str, ...] = tuple(
    f"{flag}_{space}"
    for space in ("X", "F")
    for flag in (
        "skip_link_features",
        "include_pretransf_feats",
        "include_transf_feats",
        "include_postransf_feats",
        "include_global_feats",
    )
)
"""VL3D's PointNet options choosing what its coordinate (X) and feature (F) branches concatenate."""


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
    },
    NO_EFFECT_PROPERTIES: {
        flag: {
            "type": "boolean",
            "description": f"VL3D's {flag}; accepted without effect.",
            NO_EFFECT_ANNOTATION: ONE_BRANCH,
        }
        for flag in VL3D_BRANCH_FLAGS
    },
}
"""JSON Schema (draft 2020-12) of the architecture part of a spec's ``model_args``."""

FEATS_SPEC_ARGS: tuple[str, ...] = ("pretransf_feats_spec", "postransf_feats_spec")
"""The lists of shared layers, each needing at least one layer."""


def pointnet_args_issues(model_args: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """What the PointNet's build refuses in ``model_args`` that its JSON Schema does not say (the
    model registry's ``args_check``, run by validation): an empty list of shared layers, a
    ``kernel_initializer`` Keras does not have. Paths are below the train step.

    Example:
        >>> pointnet_args_issues({"pretransf_feats_spec": [], "postransf_feats_spec": [{"filters": 8}]})
        [(('model_args', 'pretransf_feats_spec'), 'expected at least one layer, got []')]
        >>> pointnet_args_issues({"kernel_initializer": "he_normall"})[0][1]
        "expected a Keras initializer name, received 'he_normall'; did you mean 'he_normal'?"
    """
    return initializer_issues(model_args) + [
        (("model_args", arg), "expected at least one layer, got []")
        for arg in FEATS_SPEC_ARGS
        if isinstance(model_args.get(arg), Sequence) and not isinstance(model_args[arg], str) and not model_args[arg]
    ]
