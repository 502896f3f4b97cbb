"""Point features by name, and their normalisation.

Names accepted by :func:`extract_features`:

* ``x``, ``y``, ``z``: scaled coordinates.
* Any dimension of the LAS file, standard or extra bytes (``intensity``, ``return_number``,
  ``number_of_returns``, ``red``, ``green``, ``blue``, ``nir``, ``gps_time``, ...).
* ``scan_angle`` (alias ``scan_angle_rank``): the scan angle in degrees for every point format
  (formats 6-10 store 0.006-degree units, formats 0-5 whole degrees).
* Derived features (see :data:`DERIVED_FEATURES`):

  - ``height_above_ground``: z minus an estimated terrain surface
    (:mod:`vl3d_focal.data.terrain`: lowest points per 2 m cell without isolated low noise,
    a morphological opening over 30 m, refined towards the points just above it).
  - ``return_ratio``: return_number / number_of_returns (1 for single and last returns).
  - ``linearity``, ``planarity``, ``scattering``, ``verticality``: shape of the 16 nearest
    neighbours (equal distances ordered by point index) from the eigenvalues l1 >= l2 >= l3 of
    their covariance: (l1-l2)/l1, (l2-l3)/l1, l3/l1 and 1 - |n_z| for the normal n (smallest
    eigenvector).

Example:
    >>> feats = extract_features(cloud, ["intensity", "height_above_ground"])   # doctest: +SKIP
    >>> norm = FeatureNormalizer().fit(feats, fnames=["intensity", "height_above_ground"])  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy.spatial import cKDTree

from vl3d_focal.data.feature_names import SCAN_ANGLE_ALIASES, feature_names
from vl3d_focal.data.terrain import estimate_ground
from vl3d_focal.errors import DataError
from vl3d_focal.io.las import PointCloud, las_dimensions
from vl3d_focal.progress import Progress

logger = logging.getLogger(__name__)

SHAPE_NEIGHBOURS = 16
TIE_CANDIDATES = 4


def _height_above_ground(cloud: PointCloud) -> np.ndarray:
    return cloud.xyz[:, 2] - estimate_ground(cloud.xyz)


def _return_ratio(cloud: PointCloud) -> np.ndarray:
    returns = np.asarray(cloud.las.return_number, dtype=np.float64)
    total = np.maximum(np.asarray(cloud.las.number_of_returns, dtype=np.float64), 1.0)
    return np.minimum(returns / total, 1.0)


def nearest_in_order(tree: cKDTree, query: np.ndarray, *, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest points of each query point, ordered by (distance, id), and the distance
    of the k-th.

    Ordering by id among equal distances (frequent with LAS's quantised coordinates) makes the
    neighbours, and their order, the same whichever subset of the cloud holds them, as long as
    it holds every point within the k-th distance: a tile with a margin gets the whole cloud's.

    Args:
        tree: KD-tree of the points.
        query: ``(q, 3)`` query positions.
        ids: ``(n,)`` the tree's points' ids in the cloud.
        k: neighbours wanted (at most the points in the tree).

    Returns:
        ``(indices (q, k) into the tree, k-th distance (q,))``.

    Example:
        >>> xyz = np.array([[0.0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 2, 0]])
        >>> nearest_in_order(cKDTree(xyz), xyz[:1], ids=np.array([0, 9, 5, 1]), k=2)[0].tolist()
        [[0, 2]]
    """
    candidates = min(k + TIE_CANDIDATES, tree.n)
    distance, index = tree.query(query, k=candidates, workers=-1)
    distance, index = distance.reshape(len(query), candidates), index.reshape(len(query), candidates)
    tied = np.flatnonzero((np.diff(distance, axis=1) == 0).any(axis=1))
    if tied.size:
        order = np.lexsort((ids[index[tied]], distance[tied]), axis=1)
        index[tied] = np.take_along_axis(index[tied], order, axis=1)
        distance[tied] = np.take_along_axis(distance[tied], order, axis=1)
    if candidates > k:  # ties running past the candidates: every point at the k-th distance
        for row in np.flatnonzero(distance[:, k - 1] == distance[:, -1]):
            members = np.asarray(tree.query_ball_point(query[row], r=distance[row, k - 1]), dtype=np.int64)
            gaps = np.sqrt(np.sum((tree.data[members] - query[row]) ** 2, axis=1))
            index[row, :k] = members[np.lexsort((ids[members], gaps))[:k]]
    return index[:, :k], distance[:, k - 1]


def neighbour_shapes(
    xyz: np.ndarray, *, queries: np.ndarray | None = None, ids: np.ndarray | None = None,
    k: int = SHAPE_NEIGHBOURS, chunk: int = 200_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Shape features of some points from their k nearest neighbours among ``xyz``.

    Args:
        xyz: ``(n, 3)`` the points searched.
        queries: rows of ``xyz`` whose features are wanted (None: all).
        ids: the points' ids in the cloud, for :func:`nearest_in_order` (None: row numbers).
        k: neighbours (capped at ``n``).
        chunk: query points per KD-tree call (bounds the memory of the neighbour arrays).

    Returns:
        ``(features (q, 4), k-th neighbour distance (q,))``; the features are linearity,
        planarity, scattering and verticality (module docstring).

    Example:
        >>> plane = np.column_stack([np.random.default_rng(0).uniform(0, 1, (200, 2)), np.zeros(200)])
        >>> features, reach = neighbour_shapes(plane)
        >>> bool(features[:, 2].max() < 1e-9), bool(features[:, 3].max() < 1e-6)  # flat, horizontal
        (True, True)
    """
    queries = np.arange(len(xyz)) if queries is None else np.asarray(queries)
    ids = np.arange(len(xyz)) if ids is None else np.asarray(ids)
    k = min(k, len(xyz))
    tree = cKDTree(xyz)
    out, reach = np.empty((len(queries), 4)), np.empty(len(queries))
    with Progress("shape features", total=len(queries), unit="points") as progress:
        for start in range(0, len(queries), chunk):
            rows = slice(start, start + chunk)
            index, reach[rows] = nearest_in_order(tree, xyz[queries[rows]], ids=ids, k=k)
            neigh = xyz[index]
            centred = neigh - neigh.mean(axis=1, keepdims=True)
            values, vectors = np.linalg.eigh(np.einsum("nki,nkj->nij", centred, centred) / k)  # ascending
            l3, l2, l1 = (np.maximum(values[:, i], 0.0) for i in range(3))
            l1 = np.maximum(l1, 1e-12)
            out[rows] = np.column_stack([(l1 - l2) / l1, (l2 - l3) / l1, l3 / l1, 1.0 - np.abs(vectors[:, 2, 0])])
            progress.update(min(start + chunk, len(queries)))
    return out, reach


def shape_features(xyz: np.ndarray, *, k: int = SHAPE_NEIGHBOURS) -> np.ndarray:
    """Linearity, planarity, scattering, verticality of every point's k nearest neighbours, (N, 4).

    Example:
        >>> shape_features(cloud.xyz).shape                   # doctest: +SKIP
        (56035, 4)
    """
    return neighbour_shapes(xyz, k=k)[0]


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
SHAPE_FEATURES = ("linearity", "planarity", "scattering", "verticality")
NEIGHBOURHOOD_FEATURES: tuple[str, ...] = ("height_above_ground",) + SHAPE_FEATURES
"""Derived features computed from a point's neighbourhood (not from the point alone): a
streamed cloud gets them tile by tile with a margin (:mod:`vl3d_focal.inference.tile_features`)."""


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
    return feature_names(las_dimensions(cloud.las))


def _column(cloud: PointCloud, name: str) -> np.ndarray:
    axis = "xyz".find(name) if len(name) == 1 else -1
    if axis >= 0:
        return cloud.xyz[:, axis]
    if name in SCAN_ANGLE_ALIASES:
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
        if name in SHAPE_FEATURES:
            if shape_cache is None:
                shape_cache = shape_features(cloud.xyz)
            out[:, j] = shape_cache[:, SHAPE_FEATURES.index(name)]
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
