"""The ``miner: CovarianceFeatures`` step: VL3D's legacy eigenvalue miner (PDAL's
``filters.covariancefeatures``) with its own keys, run as a ``GeometricFeatures`` recipe where
one gives the same values, else as PDAL computes it (:mod:`vl3d_focal.data.covariance_features`,
:mod:`vl3d_focal.data.pdal_features`).

Its features have PDAL's names (``Linearity``, ``Verticality``, ``Density``, the
``Dimensionality`` and ``all`` sets) and VL3D's default names (``Linearity_r0.3``,
``Linearity_K8``). ``optimize`` takes PDAL's optimal neighbourhood (``Density`` always does).
``nthreads`` has no effect, nor ``min_neighs`` in a spherical neighbourhood (noted).

Example:
    >>> [m for _, m in check_covariance({"miner": "CovarianceFeatures", "neighborhood": "knn", "fnames": ["Linearity"]},
    ...                                 (), {})]
    ['a knn neighbourhood takes its size from min_neighs (the point and its min_neighs nearest): give it']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from vl3d_focal.config.checks import Issue
from vl3d_focal.config.notes import NOTE_PREFIX
from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.data.covariance_features import (
    COVARIANCE,
    DEFAULTS,
    GROUPS,
    MODES,
    NEIGHBORHOODS,
    OPTIMAL_K,
    PDAL_FEATURES,
)
from vl3d_focal.registry import STEPS
from vl3d_focal.schema_annotations import case_insensitive_pattern
from vl3d_focal.steps.definition import step_entry
from vl3d_focal.steps.miner_checks import check_miner
from vl3d_focal.steps.miners import _common, run_miner

SPHERICAL_MIN_NEIGHS = (
    f"{NOTE_PREFIX}in a spherical neighbourhood a point with fewer than min_neighs neighbours gets the features of "
    "the neighbours it has (0 without spread), where PDAL leaves it without values"
)


def _schema() -> dict[str, Any]:
    properties = _common(
        COVARIANCE,
        (*PDAL_FEATURES, *GROUPS),
        "VL3D's legacy eigenvalue features (PDAL's names), computed as PDAL does (data.pdal_features).",
    )
    properties["fnames"].update(
        default=list(DEFAULTS["fnames"]),
        description="PDAL's features or feature sets (Dimensionality: Linearity, Planarity, Scattering, "
        "Verticality; all: every one).",
    )
    properties["frenames"]["description"] = (
        "Their names, one per feature (a set counting as its features); default: each name plus _r{radius} "
        "(spherical) or _K{min_neighs} (knn), as VL3D names them."
    )
    properties["neighborhood"] = {
        "type": "string",
        "pattern": case_insensitive_pattern(NEIGHBORHOODS),
        "examples": list(NEIGHBORHOODS),
        "title": "a CovarianceFeatures neighborhood",
        "default": DEFAULTS["neighborhood"],
        "description": "spherical: every point within radius; knn: the point and its min_neighs nearest "
        "(case-insensitive, as in VL3D).",
    }
    properties["radius"] = {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": DEFAULTS["radius"],
        "description": "The spherical neighbourhood's radius (m).",
    }
    properties["min_neighs"] = {
        "type": "integer",
        "minimum": 1,
        "description": "knn: the number of nearest neighbours (the point itself aside); spherical: PDAL's least "
        "number of neighbours (no effect here).",
    }
    properties["mode"] = {
        "enum": list(MODES),
        "default": DEFAULTS["mode"],
        "description": "PDAL's eigenvalues before the features: Raw, Normalized (divided by their sum) or SQRT "
        "(square roots).",
    }
    properties["optimize"] = {
        "type": "boolean",
        "default": False,
        "description": "PDAL's optimal neighbourhood instead of radius or min_neighs: the point's k nearest, k in "
        f"[{OPTIMAL_K[0]}, {OPTIMAL_K[1]}] minimising their eigenentropy (filters.optimalneighborhood's defaults).",
    }
    return closed_object(
        properties,
        required=["miner"],
        description="Covariance features: VL3D's legacy eigenvalue miner, PDAL's features.",
    )


def _own_issues(step: Mapping[str, Any], at: tuple) -> Iterator[Issue]:
    """The errors of its own keys: a knn neighbourhood without min_neighs, or with fewer than 2."""
    knn = str(step.get("neighborhood", DEFAULTS["neighborhood"])).lower() == "knn"
    min_neighs = step.get("min_neighs")
    if knn and min_neighs is None:
        yield (at, "a knn neighbourhood takes its size from min_neighs (the point and its min_neighs nearest): give it")
    elif knn and isinstance(min_neighs, int) and min_neighs < 2:
        yield at + ("min_neighs",), f"min_neighs={min_neighs}: a knn neighbourhood needs at least 2 neighbours"


def check_covariance(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> Iterator[Issue]:
    """Its own keys' errors (then nothing else), else a note on ``min_neighs`` in a spherical
    neighbourhood and the checks of every miner (:func:`~vl3d_focal.steps.miner_checks.check_miner`).

    Example:
        >>> step = {"miner": "CovarianceFeatures", "radius": 0.1, "min_neighs": 3, "fnames": ["Linearity"]}
        >>> [m[:40] for _, m in check_covariance(step, (), {})]
        ['accepted, no effect here: in a spherical']
    """
    errors = list(_own_issues(step, at))
    if errors:
        yield from errors
        return
    knn = str(step.get("neighborhood", DEFAULTS["neighborhood"])).lower() == "knn"
    if not knn and "min_neighs" in step:
        yield at + ("min_neighs",), SPHERICAL_MIN_NEIGHS
    size = "min_neighs" if knn else "radius"
    if step.get("optimize") is True and size in step:
        yield (
            at + (size,),
            f"{NOTE_PREFIX}with optimize the neighbourhood is PDAL's optimal one; {size} only names the features",
        )
    elif knn and "radius" in step:
        yield (
            at + ("radius",),
            f"{NOTE_PREFIX}a knn neighbourhood is the point and its min_neighs nearest, whatever the radius",
        )
    yield from check_miner(step, at, known)


STEPS.register(step_entry(kind="miner", name=COVARIANCE, handler=run_miner, schema=_schema(), check=check_covariance))
