"""The JSON schema of VL3D's ``features_structuring_layer`` (a PointNet's ``model_args`` member).

Kept apart from the Keras layer (:mod:`vl3d_focal.models.features_structuring`) so that specs
are validated without importing Keras. The layer's maths is described there.

Example:
    >>> FSL_SCHEMA["properties"]["dim_out"]["default"]
    4
    >>> fsl_issues({"max_radii": [1, 1, 1], "radii_resolution": 3, "angular_resolutions": [1, 2]})
    [(('model_args', 'features_structuring_layer', 'angular_resolutions'), 'expected one per radius (radii_resolution 3), got 2')]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vl3d_focal.models.kernel_structures import max_radii_schema
from vl3d_focal.schema_annotations import NO_EFFECT_ANNOTATION

DEFAULT_RADII_RESOLUTION = 4
DEFAULT_ANGULAR_RESOLUTIONS: tuple[int, ...] = (1, 2, 4, 8)
DEFAULT_DIM_OUT = 4

ONE_STAGE = (
    "this project trains the features structuring layer together with the rest of the network, "
    "in one stage (VL3D's freeze training, a second stage training only that layer and the output, is not done)"
)


def _flag(description: str, default: bool) -> dict[str, Any]:
    return {"type": "boolean", "default": default, "description": description}


FSL_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "default": None,
    "additionalProperties": False,
    "required": ["max_radii"],
    "description": "VL3D's features structuring layer after the num_pwise_feats layer: kernel points around each "
    "field's centre gather the point-wise features weighted by their distance (a Gaussian), transform "
    "them and spread them back to the points (then batch normalisation and activation); null: none.",
    "properties": {
        "max_radii": max_radii_schema(
            "Radii of the outermost ellipsoid of kernel points along x, y and z (field units; "
            "VL3D's 'AUTO' is not supported there either)."
        ),
        "radii_resolution": {
            "type": "integer",
            "minimum": 2,
            "default": DEFAULT_RADII_RESOLUTION,
            "description": "Number of concentric ellipsoids, the centre point first (as many as angular_resolutions).",
        },
        "angular_resolutions": {
            "type": "array",
            "minItems": 2,
            "items": {"type": "integer", "minimum": 1},
            "default": list(DEFAULT_ANGULAR_RESOLUTIONS),
            "description": "Angular resolution m of each ellipsoid (m * m kernel points; the centre's is ignored).",
        },
        "concatenation_strategy": {
            "type": "string",
            "enum": ["FULL", "OPAQUE", "full", "opaque", "Full", "Opaque"],
            "default": "FULL",
            "description": "FULL: the layer's input features followed by its output; OPAQUE: its output only.",
        },
        "dim_out": {
            "anyOf": [{"type": "integer", "minimum": 1}, {"const": "AUTO"}],
            "default": DEFAULT_DIM_OUT,
            "description": "Output features per point; 'AUTO': num_pwise_feats.",
        },
        "trainable_kernel_structure": _flag("The kernel points learn.", False),
        "trainable_kernel_weights": _flag("The kernel's feature transform (input x dim_out weights) learns.", True),
        "trainable_distance_weights": _flag("The kernel points' Gaussian widths learn.", True),
        "trainable_feature_weights": _flag("The per-feature weights learn.", True),
        "batch_normalization": _flag("Batch normalisation of the layer's output.", True),
        "activation": {
            "anyOf": [{"type": "null"}, {"type": "string", "pattern": "^[Rr][Ee][Ll][Uu]$"}],
            "default": "relu",
            "description": "'relu' (case-insensitive, as VL3D) or null (no activation).",
        },
        "freeze_training": {
            "type": "boolean",
            "anyOf": [{"const": False}, {"const": True, NO_EFFECT_ANNOTATION: ONE_STAGE}],
            "description": "VL3D's freeze training (a second training stage of the layer alone).",
        },
        "freeze_training_init_learning_rate": {
            "type": ["number", "null"],
            NO_EFFECT_ANNOTATION: ONE_STAGE,
            "description": "VL3D's learning rate of the freeze-training stage.",
        },
    },
}
"""JSON Schema of ``model_args.features_structuring_layer``."""


def fsl_issues(fsl: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """What the layer refuses that :data:`FSL_SCHEMA` does not say: ``angular_resolutions`` not
    one per ellipsoid of ``radii_resolution`` (paths below the train step).

    Example:
        >>> fsl_issues({"max_radii": [1, 1, 1]})
        []
    """
    if not isinstance(fsl, Mapping):
        return []
    resolution = fsl.get("radii_resolution", DEFAULT_RADII_RESOLUTION)
    angular = fsl.get("angular_resolutions", list(DEFAULT_ANGULAR_RESOLUTIONS))
    if isinstance(resolution, int) and isinstance(angular, list) and len(angular) != resolution:
        return [
            (
                ("model_args", "features_structuring_layer", "angular_resolutions"),
                f"expected one per radius (radii_resolution {resolution}), got {len(angular)}",
            )
        ]
    return []
