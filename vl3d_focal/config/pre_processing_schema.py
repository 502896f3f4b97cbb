"""JSON Schema of ``model_args.pre_processing``: how a cloud is cut into receptive fields.

VL3D's vocabulary of its ``furthest_point_subsampling`` and ``grid_subsampling`` pre-processors
(page ``page_deep_learning``, section "Receptive fields"): what each key does here is said in its
``description``; keys that only tune VL3D's own computation carry ``x-vl3d-no-effect`` with the
reason. The runtime reads them through :class:`vl3d_focal.data.receptive_fields.FieldSpec` and
the training engine.

Example:
    >>> pre_processing_schema()["properties"]["support_strategy"]["default"]
    'grid'
"""

from __future__ import annotations

from typing import Any

from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.data.field_schemas import shared_properties
from vl3d_focal.schema_annotations import case_insensitive_pattern, no_effect

NEIGHBORHOOD_TYPES = ("sphere", "cylinder", "rectangular2D", "rectangular3D")


def _neighborhood() -> dict[str, Any]:
    return closed_object(
        {
            "type": {
                "type": "string",
                "pattern": case_insensitive_pattern(NEIGHBORHOOD_TYPES),
                "examples": list(NEIGHBORHOOD_TYPES),
                "title": "neighborhood type",
                "default": "sphere",
                "description": "Shape of a receptive field (case-insensitive, as in VL3D): sphere; cylinder "
                "(a disk in xy, unbounded in z); rectangular3D (a cube of half side radius); "
                "rectangular2D (a square of half side radius in xy, unbounded in z).",
            },
            "radius": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "Radius (half side for the rectangular ones) in metres.",
            },
            "separation_factor": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 0.8,
                "description": "Distance between field centres of the grid support strategy, in radii "
                "(< 2 makes fields overlap).",
            },
        },
        required=["radius"],
        description="The neighbourhood of each field centre.",
    )


def pre_processing_schema() -> dict[str, Any]:
    """``model_args.pre_processing``: receptive fields (see the module docstring).

    Example:
        >>> pre_processing_schema()["properties"]["num_points"]["default"]
        512
    """
    return closed_object(
        {
            "pre_processor": {
                "enum": ["furthest_point_subsampling", "grid_subsampling"],
                "title": "pre-processor",
                "default": "furthest_point_subsampling",
                "description": "How a field's points are sampled down to num_points.",
            },
            "neighborhood": _neighborhood(),
            "num_points": {
                "type": "integer",
                "minimum": 1,
                "default": 512,
                "description": "Points per receptive field.",
            },
            "scale": {
                "type": "boolean",
                "default": True,
                "description": "Divide the centred coordinates by the radius.",
            },
            "to_unit_sphere": {
                "type": "boolean",
                "default": False,
                "description": "Divide each field's centred coordinates by the distance of its farthest point, "
                "so that they lie in the unit sphere (instead of scale's division by the radius).",
            },
            "num_encoding_neighbors": {
                "type": "integer",
                "minimum": 1,
                "default": 1,
                "description": "The features of a field point are the mean of those of its k nearest points "
                "in the field's neighbourhood (its training label their most frequent one); 1 keeps the "
                "point's own values.",
            },
            **shared_properties(),
            "fast": no_effect(
                {
                    "type": "boolean",
                    "default": False,
                    "description": "VL3D: approximate furthest point subsampling by random sampling.",
                },
                why="furthest point subsampling is exact (batched in numpy)",
            ),
        },
        required=["neighborhood"],
        description="How the cloud is cut into fixed-size receptive fields.",
    )
