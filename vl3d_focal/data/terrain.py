"""Terrain surface under a cloud, from the whole cloud or from blocks of it (for streaming).

The terrain is a grid of ``GROUND_CELL_M`` cells over the cloud's xy bounds:

1. the lowest z per cell, skipping isolated points (at most ``ISOLATED_NEIGHBOURS`` others
   within ``ISOLATED_RADIUS_M``: low noise), up to ``ISOLATION_PASSES`` times;
2. empty cells take the value of the nearest occupied cell; a grey-scale morphological opening
   over a ``GROUND_WINDOW_M`` window removes buildings, trees and cars narrower than the window
   while keeping slopes; the result is smoothed over 3 cells;
3. ``REFINE_STEPS`` times, each cell is raised to the lowest point less than ``REFINE_BAND_M``
   above the surface (restoring hill tops the opening clipped) and smoothed again.

The ground under a point is the surface bilinearly interpolated there (scipy.ndimage).

Every step only needs per-cell minima and point counts within ``ISOLATED_RADIUS_M``, so the
points can come in blocks (:class:`PointBlock`): :func:`terrain_surface` makes a few passes over
them and holds only the grid. The result does not depend on how the points are split: a
streamed cloud gets exactly the surface of the whole-cloud :func:`estimate_ground`.

Example:
    >>> rng = np.random.default_rng(0)
    >>> xyz = np.column_stack([rng.uniform(0, 40, (2000, 2)), rng.normal(0, 0.01, 2000)])
    >>> ground = estimate_ground(xyz)
    >>> bool(np.abs(ground).max() < 0.1)
    True
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from vl3d_focal.data.parallel import cpu_threads, ordered_map
from vl3d_focal.data.point_tree import point_tree

logger = logging.getLogger(__name__)

GROUND_CELL_M = 2.0
GROUND_WINDOW_M = 30.0
ISOLATED_RADIUS_M = 1.5
ISOLATED_NEIGHBOURS = 2
ISOLATION_PASSES = 3
REFINE_STEPS = 6
REFINE_BAND_M = 0.5


@dataclass(frozen=True)
class TerrainGrid:
    """The terrain's cells: ``shape`` cells of ``cell_size`` metres from the xy ``origin``.

    Example:
        >>> grid = TerrainGrid.covering(np.zeros(2), np.array([9.0, 3.0]), cell_size=2.0)
        >>> grid.shape, grid.cell_of(np.array([[8.5, 2.5, 0.0]])).tolist()
        ((5, 2), [9])
    """

    origin: np.ndarray
    shape: tuple[int, int]
    cell_size: float

    @classmethod
    def covering(cls, low: np.ndarray, high: np.ndarray, *, cell_size: float = GROUND_CELL_M) -> TerrainGrid:
        """The grid over the xy box ``[low, high]`` (the lowest and highest point coordinates)."""
        origin = np.asarray(low, dtype=np.float64)[:2]
        cells = np.floor((np.asarray(high, dtype=np.float64)[:2] - origin) / cell_size).astype(np.int64)
        return cls(origin=origin, shape=(int(cells[0]) + 1, int(cells[1]) + 1), cell_size=float(cell_size))

    @property
    def num_cells(self) -> int:
        """Number of cells."""
        return self.shape[0] * self.shape[1]

    def cell_of(self, xyz: np.ndarray) -> np.ndarray:
        """Flat cell index of each point (points inside the box)."""
        cells = np.floor((xyz[:, :2] - self.origin) / self.cell_size).astype(np.int64)
        return cells[:, 0] * self.shape[1] + cells[:, 1]

    def surface_at(self, surface: np.ndarray, xyz: np.ndarray) -> np.ndarray:
        """The surface bilinearly interpolated under each point."""
        position = ((xyz[:, :2] - self.origin) / self.cell_size - 0.5).T
        return ndimage.map_coordinates(surface, position, order=1, mode="nearest")


@dataclass
class PointBlock:
    """Some points of a cloud and how to count their neighbours in the whole cloud.

    Attributes:
        ids: ``(n,)`` the points' indices in the cloud (unique across blocks).
        xyz: ``(n, 3)`` their coordinates.
        count_within: ``(query (q, 3), radius) -> (q,)`` number of cloud points within
            ``radius`` of each query point (itself included), for query points of this block.
    """

    ids: np.ndarray
    xyz: np.ndarray
    count_within: Callable[[np.ndarray, float], np.ndarray] = field(repr=False)


def whole_cloud_block(xyz: np.ndarray) -> PointBlock:
    """The whole cloud as one block (its KD-tree built on first use).

    Example:
        >>> block = whole_cloud_block(np.zeros((3, 3)))
        >>> block.count_within(np.zeros((1, 3)), 1.0).tolist()
        [3]
    """
    trees: list[cKDTree] = []

    def count_within(query: np.ndarray, radius: float) -> np.ndarray:
        if not trees:
            trees.append(point_tree(xyz))
        return np.asarray(trees[0].query_ball_point(query, r=radius, return_length=True, workers=cpu_threads()))

    return PointBlock(ids=np.arange(len(xyz)), xyz=xyz, count_within=count_within)


def count_neighbours(points: np.ndarray, query: np.ndarray, radius: float) -> np.ndarray:
    """Number of ``points`` within ``radius`` of each query point, from a KD-tree over only the
    points that can be: those in the xy cells (side ``radius``) next to a query point's and within
    ``radius`` in z of the query points of those cells. The lowest points the terrain tests lie
    near the ground: trees, roofs and wires are left out of the tree.

    Example:
        >>> points = np.array([[0.0, 0, 0], [1, 0, 0], [0, 0, 30], [50, 50, 0]])
        >>> count_neighbours(points, np.zeros((1, 3)), 1.5).tolist()
        [2]
    """
    if len(query) == 0:
        return np.zeros(0, dtype=np.int64)
    side = radius * (1.0 + 1e-6)  # a point within radius is at most one cell away, rounding included
    origin = query[:, :2].min(axis=0) - side
    shape = tuple(int(n) + 2 for n in np.floor((query[:, :2].max(axis=0) - origin) / side))
    cell = np.floor((query[:, :2] - origin) / side).astype(np.int64)
    highest, lowest = np.full(shape, -np.inf), np.full(shape, np.inf)
    np.maximum.at(highest, (cell[:, 0], cell[:, 1]), query[:, 2])
    np.minimum.at(lowest, (cell[:, 0], cell[:, 1]), query[:, 2])
    highest = ndimage.maximum_filter(highest, size=3, mode="constant", cval=-np.inf)
    lowest = ndimage.minimum_filter(lowest, size=3, mode="constant", cval=np.inf)
    at = np.floor((points[:, :2] - origin) / side).astype(np.int64)
    near = (at >= 0).all(axis=1) & (at[:, 0] < shape[0]) & (at[:, 1] < shape[1])
    at, z = at[near], points[near, 2]
    near[near] = (z <= highest[at[:, 0], at[:, 1]] + side) & (z >= lowest[at[:, 0], at[:, 1]] - side)
    tree = point_tree(points[near])
    return np.asarray(tree.query_ball_point(query, r=radius, return_length=True, workers=cpu_threads()))


Blocks = Callable[[], Iterable[PointBlock]]
"""Something that yields the cloud's blocks, each time it is called (one pass per call)."""


def _kept(block: PointBlock, removed: np.ndarray) -> np.ndarray:
    return ~np.isin(block.ids, removed, assume_unique=False) if removed.size else np.ones(len(block.ids), bool)


def _lowest_without_isolated(blocks: Blocks, grid: TerrainGrid) -> np.ndarray:
    """Lowest z per cell, skipping isolated points (two passes over the blocks per round)."""
    removed = np.zeros(0, dtype=np.int64)
    for _ in range(ISOLATION_PASSES):
        lowest = np.full(grid.num_cells, np.inf)
        for block in blocks():
            keep = _kept(block, removed)
            np.minimum.at(lowest, grid.cell_of(block.xyz[keep]), block.xyz[keep, 2])

        def isolated_of(block: PointBlock, removed: np.ndarray = removed, lowest: np.ndarray = lowest) -> np.ndarray:
            candidates = np.flatnonzero(_kept(block, removed) & (block.xyz[:, 2] == lowest[grid.cell_of(block.xyz)]))
            if candidates.size == 0:
                return np.zeros(0, dtype=np.int64)
            found = block.count_within(block.xyz[candidates], ISOLATED_RADIUS_M)
            return block.ids[candidates[found <= ISOLATED_NEIGHBOURS]]

        newly = np.concatenate([np.zeros(0, dtype=np.int64), *ordered_map(isolated_of, blocks())])  # blocks at once
        if newly.size == 0:
            break
        removed = np.union1d(removed, newly)
    return lowest.reshape(grid.shape)


def terrain_surface(blocks: Blocks, grid: TerrainGrid, *, window: float = GROUND_WINDOW_M) -> np.ndarray:
    """The terrain grid (see the module docstring) from passes over the cloud's blocks.

    Args:
        blocks: yields every point of the cloud once per call, in blocks.
        grid: the cells, covering every point.
        window: side of the opening's window (m).

    Returns:
        ``grid.shape`` terrain heights; :meth:`TerrainGrid.surface_at` interpolates them.

    Example:
        >>> xyz = np.column_stack([np.random.default_rng(1).uniform(0, 20, (500, 2)), np.zeros(500)])
        >>> grid = TerrainGrid.covering(xyz.min(axis=0), xyz.max(axis=0))
        >>> float(np.abs(terrain_surface(lambda: [whole_cloud_block(xyz)], grid)).max())
        0.0
    """
    lowest = _lowest_without_isolated(blocks, grid)
    empty = ~np.isfinite(lowest)
    if empty.all():  # every point isolated (a cloud of a few points): the terrain is its lowest point
        lowest = np.full(grid.shape, min(float(np.min(block.xyz[:, 2], initial=np.inf)) for block in blocks()))
        logger.warning("terrain: every point is isolated (too few points); the lowest point is taken as the terrain")
    elif empty.any():
        nearest = ndimage.distance_transform_edt(empty, return_distances=False, return_indices=True)
        lowest = lowest[tuple(nearest)]
    size = max(1, int(round(window / grid.cell_size)) | 1)
    terrain = ndimage.grey_opening(lowest, size=(size, size), mode="nearest")
    terrain = ndimage.uniform_filter(terrain, size=3, mode="nearest")
    for _ in range(REFINE_STEPS):
        lowest = np.full(grid.num_cells, np.inf)
        for block in blocks():
            near = block.xyz[:, 2] - grid.surface_at(terrain, block.xyz) < REFINE_BAND_M
            np.minimum.at(lowest, grid.cell_of(block.xyz[near]), block.xyz[near, 2])
        lowest = lowest.reshape(grid.shape)
        terrain = np.where(np.isfinite(lowest), np.maximum(lowest, terrain), terrain)
        terrain = ndimage.uniform_filter(terrain, size=3, mode="nearest")
    return terrain


def estimate_ground(
    xyz: np.ndarray, *, cell_size: float = GROUND_CELL_M, window: float = GROUND_WINDOW_M
) -> np.ndarray:
    """Terrain height under each point of a whole cloud (see the module docstring).

    Example:
        >>> ground = estimate_ground(cloud.xyz)
        >>> ground.shape, bool(np.median(np.abs(cloud.xyz[:, 2] - ground)[cloud.las.classification == 2]) < 0.5)
        ((1531,), True)
    """
    grid = TerrainGrid.covering(xyz.min(axis=0), xyz.max(axis=0), cell_size=cell_size)
    block = whole_cloud_block(xyz)
    return grid.surface_at(terrain_surface(lambda: [block], grid, window=window), xyz)
