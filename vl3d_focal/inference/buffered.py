"""Predicting a tile of a survey with a buffer: the points of its neighbours as context.

Points near a tile's edge lack the context beyond it: objects cut by the edge (flat roofs,
trees, bridges) are seen half. With ``buffer`` metres, the points of the neighbouring input
tiles (those whose header bounds meet the tile's bounds grown by ``buffer``, from the
:class:`~vl3d_focal.io.footprints.TileIndex`) within ``buffer`` of the tile's bounding box
are read chunk by chunk (:func:`~vl3d_focal.io.chunks.read_within`, only those points kept),
predicted together with the tile's own points and their neighbourhood features, and only the
tile's own points are written. The field and terrain grids are anchored at the survey's
lowest coordinates (:attr:`~vl3d_focal.io.footprints.TileIndex.origin`), so that with a buffer
of twice the fields' reach or more (:attr:`~vl3d_focal.data.receptive_fields.FieldSpec.reach`:
the fields holding a point have their centres within one reach of it and their points within
one more) a tile gets the predictions of the whole survey predicted at once for nearly every
point (furthest-point fields; grid subsampling draws its random points from point ids, which
differ between a tile and the whole survey; a whole-cloud field's reach is infinite: no buffer
makes a tile's one field the survey's), and with
:func:`~vl3d_focal.inference.tile_geometry.tile_margin` every field of the tile's points is the
whole survey's.

A neighbour that cannot be read, or lacks a dimension the model uses, is left out with a
warning (kept in ``record.warnings``): the tile is predicted with the context that exists, and
the neighbour fails on its own. The neighbours used and left out are kept in
``record.buffer_neighbours`` (:class:`~vl3d_focal.io.buffer_neighbours.BufferNeighbours`): a
survey records them, and ``--resume`` predicts the tile again once they would differ.

Example:
    >>> from vl3d_focal.data.records import CloudRecord
    >>> corner = CloudRecord(path=survey[0], prefix=f"{out}/")
    >>> result = predict_buffered(corner, bundle, buffer=5.0, index=TileIndex.read(survey), chunk_points=None)
    >>> sum(len(classes) for _, _, classes, _ in result.iter_chunks()) == corner.num_points  # its own points only
    True
    >>> [Path(path).name for path in corner.buffer_neighbours.used], corner.buffer_neighbours.left_out
    (['tile_0_1.las', 'tile_1_0.las', 'tile_1_1.las'], {})
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.data.feature_names import missing_features
from vl3d_focal.data.miners import mined_names
from vl3d_focal.errors import DataError
from vl3d_focal.inference.streaming import bucket_columns, predict_streamed
from vl3d_focal.inference.tile_buckets import BufferPoints, StreamedPredictions
from vl3d_focal.io.buffer_neighbours import BufferNeighbours
from vl3d_focal.io.chunks import read_header, read_within
from vl3d_focal.io.footprints import Footprint, TileIndex
from vl3d_focal.wording import counted, noun

logger = logging.getLogger(__name__)


def buffer_box(footprint: Footprint, *, buffer: float) -> tuple[np.ndarray, np.ndarray]:
    """The xy box of a tile grown by ``buffer`` metres (z unbounded).

    Example:
        >>> low, high = buffer_box(Footprint(path="a", low=(0, 0, 0), high=(10, 10, 3), points=1), buffer=2.0)
        >>> low.tolist(), high.tolist()
        ([-2.0, -2.0, -inf], [12.0, 12.0, inf])
    """
    low = np.array([footprint.low[0] - buffer, footprint.low[1] - buffer, -np.inf])
    high = np.array([footprint.high[0] + buffer, footprint.high[1] + buffer, np.inf])
    return low, high


def read_buffer(
    path: Path, *, index: TileIndex, buffer: float, feature_names: list[str], chunk_points: int, warnings: list[str]
) -> list[BufferPoints]:
    """The points of ``path``'s neighbours within ``buffer`` metres of its bounding box.

    Args:
        path: the tile.
        index: the survey's tiles.
        buffer: metres.
        feature_names: the model's features read from the files (a neighbour without them is
            left out); mined features are computed for the buffer's points as for the tile's.
        chunk_points: points per chunk read.
        warnings: receives one message per neighbour left out.

    Example:
        >>> parts = read_buffer(survey[0], index=TileIndex.read(survey), buffer=3.0, feature_names=["intensity"],
        ...                     chunk_points=1000, warnings=[])
        >>> len(parts), all(len(part.points) > 0 for part in parts)  # the three other tiles of the 2 x 2 survey
        (3, True)
    """
    own = index.get(path)
    if own is None:
        raise DataError(f"point cloud {path}: not in the survey's tile index; expected one of its input clouds")
    low, high = buffer_box(own, buffer=buffer)
    parts = []
    for neighbour in index.neighbours(path, margin=buffer):
        try:
            header = read_header(neighbour.path)
            absent = missing_features(list(header.point_format.dimension_names), feature_names)
            if absent:
                raise DataError(f"it has no {absent} {noun(len(absent), 'dimension')} the model uses")
            box_low = np.maximum(low, neighbour.low)  # never outside its own header bounds
            box_high = np.minimum(high, neighbour.high)
            points = read_within(neighbour.path, low=box_low, high=box_high, chunk_points=chunk_points)
        except DataError as err:
            message = f"buffer: neighbour {neighbour.path} left out ({err})"
            logger.warning("%s: %s", Path(path).name, message)
            warnings.append(message)
            continue
        parts.append(BufferPoints(path=Path(neighbour.path), header=header, points=points))
    logger.info(
        "%s: buffer of %.1f m: %d points from %s",
        Path(path).name,
        buffer,
        sum(len(p) for p in parts),
        counted(len(parts), "neighbour"),
    )
    return parts


def predict_buffered(
    record: Any, bundle: Any, *, buffer: float, index: TileIndex | None, chunk_points: int | None
) -> StreamedPredictions:
    """Predicts a tile with its neighbours' points as context (see the module docstring).

    Args:
        record: the tile (a :class:`~vl3d_focal.data.records.CloudRecord`).
        bundle: the model.
        buffer: metres of context around the tile's bounding box.
        index: the survey's tiles; None: the tile alone (no neighbour).
        chunk_points: points per tile of the streamed prediction; None: the tile and its
            buffer at once.

    Example:
        >>> result = predict_buffered(record, bundle, buffer=20.0, index=None, chunk_points=1000)  # the tile alone
        >>> result.num_classes, sum(len(classes) for _, _, classes, _ in result.iter_chunks())
        (5, 1531)
    """
    index = TileIndex.read([record.path]) if index is None else index
    parts = read_buffer(
        record.path,
        index=index,
        buffer=float(buffer),
        feature_names=[name for name in bucket_columns(bundle) if name not in mined_names(bundle.miners)],
        chunk_points=chunk_points or record.num_points,
        warnings=record.warnings,
    )
    read = {part.path for part in parts}
    neighbours = [footprint.path for footprint in index.neighbours(record.path, margin=float(buffer))]
    used = BufferNeighbours.read(
        metres=float(buffer), neighbours=neighbours, used=[path for path in neighbours if Path(path) in read]
    )
    record.buffer_neighbours = used if record.buffer_neighbours is None else record.buffer_neighbours.merged(used)
    size = chunk_points or record.num_points + sum(len(p) for p in parts)
    return predict_streamed(record, bundle, chunk_points=max(int(size), 1), buffer=parts, origin=index.origin)
