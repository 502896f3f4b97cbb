"""Point features by name, and their normalisation.

Names accepted by :func:`extract_features`:

* ``x``, ``y``, ``z``: scaled coordinates.
* Any dimension of the LAS file, standard or extra bytes (``intensity``, ``return_number``,
  ``number_of_returns``, ``red``, ``green``, ``blue``, ``nir``, ``gps_time``, ...).
* ``scan_angle`` (alias ``scan_angle_rank``): the scan angle in degrees for every point format
  (formats 6-10 store 0.006-degree units, formats 0-5 whole degrees).
* Derived features (see :data:`DERIVED_FEATURES`):

  - ``height_above_ground``: z minus an estimated terrain surface. The terrain is the lowest z
    per 2 m grid cell, empty cells filled from the nearest occupied cell, isolated points (at most 2 others
    within 1.5 m: low noise) skipped, then a grey-scale
    morphological opening over a 30 m window (removes buildings, trees and cars narrower than
    the window while keeping slopes), smoothed over 3 cells; then 6 times, each cell is raised
    to the lowest point less than 0.5 m above the surface (restores hill tops the opening
    clipped) and smoothed again; bilinearly interpolated at each point (scipy.ndimage).
  - ``return_ratio``: return_number / number_of_returns (1 for single and last returns).
  - ``linearity``, ``planarity``, ``scattering``, ``verticality``: shape of the 16 nearest
    neighbours from the eigenvalues l1 >= l2 >= l3 of their covariance: (l1-l2)/l1,
    (l2-l3)/l1, l3/l1 and 1 - |n_z| for the normal n (smallest eigenvector).

Example:
    >>> feats = extract_features(cloud, ["intensity", "height_above_ground"])   # doctest: +SKIP
    >>> norm = FeatureNormalizer().fit(feats, fnames=["intensity", "height_above_ground"])  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from vl3d_focal.errors import DataError
from vl3d_focal.io.las import PointCloud, las_dimensions

logger = logging.getLogger(__name__)

GROUND_CELL_M = 2.0
GROUND_WINDOW_M = 30.0
SHAPE_NEIGHBOURS = 16
ISOLATED_RADIUS_M = 1.5
ISOLATED_NEIGHBOURS = 2
REFINE_STEPS = 6
REFINE_BAND_M = 0.5
_SCAN_ANGLE_ALIASES = ("scan_angle", "scan_angle_rank")


def _lowest_without_isolated(xyz: np.ndarray, flat: np.ndarray, num_cells: int) -> np.ndarray:
    """Lowest z per cell, skipping isolated points (low noise) that have fewer than
    ``ISOLATED_NEIGHBOURS`` other points within ``ISOLATED_RADIUS_M``."""
    tree = cKDTree(xyz)
    valid = np.ones(len(xyz), dtype=bool)
    for _ in range(3):
        lowest = np.full(num_cells, np.inf)
        np.minimum.at(lowest, flat[valid], xyz[valid, 2])
        candidates = np.flatnonzero(valid & (xyz[:, 2] == lowest[flat]))
        found = tree.query_ball_point(xyz[candidates], r=ISOLATED_RADIUS_M, return_length=True, workers=-1)
        isolated = candidates[found <= ISOLATED_NEIGHBOURS]
        if isolated.size == 0:
            break
        valid[isolated] = False
    return lowest


def estimate_ground(
    xyz: np.ndarray, *, cell_size: float = GROUND_CELL_M, window: float = GROUND_WINDOW_M
) -> np.ndarray:
    """Terrain height under each point (see the module docstring for the method).

    Example:
        >>> ground = estimate_ground(cloud.xyz)              # doctest: +SKIP
    """
    xy_min = xyz[:, :2].min(axis=0)
    cells = np.floor((xyz[:, :2] - xy_min) / cell_size).astype(np.int64)
    shape = tuple(int(s) for s in cells.max(axis=0) + 1)
    flat = cells[:, 0] * shape[1] + cells[:, 1]
    lowest = _lowest_without_isolated(xyz, flat, shape[0] * shape[1]).reshape(shape)
    empty = ~np.isfinite(lowest)
    if empty.any():
        nearest = ndimage.distance_transform_edt(empty, return_distances=False, return_indices=True)
        lowest = lowest[tuple(nearest)]
    size = max(1, int(round(window / cell_size)) | 1)
    terrain = ndimage.grey_opening(lowest, size=(size, size), mode="nearest")
    terrain = ndimage.uniform_filter(terrain, size=3, mode="nearest")
    position = ((xyz[:, :2] - xy_min) / cell_size - 0.5).T
    for _ in range(REFINE_STEPS):
        # the opening clips hill tops narrower than the window: raise the surface to the lowest
        # points that lie just above it, cell by cell
        height = xyz[:, 2] - ndimage.map_coordinates(terrain, position, order=1, mode="nearest")
        near = height < REFINE_BAND_M
        lowest = np.full(shape[0] * shape[1], np.inf)
        np.minimum.at(lowest, flat[near], xyz[near, 2])
        lowest = lowest.reshape(shape)
        terrain = np.where(np.isfinite(lowest), np.maximum(lowest, terrain), terrain)
        terrain = ndimage.uniform_filter(terrain, size=3, mode="nearest")
    return ndimage.map_coordinates(terrain, position, order=1, mode="nearest")


def _height_above_ground(cloud: PointCloud) -> np.ndarray:
    return cloud.xyz[:, 2] - estimate_ground(cloud.xyz)


def _return_ratio(cloud: PointCloud) -> np.ndarray:
    returns = np.asarray(cloud.las.return_number, dtype=np.float64)
    total = np.maximum(np.asarray(cloud.las.number_of_returns, dtype=np.float64), 1.0)
    return np.minimum(returns / total, 1.0)


def shape_features(xyz: np.ndarray, *, k: int = SHAPE_NEIGHBOURS, chunk: int = 200_000) -> np.ndarray:
    """Linearity, planarity, scattering, verticality of the k nearest neighbours, (N, 4).

    Example:
        >>> shape_features(cloud.xyz).shape                   # doctest: +SKIP
        (56035, 4)
    """
    k = min(k, len(xyz))
    tree = cKDTree(xyz)
    out = np.empty((len(xyz), 4))
    for start in range(0, len(xyz), chunk):
        _, idx = tree.query(xyz[start:start + chunk], k=k, workers=-1)
        neigh = xyz[idx.reshape(len(idx), k)]
        centred = neigh - neigh.mean(axis=1, keepdims=True)
        cov = np.einsum("nki,nkj->nij", centred, centred) / k
        values, vectors = np.linalg.eigh(cov)  # ascending
        l3, l2, l1 = (np.maximum(values[:, i], 0.0) for i in range(3))
        l1 = np.maximum(l1, 1e-12)
        out[start:start + chunk, 0] = (l1 - l2) / l1
        out[start:start + chunk, 1] = (l2 - l3) / l1
        out[start:start + chunk, 2] = l3 / l1
        out[start:start + chunk, 3] = 1.0 - np.abs(vectors[:, 2, 0])
    return out


def _shape_column(column: int) -> Callable[[PointCloud], np.ndarray]:
    def compute(cloud: PointCloud) -> np.ndarray:
        return shape_features(cloud.xyz)[:, column]

    return compute


DERIVED_FEATURES: dict[str, tuple[Callable[[PointCloud], np.ndarray], str]] = {
    "height_above_ground": (_height_above_ground, "z minus the estimated terrain (m)"),
    "return_ratio": (_return_ratio, "return_number / number_of_returns"),
    "linearity": (_shape_column(0), "(l1 - l2) / l1 of the 16-neighbour covariance"),
    "planarity": (_shape_column(1), "(l2 - l3) / l1 of the 16-neighbour covariance"),
    "scattering": (_shape_column(2), "l3 / l1 of the 16-neighbour covariance"),
    "verticality": (_shape_column(3), "1 - |z of the normal| of the 16 neighbours"),
}
_SHAPE_NAMES = ("linearity", "planarity", "scattering", "verticality")
NEIGHBOURHOOD_FEATURES: tuple[str, ...] = ("height_above_ground",) + _SHAPE_NAMES
"""Derived features computed from a point's neighbourhood (not from the point alone): they need
the whole cloud, so a cloud using them is not streamed chunk by chunk."""


def _scan_angle_degrees(cloud: PointCloud) -> np.ndarray:
    names = cloud.las.point_format.dimension_names
    if "scan_angle" in names:
        return np.asarray(cloud.las.scan_angle, dtype=np.float64) * 0.006
    return np.asarray(cloud.las.scan_angle_rank, dtype=np.float64)


def available_features(cloud: PointCloud) -> list[str]:
    """Every feature name :func:`extract_features` accepts for this cloud.

    Example:
        >>> available_features(cloud)[:4]                    # doctest: +SKIP
        ['x', 'y', 'z', 'intensity']
    """
    names = ["x", "y", "z"]
    for dim in las_dimensions(cloud.las):
        if dim in _SCAN_ANGLE_ALIASES:
            names.extend(n for n in _SCAN_ANGLE_ALIASES if n not in names)
        elif dim not in names:
            names.append(dim)
    names.extend(DERIVED_FEATURES)
    return names


def _column(cloud: PointCloud, name: str) -> np.ndarray:
    axis = "xyz".find(name) if len(name) == 1 else -1
    if axis >= 0:
        return cloud.xyz[:, axis]
    if name in _SCAN_ANGLE_ALIASES:
        return _scan_angle_degrees(cloud)
    if name in DERIVED_FEATURES:
        return DERIVED_FEATURES[name][0](cloud)
    return np.asarray(cloud.las[name], dtype=np.float64)


def extract_features(cloud: PointCloud, fnames: Sequence[str]) -> np.ndarray:
    """The named features of every point, float32 array of shape (N, len(fnames)).

    Args:
        cloud: The point cloud.
        fnames: Feature names (see the module docstring); may be empty.

    Raises:
        DataError: A name the cloud does not have; the message lists the available names.

    Example:
        >>> extract_features(cloud, ["intensity", "return_number"]).shape   # doctest: +SKIP
        (56035, 2)
    """
    available = available_features(cloud)
    missing = [name for name in fnames if name not in available]
    if missing:
        raise DataError(
            f"point cloud {cloud.path or cloud.name}: unknown feature(s) {missing} (not in the file "
            f"nor derived); available: {', '.join(available)}"
        )
    out = np.empty((cloud.num_points, len(fnames)), dtype=np.float32)
    shape_cache: np.ndarray | None = None
    for j, name in enumerate(fnames):
        if name in _SHAPE_NAMES:
            if shape_cache is None:
                shape_cache = shape_features(cloud.xyz)
            out[:, j] = shape_cache[:, _SHAPE_NAMES.index(name)]
        else:
            out[:, j] = _column(cloud, name)
        logger.debug("%s: feature %s computed", cloud.name, name)
    if not np.isfinite(out).all():
        bad = {fnames[j]: int(np.sum(~np.isfinite(out[:, j]))) for j in range(len(fnames))
               if not np.isfinite(out[:, j]).all()}
        listing = ", ".join(f"{name!r} at {count} points" for name, count in bad.items())
        raise DataError(
            f"point cloud {cloud.path or cloud.name}: NaN or infinite feature values ({listing}); "
            "expected finite values"
        )
    logger.info("%s: %d features extracted (%s)", cloud.name, len(fnames), ", ".join(fnames))
    return out


class FeatureNormalizer:
    """Per-feature robust standardisation: (value - median) / scale.

    The scale is the interquartile range / 1.349 (the standard deviation for normal data),
    the standard deviation when the IQR is 0, and 1 when both are 0. Fit on the training
    clouds, stored with the model via :meth:`to_config`, reused unchanged at prediction.

    Example:
        >>> norm = FeatureNormalizer().fit(np.array([[1.0], [2.0], [3.0]]), fnames=["i"])
        >>> norm.transform(np.array([[2.0]])).tolist()
        [[0.0]]
    """

    def __init__(
        self,
        *,
        fnames: Sequence[str] | None = None,
        center: Sequence[float] | None = None,
        scale: Sequence[float] | None = None,
    ) -> None:
        self.fnames = list(fnames) if fnames is not None else None
        self.center = None if center is None else np.asarray(center, dtype=np.float64)
        self.scale = None if scale is None else np.asarray(scale, dtype=np.float64)

    @property
    def fitted(self) -> bool:
        """Whether centre and scale are known."""
        return self.center is not None and self.scale is not None

    def fit(self, features: np.ndarray, *, fnames: Sequence[str] | None = None) -> "FeatureNormalizer":
        """Learn the per-feature median and robust scale of (N, F) features.

        Example:
            >>> FeatureNormalizer().fit(np.ones((4, 2))).scale.tolist()
            [1.0, 1.0]
        """
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[0] == 0:
            raise DataError(f"normaliser: expected (N, F) features with N > 0, received {features.shape}")
        q25, q50, q75 = np.percentile(features, [25, 50, 75], axis=0)
        scale = (q75 - q25) / 1.349
        std = features.std(axis=0)
        scale = np.where(scale > 1e-12, scale, np.where(std > 1e-12, std, 1.0))
        self.center, self.scale = q50, scale
        self.fnames = list(fnames) if fnames is not None else self.fnames
        logger.info("feature normaliser fitted: centre %s scale %s", q50.round(4), scale.round(4))
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Standardise (N, F) features; float32.

        Example:
            >>> FeatureNormalizer(center=[1.0], scale=[2.0]).transform(np.array([[5.0]])).tolist()
            [[2.0]]
        """
        if not self.fitted:
            raise DataError("feature normaliser used before fit (no centre/scale)")
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.center.shape[0]:
            raise DataError(
                f"normaliser: expected (N, {self.center.shape[0]}) features, received {features.shape}"
            )
        return ((features - self.center) / self.scale).astype(np.float32)

    def fit_transform(self, features: np.ndarray, *, fnames: Sequence[str] | None = None) -> np.ndarray:
        """:meth:`fit` then :meth:`transform`.

        Example:
            >>> FeatureNormalizer().fit_transform(np.zeros((3, 2))).tolist()[0]
            [0.0, 0.0]
        """
        return self.fit(features, fnames=fnames).transform(features)

    def to_config(self) -> dict[str, Any]:
        """JSON-able state.

        Example:
            >>> FeatureNormalizer(fnames=["i"], center=[0.0], scale=[1.0]).to_config()
            {'fnames': ['i'], 'center': [0.0], 'scale': [1.0]}
        """
        return {
            "fnames": self.fnames,
            "center": None if self.center is None else [float(v) for v in self.center],
            "scale": None if self.scale is None else [float(v) for v in self.scale],
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "FeatureNormalizer":
        """Inverse of :meth:`to_config`.

        Example:
            >>> FeatureNormalizer.from_config({"fnames": [], "center": [], "scale": []}).fitted
            True
        """
        return cls(fnames=config.get("fnames"), center=config.get("center"), scale=config.get("scale"))
