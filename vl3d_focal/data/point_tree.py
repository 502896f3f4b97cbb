"""KD-trees over point coordinates, built for the neighbour queries of LiDAR tiles, and the
nearest-point fill of the points without a value of their own (:func:`nearest_values`).

scipy's defaults split at the median (``balanced_tree=True``) with 16-point leaves. On 300,000
points of the benchmarks' generated scene, sliding-midpoint splits with 32-point leaves build
the tree in about half the time and answer the count queries of the terrain's low-noise test
about a third faster; the k-nearest queries of the shape features take about as long
(``benchmarks/README.md``). Only the tree's shape changes: a query finds the same points (the
features order tied neighbours by point id, counts do not depend on the order).

Example:
    >>> tree = point_tree(np.array([[0.0, 0, 0], [1, 0, 0], [3, 0, 0]]))
    >>> tree.query_ball_point([0.0, 0, 0], r=1.5, return_sorted=True)
    [0, 1]
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.spatial import cKDTree

from vl3d_focal.data.parallel import cpu_threads

LEAF_SIZE = 32
_TIE_CANDIDATES = 4
"""Nearest points :func:`nearest_points` compares exactly (more only where all of them are equidistant)."""


def point_tree(points: np.ndarray) -> cKDTree:
    """A :class:`scipy.spatial.cKDTree` of ``(n, d)`` points, sliding-midpoint splits, 32-point leaves.

    Example:
        >>> point_tree(np.zeros((5, 3))).n
        5
    """
    return cKDTree(points, leafsize=LEAF_SIZE, balanced_tree=False)


def ball_pairs(tree: cKDTree, query: np.ndarray, radius: float, *, p: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Every (tree point, query) pair within ``radius`` (Minkowski ``p``-norm) as two flat arrays:
    ``(members, owner)``, ``owner[i]`` the query row of ``members[i]``, grouped by query.

    Example:
        >>> members, owner = ball_pairs(point_tree(np.array([[0.0, 0], [1, 0], [3, 0]])), np.array([[0.0, 0], [3, 0]]), 1.5)
        >>> sorted(members[owner == 0].tolist()), members[owner == 1].tolist()
        ([0, 1], [2])
    """
    lists = tree.query_ball_point(query, r=radius, p=p, workers=cpu_threads())
    counts = np.fromiter((len(members) for members in lists), dtype=np.int64, count=len(lists))
    members = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=int(counts.sum()))
    return members, np.repeat(np.arange(len(lists)), counts)


def nearest_points(
    points: np.ndarray, query: np.ndarray, *, ids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The distance to and row of each query point's nearest point of ``(n, d)`` ``points``
    (n >= 1); among equidistant points the one of lowest ``ids`` (default: the lowest row).

    Distances are compared as float64 sums of squared differences, which do not depend on the
    tree, so any subset of the points that holds a query point's nearest ones, in any order,
    gives the same point (a streamed tile finds the whole cloud's; LiDAR coordinates, multiples
    of a scale, are often equidistant).

    Example:
        >>> distance, row = nearest_points(np.array([[0.0, 0], [3, 0]]), np.array([[1.0, 0], [5, 0]]))
        >>> distance.tolist(), row.tolist()
        ([1.0, 2.0], [0, 1])
        >>> nearest_points(np.array([[2.0, 0], [0, 0]]), np.array([[1.0, 0]]), ids=np.array([7, 3]))[1].tolist()
        [1]
    """
    points, query = np.asarray(points, dtype=np.float64), np.asarray(query, dtype=np.float64)
    tree = cKDTree(points)
    k = min(2, len(points))
    distance, rows = (np.asarray(a).reshape(len(query), k) for a in tree.query(query, k=k, workers=cpu_threads()))
    nearest = rows[:, 0].copy()
    tied = np.flatnonzero(distance[:, -1] <= distance[:, 0]) if k > 1 else np.empty(0, dtype=np.int64)
    if len(tied):  # the tree computes each pair's distance alike whatever its shape: ties are found in any tree
        ids = np.arange(len(points)) if ids is None else np.asarray(ids)
        nearest[tied] = _tie_break(tree, points, query[tied], ids)
    return distance[:, 0], nearest


def _tie_break(tree: cKDTree, points: np.ndarray, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The row of lowest id among each query point's nearest points, their squared distances
    compared exactly (more than :data:`_TIE_CANDIDATES` looked at where all of those are tied)."""
    k = min(_TIE_CANDIDATES, len(points))
    rows = np.asarray(tree.query(query, k=k, workers=cpu_threads())[1]).reshape(len(query), k)
    gaps = np.sum((points[rows] - query[:, None, :]) ** 2, axis=2)
    crowded = np.flatnonzero((gaps == gaps.min(axis=1, keepdims=True)).all(axis=1) & (k < len(points)))
    best = _lowest_id_of_nearest(gaps, rows, ids)
    for q in crowded:  # every candidate tied: more equidistant points may lie beyond them
        within = np.asarray(tree.query_ball_point(query[q], r=np.sqrt(gaps[q, 0]) * (1.0 + 1e-9)))
        gap = np.sum((points[within] - query[q]) ** 2, axis=1)
        best[q] = _lowest_id_of_nearest(gap[None, :], within[None, :], ids)[0]
    return best


def _lowest_id_of_nearest(gaps: np.ndarray, rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Per line of ``(q, k)`` squared distances of candidate ``rows``: the row of lowest id among the nearest."""
    nearest = gaps == gaps.min(axis=1, keepdims=True)
    key = np.where(nearest, ids[rows], np.iinfo(np.int64).max)
    return rows[np.arange(len(rows)), key.argmin(axis=1)]


def nearest_values(
    values: np.ndarray, points: np.ndarray, query: np.ndarray, *, ids: np.ndarray | None = None
) -> np.ndarray:
    """The rows of ``values`` (one per point of ``points``) of each query point's nearest point:
    what a point without a value of its own takes (a point in no field, one left out); ties as
    :func:`nearest_points` resolves them.

    Example:
        >>> nearest_values(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.0, 0], [3, 0]]), np.array([[2.5, 0]])).tolist()
        [[0.2, 0.8]]
    """
    return np.asarray(values)[nearest_points(points, query, ids=ids)[1]]
