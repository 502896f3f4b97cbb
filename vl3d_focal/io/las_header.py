"""The start of a LAS/LAZ file, checked before its points are read: the LAS signature, a header
that decodes, and a point count that the file's bytes can hold (a file cut short keeps its
header, which still announces every point).

Example:
    >>> check_header(tile)
    >>> _ = (out / "notes.las").write_bytes(b"PK\\x03\\x04 a zip archive")
    >>> check_header(out / "notes.las")
    Traceback (most recent call last):
    vl3d_focal.errors.DataError: point cloud .../notes.las: not a LAS/LAZ file (expected the signature b'LASF' ...
"""

from __future__ import annotations

from pathlib import Path

import laspy

from vl3d_focal.errors import DataError

LAS_SIGNATURE = b"LASF"
MAX_POINTS_PER_COMPRESSED_BYTE = 1000
"""A LAZ header announcing more points than this per byte of compressed data is corrupted."""


def check_header(path: Path) -> None:
    """Rejects a file that is not LAS/LAZ, or whose header promises more points than it holds.

    Example:
        >>> check_header(tile) is None
        True
    """
    with open(path, "rb") as handle:
        signature = handle.read(4)
    if signature != LAS_SIGNATURE:
        raise DataError(
            f"point cloud {path}: not a LAS/LAZ file (expected the signature {LAS_SIGNATURE!r} "
            f"at its start, received {signature!r})"
        )
    try:
        with laspy.open(path) as reader:
            header = reader.header
            compressed = header.are_points_compressed
    except Exception as err:  # a damaged header: any decoding error
        raise DataError(f"point cloud {path}: corrupted LAS header ({type(err).__name__}: {err})") from err
    size = path.stat().st_size
    stored = max(size - int(header.offset_to_point_data), 0)
    count = int(header.point_count)
    record = int(header.point_format.size)
    if compressed:
        if count > MAX_POINTS_PER_COMPRESSED_BYTE * stored:
            raise DataError(
                f"point cloud {path}: truncated or corrupted LAZ file (the header announces {count} "
                f"points, the file holds {stored} bytes of compressed points)"
            )
    elif count * record > stored:
        raise DataError(
            f"point cloud {path}: truncated LAS file (the header announces {count} points of "
            f"{record} bytes, the file holds {stored} bytes of points)"
        )
