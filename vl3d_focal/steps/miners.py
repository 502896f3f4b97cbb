"""The ``miner`` steps: VL3D's ``GeometricFeatures``, ``HeightFeatures``, ``SmoothFeatures`` and ``HSVFromRGB``.

A miner step declares features that later steps can name in ``fnames``: each gets the name in
``frenames``, or VL3D's automatic one (``planarity_r1.0``, ``planarity_k16``,
``floor_distance_r5.0_sep0.5``, ``intensity_mean_r1.0``, ``HSV_H``). Nothing is computed when the step runs: its recipe
(:class:`~vl3d_focal.data.miners.MinedFeatures`) is kept, and the features are computed when a
train or predict step first needs them, for a whole cloud or tile by tile with the margin they
depend on (a streamed cloud); a trained model keeps the recipes of its ``fnames``.

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> STEPS.get("GeometricFeatures").metadata["kind"]
    'miner'
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.data.feature_names import (
    EIGEN_FEATURE_NAMES,
    HEIGHT_FEATURE_NAMES,
    HEIGHT_NEIGHBORHOODS,
    HEIGHT_OUTLIER_FILTERS,
    HSV_DEFAULT_NAMES,
    HSV_FEATURE_NAMES,
    HSV_HUE_UNITS,
    NAN_POLICIES,
    SMOOTH_NEIGHBORHOODS,
    SMOOTH_STRATEGIES,
)
from vl3d_focal.registry import STEPS
from vl3d_focal.schema_annotations import case_insensitive_pattern, no_effect
from vl3d_focal.steps.definition import step_entry
from vl3d_focal.steps.miner_checks import check_miner

if TYPE_CHECKING:
    from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)


def _chunk_size() -> dict[str, Any]:
    """The schema of a VL3D chunk size of a miner (a new dict for each key, shared by none)."""
    return no_effect(
        {"type": "integer", "description": "VL3D: points processed per chunk (memory)."},
        why="the miners work tile by tile, in chunks of bounded memory, whatever this says",
    )


def _nthreads(why: str) -> dict[str, Any]:
    """The schema of a VL3D miner's thread count, accepted without effect for the reason ``why``."""
    return no_effect({"type": "integer", "description": "VL3D: threads of the miner."}, why=why)


def _common(kind: str, features: tuple[str, ...], description: str) -> dict[str, Any]:
    return {
        "miner": {"const": kind, "description": description},
        "fnames": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": list(features)},
            "description": "The features to compute.",
        },
        "frenames": {
            "type": "array",
            "uniqueItems": True,
            "items": {"type": "string", "minLength": 1},
            "description": "Their names, one per fnames entry; default: VL3D's automatic names.",
        },
        "in_pcloud": {"type": "null", "description": "VL3D's standalone input; only null in a pipeline."},
        "out_pcloud": {
            "type": ["string", "null"],
            "minLength": 1,
            "description": "VL3D's standalone output, null in a pipeline; or VL3D's habit: the cloud as the "
            "pipeline holds it after this step is written to this path, as by a Writer step after it.",
        },
        "nthreads": _nthreads("the miners use every CPU core (SciPy's KD-tree workers, NumPy)"),
    }


def _geometric_schema() -> dict[str, Any]:
    properties = _common(
        "GeometricFeatures",
        EIGEN_FEATURE_NAMES,
        "Eigenvalue features of each point's neighbourhood (data.eigen_features).",
    )
    properties["radius"] = {
        "type": "number",
        "exclusiveMinimum": 0,
        "description": "Neighbourhood: every point within this distance (m); give radius or k.",
    }
    properties["k"] = {
        "type": "integer",
        "minimum": 3,
        "description": "Neighbourhood: the k nearest points (ties by point order); give radius or k.",
    }
    return closed_object(
        properties,
        required=["miner", "fnames"],
        description="Geometric features: eigenvalues of each point's neighbourhood.",
    )


def _neighborhood_type(
    miner: str, names: Sequence[str], description: str, *, default: str | None = None
) -> dict[str, Any]:
    """The schema of a miner's ``neighborhood.type``: one of ``names`` in any case (VL3D's miners
    read it case-insensitively; :class:`~vl3d_focal.data.miners.MinedFeatures` spells it as
    ``names`` do)."""
    return {
        "type": "string",
        "pattern": case_insensitive_pattern(names),
        "examples": list(names),
        "title": f"a {miner} neighborhood type",
        **({} if default is None else {"default": default}),
        "description": f"{description} (case-insensitive, as in VL3D).",
    }


def _height_schema() -> dict[str, Any]:
    properties = _common(
        "HeightFeatures",
        HEIGHT_FEATURE_NAMES,
        "Statistics of the heights around support points (data.height_features).",
    )
    properties["neighborhood"] = closed_object(
        {
            "type": _neighborhood_type(
                "HeightFeatures",
                HEIGHT_NEIGHBORHOODS,
                "Rectangular2D: a square of half side radius; Cylinder: a disc",
                default="Rectangular2D",
            ),
            "radius": {"type": "number", "exclusiveMinimum": 0, "description": "Half side or radius (m)."},
            "separation_factor": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 1.4,
                "default": 0.35,
                "description": "Distance between support points (grid cells), in radii.",
            },
        },
        required=["radius"],
        description="The neighbourhood of each support point.",
    )
    properties["outlier_filter"] = {
        "enum": [None, *HEIGHT_OUTLIER_FILTERS],
        "default": None,
        "description": "Heights left out of the statistics: IQR (outside Q1 - 1.5 IQR, "
        "Q3 + 1.5 IQR), stdev (outside mean +- 3 std) or null (none).",
    }
    for key in ("support_chunk_size", "support_subchunk_size", "pwise_chunk_size"):
        properties[key] = _chunk_size()
    return closed_object(
        properties,
        required=["miner", "fnames", "neighborhood"],
        description="Height features: z statistics around support points.",
    )


def _smooth_schema() -> dict[str, Any]:
    properties = _common(
        "SmoothFeatures",
        SMOOTH_STRATEGIES,
        "Point-wise features averaged over each point's neighbourhood (data.smooth_features).",
    )
    properties["fnames"] = dict(properties["fnames"], default=list(SMOOTH_STRATEGIES))
    properties["fnames"]["description"] = "The strategies: mean, weighted_mean, gaussian_rbf (default: all three)."
    properties["frenames"]["description"] = (
        "Their names, one per (fnames entry, input_fnames entry), strategies outermost; "
        "default: VL3D's automatic names (intensity_mean_r1.0)."
    )
    properties["input_fnames"] = {
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "items": {"type": "string", "minLength": 1},
        "description": "The features smoothed: point-wise features of the clouds (dimensions, return_ratio...) "
        "or features mined by the steps before this one.",
    }
    properties["neighborhood"] = closed_object(
        {
            "type": _neighborhood_type(
                "SmoothFeatures",
                SMOOTH_NEIGHBORHOODS,
                "sphere: within radius in 3D; cylinder: within radius in xy; VL3D's knn is not supported",
            ),
            "radius": {"type": "number", "exclusiveMinimum": 0, "description": "Radius (m)."},
        },
        required=["type", "radius"],
        description="Each point's neighbourhood (itself included).",
    )
    properties["weighted_mean_omega"] = {
        "type": "number",
        "minimum": 0,
        "default": 0.0001,
        "description": "weighted_mean: weights max(d) - d + omega.",
    }
    properties["gaussian_rbf_omega"] = {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 1.0,
        "description": "gaussian_rbf: weights exp(-d^2 / omega^2), omega in metres.",
    }
    properties["nan_policy"] = {
        "type": "string",
        "pattern": case_insensitive_pattern(NAN_POLICIES),
        "examples": list(NAN_POLICIES),
        "default": "propagate",
        "description": "propagate: a NaN makes the value NaN (an error); replace: by the neighbourhood's mean "
        "(case-insensitive, as VL3D).",
    }
    for key in ("chunk_size", "subchunk_size"):
        properties[key] = _chunk_size()
    return closed_object(
        properties,
        required=["miner", "input_fnames", "neighborhood"],
        description="Smooth features: point-wise features averaged over a neighbourhood.",
    )


def _hsv_schema() -> dict[str, Any]:
    properties = _common(
        "HSVFromRGB", HSV_FEATURE_NAMES, "Hue, saturation and value of each point's colour (data.hsv_features)."
    )
    del properties["fnames"]
    properties["frenames"].update(
        default=list(HSV_DEFAULT_NAMES), description="The names of the hue, the saturation and the value (three names)."
    )
    properties["nthreads"] = _nthreads("HSVFromRGB is a few vectorised NumPy operations, with no threads to set")
    properties["hue_unit"] = {
        "type": "string",
        "pattern": case_insensitive_pattern(HSV_HUE_UNITS),
        "examples": list(HSV_HUE_UNITS),
        "title": "a hue unit",
        "default": "radians",
        "description": "The hue's unit: radians or degrees (case-insensitive, as in VL3D).",
    }
    properties["chunk_size"] = _chunk_size()
    return closed_object(
        properties,
        required=["miner"],
        description="HSV from RGB: hue, saturation and value of each point's red, green and blue.",
    )


def run_miner(step: Mapping[str, Any], state: PipelineState) -> None:
    """Keeps the step's recipe: later steps compute its features when they use them.

    Example:
        >>> from vl3d_focal.steps.state import PipelineState
        >>> state = PipelineState(clouds=[], model_prefix="out/")
        >>> run_miner({"miner": "GeometricFeatures", "k": 16, "fnames": ["planarity"]}, state)
        >>> state.miners[0].names
        ('planarity_k16',)
    """
    from vl3d_focal.data.miners import MinedFeatures

    recipe = MinedFeatures.from_step(step)
    state.miners.append(recipe)
    logger.info("%s: features %s (computed when a step uses them)", recipe.miner, ", ".join(recipe.names))


_MINERS = (
    ("GeometricFeatures", _geometric_schema()),
    ("HeightFeatures", _height_schema()),
    ("SmoothFeatures", _smooth_schema()),
    ("HSVFromRGB", _hsv_schema()),
)
for _name, _schema in _MINERS:
    STEPS.register(step_entry(kind="miner", name=_name, handler=run_miner, schema=_schema, check=check_miner))
