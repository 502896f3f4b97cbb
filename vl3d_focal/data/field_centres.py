"""Where receptive fields are centred: VL3D's support strategies and its training class distribution.

- :func:`grid_centres`: one centre per occupied cell of a grid (``support_strategy: grid``), the
  mean of the cell's points or, with ``center_on_pcloud``, the cell's point nearest that mean;
- :func:`fps_centres`: the furthest points of the cloud (``support_strategy: fps``);
- :func:`uncovered_mask`: the points farther than the radius from every centre, and
  :func:`coverage_centres`: the extra centres that put them in a field (see
  :func:`vl3d_focal.data.receptive_fields.field_centers`);
- :func:`draw_class_centres`: ``training_class_distribution``, the given number of random points
  of each class, over several clouds (its spec entry's schema:
  :func:`vl3d_focal.data.field_schemas.class_distribution_schema`).

Everything here is a function of the points and their order only (ties go to the lowest index),
so a tile of a cloud holding a cell's points gets that cell's centre.

Example:
    >>> xyz = np.array([[0.0, 0, 0], [0.4, 0, 0], [2.0, 0, 0]])
    >>> grid_centres(xyz, cell=1.0, dims=3, on_cloud=False).tolist()
    [[0.2, 0.0, 0.0], [2.0, 0.0, 0.0]]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from vl3d_focal.data.parallel import cpu_threads
from vl3d_focal.data.subsampling import furthest_point_subsample
from vl3d_focal.errors import DataError

logger = logging.getLogger(__name__)


def cell_groups(xyz: np.ndarray, *, cell: float, dims: int, origin: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """The grid cell of every point, numbered ``0..cells-1`` in increasing cell order, and the count.

    Args:
        xyz: ``(n, 3)`` coordinates.
        cell: side of the grid's cells.
        dims: 3 for a 3D grid, 2 for one in the xy plane.
        origin: the grid's corner; default the lowest coordinates.

    Example:
        >>> cell_groups(np.array([[0.0, 0, 0], [2.5, 0, 0], [0.5, 0, 0]]), cell=1.0, dims=2)[0].tolist()
        [0, 1, 0]
    """
    low = xyz[:, :dims].min(axis=0) if origin is None else np.asarray(origin, dtype=np.float64)[:dims]
    cells = np.floor((xyz[:, :dims] - low) / cell).astype(np.int64)
    cells -= cells.min(axis=0)
    extent = cells.max(axis=0) + 1
    if float(np.prod(extent.astype(np.float64))) < 2.0**62:
        key = cells[:, 0]
        for axis in range(1, dims):
            key = key * extent[axis] + cells[:, axis]
        _, inverse = np.unique(key, return_inverse=True)
    else:  # astronomically many cells: compare rows instead of packed keys
        _, inverse = np.unique(cells, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    return inverse, int(inverse.max()) + 1


def group_centres(xyz: np.ndarray, groups: np.ndarray, count: int, *, on_cloud: bool) -> np.ndarray:
    """``(count, 3)`` the mean of each group's points, or (``on_cloud``) its point nearest that mean.

    Example:
        >>> xyz = np.array([[0.0, 0, 0], [1.0, 0, 0], [3.0, 0, 0]])
        >>> group_centres(xyz, np.zeros(3, int), 1, on_cloud=True).tolist()
        [[1.0, 0.0, 0.0]]
    """
    sizes = np.bincount(groups, minlength=count)
    sums = np.stack([np.bincount(groups, weights=xyz[:, k], minlength=count) for k in range(3)], axis=1)
    means = sums / sizes[:, None]
    if not on_cloud:
        return means
    gaps = np.sum((xyz - means[groups]) ** 2, axis=1)
    order = np.lexsort((np.arange(len(xyz)), gaps, groups))  # per group: nearest first, then lowest index
    first = np.ones(len(order), dtype=bool)
    first[1:] = groups[order][1:] != groups[order][:-1]
    return xyz[order[first]].astype(np.float64)


def grid_centres(
    xyz: np.ndarray, *, cell: float, dims: int, on_cloud: bool, origin: np.ndarray | None = None
) -> np.ndarray:
    """One centre per occupied grid cell (see :func:`cell_groups` and :func:`group_centres`).

    Example:
        >>> grid_centres(np.array([[0.0, 0, 0], [0.4, 0, 0]]), cell=1.0, dims=3, on_cloud=True).tolist()
        [[0.0, 0.0, 0.0]]
    """
    if len(xyz) == 0:
        return np.zeros((0, 3))
    groups, count = cell_groups(xyz, cell=cell, dims=dims, origin=origin)
    return group_centres(xyz, groups, count, on_cloud=on_cloud)


def fps_centres(xyz: np.ndarray, *, count: int, dims: int) -> np.ndarray:
    """``count`` furthest points of the cloud (in ``dims`` dimensions), starting with the point
    nearest the middle of its bounding box; every point when the cloud has fewer.

    Example:
        >>> xyz = np.array([[0.0, 0, 0], [0.1, 0, 0], [1.0, 0, 0], [2.0, 0, 0]])
        >>> fps_centres(xyz, count=2, dims=3).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    points = np.zeros_like(xyz, dtype=np.float64)
    points[:, :dims] = xyz[:, :dims]
    if count >= len(xyz):
        return np.asarray(xyz, dtype=np.float64).copy()
    middle = (points.min(axis=0) + points.max(axis=0)) / 2.0
    chosen = furthest_point_subsample(
        points,
        centers=middle[None, :],
        members=np.arange(len(xyz)),
        starts=np.array([0]),
        counts=np.array([len(xyz)]),
        k=int(count),
    )[0]
    return np.asarray(xyz, dtype=np.float64)[chosen]


def uncovered_mask(xyz: np.ndarray, centres: np.ndarray, *, radius: float, dims: int, p: float) -> np.ndarray:
    """Which points lie farther than ``radius`` (Minkowski ``p`` in ``dims`` dimensions) from every centre.

    Example:
        >>> uncovered_mask(np.array([[0.0, 0, 0], [5.0, 0, 0]]), np.zeros((1, 3)), radius=1.0, dims=3, p=2.0).tolist()
        [False, True]
    """
    if len(centres) == 0:
        return np.ones(len(xyz), dtype=bool)
    reach = radius * (1.0 - 1e-6)
    tree = cKDTree(centres[:, :dims])  # beyond the bound the search stops early and answers inf
    distance, _ = tree.query(xyz[:, :dims], k=1, p=p, distance_upper_bound=radius, workers=cpu_threads())
    return distance > reach


def coverage_centres(
    xyz: np.ndarray,
    centres: np.ndarray,
    *,
    radius: float,
    dims: int,
    p: float,
    on_cloud: bool,
    purpose: str,
    level: int = logging.DEBUG,
) -> np.ndarray:
    """Extra centres for the points farther than ``radius`` from every centre: one per occupied
    cell of a grid fine enough that each cell lies inside the neighbourhood of the mean of its
    points (and of any of them), so every point lies in a field; logged with ``purpose`` at
    ``level``: DEBUG by default (a grid's, usual: a run of many clouds would log it for nearly
    each), INFO where the training fields leave those points out (VL3D's ``fps``, see
    :attr:`vl3d_focal.data.receptive_fields.FieldSpec.training_differs`).

    Example:
        >>> xyz = np.array([[0.0, 0, 0], [0.5, 0, 0], [5.0, 0, 0]])
        >>> coverage_centres(xyz, xyz[:1], radius=1.0, dims=3, p=2.0, on_cloud=False, purpose="predicted").tolist()
        [[5.0, 0.0, 0.0]]
    """
    uncovered = uncovered_mask(xyz, centres, radius=radius, dims=dims, p=p)
    if not uncovered.any():
        return np.zeros((0, 3))
    fine = radius * (0.99 / math.sqrt(dims) if p == 2.0 else 0.99)
    extra = grid_centres(xyz[uncovered], cell=fine, dims=dims, on_cloud=on_cloud)
    logger.log(
        level,
        "%d points farther than the radius from the %d support points: %d extra fields so that every point is %s",
        int(uncovered.sum()),
        len(centres),
        len(extra),
        purpose,
    )
    return extra


def draw_class_centres(labels: Sequence[np.ndarray], *, counts: Sequence[int], seed: int | None) -> list[np.ndarray]:
    """``training_class_distribution``: ``counts[c]`` random points of class ``c``, over several clouds.

    Each class draws without replacement among the points of that class in all the clouds (all of
    them when there are fewer, with a warning); points labelled -1 (ignored) are never drawn.

    Args:
        labels: each cloud's ``(n,)`` class indices (-1: ignored).
        counts: how many centres per class (one per class).
        seed: seed of the draw (None: random).

    Returns:
        For each cloud, the sorted indices of its drawn points.

    Raises:
        DataError: ``counts`` does not give one count per class, or nothing was drawn.

    Example:
        >>> [a.tolist() for a in draw_class_centres([np.array([0, 1, 1, 1]), np.array([1, 0])],
        ...                                         counts=[2, 0], seed=0)]
        [[0], [1]]
    """
    owner = np.concatenate([np.full(len(y), k, dtype=np.int64) for k, y in enumerate(labels)])
    index = np.concatenate([np.arange(len(y), dtype=np.int64) for y in labels])
    flat = np.concatenate([np.asarray(y) for y in labels])
    num_classes = int(flat.max()) + 1 if flat.size else 0
    if len(counts) < num_classes:
        raise DataError(
            f"pre_processing.training_class_distribution: expected one count per class "
            f"({num_classes} or more), got {len(counts)}"
        )
    rng = np.random.default_rng(seed)
    drawn, short = [], []
    for cls, wanted in enumerate(counts):
        members = np.flatnonzero(flat == cls)
        if len(members) < wanted:
            short.append(f"class {cls}: {len(members)} of {wanted}")
        drawn.append(rng.choice(members, size=min(int(wanted), len(members)), replace=False))
    if short:
        logger.warning("training_class_distribution: fewer points than centres asked, all taken (%s)", "; ".join(short))
    picked = np.sort(np.concatenate(drawn)) if drawn else np.zeros(0, dtype=np.int64)
    if picked.size == 0:
        raise DataError(
            "pre_processing.training_class_distribution: no training field centre was drawn; "
            "expected a positive count for a class present in the training clouds"
        )
    return [np.sort(index[picked[owner[picked] == k]]) for k in range(len(labels))]
