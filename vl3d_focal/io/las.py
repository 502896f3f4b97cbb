"""Reading and writing LAS/LAZ point clouds with laspy (LAZ through lazrs).

A :class:`PointCloud` keeps the whole ``laspy.LasData`` it was read from, so that a cloud written
back keeps its header, its coordinate reference system (VLRs / EVLRs), every standard dimension
and every extra-bytes dimension. Writing goes to a temporary file in the destination folder that
is renamed into place, so a crash never leaves a half-written cloud under the final name.
Every file written names this package (and its version) as its generating software and the day
it was written as its creation date (:func:`stamp_header`); the rest of the header is kept.

Example:
    >>> cloud = read_cloud(tile)
    >>> write_cloud(cloud, out / "tile_classified.laz", classification=np.full(cloud.num_points, 2)).name
    'tile_classified.laz'
"""

from __future__ import annotations

import copy
import datetime
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import laspy
import numpy as np

from vl3d_focal import __version__
from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.io.las_header import check_header
from vl3d_focal.io.laspy_log import laspy_errors_held
from vl3d_focal.io.laz_chunk_table import check_chunk_table
from vl3d_focal.schema_annotations import CLOUD_SUFFIXES

logger = logging.getLogger(__name__)

_RAW_COORDINATES = ("X", "Y", "Z")
STANDARD_DIMENSIONS = frozenset(
    name.lower() for format_id in range(11) for name in laspy.PointFormat(format_id).standard_dimension_names
)
"""The standard dimensions of every LAS point format (lower case): no extra dimension takes their names."""


def extra_dimension_problem(name: str) -> str | None:
    """Why ``name`` cannot name an extra dimension (a standard LAS dimension's name, any case),
    else None: writing one would replace that dimension (the coordinates, the intensity...).

    Example:
        >>> extra_dimension_problem("X")
        "'X' is a standard LAS dimension; an extra dimension needs another name"
        >>> extra_dimension_problem("prediction") is None
        True
    """
    if name.lower() in STANDARD_DIMENSIONS:
        return f"{name!r} is a standard LAS dimension; an extra dimension needs another name"
    if len(name.encode("utf-8")) > 32:
        return f"{name!r} is {len(name.encode('utf-8'))} bytes long; a LAS extra dimension's name holds at most 32"
    return None


def check_extra_dimensions(names: Iterable[str], *, path: Path | str) -> None:
    """Raises DataError naming the first of ``names`` that cannot name an extra dimension.

    Example:
        >>> check_extra_dimensions(["prob_ground", "intensity"], path="out.laz")
        Traceback (most recent call last):
        vl3d_focal.errors.DataError: writing out.laz: 'intensity' is a standard LAS dimension; ...
    """
    for name in names:
        problem = extra_dimension_problem(name)
        if problem:
            raise DataError(f"writing {path}: {problem}")


@dataclass
class PointCloud:
    """A point cloud read from a LAS/LAZ file.

    Attributes:
        xyz: Scaled coordinates, float64 array of shape (N, 3).
        las: The full ``laspy.LasData`` (header, VLRs, every dimension), kept for writing back.
        path: The file it was read from, or None for a cloud built in memory.

    Example:
        >>> cloud = PointCloud.from_las(las)
        >>> cloud.num_points
        1531
    """

    xyz: np.ndarray
    las: laspy.LasData
    path: Path | None = None

    @classmethod
    def from_las(cls, las: laspy.LasData, *, path: str | Path | None = None) -> PointCloud:
        """Wrap an in-memory ``laspy.LasData`` (e.g. a generated scene).

        Example:
            >>> PointCloud.from_las(laspy.read(tile)).xyz.shape
            (1531, 3)
        """
        xyz = np.column_stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)])
        return cls(xyz=xyz.astype(np.float64), las=las, path=Path(path) if path else None)

    @property
    def num_points(self) -> int:
        """Number of points."""
        return int(self.xyz.shape[0])

    @property
    def name(self) -> str:
        """The file's name, or ``"<memory>"`` for an in-memory cloud."""
        return self.path.name if self.path else "<memory>"


def _check_points(cloud: PointCloud, *, allow_empty: bool) -> None:
    """Rejects an empty cloud (unless allowed) and non-finite coordinates."""
    if cloud.num_points == 0 and not allow_empty:
        raise DataError(f"point cloud {cloud.path}: contains no points (expected at least 1)")
    finite = np.isfinite(cloud.xyz).all(axis=1)
    if not finite.all():
        header = cloud.las.header
        raise DataError(
            f"point cloud {cloud.path}: {int(np.sum(~finite))} of {cloud.num_points} points have NaN "
            f"or infinite coordinates (header scales {header.scales.tolist()}, offsets "
            f"{header.offsets.tolist()}); expected finite x, y, z"
        )


def check_file(path: str | Path, *, allow_empty: bool = False, chunk_table: bool = False) -> int:
    """Checks that a file is a readable LAS/LAZ file without reading its points.

    The checks :func:`read_cloud` makes before decoding: the file exists, has a ``.las`` or
    ``.laz`` suffix, the LAS signature, a decodable header announcing no more points than the
    file can hold, and (unless ``allow_empty``) at least one point; with ``chunk_table`` (spec
    validation), a LAZ file also holds its chunk table (a truncated LAZ file does not).

    Returns:
        The number of points the header announces.

    Raises:
        DataError: Any of the problems above, naming the file.

    Example:
        >>> check_file(tile)
        1531
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"point cloud {path}: no such file")
    if path.suffix.lower() not in CLOUD_SUFFIXES:
        raise DataError(f"point cloud {path}: expected a .las or .laz file, received suffix {path.suffix!r}")
    header = check_header(path)
    count = int(header.point_count)
    if chunk_table:
        check_chunk_table(path, header=header)
    if count == 0 and not allow_empty:
        raise DataError(f"point cloud {path}: contains no points (expected at least 1)")
    return count


def read_cloud(path: str | Path, *, allow_empty: bool = False) -> PointCloud:
    """Read a LAS or LAZ file with every dimension, extra bytes, VLRs and EVLRs.

    Args:
        path: The ``.las`` or ``.laz`` file.
        allow_empty: Accept a file without points (by default an empty cloud is an error).

    Returns:
        The :class:`PointCloud`.

    Raises:
        DataError: The file is missing, is not a LAS/LAZ file, is truncated or corrupted
            (cannot be decoded), holds no points, or has NaN or infinite coordinates.

    Example:
        >>> cloud = read_cloud(tile)
        >>> cloud.xyz.shape
        (1531, 3)
    """
    path = Path(path)
    check_file(path, allow_empty=True)  # emptiness is checked on the points below
    try:
        with laspy_errors_held():
            las = laspy.read(path)
    except MemoryError as err:
        raise DataError(f"point cloud {path}: too large to read into memory ({err})") from err
    except Exception as err:  # laspy/lazrs raise many kinds on damaged files: all mean "unreadable"
        logger.debug("reading %s failed", path, exc_info=True)
        raise DataError(
            f"point cloud {path}: truncated or corrupted LAS/LAZ data, cannot be decoded ({type(err).__name__}: {err})"
        ) from err
    cloud = PointCloud.from_las(las, path=path)
    _check_points(cloud, allow_empty=allow_empty)
    logger.info(
        "read %s: %d points, LAS %s point format %d",
        path,
        cloud.num_points,
        las.header.version,
        las.header.point_format.id,
    )
    return cloud


def las_dimensions(las: laspy.LasData | laspy.LasHeader) -> list[str]:
    """Names of the usable dimensions of a LAS cloud or header (standard then extra), without raw X, Y, Z.

    Example:
        >>> las_dimensions(las)[:3]
        ['intensity', 'return_number', 'number_of_returns']
    """
    names = [n for n in las.point_format.dimension_names if n not in _RAW_COORDINATES]
    return names


def _source(cloud: PointCloud | laspy.LasData) -> tuple[laspy.LasData, Path | None]:
    if isinstance(cloud, PointCloud):
        return cloud.las, cloud.path
    if isinstance(cloud, laspy.LasData):
        return cloud, None
    raise DataError(f"write_cloud: expected a PointCloud or laspy.LasData, received {type(cloud).__name__}")


def _checked_column(values: np.ndarray, *, n: int, what: str, path: Path) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or values.shape[0] != n:
        raise DataError(f"writing {path}: {what} must have shape ({n},), received shape {values.shape}")
    return values


def max_classification_code(point_format_id: int) -> int:
    """The highest classification code a LAS point format holds: 31 in formats 0-5 (5 bits, the
    other 3 are flags), 255 in formats 6-10.

    Example:
        >>> max_classification_code(3), max_classification_code(6)
        (31, 255)
    """
    return 255 if point_format_id >= 6 else 31


def classification_codes(codes: np.ndarray, *, point_format_id: int, path: str | Path) -> np.ndarray:
    """``codes`` as uint8, checked against the range the point format holds (:func:`max_classification_code`).

    Raises:
        DataError: a code outside that range, naming the file being written.

    Example:
        >>> classification_codes(np.array([2, 6]), point_format_id=6, path="out.laz")
        array([2, 6], dtype=uint8)
    """
    limit = max_classification_code(point_format_id)
    if codes.size and (codes.min() < 0 or codes.max() > limit):
        raise DataError(
            f"writing {path}: classification codes must be in 0..{limit} for point format "
            f"{point_format_id}, received {int(codes.min())}..{int(codes.max())}"
        )
    return codes.astype(np.uint8)


def _set_classification(las: laspy.LasData, codes: np.ndarray, *, path: Path) -> None:
    codes = _checked_column(codes, n=len(las.points), what="classification", path=path)
    las.classification = classification_codes(codes, point_format_id=las.header.point_format.id, path=path)


def _set_extra_dims(las: laspy.LasData, extra_dims: Mapping[str, np.ndarray], *, path: Path) -> None:
    check_extra_dimensions(extra_dims, path=path)
    existing = set(las.point_format.dimension_names)
    new_params = []
    columns = {}
    for name, values in extra_dims.items():
        column = _checked_column(values, n=len(las.points), what=f"extra dimension {name!r}", path=path)
        columns[name] = column
        if name not in existing:
            new_params.append(laspy.ExtraBytesParams(name=name, type=column.dtype))
    if new_params:
        las.add_extra_dims(new_params)
    for name, column in columns.items():
        las[name] = column


GENERATING_SOFTWARE = f"vl3d-focal {__version__}"
"""The generating software of every LAS/LAZ file this package writes (at most 32 characters)."""


def stamp_header(header: laspy.LasHeader) -> laspy.LasHeader:
    """Sets ``header``'s generating software to this package and its creation date to today.

    Everything else (version, point format, scales, offsets, system identifier, VLRs, so the CRS)
    stays as it is. Returns ``header`` (modified in place).

    Example:
        >>> header = stamp_header(laspy.LasHeader(point_format=6, version="1.4"))
        >>> header.generating_software == GENERATING_SOFTWARE, header.creation_date == datetime.date.today()
        (True, True)
    """
    header.generating_software = GENERATING_SOFTWARE
    header.creation_date = datetime.date.today()
    return header


def write_cloud(
    cloud: PointCloud | laspy.LasData,
    path: str | Path,
    *,
    classification: np.ndarray | None = None,
    extra_dims: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write a cloud as LAS or LAZ (by the suffix of ``path``), keeping everything it had.

    The header (version, point format, scales, offsets, system identifier...), VLRs and EVLRs
    (so the CRS), all standard dimensions and extra bytes are kept; the generating software and
    creation date become this package's and today's (:func:`stamp_header`). ``classification`` replaces
    the classification; ``extra_dims`` adds (or overwrites) extra-bytes dimensions, with the
    dtype of each array (e.g. float32 per-class probabilities, uint8 predictions). The source
    cloud is not modified. The file is written to a temporary file in the same folder, then
    renamed into place; parent folders are created.

    Args:
        cloud: A :class:`PointCloud` or a ``laspy.LasData``.
        path: Destination ``.las`` or ``.laz`` file; must not be the file the cloud was read from.
        classification: Optional (N,) integer LAS codes to write to ``classification``.
        extra_dims: Optional mapping of extra dimension name to (N,) array.

    Returns:
        The path written.

    Raises:
        DataError: Bad suffix, destination equal to the source file, wrong array shapes or
            classification codes out of range for the point format.

    Example:
        >>> written = write_cloud(cloud, out / "pred.laz", classification=np.full(cloud.num_points, 2),
        ...                       extra_dims={"prob_ground": np.ones(cloud.num_points, dtype="float32")})
        >>> "prob_ground" in las_dimensions(laspy.read(written))
        True
    """
    las, source_path = _source(cloud)
    path = Path(path)
    if path.suffix.lower() not in CLOUD_SUFFIXES:
        raise DataError(f"writing {path}: expected a .las or .laz suffix, received {path.suffix!r}")
    if source_path is not None and path.resolve() == source_path.resolve():
        raise DataError(f"writing {path}: refusing to overwrite the input cloud it was read from")
    out = laspy.LasData(header=stamp_header(copy.deepcopy(las.header)), points=las.points.copy())
    if classification is not None:
        _set_classification(out, classification, path=path)
    if extra_dims:
        _set_extra_dims(out, extra_dims, path=path)
    with atomic_output(path) as tmp:
        out.write(str(tmp), do_compress=path.suffix.lower() == ".laz")
    logger.info("wrote %s: %d points", path, len(out.points))
    return path


def write_points(path: str | Path, xyz: np.ndarray, *, template: PointCloud) -> Path:
    """Write new points (e.g. receptive-field centres) as LAS or LAZ, with ``template``'s point
    format, scales, offsets and VLRs (so its CRS), every other dimension zero.

    Example:
        >>> import tempfile
        >>> las = laspy.LasData(laspy.LasHeader(point_format=6, version="1.4"))
        >>> las.x, las.y, las.z = np.zeros(1), np.zeros(1), np.zeros(1)
        >>> out = write_points(Path(tempfile.mkdtemp()) / "c.laz", np.array([[1.0, 2.0, 3.0]]),
        ...                    template=PointCloud.from_las(las))
        >>> laspy.read(out).xyz.tolist()
        [[1.0, 2.0, 3.0]]
    """
    path = Path(path)
    if path.suffix.lower() not in CLOUD_SUFFIXES:
        raise DataError(f"writing {path}: expected a .las or .laz suffix, received {path.suffix!r}")
    source = template.las.header
    header = laspy.LasHeader(point_format=source.point_format.id, version=source.version)
    header.scales, header.offsets = source.scales.copy(), source.offsets.copy()
    header.vlrs = copy.deepcopy(source.vlrs)
    header.system_identifier = source.system_identifier
    out = laspy.LasData(stamp_header(header))
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    out.x, out.y, out.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    with atomic_output(path) as tmp:
        out.write(str(tmp), do_compress=path.suffix.lower() == ".laz")
    logger.info("wrote %s: %d points", path, len(xyz))
    return path
