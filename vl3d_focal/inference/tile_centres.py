"""The whole-cloud field centres near one tile of a streamed prediction
(:mod:`vl3d_focal.inference.streaming`): the coarse grid's centres computed from the tile's
points and margin, the points beyond every coarse centre, and the first sweep over the tiles
that finds the lowest of those points, the origin of the whole-cloud path's fine grid.

Example:
    >>> from vl3d_focal.data.receptive_fields import FieldSpec
    >>> xyz = np.array([[5.0, 5.0, 0.0], [5.5, 5.0, 0.0], [8.0, 5.0, 0.0]])
    >>> finder = TileCentres(xyz, low=np.zeros(2), high=np.full(2, 10.0), margin=0.0,
    ...     spec=FieldSpec(radius=1.0, separation_factor=1.0), origin=np.zeros(3))
    >>> finder.centres(xyz, fine_origin=None).tolist()  # the means of the grid cells' points
    [[5.25, 5.0, 0.0], [8.0, 5.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.data.field_centres import grid_centres, uncovered_mask
from vl3d_focal.data.parallel import ordered_map
from vl3d_focal.inference.tile_buckets import StreamedPredictions, load_tile
from vl3d_focal.inference.tile_geometry import SLACK, field_geometry, inside


class TileCentres:
    """The whole-cloud field centres near one tile, from its points and margin (``[low, high]``
    the xy box of the tile's own points); ``saved``: the first sweep's file of the tile
    (:meth:`save`), read instead of computing the coarse centres again.

    Example:
        >>> from vl3d_focal.data.receptive_fields import FieldSpec
        >>> xyz = np.array([[5.0, 5.0, 0.0], [8.0, 5.0, 0.0]])
        >>> finder = TileCentres(xyz, low=np.zeros(2), high=np.full(2, 10.0), margin=0.0,
        ...     spec=FieldSpec(radius=1.0, separation_factor=1.0), origin=np.zeros(3))
        >>> finder.coarse.tolist(), finder.uncovered.tolist()
        ([[5.0, 5.0, 0.0], [8.0, 5.0, 0.0]], [False, False])
    """

    def __init__(
        self,
        xyz: np.ndarray,
        *,
        low: np.ndarray,
        high: np.ndarray,
        margin: float,
        spec: Any,
        origin: np.ndarray,
        saved: Path | None = None,
    ) -> None:
        dims, p, cell, fine = field_geometry(spec)
        self.dims, self.fine, self.spec = dims, fine, spec
        self.region_low, self.region_high = low - margin, high + margin
        self.exact_shrink = SLACK * (cell + spec.radius)  # uncovered flags exact within
        self.uncovered = np.zeros(len(xyz), dtype=bool)
        if saved is not None and saved.exists():  # the first sweep's, for the same rows
            with np.load(saved) as kept:
                self.coarse = kept["coarse"]
                self.uncovered[kept["uncovered"]] = True
            return
        coarse = grid_centres(xyz, origin=origin[:dims], cell=cell, dims=dims, on_cloud=spec.center_on_pcloud)
        self.coarse = coarse[inside(coarse, self.region_low, self.region_high, SLACK * cell)]
        exact = inside(xyz, self.region_low, self.region_high, self.exact_shrink)
        self.uncovered = exact & uncovered_mask(xyz, self.coarse, radius=spec.radius, dims=dims, p=p)

    def save(self, path: Path) -> None:
        """Keeps the coarse centres and the uncovered rows for :meth:`__init__` ``saved``."""
        np.savez(path, coarse=self.coarse, uncovered=np.flatnonzero(self.uncovered))

    def centres(self, xyz: np.ndarray, *, fine_origin: np.ndarray | None) -> np.ndarray:
        """The coarse centres, and with ``fine_origin`` (the first sweep's lowest uncovered point)
        the fine grid's centres of the tile's uncovered points."""
        if fine_origin is None or not self.uncovered.any():
            return self.coarse
        extra = grid_centres(
            xyz[self.uncovered],
            origin=fine_origin[: self.dims],
            cell=self.fine,
            dims=self.dims,
            on_cloud=self.spec.center_on_pcloud,
        )
        keep = inside(extra, self.region_low, self.region_high, self.exact_shrink + SLACK * self.fine)
        return np.concatenate([self.coarse, extra[keep]])


def centres_file(result: StreamedPredictions, tile: int) -> Path:
    """A tile's coarse centres and uncovered rows, from the first sweep to the tile's prediction.

    Example:
        >>> centres_file(streamed, 3).name
        'centres_3.npz'
    """
    return result.folder / f"centres_{tile}.npz"


def lowest_uncovered(
    result: StreamedPredictions,
    *,
    tiles: Sequence[int],
    spec: Any,
    origin: np.ndarray,
    margin: float,
    num_features: int,
) -> tuple[np.ndarray | None, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """The first sweep: the lowest coordinates of the points beyond every coarse centre (each
    own tile's centres kept for its prediction, :func:`centres_file`), and the xy box of each own
    tile's points; None when every point is within a coarse centre's field.

    Example:
        >>> from vl3d_focal.data.receptive_fields import FieldSpec
        >>> from vl3d_focal.inference.tile_buckets import write_buckets
        >>> from vl3d_focal.inference.tile_geometry import tile_margin
        >>> write_buckets(streamed, feature_names=["intensity"])
        >>> spec = FieldSpec(radius=3.0, separation_factor=1.5)
        >>> lowest, boxes = lowest_uncovered(streamed, tiles=streamed.own_tiles, spec=spec,
        ...     origin=np.zeros(3), margin=tile_margin(spec), num_features=1)
        >>> lowest is not None, sorted(boxes), centres_file(streamed, 3).exists()
        (True, [0, 1, 2, 3], True)
    """
    own_tiles = set(result.own_tiles)

    def lowest_of(tile: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows, own, low, high = load_tile(result, tile, margin=margin, num_features=num_features)
        finder = TileCentres(rows["xyz"], low=low, high=high, margin=margin, spec=spec, origin=origin)
        if tile in own_tiles:
            finder.save(centres_file(result, tile))
        mine = finder.uncovered & own
        return (rows["xyz"][mine].min(axis=0) if mine.any() else np.full(3, np.inf)), low, high

    lowest, boxes = np.full(3, np.inf), {}
    for tile, (found, low, high) in zip(tiles, ordered_map(lowest_of, tiles)):
        lowest = np.minimum(lowest, found)
        if tile in own_tiles:
            boxes[tile] = (low, high)
    return (lowest if np.isfinite(lowest).all() else None), boxes
