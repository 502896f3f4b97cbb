"""The feature names a cloud offers, from its LAS header alone (no points read, no SciPy).

A cloud offers ``x``, ``y``, ``z``, every dimension of its point format (standard and extra
bytes; ``scan_angle`` and ``scan_angle_rank`` are aliases) and the derived features of
:mod:`vl3d_focal.data.features` (:data:`DERIVED_FEATURE_NAMES`). A derived name that the file
stores as a dimension (a ``planarity`` mined by another tool, say) is read from the file, not
computed (:func:`stored_derived`). Validation uses this to catch a misspelt ``fnames`` entry
before any work.

Example:
    >>> feature_names(["X", "Y", "Z", "intensity", "scan_angle_rank"])[:6]
    ['x', 'y', 'z', 'intensity', 'scan_angle', 'scan_angle_rank']
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

SCAN_ANGLE_ALIASES = ("scan_angle", "scan_angle_rank")
RAW_COORDINATES = ("X", "Y", "Z")
DERIVED_DEFINITIONS: dict[str, str] = {
    "ones": "the constant 1 (VL3D)",
    "height_above_ground": "z minus the estimated terrain (m)",
    "return_ratio": "return_number / number_of_returns",
    "linearity": "(l1 - l2) / l1 of the 16-neighbour covariance",
    "planarity": "(l2 - l3) / l1 of the 16-neighbour covariance",
    "scattering": "l3 / l1 of the 16-neighbour covariance",
    "verticality": "1 - |z of the normal| of the 16 neighbours",
}
"""What each feature computed from the points is (:data:`vl3d_focal.data.features.DERIVED_FEATURES`)."""
DERIVED_FEATURE_NAMES: tuple[str, ...] = tuple(DERIVED_DEFINITIONS)
NEIGHBOURHOOD_FEATURE_NAMES: tuple[str, ...] = (
    "height_above_ground",
    "linearity",
    "planarity",
    "scattering",
    "verticality",
)
"""The derived features that depend on a point's neighbours, not on the point alone."""
EIGEN_FEATURE_NAMES: tuple[str, ...] = (
    "linearity",
    "planarity",
    "sphericity",
    "surface_variation",
    "anisotropy",
    "omnivariance",
    "eigenentropy",
    "verticality",
    "eigenvalue_sum",
    "PCA1",
    "PCA2",
)
"""What a ``GeometricFeatures`` miner computes (:mod:`vl3d_focal.data.eigen_features`)."""
HEIGHT_FEATURE_NAMES: tuple[str, ...] = (
    "floor_coordinate",
    "floor_distance",
    "ceil_coordinate",
    "ceil_distance",
    "height_range",
    "mean_height",
    "median_height",
    "height_variance",
    "height_stdev",
    "height_skewness",
    "height_kurtosis",
)
"""What a ``HeightFeatures`` miner computes (:mod:`vl3d_focal.data.height_features`)."""
HEIGHT_NEIGHBORHOODS = ("Rectangular2D", "Cylinder")
HEIGHT_OUTLIER_FILTERS = ("IQR", "stdev")
SMOOTH_STRATEGIES = ("mean", "weighted_mean", "gaussian_rbf")
"""What a ``SmoothFeatures`` miner computes of each input (:mod:`vl3d_focal.data.smooth_features`)."""
SMOOTH_NEIGHBORHOODS = ("sphere", "cylinder")
NAN_POLICIES = ("propagate", "replace")
"""What a ``SmoothFeatures`` miner does with a NaN input value (``nan_policy``)."""
HSV_FEATURE_NAMES = ("hue", "saturation", "value")
"""What a ``HSVFromRGB`` miner computes (:mod:`vl3d_focal.data.hsv_features`), in VL3D's order."""
HSV_DEFAULT_NAMES = ("HSV_H", "HSV_S", "HSV_V")
"""Their names when the step gives no ``frenames`` (VL3D's)."""
HSV_HUE_UNITS = ("radians", "degrees")
COLOUR_DIMENSIONS = ("red", "green", "blue")
"""The LAS dimensions a ``HSVFromRGB`` miner reads (point formats 2, 3, 5, 7, 8, 10)."""


def feature_names(dimension_names: Sequence[str]) -> list[str]:
    """Every feature name of a cloud whose point format has ``dimension_names``."""
    names = ["x", "y", "z"]
    for dim in dimension_names:
        if dim in RAW_COORDINATES:
            continue
        if dim in SCAN_ANGLE_ALIASES:
            names.extend(n for n in SCAN_ANGLE_ALIASES if n not in names)
        elif dim not in names:
            names.append(dim)
    return names + [name for name in DERIVED_FEATURE_NAMES if name not in names]


def missing_features(dimension_names: Sequence[str], fnames: Sequence[str]) -> list[str]:
    """The names of ``fnames`` a cloud whose point format has ``dimension_names`` cannot give.

    Example:
        >>> missing_features(["X", "Y", "Z", "intensity"], ["intensity", "red", "planarity"])
        ['red']
    """
    available = set(feature_names(dimension_names))
    return [name for name in fnames if name not in available]


def stored_derived(
    dimension_names: Collection[str], fnames: Sequence[str], *, mined: Collection[str] = ()
) -> list[str]:
    """The derived names of ``fnames`` that a cloud with ``dimension_names`` stores: they are read
    from its file as they are, not computed; a ``mined`` name is always computed by its miner.

    Example:
        >>> stored_derived(["intensity", "planarity"], ["intensity", "planarity", "linearity"])
        ['planarity']
    """
    stored = set(dimension_names)
    return [name for name in fnames if name in DERIVED_FEATURE_NAMES and name in stored and name not in mined]


def neighbourhood_computed(
    fnames: Sequence[str], *, mined: Collection[str] = (), stored: Collection[str] = ()
) -> list[str]:
    """The names of ``fnames`` computed from each point's neighbours: the ``mined`` ones and the
    neighbourhood features not ``stored`` by the cloud (a streamed cloud's tiles get them with a margin).

    Example:
        >>> neighbourhood_computed(["intensity", "planarity", "linearity", "p_k8"], mined=["p_k8"], stored=["planarity"])
        ['linearity', 'p_k8']
    """
    return [n for n in fnames if n in mined or (n in NEIGHBOURHOOD_FEATURE_NAMES and n not in stored)]


def header_feature_names(path: str | Path) -> list[str] | None:
    """The feature names of a LAS/LAZ file from its header; None when it cannot be read (the
    reader reports that, with its own message).

    Example:
        >>> header_feature_names("no/such.laz") is None
        True
    """
    from vl3d_focal.io.las_header import readable_header  # laspy only when a file is read

    header = readable_header(path)
    return None if header is None else feature_names(list(header.point_format.dimension_names))
