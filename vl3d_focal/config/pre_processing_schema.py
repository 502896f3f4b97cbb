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

from vl3d_focal.config.schema_parts import (
    CLOUD_SUFFIXES,
    PLOT_SUFFIXES,
    case_insensitive_pattern,
    closed_object,
    no_effect,
    optional_output_schema,
)
from vl3d_focal.data.field_centre_schemas import class_distribution_schema, support_schema

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


def _support() -> dict[str, Any]:
    return {
        **support_schema(),
        "training_class_distribution": class_distribution_schema(),
        "support_strategy_fast": no_effect(
            {
                "type": "boolean",
                "default": False,
                "description": "VL3D: approximate the 'fps' support by random sampling.",
            },
            why="the 'fps' support strategy computes the exact furthest points",
        ),
        "support_chunk_size": no_effect(
            {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": "VL3D: support points handled per chunk (memory).",
            },
            why="field centres are always processed in chunks of bounded memory",
        ),
    }


def _reports() -> dict[str, Any]:
    def dist(what: str, kind: str) -> str:
        return (
            f"The {kind} of the classes among the {what} receptive fields: per class, the points "
            "(reference and predicted) and the fields holding at least one."
        )

    folder = {"type": ["string", "null"], "minLength": 1, "default": None}
    return {
        "training_receptive_fields_distribution_report_path": optional_output_schema(
            dist("training", "text report") + " Written after training."
        ),
        "training_receptive_fields_distribution_plot_path": optional_output_schema(
            dist("training", "plot") + " Written after training.", suffixes=PLOT_SUFFIXES
        ),
        "receptive_fields_distribution_report_path": optional_output_schema(
            dist("prediction", "text report") + " Written for each cloud a predict step of this pipeline "
            "predicts with the trained model in memory (not streamed); '*' is the cloud's output prefix.",
            scope="cloud",
        ),
        "receptive_fields_distribution_plot_path": optional_output_schema(
            dist("prediction", "plot") + " Written like receptive_fields_distribution_report_path.",
            suffixes=PLOT_SUFFIXES,
            scope="cloud",
        ),
        "training_support_points_report_path": optional_output_schema(
            "The training field centres as a point cloud.", suffixes=CLOUD_SUFFIXES
        ),
        "support_points_report_path": optional_output_schema(
            "The prediction field centres as a point cloud, written like receptive_fields_distribution_report_path.",
            suffixes=CLOUD_SUFFIXES,
            scope="cloud",
        ),
        "training_receptive_fields_dir": no_effect(
            {**folder, "description": "VL3D: a folder with one point cloud per training receptive field."},
            why="one cloud per receptive field is not written; the distribution reports and the support "
            "points describe the fields",
        ),
        "receptive_fields_dir": no_effect(
            {**folder, "description": "VL3D: a folder with one point cloud per receptive field."},
            why="one cloud per receptive field is not written; the distribution reports and the support "
            "points describe the fields",
        ),
    }


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
            **_support(),
            "fast": no_effect(
                {
                    "type": "boolean",
                    "default": False,
                    "description": "VL3D: approximate furthest point subsampling by random sampling.",
                },
                why="furthest point subsampling is exact (batched in numpy)",
            ),
            "nthreads": no_effect(
                {
                    "type": "integer",
                    "minimum": -1,
                    "not": {"const": 0},
                    "default": -1,
                    "description": "VL3D: threads computing the receptive fields (-1: all).",
                },
                why="receptive fields are computed on every CPU core",
            ),
            **_reports(),
        },
        required=["neighborhood"],
        description="How the cloud is cut into fixed-size receptive fields.",
    )
