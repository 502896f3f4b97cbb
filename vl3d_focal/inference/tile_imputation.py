"""A model's imputers on a streamed cloud, tile by tile (:mod:`vl3d_focal.data.imputers`).

Once every bucket holds its points' raw features, neighbourhood features included
(:mod:`~vl3d_focal.inference.tile_features`), :func:`impute_buckets` applies the model's
imputers to each tile's points, as :func:`~vl3d_focal.data.model_view.model_view` does to a
cloud in memory: ``UnivariateImputer`` values filled with the fill values the model keeps, then
the finite check; the points a ``RemovalImputer`` leaves out are taken out of their bucket (no
field, no sample, no neighbour holds them) and kept aside with their place among the tile's
rows. Once every tile is predicted, :meth:`LeftOut.restore` gives each of them the
prediction of its nearest kept point of the cloud (its tile's, or a nearer one of the tiles
within that distance), in its place in the tile's results, with one warning counting them.
A model's ``PCATransformer`` projection (:mod:`vl3d_focal.data.pca_projection`) is applied to each
kept point once imputed: the model's features (the others, then ``PCA_1``...) take the first
columns of its bucket.

Example:
    >>> from vl3d_focal.inference.tile_buckets import write_buckets
    >>> write_buckets(streamed, feature_names=["intensity"])
    >>> impute_buckets(streamed, tiles=streamed.own_tiles, columns=["intensity"], imputers=[], num_model=1).count
    0
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vl3d_focal.data.features import non_finite_counts, require_counts_finite
from vl3d_focal.data.imputers import ImputationTally, Imputer, apply_imputers
from vl3d_focal.data.model_view import note_left_out
from vl3d_focal.data.parallel import ordered_map
from vl3d_focal.data.pca_projection import PCATransformer
from vl3d_focal.data.point_tree import nearest_points, nearest_values
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.errors import DataError
from vl3d_focal.inference.tile_buckets import StreamedPredictions, bucket_dtype, result_dtype


def _left_out_file(result: StreamedPredictions, tile: int) -> Path:
    """The rows of a tile's points left out: their place among the tile's rows, their coordinates."""
    return result.folder / f"left_out_{tile}.npz"


def _own_points(result: StreamedPredictions) -> int:
    """The cloud's own points (the buffer's ids come after theirs)."""
    return int(result.counts[:, : result.counts.shape[1] - result.buffer_chunks].sum())


@dataclass
class LeftOut:
    """The points of a streamed cloud a ``RemovalImputer`` left out.

    Attributes:
        tiles: tile -> rows left out (the cloud's and its buffer's).
        emptied: the tiles none of whose points is left (no prediction of theirs).
        count: the cloud's own points left out.
        low: the lowest coordinates of the cloud's kept points (the origin of the field grid of
            the cloud in memory, :func:`~vl3d_focal.data.model_view.model_view`); None when
            none is left out.
    """

    tiles: dict[int, int] = field(default_factory=dict)
    emptied: set[int] = field(default_factory=set)
    count: int = 0
    low: np.ndarray | None = None

    def remaining(self, tiles: Sequence[int]) -> list[int]:
        """The tiles of ``tiles`` that still hold points to predict.

        Example:
            >>> LeftOut(emptied={2}).remaining([1, 2, 3])
            [1, 3]
        """
        return [tile for tile in tiles if tile not in self.emptied]

    def restore(self, result: StreamedPredictions, *, num_features: int, record: CloudRecord) -> None:
        """Puts each left-out point back among its tile's results, with its nearest kept point's
        prediction (every tile predicted; its bucket holds its kept points), and notes how many
        on ``record`` (:func:`~vl3d_focal.data.model_view.note_left_out`: its warnings, its
        ``left_out_points``).

        Example:
            >>> LeftOut().restore(streamed, num_features=1, record=record)  # nothing left out: nothing to do
            >>> record.left_out_points, record.warnings
            (0, [])
        """
        if not self.tiles:
            return
        own, restored = _own_points(result), []
        for tile in self.tiles:
            restored.append(_restored_results(result, tile, own=own, num_features=num_features))
        for tile, path in zip(self.tiles, restored):  # after every tile: a tile's neighbours read its results
            os.replace(path, result.result(tile))
            _left_out_file(result, tile).unlink(missing_ok=True)
        if self.count:
            note_left_out(record, self.count)


def _kept_own(
    result: StreamedPredictions, tile: int, *, own: int, num_features: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The coordinates, probabilities and ids of a tile's kept points of the cloud itself."""
    rows = np.fromfile(result.bucket(tile), dtype=bucket_dtype(num_features))
    probabilities = np.fromfile(result.result(tile), dtype=result_dtype(result.num_classes))["prob"]
    mine = rows["id"] < own
    return rows["xyz"][mine], probabilities[mine], rows["id"][mine]


def _restored_results(result: StreamedPredictions, tile: int, *, own: int, num_features: int) -> Path:
    """The tile's results with its left-out rows back in place (a new file beside them)."""
    with np.load(_left_out_file(result, tile)) as kept_aside:
        places, xyz = kept_aside["places"], kept_aside["xyz"]
    parts = [_kept_own(result, tile, own=own, num_features=num_features)]
    here = nearest_points(parts[0][0], xyz)[0] if len(parts[0][0]) else np.full(len(xyz), np.inf)
    reach = float(here.max())
    low, high = xyz[:, :2].min(axis=0) - reach, xyz[:, :2].max(axis=0) + reach
    others = range(result.grid.num_tiles) if not np.isfinite(reach) else result.grid.tiles_over(low, high)
    for other in others:  # a nearer kept point may lie in another tile
        if other != tile and result.bucket(other).exists() and result.result(other).exists():
            parts.append(_kept_own(result, other, own=own, num_features=num_features))
    candidates = np.concatenate([part[0] for part in parts])
    if not len(candidates):
        raise DataError(f"point cloud {result.path}: every point was left out by a RemovalImputer; none to predict")
    ids = np.concatenate([part[2] for part in parts])  # equidistant kept points: the lowest id, as in memory
    taken = nearest_values(np.concatenate([part[1] for part in parts]), candidates, xyz, ids=ids)
    dtype = result_dtype(result.num_classes)
    kept_rows = np.fromfile(result.result(tile), dtype=dtype)
    rows = np.empty(len(kept_rows) + len(places), dtype=dtype)
    aside = np.zeros(len(rows), dtype=bool)
    aside[places] = True
    rows[~aside] = kept_rows
    rows["prob"][places] = taken
    rows["pred"][places] = np.argmax(taken, axis=1)
    rows["covered"][places] = 0
    path = result.folder / f"restored_{tile}.bin"
    rows.tofile(path)
    return path


def impute_buckets(
    result: StreamedPredictions,
    *,
    tiles: Sequence[int],
    columns: Sequence[str],
    imputers: Sequence[Imputer],
    num_model: int,
    projection: PCATransformer | None = None,
) -> LeftOut:
    """Applies ``imputers`` to the first ``num_model`` feature columns (the model's computed
    features) of every bucketed point, then ``projection`` (module docstring); logs what was
    filled and left out of the cloud's own points.
    The cloud's kept points are numbered anew, in their order (as the view of a cloud in memory
    numbers them: the draws of its fields depend on the numbers).

    Raises:
        DataError: a value of a kept point that is not finite, or every point of the cloud left out.

    Example:
        >>> from vl3d_focal.data.imputers import Imputer
        >>> from vl3d_focal.inference.tile_buckets import write_buckets
        >>> write_buckets(streamed, feature_names=["intensity"])
        >>> removal = Imputer("RemovalImputer", ("intensity",), target=0.0)
        >>> left = impute_buckets(streamed, tiles=streamed.own_tiles, columns=["intensity"], imputers=[removal], num_model=1)
        >>> left.count == int((record.cloud.las.intensity == 0).sum())
        True
    """
    found = LeftOut()
    if not imputers and projection is None:
        return found
    names, dtype, own = list(columns[:num_model]), bucket_dtype(len(columns)), _own_points(result)

    def impute(tile: int) -> tuple[int, ImputationTally, np.ndarray, int, int, np.ndarray, np.ndarray]:
        rows = np.fromfile(result.bucket(tile), dtype=dtype)
        split = int(np.searchsorted(rows["id"], own))  # the cloud's rows, then its buffer's
        tally, kept = ImputationTally(tuple(imputers)), np.ones(len(rows), dtype=bool)
        for part, counted in ((slice(0, split), tally), (slice(split, None), ImputationTally(tuple(imputers)))):
            values, kept[part] = apply_imputers(rows["feat"][part, :num_model], names, imputers, tally=counted)
            rows["feat"][part, :num_model] = values
        bad = non_finite_counts(rows["feat"][kept, :num_model])  # an error once every tile's are added up
        if projection is not None:
            projected = projection.apply(rows["feat"][kept, :num_model])
            rows["feat"][np.flatnonzero(kept)[:, None], np.arange(projected.shape[1])] = projected
        places = np.flatnonzero(~kept)
        if places.size:
            np.savez(_left_out_file(result, tile), places=places, xyz=rows["xyz"][places])
        rows[kept].tofile(result.bucket(tile))
        mine = kept & (rows["id"] < own)
        low = rows["xyz"][mine].min(axis=0) if mine.any() else np.full(3, np.inf)
        return tile, tally, bad, len(places), int(kept.sum()), rows["id"][~kept & (rows["id"] < own)], low

    total, gone, lowest = ImputationTally(tuple(imputers)), [np.zeros(0, dtype=np.int64)], np.full(3, np.inf)
    non_finite = np.zeros(num_model, dtype=np.int64)
    for tile, tally, bad, aside, remaining, ids, low in ordered_map(impute, tiles):
        total.add(tally)
        non_finite += bad
        gone.append(ids)
        lowest = np.minimum(lowest, low)
        if aside:
            found.tiles[tile] = aside
        if not remaining:
            found.emptied.add(tile)
            np.zeros(0, dtype=result_dtype(result.num_classes)).tofile(result.result(tile))
    found.count = sum(total.removed)
    total.log(result.path.name)
    require_counts_finite(non_finite, names, source=result.path)
    if found.count >= own:
        raise DataError(
            f"point cloud {result.path}: every point holds the target value of a RemovalImputer in a feature it "
            "names; no point is left to predict with"
        )
    if found.count:
        found.low = lowest
        _renumber(result, tiles, removed=np.sort(np.concatenate(gone)), own=own, dtype=dtype)
    return found


def _renumber(
    result: StreamedPredictions, tiles: Sequence[int], *, removed: np.ndarray, own: int, dtype: np.dtype
) -> None:
    """Numbers the cloud's kept points 0, 1... in their order (its buffer's keep theirs, after)."""

    def renumber(tile: int) -> None:
        rows = np.fromfile(result.bucket(tile), dtype=dtype)
        mine = rows["id"] < own
        rows["id"][mine] -= np.searchsorted(removed, rows["id"][mine])
        rows.tofile(result.bucket(tile))

    for _ in ordered_map(renumber, tiles):
        pass
