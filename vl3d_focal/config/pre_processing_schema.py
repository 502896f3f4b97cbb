"""JSON Schema of ``model_args.pre_processing``: how a cloud is cut into receptive fields.

VL3D's vocabulary of its ``furthest_point_subsampling`` and ``grid_subsampling`` pre-processors
(page ``page_deep_learning``, section "Receptive fields"): what each key does here is said in its
``description``; keys that only tune VL3D's own computation carry ``x-vl3d-no-effect`` with the
reason. The runtime reads them through :class:`vl3d_focal.data.receptive_fields.FieldSpec` and
the training engine.

VL3D's ``grid_subsampling`` pre-processor has its own layout, without ``neighborhood``:
``sphere_radius`` (its fields are spheres of that radius), ``separation_factor`` (between the
field centres, in radii) and ``cell_size`` (each field is a grid of ``round(prod(2 / s))`` cells,
``s`` the cell sides in radii). It is accepted as the same fields as ``{"neighborhood": {"type":
"sphere", "radius": sphere_radius, "separation_factor": separation_factor}, "num_points": cells}``
(:mod:`vl3d_focal.data.grid_layout`); :func:`layout_issues` refuses a mix of the two layouts.

Example:
    >>> pre_processing_schema()["properties"]["support_strategy"]["default"]
    'grid'
"""

from __future__ import annotations

from typing import Any

from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.data.field_schemas import shared_properties
from vl3d_focal.data.grid_layout import GRID_LAYOUT, GRID_PRE_PROCESSOR
from vl3d_focal.schema_annotations import case_insensitive_pattern, no_effect

NEIGHBORHOOD_TYPES = ("sphere", "cylinder", "rectangular2D", "rectangular3D")
FIELD_PRE_PROCESSORS = ("furthest_point_subsampling", GRID_PRE_PROCESSOR)
"""The pre-processors of this schema (the autoencoder's ``hierarchical_fps`` has its own)."""


def _whole_cloud_issues(pre_processing: dict[str, Any], pre_processor: str) -> list[tuple[tuple[str, ...], str]]:
    """What a whole-cloud field (``neighborhood.radius`` 0) cannot take."""
    hood = pre_processing.get("neighborhood")
    if not isinstance(hood, dict) or hood.get("radius") != 0:
        return []
    if pre_processor != FIELD_PRE_PROCESSORS[0]:
        return [
            (
                ("pre_processing", "neighborhood", "radius"),
                f"0 (the whole cloud) is for furthest_point_subsampling; {pre_processor} needs a radius > 0",
            )
        ]
    if pre_processing.get("training_class_distribution") is not None:
        return [
            (
                ("pre_processing", "training_class_distribution"),
                "a field of radius 0 is the whole cloud, one per cloud: there are no centres to draw per class "
                "(VL3D ignores them); remove training_class_distribution",
            )
        ]
    return []


def layout_issues(pre_processing: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """Mixes of VL3D's ``grid_subsampling`` layout (``sphere_radius``...) and ``neighborhood``
    in ``model_args.pre_processing`` (paths below ``model_args``), or neither of them; a
    whole-cloud field (radius 0) with ``grid_subsampling`` or ``training_class_distribution``.

    Example:
        >>> layout_issues({"pre_processor": "grid_subsampling", "sphere_radius": 0.2, "cell_size": [0.1] * 3})
        []
        >>> layout_issues({"pre_processor": "grid_subsampling"})[0][1]
        "missing required key 'neighborhood' (or VL3D's grid_subsampling layout: sphere_radius, separation_factor, cell_size)"
    """
    pre_processor = pre_processing.get("pre_processor", FIELD_PRE_PROCESSORS[0])
    if pre_processor not in FIELD_PRE_PROCESSORS:
        return []
    at = ("pre_processing",)
    given = [key for key in (*GRID_LAYOUT, "interpolate") if key in pre_processing]
    if not given:
        if "neighborhood" in pre_processing:
            return _whole_cloud_issues(pre_processing, pre_processor)
        keys = ", ".join(GRID_LAYOUT)
        return [(at, f"missing required key 'neighborhood' (or VL3D's grid_subsampling layout: {keys})")]
    if pre_processor != GRID_PRE_PROCESSOR:
        return [
            (at + (key,), f"{key} is VL3D's grid_subsampling layout; {pre_processor} takes neighborhood")
            for key in given
        ]
    if "neighborhood" in pre_processing:
        return [
            (at + (key,), f"{key} is VL3D's grid_subsampling layout, which stands for neighborhood; give one of them")
            for key in given
        ]
    if "num_points" in pre_processing:
        return [
            (
                at + ("num_points",),
                "VL3D's grid_subsampling layout sizes its fields by cell_size (default [0.1, 0.1, 0.1]: 8000 "
                "points); remove num_points",
            )
        ]
    return []


def _neighborhood() -> dict[str, Any]:
    return closed_object(
        {
            "type": {
                "type": "string",
                "pattern": case_insensitive_pattern(NEIGHBORHOOD_TYPES),
                "examples": list(NEIGHBORHOOD_TYPES),
                "title": "a neighborhood type",
                "default": "sphere",
                "description": "Shape of a receptive field (case-insensitive, as in VL3D): sphere; cylinder "
                "(a disk in xy, unbounded in z); rectangular3D (a cube of half side radius); "
                "rectangular2D (a square of half side radius in xy, unbounded in z).",
            },
            "radius": {
                "type": "number",
                "minimum": 0,
                "description": "Radius (half side for the rectangular ones) in metres; 0 (VL3D's, with "
                "furthest_point_subsampling): one field per cloud, all its points about their mean, predicted "
                "in one go.",
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
            "sphere_radius": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "VL3D's grid_subsampling layout (instead of neighborhood): the radius of the "
                "spherical fields, in metres (neighborhood.radius); VL3D's default 1.0.",
            },
            "separation_factor": {
                "type": "number",
                "exclusiveMinimum": 0,
                "description": "VL3D's grid_subsampling layout: the distance between field centres, in radii "
                "(neighborhood.separation_factor); VL3D's default sqrt(3) / 4.",
            },
            "cell_size": {
                "type": "array",
                "items": {"type": "number", "exclusiveMinimum": 0, "maximum": 2},
                "minItems": 3,
                "maxItems": 3,
                "description": "VL3D's grid_subsampling layout: the x, y, z sides of the cells of a field's "
                "grid, in radii (2: one cell along that axis); a field holds as many points as the grid has "
                "cells, round(prod(2 / side)) (num_points), one per occupied voxel first (VL3D takes each "
                "cell's centroid); VL3D's default [0.1, 0.1, 0.1] (8000 points).",
            },
            "interpolate": no_effect(
                {
                    "type": "boolean",
                    "description": "VL3D's grid_subsampling layout: fill a field's empty cells with the mean of "
                    "their neighbour cells' centroids (else with the field's centroid); VL3D's default true.",
                },
                why="a field has no empty cells here: one with fewer points than num_points repeats its points",
            ),
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
        required=[],
        description="How the cloud is cut into fixed-size receptive fields: neighborhood, or VL3D's "
        "grid_subsampling layout (sphere_radius, separation_factor, cell_size).",
    )
