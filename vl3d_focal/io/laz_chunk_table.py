"""The chunk table of a LAZ file, checked without decoding a point: a LAZ file cut short (an
interrupted copy or download) keeps a readable header but ends before the table that its first
eight bytes of point data point to (:func:`check_chunk_table`).

Example:
    >>> import laspy
    >>> with laspy.open(tile) as reader:
    ...     check_chunk_table(tile, header=reader.header)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vl3d_focal.errors import DataError


def check_chunk_table(path: Path, *, header: Any) -> None:
    """Rejects a LAZ file that ends before its chunk table (whose offset is the first 8 bytes of
    its point data; -1: a streamed file that has none): a truncated file, found without decoding.
    ``header``: the file's ``laspy.LasHeader``.

    Example:
        >>> import laspy
        >>> with laspy.open(tile) as reader:
        ...     check_chunk_table(tile, header=reader.header) is None
        True
    """
    if not header.are_points_compressed or not header.point_count:
        return
    with open(path, "rb") as handle:
        handle.seek(int(header.offset_to_point_data))
        raw = handle.read(8)
    table, size = int.from_bytes(raw.ljust(8, b"\xff"), "little", signed=True), path.stat().st_size
    if table >= 0 and table + 8 > size:
        raise DataError(
            f"point cloud {path}: truncated LAZ file (its chunk table should start at byte {table}, "
            f"the file holds {size} bytes)"
        )
