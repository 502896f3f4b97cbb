"""On-disk tiles of a streamed cloud: its points bucketed by square xy tile, and its results.

A cloud that is never read whole is split once into buckets (one file per tile, holding each
point's index, coordinates and features in file order); a tile is then loaded with the points
of its neighbours within a margin (:func:`load_tile`), and its results are written to a
result file read back chunk by chunk in file order (:meth:`StreamedPredictions.iter_chunks`).

Points of neighbouring input clouds (:class:`BufferPoints`, a survey's buffer) are bucketed
after the cloud's own, with ids after its own: they give context to the tiles and are never
read back.

Example:
    >>> write_buckets(streamed, feature_names=["intensity"])
    >>> int(streamed.counts.sum()), streamed.own_tiles
    (1531, [0, 1, 2, 3])
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import laspy
import numpy as np

from vl3d_focal.data.feature_names import neighbourhood_computed
from vl3d_focal.errors import DataError
from vl3d_focal.io.chunks import iter_chunks, read_header
from vl3d_focal.io.las import PointCloud, las_dimensions

logger = logging.getLogger(__name__)

FOLDER_PREFIX = ".vl3d_focal_tiles."
"""Start of the name of a streamed cloud's temporary folder: ``FOLDER_PREFIX<pid>.<random>``."""


class TileGrid:
    """Square xy tiles over a bounding box; tile id ``ix * ny + iy`` (points outside clipped).

    Example:
        >>> grid = TileGrid(origin=np.zeros(2), side=10.0, shape=(2, 3))
        >>> grid.tile_of(np.array([[5.0, 25.0, 0.0], [15.0, 0.0, 0.0]])).tolist()
        [2, 3]
    """

    def __init__(self, *, origin: np.ndarray, side: float, shape: tuple[int, int]) -> None:
        self.origin, self.side, self.shape = np.asarray(origin, dtype=np.float64), float(side), shape

    @property
    def num_tiles(self) -> int:
        """Number of tiles."""
        return self.shape[0] * self.shape[1]

    def cells(self, xy: np.ndarray) -> np.ndarray:
        """``(n, 2)`` clipped tile indices of xy positions."""
        cells = np.floor((np.asarray(xy)[:, :2] - self.origin) / self.side).astype(np.int64)
        return np.clip(cells, 0, np.asarray(self.shape, dtype=np.int64) - 1)

    def tile_of(self, xyz: np.ndarray) -> np.ndarray:
        """Tile id of each point."""
        cells = self.cells(xyz)
        return cells[:, 0] * self.shape[1] + cells[:, 1]

    def tiles_over(self, low: np.ndarray, high: np.ndarray) -> list[int]:
        """Ids of the tiles overlapping the xy box ``[low, high]``."""
        a, b = self.cells(np.array([low, high]))
        return [int(i * self.shape[1] + j) for i in range(a[0], b[0] + 1) for j in range(a[1], b[1] + 1)]


@dataclass(frozen=True)
class BufferPoints:
    """Points of a neighbouring cloud read as context for a cloud's prediction.

    Attributes:
        path: the neighbouring cloud.
        header: its header (scales, offsets, point format of ``points``).
        points: its points within the buffer, all with finite coordinates.
    """

    path: Path
    header: laspy.LasHeader
    points: Any

    def __len__(self) -> int:
        return len(self.points)


def bucket_dtype(num_features: int) -> np.dtype:
    """A bucket row: the point's index in the file, its coordinates and its model features.

    Example:
        >>> bucket_dtype(2).itemsize
        40
    """
    return np.dtype([("id", "<i8"), ("xyz", "<f8", (3,)), ("feat", "<f4", (num_features,))])


def result_dtype(num_classes: int) -> np.dtype:
    """A result row: predicted class, whether a field covered the point, class probabilities.

    Example:
        >>> result_dtype(5).names
        ('pred', 'covered', 'prob')
    """
    return np.dtype([("pred", "<i2"), ("covered", "u1"), ("prob", "<f4", (num_classes,))])


def _chunk_cloud(header: laspy.LasHeader, points: Any, path: Path) -> Any:
    las = laspy.LasData(header=header, points=points)
    xyz = np.column_stack([np.asarray(points.x), np.asarray(points.y), np.asarray(points.z)]).astype(np.float64)
    return PointCloud(xyz=xyz, las=las, path=path)


def cloud_bounds(path: Path, *, chunk_points: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Pass 1: the coordinate bounds and point count; NaN/inf coordinates are an error.

    Raises:
        DataError: NaN or infinite coordinates, or no point.

    Example:
        >>> low, high, total = cloud_bounds(tile, chunk_points=1000)
        >>> total, bool(np.all(high - low < 30.0))
        (1531, True)
    """
    low, high, total, bad = np.full(3, np.inf), np.full(3, -np.inf), 0, 0
    for _, points in iter_chunks(path, chunk_points=chunk_points):
        xyz = np.column_stack([np.asarray(points.x), np.asarray(points.y), np.asarray(points.z)])
        finite = np.isfinite(xyz).all(axis=1)
        bad += int(np.sum(~finite))
        if finite.any():
            low = np.minimum(low, xyz[finite].min(axis=0))
            high = np.maximum(high, xyz[finite].max(axis=0))
        total += len(xyz)
    if bad:
        header = read_header(path)
        raise DataError(
            f"point cloud {path}: {bad} of {total} points have NaN or infinite coordinates (header "
            f"scales {header.scales.tolist()}, offsets {header.offsets.tolist()}); expected finite x, y, z"
        )
    if total == 0:
        raise DataError(f"point cloud {path}: contains no points (expected at least 1)")
    return low, high, total


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_tile_folders(parent: Path) -> list[Path]:
    """Deletes the tile folders that killed runs left in ``parent`` (their process is gone).

    Example:
        >>> remove_stale_tile_folders(Path(tempfile.mkdtemp()))
        []
    """
    removed = []
    for folder in sorted(parent.glob(f"{FOLDER_PREFIX}*")) if parent.is_dir() else []:
        pid = folder.name[len(FOLDER_PREFIX) :].split(".")[0]
        if folder.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            logger.info("removed %s, the temporary tiles of an interrupted run", folder)
            removed.append(folder)
    return removed


def check_tile_space(parent: Path, *, path: Path, num_points: int, num_features: int, num_classes: int) -> None:
    """Raises a DataError, naming the folder, the space needed and the space free, when
    ``parent``'s file system cannot hold a cloud's buckets and results.

    Example:
        >>> check_tile_space(Path("."), path=Path("a.laz"), num_points=10, num_features=2, num_classes=3)  # fits
        >>> check_tile_space(Path("."), path=Path("huge.laz"), num_points=10**15, num_features=2, num_classes=3)
        Traceback (most recent call last):
        vl3d_focal.errors.DataError: point cloud huge.laz: its temporary tiles need about 55074691772 MiB in ., but only ... MiB are free; free some space or predict it on a bigger disk
    """
    needed = int(num_points * (bucket_dtype(num_features).itemsize + result_dtype(num_classes).itemsize) * 1.05)
    free = shutil.disk_usage(parent).free
    if free < needed:
        raise DataError(
            f"point cloud {path}: its temporary tiles need about {needed / 2**20:.0f} MiB in {parent}, "
            f"but only {free / 2**20:.0f} MiB are free; free some space or predict it on a bigger disk"
        )


class StreamedPredictions:
    """Per-tile predictions of a cloud on disk, read back in file order.

    The temporary folder is created in ``parent`` (the system's temporary folder when None),
    named after this process (:data:`FOLDER_PREFIX`); the folders of killed runs found there
    are deleted first (:func:`remove_stale_tile_folders`).

    Attributes:
        path: the cloud.
        folder: the temporary folder of the buckets and results (removed with this object).
        grid: the tiles.
        chunk_points: points per file chunk of the bucketing pass (and of :meth:`iter_chunks`).
        counts: ``(tiles, chunks)`` points of each tile in each chunk (the file's chunks, then
            the buffer's).
        num_classes: classes predicted.
        num_points: points bucketed (the cloud's and the buffer's).
        buffer: points of neighbouring clouds bucketed after the cloud's own.
    """

    def __init__(
        self,
        *,
        path: Path,
        grid: TileGrid,
        chunk_points: int,
        num_classes: int,
        parent: Path | None = None,
        buffer: Sequence[BufferPoints] = (),
    ) -> None:
        self.path, self.grid, self.chunk_points, self.num_classes = Path(path), grid, int(chunk_points), num_classes
        self.buffer = tuple(buffer)
        parent = Path(tempfile.gettempdir()) if parent is None else Path(parent)
        parent.mkdir(parents=True, exist_ok=True)
        remove_stale_tile_folders(parent)
        self.folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}.", dir=parent))
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.folder), True)
        self.counts = np.zeros((grid.num_tiles, 0), dtype=np.int64)
        self.num_points = 0

    def bucket(self, tile: int) -> Path:
        """The file of a tile's points."""
        return self.folder / f"tile_{tile}.bin"

    def result(self, tile: int) -> Path:
        """The file of a tile's classes and probabilities."""
        return self.folder / f"result_{tile}.bin"

    def close(self) -> None:
        """Removes the temporary files now."""
        self._cleanup()

    @property
    def own_tiles(self) -> list[int]:
        """The tiles holding points of the cloud itself (not only buffer points)."""
        own_chunks = self.counts.shape[1] - self.buffer_chunks
        return [int(t) for t in np.flatnonzero(self.counts[:, :own_chunks].sum(axis=1))]

    @property
    def buffer_chunks(self) -> int:
        """Chunks of buffer points (the last columns of :attr:`counts`)."""
        return sum(math.ceil(len(part) / self.chunk_points) for part in self.buffer)

    def iter_chunks(self) -> Iterator[tuple[int, Any, np.ndarray, np.ndarray]]:
        """``(start, points, classes (n,), probabilities (n, C))`` chunk by chunk, in file order.

        Example:
            >>> from vl3d_focal.inference.streaming import predict_streamed
            >>> result = predict_streamed(record, bundle, chunk_points=1000)
            >>> [(start, len(classes), probs.shape[1]) for start, points, classes, probs in result.iter_chunks()]
            [(0, 1000, 5), (1000, 531, 5)]
        """
        dtype = result_dtype(self.num_classes)
        offsets = np.concatenate([np.zeros((self.grid.num_tiles, 1), np.int64), np.cumsum(self.counts, axis=1)], axis=1)
        for number, (start, points) in enumerate(iter_chunks(self.path, chunk_points=self.chunk_points)):
            xyz = np.column_stack([np.asarray(points.x), np.asarray(points.y), np.asarray(points.z)])
            tiles = self.grid.tile_of(xyz)
            classes = np.empty(len(xyz), dtype=np.int64)
            probabilities = np.empty((len(xyz), self.num_classes), dtype=np.float32)
            for tile in np.unique(tiles):
                rows = np.fromfile(
                    self.result(int(tile)),
                    dtype=dtype,
                    count=int(self.counts[tile, number]),
                    offset=int(offsets[tile, number]) * dtype.itemsize,
                )
                where = tiles == tile
                classes[where] = rows["pred"]
                probabilities[where] = rows["prob"]
            yield start, points, classes, probabilities


def _all_chunks(result: StreamedPredictions) -> Iterator[tuple[laspy.LasHeader, Path, int, Any]]:
    """``(header, path, first id, points)`` of the cloud's chunks, then of its buffer's."""
    header = read_header(result.path)
    start = 0
    for start, points in iter_chunks(result.path, chunk_points=result.chunk_points):
        yield header, result.path, start, points
        start += len(points)
    for part in result.buffer:
        for first in range(0, len(part), result.chunk_points):
            points = part.points[first : first + result.chunk_points]
            yield part.header, part.path, start, points
            start += len(points)


def write_buckets(
    result: StreamedPredictions, *, feature_names: Sequence[str], mined: Sequence[str] = (), imputed: bool = False
) -> None:
    """Pass 2: every point (id, xyz, raw features) appended to its tile's bucket, the cloud's then its buffer's.

    Features of a point alone (and those the file stores) are read or computed here, chunk by chunk; their NaN
    and infinite values are kept for the ``imputed`` model's imputers, else an error counted over the whole file.
    Other columns (``mined``, neighbourhood features) stay 0 for :mod:`~vl3d_focal.inference.tile_features`.

    Example:
        >>> write_buckets(streamed, feature_names=["intensity", "height_above_ground"])
        >>> int(streamed.counts.sum()), streamed.bucket(0).stat().st_size // bucket_dtype(2).itemsize, int(streamed.counts[0].sum())
        (1531, 439, 439)
    """
    from vl3d_focal.data.features import non_finite_counts, raw_features, require_counts_finite

    dtype = bucket_dtype(len(feature_names))
    later = set(neighbourhood_computed(feature_names, mined=mined, stored=las_dimensions(read_header(result.path))))
    pointwise = [j for j, name in enumerate(feature_names) if name not in later]
    names = [feature_names[j] for j in pointwise]
    counts: list[np.ndarray] = []
    non_finite: dict[Path, np.ndarray] = {}  # per file (the cloud, its buffer's): its chunks' counts added up
    for header, path, start, points in _all_chunks(result):
        cloud = _chunk_cloud(header, points, path)
        rows = np.zeros(len(points), dtype=dtype)  # the columns computed later at 0
        rows["id"] = np.arange(start, start + len(points))
        rows["xyz"] = cloud.xyz
        if pointwise:
            rows["feat"][:, pointwise] = values = raw_features(cloud, names)
            if not imputed:
                non_finite[path] = non_finite.get(path, 0) + non_finite_counts(values)
        tiles = result.grid.tile_of(cloud.xyz)
        counts.append(np.bincount(tiles, minlength=result.grid.num_tiles))
        for tile in np.flatnonzero(counts[-1]):
            with open(result.bucket(int(tile)), "ab") as handle:
                rows[tiles == tile].tofile(handle)
        result.num_points += len(points)
    result.counts = np.stack(counts, axis=1)
    for path, bad in non_finite.items():
        require_counts_finite(bad, names, source=path)


def load_tile(
    result: StreamedPredictions, tile: int, *, margin: float, num_features: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A tile's points and the other tiles' points within ``margin`` (in xy) of their box.

    Returns:
        ``(rows sorted by id, mask of the tile's own rows, low, high)``, ``[low, high]`` the xy
        box of the tile's own points.

    Example:
        >>> write_buckets(streamed, feature_names=["intensity"])
        >>> rows, own, low, high = load_tile(streamed, 3, margin=2.0, num_features=1)
        >>> bool(own.sum() == streamed.counts[3].sum()), bool(len(rows) > own.sum())  # with a margin of the others
        (True, True)
    """
    dtype = bucket_dtype(num_features)
    core = np.fromfile(result.bucket(tile), dtype=dtype)
    # one axis at a time: reductions over a (n, 2) column of the records are 15x slower
    low = np.array([core["xyz"][:, axis].min() for axis in (0, 1)])
    high = np.array([core["xyz"][:, axis].max() for axis in (0, 1)])
    parts = []
    for other in result.grid.tiles_over(low - margin, high + margin):
        if other == tile or not result.bucket(other).exists():
            continue
        rows = np.fromfile(result.bucket(other), dtype=dtype)
        near = np.ones(len(rows), dtype=bool)
        for axis in (0, 1):
            coordinate = rows["xyz"][:, axis]
            near &= coordinate >= low[axis] - margin
            near &= coordinate <= high[axis] + margin
        parts.append(rows[near])
    rows = np.concatenate([core] + parts)
    order = np.argsort(rows["id"], kind="stable")
    own = np.zeros(len(rows), dtype=bool)
    own[: len(core)] = True
    return rows[order], own[order], low, high


def sample_buckets(result: StreamedPredictions, *, tiles: Sequence[int], num_features: int, stride: int) -> np.ndarray:
    """``(s, F)`` the features of the points whose index is a multiple of ``stride`` (the cloud's
    sample, :func:`~vl3d_focal.data.normalization.sample_stride`), in no particular order; the
    cloud's own points only, not its buffer's.

    Example:
        >>> write_buckets(streamed, feature_names=["intensity"])
        >>> sample_buckets(streamed, tiles=streamed.own_tiles, num_features=1, stride=10).shape
        (154, 1)
    """
    dtype = bucket_dtype(num_features)
    own = result.counts[:, : result.counts.shape[1] - result.buffer_chunks].sum()  # the buffer's ids come after
    parts = [np.zeros((0, num_features), dtype=np.float32)]
    for tile in tiles:
        rows = np.fromfile(result.bucket(tile), dtype=dtype)
        parts.append(rows["feat"][(rows["id"] % stride == 0) & (rows["id"] < own)])
    return np.concatenate(parts)
