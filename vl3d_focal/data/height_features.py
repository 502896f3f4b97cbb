"""Height features of VL3D's ``HeightFeatures`` miner: statistics of the z values around support points.

Support points are the centres of the occupied cells of an xy grid of ``separation_factor *
radius`` cells anchored at multiples of the cell size (so a tile of a cloud gets the cells, and
values, of the whole cloud). Each support point's neighbourhood is every point within
``radius`` in xy: a square of half side ``radius`` (``Rectangular2D``) or a disc (``Cylinder``).
Its z values, optionally without outliers (``IQR``: outside ``[Q1 - 1.5 IQR, Q3 + 1.5 IQR]``;
``stdev``: outside ``mean +- 3 std``), give the statistics, and every point takes those of its
cell's support point (its nearest one):

========================  ==================================  ========================  =====================
floor_coordinate          min z                               ceil_coordinate           max z
floor_distance            z - min z                           ceil_distance             max z - z
height_range              max z - min z                       mean_height, median_height
height_variance           population variance                 height_stdev              its square root
height_skewness           m3 / m2^1.5 (0 when m2 = 0)         height_kurtosis           m4 / m2^2 - 3 (0 when m2 = 0)
========================  ==================================  ========================  =====================

Example:
    >>> xyz = np.array([[0.5, 0.5, 1.0], [0.6, 0.5, 3.0], [0.7, 0.5, 2.0]])
    >>> height_features(xyz, names=["floor_distance", "height_range"], radius=1.0,
    ...                 separation_factor=1.0).tolist()
    [[0.0, 2.0], [2.0, 2.0], [1.0, 2.0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from vl3d_focal.data.feature_names import HEIGHT_FEATURE_NAMES, HEIGHT_NEIGHBORHOODS, HEIGHT_OUTLIER_FILTERS
from vl3d_focal.data.point_tree import ball_pairs

HEIGHT_FEATURES = HEIGHT_FEATURE_NAMES
"""The feature names :func:`height_features` computes."""
_SUPPORT_CHUNK = 2048


def _group_quantile(values: np.ndarray, starts: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """The ``q`` quantile (linear interpolation, as ``np.percentile``) of each sorted group."""
    position = starts + q * (counts - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, starts + counts - 1)
    return values[low] + (position - low) * (values[high] - values[low])


def _statistics(z: np.ndarray, owner: np.ndarray, count: int) -> dict[str, np.ndarray]:
    """Per-group statistics of ``z`` sorted by (owner, z), every group non-empty."""
    counts = np.bincount(owner, minlength=count)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    mean = np.bincount(owner, weights=z, minlength=count) / counts
    centred = z - mean[owner]
    moments = [np.bincount(owner, weights=centred**p, minlength=count) / counts for p in (2, 3, 4)]
    m2 = moments[0]
    flat = m2 <= 1e-12
    safe = np.where(flat, 1.0, m2)
    return {
        "floor": z[starts],
        "ceil": z[starts + counts - 1],
        "mean_height": mean,
        "median_height": _group_quantile(z, starts, counts, 0.5),
        "height_variance": m2,
        "height_stdev": np.sqrt(m2),
        "height_skewness": np.where(flat, 0.0, moments[1] / safe**1.5),
        "height_kurtosis": np.where(flat, 0.0, moments[2] / safe**2 - 3.0),
    }


def _support_statistics(
    z: np.ndarray, owner: np.ndarray, count: int, outlier_filter: str | None
) -> dict[str, np.ndarray]:
    order = np.lexsort((z, owner))
    z, owner = z[order], owner[order]
    if outlier_filter is not None:
        counts = np.bincount(owner, minlength=count)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        if outlier_filter == "IQR":
            q1, q3 = (_group_quantile(z, starts, counts, q) for q in (0.25, 0.75))
            low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
        else:
            mean = np.bincount(owner, weights=z, minlength=count) / counts
            std = np.sqrt(np.bincount(owner, weights=(z - mean[owner]) ** 2, minlength=count) / counts)
            low, high = mean - 3.0 * std, mean + 3.0 * std
        keep = (z >= low[owner]) & (z <= high[owner])
        z, owner = z[keep], owner[keep]
    return _statistics(z, owner, count)


def height_features(
    xyz: np.ndarray,
    *,
    names: Sequence[str],
    radius: float,
    separation_factor: float,
    neighborhood: str = "Rectangular2D",
    outlier_filter: str | None = None,
    queries: np.ndarray | None = None,
) -> np.ndarray:
    """The named height features of some points (module docstring).

    Args:
        xyz: ``(n, 3)`` the points searched (holding every point within ``radius`` + one cell
            of the queries, in xy).
        names: features wanted, among :data:`HEIGHT_FEATURES`.
        radius: half side of the square (or radius of the disc) around each support point.
        separation_factor: the grid's cell size, in radii.
        neighborhood: ``Rectangular2D`` or ``Cylinder``.
        outlier_filter: None, ``IQR`` or ``stdev``.
        queries: rows of ``xyz`` whose features are wanted (None: all).

    Returns:
        ``(q, len(names))`` float64.

    Raises:
        ValueError: an unknown name, neighbourhood or filter.

    Example:
        >>> xyz = np.array([[0.0, 0, 0.0], [0.1, 0, 4.0]])
        >>> height_features(xyz, names=["ceil_distance"], radius=1.0, separation_factor=0.5).ravel().tolist()
        [4.0, 0.0]
    """
    unknown = [name for name in names if name not in HEIGHT_FEATURES]
    if unknown or neighborhood not in HEIGHT_NEIGHBORHOODS or outlier_filter not in (None, *HEIGHT_OUTLIER_FILTERS):
        raise ValueError(
            f"height_features: expected names among {list(HEIGHT_FEATURES)}, a neighborhood among "
            f"{list(HEIGHT_NEIGHBORHOODS)} and an outlier filter among {[None, *HEIGHT_OUTLIER_FILTERS]}; "
            f"received {list(names)}, {neighborhood!r}, {outlier_filter!r}"
        )
    xyz = np.asarray(xyz, dtype=np.float64)
    queries = np.arange(len(xyz)) if queries is None else np.asarray(queries)
    cell = float(separation_factor) * float(radius)
    cells, inverse = np.unique(np.floor(xyz[queries, :2] / cell).astype(np.int64), axis=0, return_inverse=True)
    centres = (cells + 0.5) * cell
    tree = cKDTree(xyz[:, :2])
    p = np.inf if neighborhood == "Rectangular2D" else 2.0
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(centres), _SUPPORT_CHUNK):
        chunk = centres[start : start + _SUPPORT_CHUNK]
        flat, owner = ball_pairs(tree, chunk, radius, p=p)
        stats = _support_statistics(xyz[flat, 2], owner, len(chunk), outlier_filter)
        for key, value in stats.items():
            parts.setdefault(key, []).append(value)
    support = {key: np.concatenate(value)[inverse.ravel()] for key, value in parts.items()}
    z = xyz[queries, 2]
    floor, ceil = support["floor"], support["ceil"]
    derived = {
        "floor_coordinate": floor,
        "floor_distance": z - floor,
        "ceil_coordinate": ceil,
        "ceil_distance": ceil - z,
        "height_range": ceil - floor,
    }
    return (
        np.column_stack([derived[name] if name in derived else support[name] for name in names])
        if names
        else np.zeros((len(queries), 0))
    )
