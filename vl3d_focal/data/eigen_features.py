"""Geometric features from the eigen-decomposition of a neighbourhood's covariance.

For a point's neighbourhood (every point within ``radius`` of it, itself included; or its ``k``
nearest points), the covariance ``C = mean((p - mean(p)) (p - mean(p))^T)`` has eigenvalues
``l1 >= l2 >= l3 >= 0`` (``S = l1 + l2 + l3``, ``e_i = l_i / S``) and ``n`` is the eigenvector of
``l3`` (the normal). The features (VL3D's ``GeometricFeatures`` names; Hackel et al. 2016):

==================  =============================  ==================  =======================
linearity           (l1 - l2) / l1                 sphericity          l3 / l1
planarity           (l2 - l3) / l1                 surface_variation   l3 / S
anisotropy          (l1 - l3) / l1                 verticality         1 - |n_z|
omnivariance        (e1 e2 e3) ** (1/3)            eigenentropy        -sum(e_i ln e_i)
eigenvalue_sum      S                              PCA1, PCA2          e1, e2
==================  =============================  ==================  =======================

A neighbourhood without spread (one point, or points on one spot: ``l1 <= 1e-12`` m²) gets 0
for every feature. The covariance is accumulated from the neighbours' offsets to the query point, so
georeferenced coordinates (1e6 m) lose no precision. The ``k`` nearest are ordered by (distance,
point id), so a tile holding every point within the k-th distance gets the whole cloud's values.

Example:
    >>> rng = np.random.default_rng(0)
    >>> plane = np.column_stack([rng.uniform(0, 4, (400, 2)), np.zeros(400)])
    >>> values, _ = eigen_features(plane, names=["planarity", "verticality"], radius=1.0)
    >>> bool(np.median(values[:, 0]) > 0.5), float(values[:, 1].max())
    (True, 0.0)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from scipy.spatial import cKDTree

from vl3d_focal.data.feature_names import EIGEN_FEATURE_NAMES
from vl3d_focal.data.parallel import cpu_threads
from vl3d_focal.data.point_tree import ball_pairs, point_tree
from vl3d_focal.data.symmetric3x3 import smallest_eigenvector
from vl3d_focal.progress import Progress
from vl3d_focal.wording import noun

logger = logging.getLogger(__name__)

EIGEN_FEATURES = EIGEN_FEATURE_NAMES
"""The feature names :func:`eigen_features` computes."""

TIE_CANDIDATES = 1
"""Neighbours queried beyond the k wanted: one tells whether a tie crosses the k-th place (then
every point at that distance is fetched); more only make that rarer (0.06 % of the points of the
benchmarks' scene, 0.015 % of an IGN tile) and cost 5-15 % more query time."""
_QUERY_CHUNK = 20_000
_PAIR_BUDGET = 4_000_000
NO_SPREAD = 1e-12
"""Eigenvalues (m²) at or below this count as 0: a neighbourhood on one spot has no shape."""


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
    distance, index = tree.query(query, k=candidates, workers=cpu_threads())
    distance, index = distance.reshape(len(query), candidates), index.reshape(len(query), candidates)
    tied = np.flatnonzero((np.diff(distance, axis=1) == 0).any(axis=1))
    if tied.size:
        order = np.lexsort((ids[index[tied]], distance[tied]), axis=1)
        index[tied] = np.take_along_axis(index[tied], order, axis=1)
        distance[tied] = np.take_along_axis(distance[tied], order, axis=1)
    if candidates > k:  # ties running past the candidates: every point at the k-th distance
        for row in np.flatnonzero(distance[:, k - 1] == distance[:, -1]):
            reach = distance[row, k - 1] * (1.0 + 1e-9) + 1e-9  # the ball test rounds otherwise than the query
            members = np.asarray(tree.query_ball_point(query[row], r=reach), dtype=np.int64)
            gaps = np.sqrt(np.sum((tree.data[members] - query[row]) ** 2, axis=1))
            index[row, :k] = members[np.lexsort((ids[members], gaps))[:k]]
    return index[:, :k], distance[:, k - 1]


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > NO_SPREAD)
    return out


def _from_eigen(values: np.ndarray, normal: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """The named features of ``(q, 3)`` ascending eigenvalues and ``(q, 3)`` the smallest's eigenvector."""
    l3, l2, l1 = (np.maximum(values[:, i], 0.0) for i in range(3))
    total = l1 + l2 + l3
    e1, e2, e3 = _safe_ratio(l1, total), _safe_ratio(l2, total), _safe_ratio(l3, total)
    spread = l1 > NO_SPREAD
    with np.errstate(divide="ignore", invalid="ignore"):
        h1, h2, h3 = (np.where(e > 0, e * np.log(np.where(e > 0, e, 1.0)), 0.0) for e in (e1, e2, e3))
        entropy = -(h1 + h2 + h3)
    formulas: dict[str, Callable[[], np.ndarray]] = {
        "linearity": lambda: _safe_ratio(l1 - l2, l1),
        "planarity": lambda: _safe_ratio(l2 - l3, l1),
        "sphericity": lambda: _safe_ratio(l3, l1),
        "surface_variation": lambda: e3,
        "anisotropy": lambda: _safe_ratio(l1 - l3, l1),
        "omnivariance": lambda: np.cbrt(e1 * e2 * e3),
        "eigenentropy": lambda: entropy,
        "verticality": lambda: np.where(spread, 1.0 - np.abs(normal[:, 2]), 0.0),
        "eigenvalue_sum": lambda: total,
        "PCA1": lambda: e1,
        "PCA2": lambda: e2,
    }
    return np.column_stack([formulas[name]() for name in names]) if names else np.zeros((len(values), 0))


def _covariances(offsets: np.ndarray, owner: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``(q, 3, 3)`` covariances of groups of ``offsets`` (``owner`` = group of each row)."""
    q = len(counts)
    first = np.stack([np.bincount(owner, weights=offsets[:, i], minlength=q) for i in range(3)], axis=1)
    second = np.empty((q, 3, 3))
    for i in range(3):
        for j in range(i, 3):
            second[:, i, j] = second[:, j, i] = np.bincount(owner, weights=offsets[:, i] * offsets[:, j], minlength=q)
    size = np.maximum(counts, 1).astype(np.float64)
    mean = first / size[:, None]
    return second / size[:, None, None] - mean[:, :, None] * mean[:, None, :]


def _knn_covariances(columns: Sequence[np.ndarray], index: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``(q, 3, 3)`` covariances of the ``(q, k)`` neighbours ``index`` of ``(q, 3)`` query points,
    from the cloud's ``x``, ``y`` and ``z`` as contiguous columns (one gather per axis: about twice
    as fast as over ``(n, 3)`` rows)."""
    count = index.shape[1]
    offsets = [column[index] - query[:, axis, None] for axis, column in enumerate(columns)]
    means = [offset.sum(axis=1) / count for offset in offsets]
    covariance = np.empty((len(query), 3, 3))
    for i in range(3):
        for j in range(i, 3):
            second = np.einsum("qk,qk->q", offsets[i], offsets[j]) / count
            covariance[:, i, j] = covariance[:, j, i] = second - means[i] * means[j]
    return covariance


def _ball_chunk(tree: cKDTree, xyz: np.ndarray, query: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    flat, owner = ball_pairs(tree, query, radius)
    counts = np.bincount(owner, minlength=len(query))
    return _covariances(xyz[flat] - query[owner], owner, counts), counts


def neighbourhood_covariances(
    xyz: np.ndarray, *, radius: float | None, k: int | None, queries: np.ndarray, ids: np.ndarray, what: str
) -> Iterator[tuple[slice, np.ndarray, np.ndarray, np.ndarray]]:
    """The covariances (divided by n) of the neighbourhoods of ``xyz[queries]``, chunk by chunk:
    ``(rows of queries, covariances (q, 3, 3), neighbours n (q,), reach (q,))`` (the arguments
    are :func:`eigen_features`'s, exactly one of radius and k given).

    Example:
        >>> line = np.column_stack([np.arange(4.0), np.zeros(4), np.zeros(4)])
        >>> _, cov, n, reach = next(neighbourhood_covariances(line, radius=1.0, k=None, queries=np.arange(4),
        ...                                                   ids=np.arange(4), what="x"))
        >>> cov[:2, 0, 0].round(6).tolist(), n.tolist(), reach.tolist()
        ([0.25, 0.666667], [2, 3, 3, 2], [1.0, 1.0, 1.0, 1.0])
    """
    tree = point_tree(xyz)
    columns = [np.ascontiguousarray(xyz[:, axis]) for axis in range(3)] if k is not None else []  # k-NN gathers
    chunk = _QUERY_CHUNK if k is None else max(1, min(_QUERY_CHUNK, _PAIR_BUDGET // max(int(k), 1)))
    with Progress(what, total=len(queries), unit="points") as progress:
        for start in range(0, len(queries), chunk):
            rows = slice(start, start + chunk)
            query = xyz[queries[rows]]
            if k is None:
                assert radius is not None  # exactly one of radius and k (checked by the caller)
                covariance, counts = _ball_chunk(tree, xyz, query, float(radius))
                reach = np.full(len(query), float(radius))
            else:
                count = min(int(k), len(xyz))
                index, reach = nearest_in_order(tree, query, ids=ids, k=count)
                covariance, counts = _knn_covariances(columns, index, query), np.full(len(query), count)
            yield rows, covariance, counts, reach
            progress.update(min(start + chunk, len(queries)))


def eigen_features(
    xyz: np.ndarray,
    *,
    names: Sequence[str],
    radius: float | None = None,
    k: int | None = None,
    queries: np.ndarray | None = None,
    ids: np.ndarray | None = None,
    what: str = "geometric features",
    isolated: set[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The named eigen features of some points, from a radius or a k-nearest neighbourhood.

    Args:
        xyz: ``(n, 3)`` the points searched.
        names: features wanted, among :data:`EIGEN_FEATURES`.
        radius: the neighbourhood is every point within this distance (give radius or k).
        k: the neighbourhood is the k nearest points (capped at n), ties by point id.
        queries: rows of ``xyz`` whose features are wanted (None: all).
        ids: the points' ids in the cloud, to order tied neighbours (None: row numbers).
        what: the work's name in the progress bar.
        isolated: gets the ids of the queried points with no other point within ``radius``
            (their features are 0; radius form only), for :func:`log_isolated_points`.

    Returns:
        ``(features (q, len(names)) float64, reach (q,))``: ``reach`` is the distance the
        neighbourhood spans (``radius``, or the k-th neighbour's distance).

    Raises:
        ValueError: neither or both of radius and k, or an unknown name.

    Example:
        >>> line = np.column_stack([np.arange(10.0), np.zeros(10), np.zeros(10)])
        >>> eigen_features(line, names=["linearity"], k=3)[0][:2, 0].tolist()
        [1.0, 1.0]
    """
    if (radius is None) == (k is None):
        raise ValueError(f"eigen_features: give exactly one of radius and k; received radius={radius}, k={k}")
    unknown = [name for name in names if name not in EIGEN_FEATURES]
    if unknown:
        raise ValueError(
            f"eigen_features: unknown {noun(len(unknown), 'feature')} {unknown}; expected some of {list(EIGEN_FEATURES)}"
        )
    xyz = np.asarray(xyz, dtype=np.float64)
    queries = np.arange(len(xyz)) if queries is None else np.asarray(queries)
    ids = np.arange(len(xyz)) if ids is None else np.asarray(ids)
    out, reach = np.empty((len(queries), len(names))), np.empty(len(queries))
    chunks = neighbourhood_covariances(xyz, radius=radius, k=k, queries=queries, ids=ids, what=what)
    for rows, covariance, counts, spans in chunks:
        out[rows], reach[rows] = _from_eigen(*smallest_eigenvector(covariance), names), spans
        if isolated is not None and radius is not None:  # a ball holds its own centre: 1 is alone
            isolated.update(ids[queries[rows][counts <= 1]].tolist())
    return out, reach


_LOGGED_ISOLATED: set[tuple[str, float | None, int, int]] = set()
"""The isolated-point counts :func:`log_isolated_points` logged (cloud, radius, count, total)."""


def forget_isolated_points() -> None:
    """Lets :func:`log_isolated_points` log every cloud's count again (the runner, as a run starts).

    Example:
        >>> with logged():
        ...     forget_isolated_points()
        ...     log_isolated_points(isolated=2, total=10, radius=1.0, cloud="b.las")
        ...     log_isolated_points(isolated=2, total=10, radius=1.0, cloud="b.las")  # logged already: not again
        ...     forget_isolated_points()
        ...     log_isolated_points(isolated=2, total=10, radius=1.0, cloud="b.las")  # forgotten: logged again
        WARNING: b.las: GeometricFeatures radius 1: 2 of 10 points (20.00%) have no other point within the radius; their features are 0 here (VL3D gives NaN, which its imputers would fill)
        WARNING: b.las: GeometricFeatures radius 1: 2 of 10 points (20.00%) have no other point within the radius; their features are 0 here (VL3D gives NaN, which its imputers would fill)
    """
    _LOGGED_ISOLATED.clear()


def log_isolated_points(*, isolated: int, total: int, radius: float | None, cloud: str) -> None:
    """Logs (a warning) how many of a cloud's ``total`` points had no other point within ``radius``
    (:func:`eigen_features`'s ``isolated``): their features are 0 where VL3D's GeometricFeatures
    gives NaN. Nothing is logged when there is none, nor for a count already logged for the same
    cloud and radius since :func:`forget_isolated_points` (a cloud's features computed again for
    its training, evaluation and prediction).

    Example:
        >>> with logged():
        ...     log_isolated_points(isolated=0, total=10, radius=1.0, cloud="lonely.las")  # none: nothing logged
        ...     log_isolated_points(isolated=3, total=10, radius=1.0, cloud="lonely.las")
        WARNING: lonely.las: GeometricFeatures radius 1: 3 of 10 points (30.00%) have no other point within the radius; their features are 0 here (VL3D gives NaN, which its imputers would fill)
    """
    key = (cloud, radius, isolated, total)
    if not isolated or key in _LOGGED_ISOLATED:
        return
    _LOGGED_ISOLATED.add(key)
    logger.warning(
        "%s: GeometricFeatures radius %g: %d of %d points (%.2f%%) have no other point within the radius; "
        "their features are 0 here (VL3D gives NaN, which its imputers would fill)",
        cloud,
        radius,
        isolated,
        total,
        100.0 * isolated / max(total, 1),
    )
