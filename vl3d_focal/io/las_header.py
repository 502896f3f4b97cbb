"""The header of a LAS/LAZ file, read without its points: the one place a file's header is
opened, so that every reader refuses a bad file with the same :class:`~vl3d_focal.errors.DataError`
(no such file, not a LAS/LAZ file, a header that does not decode), and the checks made before
its points are read (a point count that the file's bytes can hold: a file cut short keeps its
header, which still announces every point).

Example:
    >>> read_header(tile).point_count
    1531
    >>> _ = (out / "notes.las").write_bytes(b"PK\\x03\\x04 a zip archive")
    >>> read_header(out / "notes.las")
    Traceback (most recent call last):
    vl3d_focal.errors.DataError: point cloud .../notes.las: not a LAS/LAZ file (expected the signature b'LASF' ...
"""

from __future__ import annotations

from pathlib import Path

import laspy

from vl3d_focal.errors import DataError
from vl3d_focal.io.laspy_log import laspy_errors_held

LAS_SIGNATURE = b"LASF"
MAX_POINTS_PER_COMPRESSED_BYTE = 1000
"""A LAZ header announcing more points than this per byte of compressed data is corrupted."""


def open_reader(path: str | Path) -> laspy.LasReader:
    """An open laspy reader of a LAS/LAZ file (the caller closes it: ``with open_reader(p) as r``).

    Raises:
        DataError: no such file, a file that cannot be opened, that is not LAS/LAZ (no LAS
            signature) or whose header does not decode; the message names the file.

    Example:
        >>> with open_reader(tile) as reader:
        ...     reader.header.point_format.id
        6
        >>> open_reader("no/such.laz")
        Traceback (most recent call last):
        vl3d_focal.errors.DataError: point cloud no/such.laz: no such file
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            signature = handle.read(4)
    except FileNotFoundError:
        raise DataError(f"point cloud {path}: no such file") from None
    except OSError as err:
        raise DataError(f"point cloud {path}: cannot be opened ({err.strerror or err})") from None
    if signature != LAS_SIGNATURE:
        raise DataError(
            f"point cloud {path}: not a LAS/LAZ file (expected the signature {LAS_SIGNATURE!r} "
            f"at its start, received {signature!r})"
        )
    try:
        with laspy_errors_held():  # laspy's own log of the error: said once, in the DataError
            return laspy.open(path)
    except Exception as err:  # noqa: BLE001  (a damaged header: any decoding error)
        raise DataError(f"point cloud {path}: corrupted LAS header ({type(err).__name__}: {err})") from err


def read_header(path: str | Path) -> laspy.LasHeader:
    """The header of a LAS/LAZ file (point count, bounds, point format, CRS), without its points.

    Raises:
        DataError: as :func:`open_reader`.

    Example:
        >>> read_header(tile).point_count
        1531
    """
    with open_reader(path) as reader:
        return reader.header


def check_header(path: str | Path) -> laspy.LasHeader:
    """The header of a LAS/LAZ file (:func:`read_header`) that promises no more points than the
    file holds.

    Raises:
        DataError: as :func:`open_reader`, or a file truncated after its header.

    Example:
        >>> check_header(tile).point_count
        1531
    """
    path = Path(path)
    header = read_header(path)
    stored = max(path.stat().st_size - int(header.offset_to_point_data), 0)
    count = int(header.point_count)
    record = int(header.point_format.size)
    if header.are_points_compressed:
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
    return header


def readable_header(path: str | Path) -> laspy.LasHeader | None:
    """The header of ``path``, or None when :func:`read_header` refuses it: for validation, which
    leaves an unreadable file to the step that reads it (and its DataError).

    Example:
        >>> readable_header(tile).point_count, readable_header("no/such.laz")
        (1531, None)
    """
    try:
        return read_header(path)
    except DataError:
        return None


def header_extra_dimensions(path: str | Path) -> list[str] | None:
    """The extra dimensions of a LAS/LAZ file from its header; None when it cannot be read.

    Example:
        >>> header_extra_dimensions("no/such.laz") is None
        True
    """
    header = readable_header(path)
    return None if header is None else list(header.point_format.extra_dimension_names)


def header_point_format_id(path: str | Path) -> int | None:
    """The LAS point format of a file from its header; None when it cannot be read.

    Example:
        >>> header_point_format_id(tile), header_point_format_id("no/such.laz") is None
        (6, True)
    """
    header = readable_header(path)
    return None if header is None else int(header.point_format.id)
