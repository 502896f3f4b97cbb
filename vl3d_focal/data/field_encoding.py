"""VL3D's ``num_encoding_neighbors``: a field point's values from its k nearest neighbourhood points.

With ``k = num_encoding_neighbors`` > 1, the features fed for a field point are the mean of the
features of its k nearest points (3D distance, the point itself first) among the points of the
field's neighbourhood, and its training label is their most frequent label (ignored points left
out; ties to the lowest class). ``k = 1`` keeps every point's own values.

The neighbours are the first k points inside the neighbourhood among the nearest points of the
cloud (more are searched until k are found), so the result only depends on the neighbourhood's
points: a tile of the cloud that holds them gives the same encoding.

Example:
    >>> xyz = np.array([[0.0, 0, 0], [0.1, 0, 0], [0.3, 0, 0], [9.0, 0, 0]])
    >>> near = encoding_neighbours(xyz, np.array([[0, 3]]), np.zeros((1, 3)), k=2, radius=10.0, dims=3, p=2.0)
    >>> near.tolist()
    [[[0, 1], [3, 2]]]
    >>> encode_features(np.array([[1.0], [3.0], [5.0], [7.0]]), near)[0, :, 0].tolist()
    [2.0, 6.0]
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def encoding_neighbours(
    xyz: np.ndarray, indices: np.ndarray, centres: np.ndarray, *, k: int, radius: float, dims: int, p: float
) -> np.ndarray:
    """``(M, P, k)`` indices into ``xyz``: for each field point, its k nearest points in the field's
    neighbourhood (fewer there than k: the last one found repeated).

    Args:
        xyz: ``(n, 3)`` coordinates (a cloud or a tile of it holding the fields' neighbourhoods).
        indices: ``(M, P)`` the fields' points.
        centres: ``(M, 3)`` the fields' centres.
        k: neighbours per point.
        radius, dims, p: the neighbourhood (radius, dimensions and Minkowski p of its distance).
    """
    fields, points = indices.shape
    if k <= 1 or fields == 0:
        return indices[:, :, None].copy()
    tree = cKDTree(xyz)
    query = xyz[indices.ravel()]
    owner = np.repeat(np.arange(fields), points)
    found = np.empty((len(query), k), dtype=np.int64)
    todo = np.arange(len(query))
    width = min(2 * k, len(xyz))
    while todo.size:
        _, near = tree.query(query[todo], k=width, workers=-1)
        near = near.reshape(len(todo), width)
        offset = np.abs(xyz[near, :dims] - centres[owner[todo], None, :dims])
        gap = offset.max(axis=2) if np.isinf(p) else np.sqrt(np.sum(offset**2, axis=2))
        inside = gap <= radius * (1.0 + 1e-9)
        enough = (inside.sum(axis=1) >= k) | (width >= len(xyz))
        rank = np.where(inside, np.arange(width)[None, :], width + np.arange(width)[None, :])
        first = np.take_along_axis(near, np.argsort(rank, axis=1, kind="stable")[:, :k], axis=1)
        count = np.minimum(inside.sum(axis=1), k)
        slots = np.minimum(np.arange(k)[None, :], np.maximum(count, 1)[:, None] - 1)
        found[todo[enough]] = np.take_along_axis(first, slots, axis=1)[enough]
        todo = todo[~enough]
        width = min(4 * width, len(xyz))
    return found.reshape(fields, points, k)


def encode_features(features: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """``(M, P, F)`` float32: each field point's mean of its neighbours' features.

    Example:
        >>> encode_features(np.array([[2.0], [4.0]]), np.array([[[0, 1]]])).tolist()
        [[[3.0]]]
    """
    if neighbours.shape[-1] == 1:
        return np.asarray(features[neighbours[..., 0]], dtype=np.float32)
    return np.asarray(features[neighbours].mean(axis=2), dtype=np.float32)


def encode_labels(labels: np.ndarray, neighbours: np.ndarray, *, num_classes: int) -> np.ndarray:
    """``(M, P)`` each field point's most frequent neighbour label (-1 only where all are ignored).

    Example:
        >>> encode_labels(np.array([2, 1, 1, -1]), np.array([[[0, 1, 2], [3, 3, 0]]]), num_classes=3).tolist()
        [[1, 2]]
    """
    if neighbours.shape[-1] == 1:
        return np.asarray(labels)[neighbours[..., 0]]
    near = np.asarray(labels)[neighbours]
    votes = np.stack([(near == c).sum(axis=-1) for c in range(num_classes)], axis=-1)
    return np.where(votes.max(axis=-1) > 0, votes.argmax(axis=-1), -1)
