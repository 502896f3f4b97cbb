"""Bringing a receptive field's neighbourhood to exactly ``num_points`` points.

Two subsamplings, both deterministic and independent of how the cloud is split into blocks:

* :func:`furthest_point_subsample`: exact furthest-point sampling in float32, started at the
  point nearest the field's centre, batched over fields of similar sizes and spread over the
  CPU cores (numpy releases the GIL in its loops);
* :func:`grid_subsample`: one point per voxel first (the lowest :func:`point_priorities` of
  each voxel), then the others, in priority order.

Example:
    >>> point_priorities(np.arange(3), seed=0).dtype.name
    'uint64'
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from vl3d_focal.data.parallel import cpu_threads

_FPS_BATCH_ELEMENTS = 1 << 17


def _fps(points: np.ndarray, count: np.ndarray, start: np.ndarray, k: int) -> np.ndarray:
    """Exact furthest-point sampling of k slots for a batch of padded fields (B, n, 3).

    Squared distances in float32, coordinates stored per axis ``(3, B, n)`` so that each of the k
    iterations is a few passes over contiguous ``(B, n)`` arrays; slots past a field's ``count``
    are padding and are never chosen.
    """
    batch = np.arange(points.shape[0])
    coords = np.ascontiguousarray(np.moveaxis(points, 2, 0), dtype=np.float32)
    dist = np.full(points.shape[:2], np.inf, dtype=np.float32)
    dist[np.arange(points.shape[1])[None, :] >= count[:, None]] = -1.0  # padding never chosen
    chosen = np.empty((points.shape[0], k), dtype=np.int64)
    tmp = np.empty_like(dist)
    acc = np.empty_like(dist)
    current = start
    for i in range(k):
        chosen[:, i] = current
        picked = coords[:, batch, current]
        np.subtract(coords[0], picked[0][:, None], out=acc)
        np.multiply(acc, acc, out=acc)
        for a in (1, 2):
            np.subtract(coords[a], picked[a][:, None], out=tmp)
            np.multiply(tmp, tmp, out=tmp)
            acc += tmp
        np.minimum(dist, acc, out=dist)
        current = dist.argmax(axis=1)
    return chosen


def furthest_point_subsample(
    xyz: np.ndarray, *, centers: np.ndarray, members: np.ndarray, starts: np.ndarray, counts: np.ndarray, k: int
) -> np.ndarray:
    """Furthest-point subsampling of fields that hold more than ``k`` points each.

    Fields are sorted by size and processed in padded batches of similar sizes.

    Args:
        xyz: ``(n, 3)`` the cloud.
        centers: ``(F, 3)`` the fields' centres.
        members: point indices of every field, field after field.
        starts: ``(F,)`` where each field's points start in ``members``.
        counts: ``(F,)`` how many points each field holds (> k).
        k: points kept per field.

    Returns:
        ``(F, k)`` point indices, in the order they were picked.

    Example:
        >>> xyz = np.array([[0.0, 0, 0], [0.1, 0, 0], [1.0, 0, 0], [2.0, 0, 0]])
        >>> furthest_point_subsample(xyz, centers=np.zeros((1, 3)), members=np.arange(4),
        ...                          starts=np.array([0]), counts=np.array([4]), k=2).tolist()
        [[0, 3]]
    """
    flat = members
    out = np.empty((len(counts), k), dtype=np.int64)
    order = np.argsort(counts, kind="stable")
    groups = []
    pos = 0
    while pos < len(order):
        size = max(1, _FPS_BATCH_ELEMENTS // max(int(counts[order[pos]]), 1))
        groups.append(order[pos : pos + size])
        pos += size

    def run(group: np.ndarray) -> None:
        width = int(counts[group].max())
        slots = np.minimum(np.arange(width)[None, :], counts[group, None] - 1)
        members = flat[starts[group, None] + slots]
        points = xyz[members] - centers[group, None, :]
        start = np.einsum("bnk,bnk->bn", points, points)
        picked = _fps(points, counts[group], start.argmin(axis=1), k)
        out[group] = np.take_along_axis(members, picked, axis=1)

    workers = min(cpu_threads(), len(groups))
    if workers > 1:  # numpy releases the GIL in its loops: groups run on every core
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, groups))
    else:
        for group in groups:
            run(group)
    return out


def furthest_point_order(points: np.ndarray, *, k: int) -> np.ndarray:
    """Exact furthest-point sampling of ``k`` points in each of a batch of centred point sets.

    Each set starts at its point nearest the origin (the field centre, as
    :func:`furthest_point_subsample` starts), so the first ``k`` picks of a longer run are the
    same ``k`` points; float32, like the field builder.

    Args:
        points: ``(B, n, 3)`` coordinates relative to each set's centre.
        k: points picked per set (``k <= n``).

    Returns:
        ``(B, k)`` indices into each set, in the order they were picked.

    Example:
        >>> pts = np.array([[[0.1, 0, 0], [1.0, 0, 0], [-2.0, 0, 0], [0.0, 0.2, 0]]])
        >>> furthest_point_order(pts, k=3).tolist()
        [[0, 2, 1]]
    """
    points = np.asarray(points, dtype=np.float32)
    start = np.einsum("bnk,bnk->bn", points, points).argmin(axis=1)
    return _fps(points, np.full(points.shape[0], points.shape[1]), start, k)


def point_priorities(point_ids: np.ndarray, *, seed: int | None) -> np.ndarray:
    """Seeded pseudo-random uint64 priority of each point, a function of its index only.

    A SplitMix64 hash of ``(seed, point index)``: the same point gets the same priority whatever
    subset of the cloud (block) it is processed in, so grid subsampling does not depend on how the
    cloud is split.

    Example:
        >>> a = point_priorities(np.arange(4), seed=1)
        >>> bool((a == point_priorities(np.arange(4), seed=1)).all()), a.dtype.name
        (True, 'uint64')
    """
    with np.errstate(over="ignore"):
        z = np.asarray(point_ids, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z ^= np.uint64((0 if seed is None else int(seed)) & 0xFFFFFFFFFFFFFFFF) * np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return z


def grid_subsample(
    xyz: np.ndarray,
    *,
    centers: np.ndarray,
    members: np.ndarray,
    field_of: np.ndarray,
    counts: np.ndarray,
    k: int,
    radius: float,
    priority: np.ndarray,
) -> np.ndarray:
    """Grid subsampling of fields that hold more than ``k`` points each: the lowest-priority
    point of each voxel (side ``2 radius / sqrt(k)``) first, then the others, each group in
    priority order; the first ``k`` are kept.

    Args:
        xyz: ``(n, 3)`` the cloud.
        centers: ``(F, 3)`` the fields' centres.
        members: point indices of every field, field after field.
        field_of: the field of each entry of ``members``.
        counts: ``(F,)`` how many points each field holds (> k).
        k: points kept per field.
        radius: the fields' radius.
        priority: ``(n,)`` the points' :func:`point_priorities`.

    Returns:
        ``(F, k)`` point indices.

    Example:
        >>> xyz = np.array([[0.0, 0, 0], [0.01, 0, 0], [1.5, 0, 0]])
        >>> grid_subsample(xyz, centers=np.zeros((1, 3)), members=np.arange(3), field_of=np.zeros(3, int),
        ...                counts=np.array([3]), k=2, radius=0.5, priority=np.array([5, 1, 9], np.uint64)).tolist()
        [[1, 2]]
    """
    flat = members
    voxel = 2.0 * radius / max(1.0, math.sqrt(k))
    half = int(math.ceil(radius / voxel)) + 1
    width = 2 * half + 1
    cells = np.floor((xyz[flat] - centers[field_of]) / voxel).astype(np.int64) + half
    np.clip(cells, 0, width - 1, out=cells)  # the z of 2D neighbourhoods is unbounded
    key = field_of * width**3 + (cells[:, 0] * width + cells[:, 1]) * width + cells[:, 2]
    rank = priority[flat]
    by_priority = np.lexsort((rank, key))  # voxel by voxel, lowest priority first
    first = np.ones(len(flat), dtype=bool)
    first[1:] = key[by_priority][1:] != key[by_priority][:-1]
    representative = np.zeros(len(flat), dtype=bool)
    representative[by_priority[first]] = True
    order = np.lexsort((rank, ~representative, field_of))
    local_starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return flat[order][local_starts[:, None] + np.arange(k)[None, :]]
