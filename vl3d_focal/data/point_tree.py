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


def nearest_points(points: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distance to and row of each query point's nearest point of ``(n, d)`` ``points``
    (n >= 1), through a tree of scipy's default shape (equidistant points resolved as ever).

    Example:
        >>> distance, row = nearest_points(np.array([[0.0, 0], [3, 0]]), np.array([[1.0, 0], [5, 0]]))
        >>> distance.tolist(), row.tolist()
        ([1.0, 2.0], [0, 1])
    """
    return cKDTree(points).query(query, k=1, workers=cpu_threads())


def nearest_values(values: np.ndarray, points: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The rows of ``values`` (one per point of ``points``) of each query point's nearest point:
    what a point without a value of its own takes (a point in no field, one left out).

    Example:
        >>> nearest_values(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.0, 0], [3, 0]]), np.array([[2.5, 0]])).tolist()
        [[0.2, 0.8]]
    """
    return np.asarray(values)[nearest_points(points, query)[1]]
