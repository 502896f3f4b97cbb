"""The receptive-field clouds of a streamed cloud (``pre_processing.receptive_fields_dir``, see
:mod:`~vl3d_focal.inference.field_clouds`), written tile by tile (:mod:`~vl3d_focal.inference.streaming`).

A streamed tile never holds the whole cloud, so the field files are built from the tiles:

1. one more pass over the file stores every point's record as the file holds it (every
   dimension, raw) in a file of its tile, in file order;
2. a field is computed by every tile whose box (of its own points) lies within one radius of its
   centre; it is written by one of them only: the tile whose grid cell holds the centre, else
   (a centre in a cell whose points lie farther) the lowest of those tiles. Each tile decides
   this alone from the boxes of the tiles, so that every field holding a point of the cloud is
   written once, with the points of the cloud it holds (a buffer's points are context, never
   written);
3. each tile writes its fields to temporary files as it predicts them; they are numbered on in
   the tiles' order as the tiles come back (:meth:`StreamedFieldClouds.collect`).

Example:
    >>> clouds = StreamedFieldClouds(streamed, record=record, bundle=bundle, folder=out / "fields")
    >>> clouds.write_records()
    >>> sorted(p.name for p in streamed.folder.glob("records_*.bin"))[:1]
    ['records_0.bin']
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import laspy
import numpy as np

from vl3d_focal.inference.field_clouds import FIELD_FILE, FIELDS_DIR, FieldCloudWriter, field_points
from vl3d_focal.inference.tile_buckets import StreamedPredictions
from vl3d_focal.inference.tile_geometry import SLACK, inside
from vl3d_focal.io.chunks import iter_chunks, read_header

logger = logging.getLogger(__name__)


def field_owners(
    centres: np.ndarray, *, tile: int, boxes: Mapping[int, tuple[np.ndarray, np.ndarray]], grid: Any, reach: float
) -> np.ndarray:
    """Which of ``tile``'s fields (centred within ``reach`` of its box) the tile writes: those
    whose centre lies in its grid cell, and those of a cell whose own tile is farther than
    ``reach`` when it is the lowest of the tiles within ``reach``.

    Example:
        >>> from vl3d_focal.inference.tile_buckets import TileGrid
        >>> grid = TileGrid(origin=np.zeros(2), side=10.0, shape=(2, 1))
        >>> boxes = {0: (np.zeros(2), np.array([9.0, 9.0])), 1: (np.array([10.0, 0.0]), np.array([19.0, 9.0]))}
        >>> centres = np.array([[9.5, 1.0, 0.0], [10.5, 1.0, 0.0]])
        >>> field_owners(centres, tile=0, boxes=boxes, grid=grid, reach=1.0).tolist()
        [True, False]
    """
    low, high = boxes[tile]
    near = sorted(t for t in grid.tiles_over(low - 2.0 * reach, high + 2.0 * reach) if t in boxes)
    core = grid.tile_of(centres)
    in_core = np.zeros(len(centres), dtype=bool)
    lowest = np.full(len(centres), -1)
    for other in reversed(near):
        reached = inside(centres, boxes[other][0] - reach, boxes[other][1] + reach, 0.0)
        in_core |= reached & (core == other)
        lowest[reached] = other
    return np.where(in_core, core == tile, lowest == tile)


class StreamedFieldClouds:
    """The fields' clouds of one streamed cloud.

    Args:
        result: the cloud's tiles.
        record: the cloud (its path).
        bundle: the model (its classes, mapping, field radius).
        folder: where the files go (created).
    """

    def __init__(self, result: StreamedPredictions, *, record: Any, bundle: Any, folder: Path) -> None:
        self.result = result
        self.header = read_header(record.path)
        self.writer = FieldCloudWriter(header=self.header, class_names=list(bundle.class_names), mapping=bundle.mapping)
        self.reach = SLACK * bundle.field_spec.radius
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.boxes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.count = 0
        self.num_points = 0
        self.dtype: np.dtype | None = None

    def records(self, tile: int) -> Path:
        """The file of a tile's point records."""
        return self.result.folder / f"records_{tile}.bin"

    def write_records(self) -> None:
        """Stores every point's record in its tile's file (a pass over the file)."""
        for start, points in iter_chunks(self.result.path, chunk_points=self.result.chunk_points):
            xyz = np.column_stack([np.asarray(points.x), np.asarray(points.y), np.asarray(points.z)])
            if self.dtype is None:
                self.dtype = np.dtype([("id", "<i8"), ("point", points.array.dtype)])
            rows = np.empty(len(points), dtype=self.dtype)
            rows["id"] = np.arange(start, start + len(points))
            rows["point"] = points.array
            tiles = self.result.grid.tile_of(xyz)
            for tile in np.unique(tiles):
                with open(self.records(int(tile)), "ab") as handle:
                    rows[tiles == tile].tofile(handle)
            self.num_points = start + len(points)

    def _load(self, rows: np.ndarray) -> np.ndarray:
        """The stored records of bucket ``rows`` (the cloud's points), by increasing id."""
        found = []
        tiles = self.result.grid.tile_of(rows["xyz"])
        for tile in np.unique(tiles):
            stored = np.fromfile(self.records(int(tile)), dtype=self.dtype)
            wanted = rows["id"][tiles == tile]
            found.append(stored[np.searchsorted(stored["id"], wanted)])
        records = np.concatenate(found) if found else np.zeros(0, dtype=self.dtype)
        return records[np.argsort(records["id"], kind="stable")]

    def write_tile(
        self, tile: int, rows: np.ndarray, probabilities: np.ndarray, indices: np.ndarray, centres: np.ndarray
    ) -> list[Path]:
        """Writes the fields ``tile`` owns (:func:`field_owners`) among those it computed
        (``(M, P, C)`` probabilities, ``(M, P)`` indices of ``rows``, ``(M, 3)`` centres) to
        temporary files, returned in order (for :meth:`collect`)."""
        owned = np.flatnonzero(
            field_owners(centres, tile=tile, boxes=self.boxes, grid=self.result.grid, reach=self.reach)
        )
        if not owned.size:
            return []
        needed = np.unique(indices[owned])
        needed = needed[rows["id"][needed] < self.num_points]  # the cloud's points, not its buffer's
        records = self._load(rows[needed])
        paths: list[Path] = []
        for k in owned:
            ids, mean = field_points(probabilities[k], rows["id"][indices[k]])
            cloud = ids < self.num_points
            if not cloud.any():
                continue
            ids, mean = ids[cloud], mean[cloud]
            picked = records[np.searchsorted(records["id"], ids)]
            points = laspy.ScaleAwarePointRecord(
                picked["point"], self.header.point_format, self.header.scales, self.header.offsets
            )
            path = self.result.folder / f"field_{tile}_{len(paths)}.laz"
            self.writer.write(path, points=points, probabilities=mean)
            paths.append(path)
        return paths

    def collect(self, paths: Sequence[Path]) -> None:
        """Moves a tile's fields' files into the folder, numbered on."""
        for path in paths:
            shutil.move(path, self.folder / FIELD_FILE.format(self.count))
            self.count += 1

    def close(self) -> None:
        """Removes the records' files."""
        for tile in range(self.result.grid.num_tiles):
            self.records(tile).unlink(missing_ok=True)


def streamed_field_clouds(result: StreamedPredictions, *, record: Any, bundle: Any) -> StreamedFieldClouds | None:
    """The writer of a streamed cloud's fields' clouds, its records stored
    (:meth:`StreamedFieldClouds.write_records`), where the model asks for them (None: not);
    warns about the model's other receptive-field reports, which a streamed cloud does not write.

    Example:
        >>> streamed_field_clouds(streamed, record=record, bundle=bundle) is None  # a model without reports
        True
    """
    reports = bundle.field_reports(record.prefix) if bundle.field_reports is not None else {}
    unwritten = sorted(key for key, path in reports.items() if path and key != FIELDS_DIR)
    if unwritten:
        logger.warning(
            "%s: the receptive-field reports of pre_processing (%s) are not written for a streamed cloud; "
            "set the predict step's chunk_points to null to predict it in memory",
            record.path.name,
            ", ".join(unwritten),
        )
    if not reports.get(FIELDS_DIR) or bundle.learns_from_points:
        return None
    clouds = StreamedFieldClouds(result, record=record, bundle=bundle, folder=reports[FIELDS_DIR])
    clouds.write_records()
    return clouds
