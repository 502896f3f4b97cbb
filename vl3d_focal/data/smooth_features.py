"""Smoothed point features: VL3D's ``SmoothFeatures`` miner.

A point's neighbourhood ``N`` is every point within ``radius`` of it (``sphere``; in xy only for
``cylinder``), itself included. With ``d_j`` the distance from the point to neighbour ``j`` and
``f_j`` the neighbour's value of an input feature, the strategies are:

===============  ==============================================================================
mean             ``sum_j f_j / |N|``
weighted_mean    ``sum_j w_j f_j / sum_j w_j``, ``w_j = max_j d_j - d_j + omega`` (nearer points weigh more)
gaussian_rbf     ``sum_j w_j f_j / sum_j w_j``, ``w_j = exp(-d_j^2 / omega^2)``
===============  ==============================================================================

NaN values propagate (``nan_policy`` ``propagate``) or are replaced by the mean of the
neighbourhood's other values of that feature (``replace``) before the strategy applies.

Example:
    >>> xyz = np.array([[0.0, 0, 0], [0.5, 0, 0], [3.0, 0, 0]])
    >>> smooth_features(xyz, np.array([[1.0], [3.0], [10.0]]), strategies=["mean"], radius=1.0)[:, 0, 0].tolist()
    [2.0, 2.0, 10.0]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from vl3d_focal.data.feature_names import NAN_POLICIES, SMOOTH_NEIGHBORHOODS, SMOOTH_STRATEGIES
from vl3d_focal.data.point_tree import ball_pairs, point_tree

_QUERY_CHUNK = 20_000


def _pairs(
    xyz: np.ndarray, queries: np.ndarray | None, *, radius: float, neighborhood: str
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """``(first query, query coordinates, members, owner)`` of each chunk of queries: every
    (point, query) pair of a neighbourhood (:func:`~vl3d_focal.data.point_tree.ball_pairs`)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    queries = np.arange(len(xyz)) if queries is None else np.asarray(queries)
    axes = 3 if neighborhood == "sphere" else 2
    tree = point_tree(xyz[:, :axes])
    for start in range(0, len(queries), _QUERY_CHUNK):
        query = xyz[queries[start : start + _QUERY_CHUNK], :axes]
        yield (start, query, *ball_pairs(tree, query, float(radius)))


def neighbourhood_rows(
    xyz: np.ndarray, *, radius: float, neighborhood: str = "sphere", queries: np.ndarray | None = None
) -> np.ndarray:
    """The rows of ``xyz`` in the neighbourhood of at least one query (sorted): the points whose
    input values the smoothed values of the queries read.

    Example:
        >>> neighbourhood_rows(np.array([[0.0, 0, 0], [0.5, 0, 0], [3.0, 0, 0]]), radius=1.0, queries=[0]).tolist()
        [0, 1]
    """
    read = np.zeros(len(xyz), dtype=bool)
    for _, _, members, _ in _pairs(xyz, queries, radius=radius, neighborhood=neighborhood):
        read[members] = True
    return np.flatnonzero(read)


def neighbourhood_max(
    xyz: np.ndarray,
    values: np.ndarray,
    *,
    radius: float,
    neighborhood: str = "sphere",
    queries: np.ndarray | None = None,
) -> np.ndarray:
    """``(q,)`` the largest of ``(n,)`` ``values`` over each query's neighbourhood.

    Example:
        >>> xyz = np.array([[0.0, 0, 0], [0.5, 0, 0], [3.0, 0, 0]])
        >>> neighbourhood_max(xyz, np.array([1.0, 4.0, 2.0]), radius=1.0).tolist()
        [4.0, 4.0, 2.0]
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.full(len(xyz) if queries is None else len(queries), -np.inf)
    for start, query, members, owner in _pairs(xyz, queries, radius=radius, neighborhood=neighborhood):
        part = np.full(len(query), -np.inf)
        np.maximum.at(part, owner, values[members])
        out[start : start + len(query)] = part
    return out


def _group_sum(owner: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """Per-owner sums of the rows of ``values`` (pairs, m) -> (count, m)."""
    return np.stack([np.bincount(owner, values[:, j], minlength=count) for j in range(values.shape[1])], axis=1)


def _weights(strategy: str, distance: np.ndarray, owner: np.ndarray, count: int, omega: float) -> np.ndarray:
    if strategy == "mean":
        return np.ones_like(distance)
    if strategy == "weighted_mean":
        farthest = np.zeros(count)
        np.maximum.at(farthest, owner, distance)
        return farthest[owner] - distance + omega
    return np.exp(-(distance**2) / (omega * omega))


def _chunk(
    values: np.ndarray,
    flat: np.ndarray,
    owner: np.ndarray,
    distance: np.ndarray,
    *,
    count: int,
    strategies: Sequence[str],
    omegas: dict[str, float],
    replace_nan: bool,
) -> np.ndarray:
    gathered = values[flat]
    if replace_nan:
        finite = np.isfinite(gathered)
        sums = _group_sum(owner, np.where(finite, gathered, 0.0), count)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / _group_sum(owner, finite.astype(np.float64), count)
        gathered = np.where(finite, gathered, means[owner])
    out = np.empty((count, len(strategies), values.shape[1]))
    for s, strategy in enumerate(strategies):
        weight = _weights(strategy, distance, owner, count, omegas.get(strategy, 0.0))
        total = np.bincount(owner, weight, minlength=count)
        out[:, s] = _group_sum(owner, gathered * weight[:, None], count) / total[:, None]
    return out


def smooth_features(
    xyz: np.ndarray,
    values: np.ndarray,
    *,
    strategies: Sequence[str],
    radius: float,
    neighborhood: str = "sphere",
    weighted_mean_omega: float = 0.0001,
    gaussian_rbf_omega: float = 1.0,
    nan_policy: str = "propagate",
    queries: np.ndarray | None = None,
) -> np.ndarray:
    """The smoothed ``values`` of some points (module docstring).

    Args:
        xyz: ``(n, 3)`` the points searched.
        values: ``(n, m)`` the input features of those points.
        strategies: among ``mean``, ``weighted_mean`` and ``gaussian_rbf``.
        radius: the neighbourhood's radius (m).
        neighborhood: ``sphere`` (3D distance) or ``cylinder`` (xy distance).
        weighted_mean_omega: the weighted mean's ``omega``.
        gaussian_rbf_omega: the Gaussian's ``omega`` (m).
        nan_policy: ``propagate`` or ``replace``.
        queries: rows of ``xyz`` whose smoothed values are wanted (None: all).

    Returns:
        ``(q, len(strategies), m)`` float64.

    Raises:
        ValueError: an unknown strategy, neighbourhood or NaN policy.

    Example:
        >>> xyz = np.array([[0.0, 0, 0], [0.0, 0, 5.0]])
        >>> smooth_features(xyz, np.array([[1.0], [3.0]]), strategies=["mean"], radius=1.0,
        ...                 neighborhood="cylinder").ravel().tolist()
        [2.0, 2.0]
    """
    unknown = [s for s in strategies if s not in SMOOTH_STRATEGIES]
    if unknown or neighborhood not in SMOOTH_NEIGHBORHOODS or nan_policy not in NAN_POLICIES:
        raise ValueError(
            f"smooth_features: expected strategies among {list(SMOOTH_STRATEGIES)}, a neighborhood among "
            f"{list(SMOOTH_NEIGHBORHOODS)} and nan_policy 'propagate' or 'replace'; received {list(strategies)}, "
            f"{neighborhood!r}, {nan_policy!r}"
        )
    xyz = np.asarray(xyz, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64).reshape(len(xyz), -1)
    omegas = {"weighted_mean": float(weighted_mean_omega), "gaussian_rbf": float(gaussian_rbf_omega)}
    out = np.empty((len(xyz) if queries is None else len(queries), len(strategies), values.shape[1]))
    for start, query, flat, owner in _pairs(xyz, queries, radius=radius, neighborhood=neighborhood):
        distance = np.sqrt(((xyz[flat, : query.shape[1]] - query[owner]) ** 2).sum(axis=1))
        out[start : start + len(query)] = _chunk(
            values,
            flat,
            owner,
            distance,
            count=len(query),
            strategies=strategies,
            omegas=omegas,
            replace_nan=nan_policy == "replace",
        )
    return out
