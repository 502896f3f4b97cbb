"""Chunked LAS/LAZ reading and writing (laspy's ``chunk_iterator`` and ``LasWriter``).

Big clouds never need two full copies in memory: :func:`iter_chunks` reads a file a chunk of
points at a time, and :class:`ChunkedCloudWriter` writes one chunk at a time, each chunk's
points copied raw (every standard dimension and extra byte) into the output point format,
with the predicted classification and new extra dimensions (e.g. per-class probabilities) set
on the chunk only. Like :func:`vl3d_focal.io.las.write_cloud`, the output goes to a temporary
file in the destination folder that is renamed into place on success (removed on error), keeps
the header (version, scales, offsets, VLRs/EVLRs so the CRS; generating software and creation
date become this package's and today's) and never overwrites its source.

Example:
    >>> with ChunkedCloudWriter(out / "pred.laz", header=read_header(tile),
    ...                         extra_dims={"prob_ground": "float32"}) as writer:
    ...     for start, points in iter_chunks(tile, chunk_points=1000):
    ...         writer.write(points, classification=np.full(len(points), 2))
    >>> writer.points_written
    1531
"""

from __future__ import annotations

import contextlib
import copy
import logging
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import laspy
import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.io.las import check_extra_dimensions, classification_codes, stamp_header
from vl3d_focal.io.las_header import open_reader, read_header
from vl3d_focal.io.laspy_log import laspy_errors_held
from vl3d_focal.schema_annotations import CLOUD_SUFFIXES

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_POINTS = 1_000_000
"""Points per chunk when none is given."""


def _checked_chunk_points(chunk_points: int) -> int:
    if int(chunk_points) != chunk_points or chunk_points < 1:
        raise DataError(f"chunked LAS I/O: expected chunk_points >= 1, received {chunk_points!r}")
    return int(chunk_points)


def iter_chunks(
    path: str | Path, *, chunk_points: int = DEFAULT_CHUNK_POINTS
) -> Iterator[tuple[int, laspy.ScaleAwarePointRecord]]:
    """Reads a LAS/LAZ file ``chunk_points`` points at a time.

    Args:
        path: The ``.las`` or ``.laz`` file.
        chunk_points: Points per chunk (the last one may be shorter).

    Yields:
        ``(start, points)``: the index of the chunk's first point in the file and its points.

    Raises:
        DataError: Missing or unreadable file, or a bad ``chunk_points``.

    Example:
        >>> [(start, len(points)) for start, points in iter_chunks(tile, chunk_points=1000)]
        [(0, 1000), (1000, 531)]
    """
    chunk_points = _checked_chunk_points(chunk_points)
    with open_reader(path) as reader:
        chunks, start = reader.chunk_iterator(chunk_points), 0
        while True:
            with _reading(path):
                points = next(chunks, None)
            if points is None:
                return
            yield start, points
            start += len(points)


@contextlib.contextmanager
def _reading(path: str | Path) -> Iterator[None]:
    """Turns what laspy and lazrs raise on a damaged file (any kind) into a DataError naming it."""
    try:
        with laspy_errors_held():  # laspy's own log of the error: said once, in the DataError
            yield
    except Exception as err:  # noqa: BLE001  (laspy, lazrs, numpy: all mean "unreadable")
        raise DataError(
            f"point cloud {path}: cannot be read as LAS/LAZ, truncated or corrupted ({type(err).__name__}: {err})"
        ) from err


def read_within(
    path: str | Path, *, low: np.ndarray, high: np.ndarray, chunk_points: int = DEFAULT_CHUNK_POINTS
) -> laspy.ScaleAwarePointRecord:
    """The points of a file whose x, y, z lie in the box ``[low, high]``, read chunk by chunk.

    Only the selected points are kept (a strip of a neighbouring tile, not the tile), so memory
    follows the box, not the file. Points with NaN or infinite coordinates are never inside.

    Raises:
        DataError: Missing or unreadable file.

    Example:
        >>> low = np.array(read_header(tile).mins)
        >>> len(read_within(tile, low=low - 1, high=low + [12.0, 1e9, 1e9])) < 1531  # a strip of the tile
        True
    """
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    parts, point_format, header = [], None, read_header(path)
    for _, points in iter_chunks(path, chunk_points=chunk_points):
        xyz = np.column_stack([np.asarray(points.x), np.asarray(points.y), np.asarray(points.z)])
        inside = np.all((xyz >= low) & (xyz <= high), axis=1)
        parts.append(points.array[inside])
        point_format = points.point_format
    array = np.concatenate(parts) if parts else np.zeros(0, dtype=header.point_format.dtype())
    return laspy.ScaleAwarePointRecord(array, point_format or header.point_format, header.scales, header.offsets)


class ChunkedCloudWriter:
    """Writes a cloud chunk by chunk with the header of its source plus new extra dimensions.

    Use as a context manager; the file appears under its final name only when the block exits
    without error.

    Args:
        path: Destination ``.las`` or ``.laz`` (compressed by suffix).
        header: The source cloud's header (copied, not modified).
        extra_dims: New extra dimensions, name -> numpy dtype (ignored for names the source
            already has).
        source_path: The file the points come from; writing onto it is refused.
        log_level: The level of the "wrote" line logged on close.

    Raises:
        DataError: Bad suffix, destination equal to the source, an extra dimension named like a
            standard one, chunks of the wrong shape, or classification codes out of range for the
            point format.

    Example:
        >>> with ChunkedCloudWriter(out / "a.las", header=las.header) as w:
        ...     w.write(las.points[:10], classification=np.full(10, 2))
        >>> read_header(out / "a.las").point_count
        10
    """

    def __init__(
        self,
        path: str | Path,
        *,
        header: laspy.LasHeader,
        extra_dims: Mapping[str, str | np.dtype] | None = None,
        source_path: str | Path | None = None,
        log_level: int = logging.INFO,
    ) -> None:
        self.path = Path(path)
        self.log_level = log_level  # of the "wrote" line (DEBUG for one of many small files)
        if self.path.suffix.lower() not in CLOUD_SUFFIXES:
            raise DataError(f"writing {self.path}: expected a .las or .laz suffix, received {self.path.suffix!r}")
        if source_path is not None and self.path.resolve() == Path(source_path).resolve():
            raise DataError(f"writing {self.path}: refusing to overwrite the input cloud it was read from")
        check_extra_dimensions(extra_dims or {}, path=self.path)
        self.header = stamp_header(copy.deepcopy(header))
        existing = set(self.header.point_format.dimension_names)
        new = [
            laspy.ExtraBytesParams(name=name, type=np.dtype(dtype))
            for name, dtype in (extra_dims or {}).items()
            if name not in existing
        ]
        if new:
            self.header.add_extra_dims(new)
        self.header.point_count = 0
        self.points_written = 0
        self._writer: laspy.LasWriter | None = None
        self._output = contextlib.ExitStack()

    def __enter__(self) -> ChunkedCloudWriter:
        self._output = contextlib.ExitStack()
        tmp = self._output.enter_context(atomic_output(self.path))
        try:
            self._writer = laspy.open(
                str(tmp), mode="w", header=self.header, do_compress=self.path.suffix.lower() == ".laz"
            )
        except BaseException:
            self._output.__exit__(*sys.exc_info())
            raise
        return self

    def write(
        self,
        points: laspy.ScaleAwarePointRecord | laspy.PackedPointRecord,
        *,
        classification: np.ndarray | None = None,
        extra: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Appends one chunk: its points with ``classification`` and ``extra`` columns set.

        Example:
            >>> with ChunkedCloudWriter(out / "b.las", header=las.header, extra_dims={"prob_ground": "f4"}) as w:
            ...     w.write(las.points[0:1000], extra={"prob_ground": np.ones(1000)})
            >>> w.points_written
            1000
        """
        if self._writer is None:
            raise DataError(f"writing {self.path}: ChunkedCloudWriter.write called outside its 'with' block")
        n = len(points)
        out = laspy.ScaleAwarePointRecord.zeros(n, header=self.header)
        source = points.array
        for name in source.dtype.names:  # raw copy of every field (bit fields, scaled ints, extra bytes)
            out.array[name] = source[name]
        if classification is not None:
            codes = self._column(classification, n=n, what="classification")
            out.classification = classification_codes(
                codes, point_format_id=self.header.point_format.id, path=self.path
            )
        for name, values in (extra or {}).items():
            out[name] = self._column(values, n=n, what=f"extra dimension {name!r}")
        self._writer.write_points(out)
        self.points_written += n

    def _column(self, values: np.ndarray, *, n: int, what: str) -> np.ndarray:
        values = np.asarray(values)
        if values.shape != (n,):
            raise DataError(f"writing {self.path}: {what} must have shape ({n},), received shape {values.shape}")
        return values

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        writer, self._writer = self._writer, None
        with self._output:  # renames the file into place, or deletes it on an error
            if writer is not None:
                writer.close()
            if exc is not None:
                raise exc
        logger.log(self.log_level, "wrote %s: %d points (chunked)", self.path, self.points_written)
