"""VL3D's legacy ``CovarianceFeatures`` miner, as ``GeometricFeatures`` recipes.

VL3D's older miner asks PDAL's ``filters.covariancefeatures`` for eigenvalue features of each
point's neighbourhood: ``spherical`` (every point within ``radius``; PDAL leaves a point with
fewer than ``min_neighs`` neighbours without values) or ``knn`` (the point and its
``min_neighs`` nearest). Its features have PDAL's names (``Linearity``, ``Scattering``, the
``Dimensionality`` group...) and, by default, VL3D's names: each name as the spec writes it
plus ``_r{radius}`` or ``_K{min_neighs}`` (``Linearity_r0.3``).

Such a step is a ``GeometricFeatures`` recipe (:mod:`vl3d_focal.data.eigen_features` computes
it) where each of its features has a ``GeometricFeatures`` feature of the same values in the
step's ``mode`` and it does not ``optimize`` (PDAL's covariance divides by n - 1 and its ``Raw``,
``Normalized`` and ``SQRT`` modes change the eigenvalues first, which leaves ratios of eigenvalues
unchanged but not the others); else a ``CovarianceFeatures`` recipe, which
:mod:`vl3d_focal.data.pdal_features` computes as PDAL does (its optimal neighbourhood included).

Example:
    >>> covariance_recipe({"neighborhood": "knn", "min_neighs": 8, "fnames": ["Linearity", "Scattering"]})
    ('GeometricFeatures', ('linearity', 'sphericity'), ('Linearity_K8', 'Scattering_K8'), {'k': 9})
    >>> covariance_recipe({"radius": 0.1, "fnames": ["Density", "Verticality"], "mode": "Raw"})
    ('CovarianceFeatures', ('Density', 'Verticality'), ('Density_r0.1', 'Verticality_r0.1'), {'radius': 0.1, 'mode': 'Raw', 'optimal_k': [10, 14]})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vl3d_focal.data.miner_kinds import COVARIANCE_FEATURES, GEOMETRIC_FEATURES

COVARIANCE = COVARIANCE_FEATURES.name
GEOMETRIC = GEOMETRIC_FEATURES.name
PDAL_FEATURES = (
    "Linearity",
    "Planarity",
    "Scattering",
    "Verticality",
    "Anisotropy",
    "SurfaceVariation",
    "Omnivariance",
    "Eigenentropy",
    "EigenvalueSum",
    "DemantkeVerticality",
    "Density",
)
"""The features of PDAL's ``filters.covariancefeatures``."""
GROUPS = {"Dimensionality": ("Linearity", "Planarity", "Scattering", "Verticality"), "all": PDAL_FEATURES}
"""PDAL's feature sets, and the features each stands for."""
MODES = ("Raw", "Normalized", "SQRT")
"""PDAL's modes: the eigenvalues as they are, divided by their sum, or their square roots."""
OPTIMAL_K = (10, 14)
"""PDAL's ``filters.optimalneighborhood`` defaults ``min_k`` and ``max_k`` (VL3D keeps them)."""
NEIGHBORHOODS = ("spherical", "knn")
DEFAULTS: dict[str, Any] = {
    "neighborhood": "spherical",
    "radius": 0.3,
    "mode": "Raw",
    "fnames": ["Density", "Dimensionality"],
}
"""VL3D's defaults of the keys a step leaves out."""

_RATIOS = {"Linearity": "linearity", "Planarity": "planarity", "Scattering": "sphericity", "Anisotropy": "anisotropy"}
_ANY_MODE = {"DemantkeVerticality": "verticality"}
EQUIVALENTS: dict[str, dict[str, str]] = {
    "Raw": {**_RATIOS, "SurfaceVariation": "surface_variation", **_ANY_MODE},
    "Normalized": {**_RATIOS, "Omnivariance": "omnivariance", "Eigenentropy": "eigenentropy", **_ANY_MODE},
    "SQRT": dict(_ANY_MODE),
}
"""Per mode, each PDAL feature -> the ``GeometricFeatures`` feature of the same values."""


def expanded(fnames: Sequence[str]) -> list[str]:
    """``fnames`` with each PDAL feature set replaced by its features, in order, each once.

    Example:
        >>> expanded(["Linearity", "Dimensionality"])
        ['Linearity', 'Planarity', 'Scattering', 'Verticality']
    """
    names = (GROUPS.get(fname, (fname,)) if isinstance(fname, str) else () for fname in fnames)  # others: the schema's
    return list(dict.fromkeys(name for group in names for name in group))


def spec_number(value: float) -> str:
    """A radius or factor in a mined feature's default name, as VL3D writes the spec's value:
    ``1`` stays ``1``, ``1.0`` ``1.0``.

    Example:
        >>> spec_number(1), spec_number(1.0), spec_number(0.3)
        ('1', '1.0', '0.3')
    """
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else repr(float(value))


def covariance_recipe(step: Mapping[str, Any]) -> tuple[str, tuple[str, ...], tuple[str, ...], dict[str, Any]]:
    """The recipe of a ``CovarianceFeatures`` step: its miner (``GeometricFeatures`` where one
    gives the same values, else ``CovarianceFeatures``), the features, the names they get and the
    parameters: the neighbourhood (``radius``, or ``k``: the point and its ``min_neighs``
    nearest) and, for PDAL's own computation, ``mode``, ``optimize`` (when true) and the
    ``optimal_k`` sizes of the optimal neighbourhood (when it or ``Density`` needs it).
    """
    settings = {**DEFAULTS, **{key: value for key, value in step.items() if value is not None}}
    mode, optimize = str(settings["mode"]), settings.get("optimize") is True
    features = expanded(list(settings["fnames"]))
    if str(settings["neighborhood"]).lower() == "knn":
        params: dict[str, Any] = {"k": int(settings["min_neighs"]) + 1}
        suffix = f"_K{int(settings['min_neighs'])}"
    else:
        params, suffix = {"radius": float(settings["radius"])}, f"_r{spec_number(settings['radius'])}"
    names = tuple(step.get("frenames") or [name + suffix for name in features])
    if not optimize and all(name in EQUIVALENTS[mode] for name in features):
        return GEOMETRIC, tuple(EQUIVALENTS[mode][name] for name in features), names, params
    params["mode"] = mode
    if optimize:
        params["optimize"] = True
    if optimize or "Density" in features:
        params["optimal_k"] = list(OPTIMAL_K)
    return COVARIANCE, tuple(features), names, params
