"""VL3D's ``num_encoding_neighbors``: a field point's values from its k nearest neighbourhood points.

With ``k = num_encoding_neighbors`` > 1, the features fed for a field point are the mean of the
features of its k nearest points (3D distance, the point itself first) among the points of the
field's neighbourhood, and its training label is their most frequent label (ignored points left
out; ties to the lowest class). ``k = 1`` keeps every point's own values.

The neighbours are searched among the points of the field's neighbourhood (the same ball query
as :func:`~vl3d_focal.data.receptive_fields.fields_at_centers`), equal distances going to the
lower index, so the result only depends on the neighbourhood's points and their order: a tile
of the cloud that holds them, in the cloud's order, gives the same encoding.

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

from vl3d_focal.data.parallel import cpu_threads

_CHUNK = 4096


def _nearest_members(xyz: np.ndarray, members: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """``(P, k)`` for each query point, its k nearest ``members`` (sorted ids), ties to the lower id."""
    k = min(k, len(members))
    tree = cKDTree(xyz[members])
    width = min(2 * k, len(members))
    while True:
        distance, near = tree.query(xyz[queries], k=width)
        distance, near = distance.reshape(len(queries), width), near.reshape(len(queries), width)
        order = np.lexsort((near, distance), axis=1)  # by distance, then by member order (= id order)
        kth = np.take_along_axis(distance, order[:, k - 1 : k], axis=1)[:, 0]
        if width == len(members) or np.all(distance.max(axis=1) > kth):
            return members[np.take_along_axis(near, order[:, :k], axis=1)]
        width = min(4 * width, len(members))


def encoding_neighbours(
    xyz: np.ndarray, indices: np.ndarray, centres: np.ndarray, *, k: int, radius: float, dims: int, p: float
) -> np.ndarray:
    """``(M, P, k)`` indices into ``xyz``: for each field point, its k nearest points (3D distance,
    ties to the lower index) among the points of the field's neighbourhood (fewer there than k:
    the last one repeated).

    Args:
        xyz: ``(n, 3)`` coordinates (a cloud or a tile of it holding the fields' neighbourhoods,
            in the cloud's order).
        indices: ``(M, P)`` the fields' points.
        centres: ``(M, 3)`` the fields' centres.
        k: neighbours per point.
        radius, dims, p: the neighbourhood (radius, dimensions and Minkowski p of its distance).

    Example:
        >>> xyz = np.array([[0.0, 0, 0], [0.5, 0, 0], [0.5, 0, 0], [5.0, 0, 0]])
        >>> encoding_neighbours(xyz, np.array([[1]]), np.zeros((1, 3)), k=3, radius=1.0, dims=3, p=2.0).tolist()
        [[[1, 2, 0]]]
    """
    fields, points = indices.shape
    if k <= 1 or fields == 0:
        return indices[:, :, None].copy()
    found = np.empty((fields, points, k), dtype=np.int64)
    tree = cKDTree(xyz[:, :dims])
    for start in range(0, fields, _CHUNK):
        stop = min(start + _CHUNK, fields)
        lists = tree.query_ball_point(
            centres[start:stop, :dims], r=radius, p=p, workers=cpu_threads(), return_sorted=True
        )
        for field, members in enumerate(lists, start=start):
            near = _nearest_members(xyz, np.asarray(members, dtype=np.int64), indices[field], k)
            found[field] = near[:, np.minimum(np.arange(k), near.shape[1] - 1)]
    return found


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
