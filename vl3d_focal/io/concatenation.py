"""VL3D's ``in_pcloud_concat``: several clouds, each filtered by its conditions, read as one cloud.

Each entry names a cloud (``in_pcloud``) and optional ``conditions``, applied in order: a
condition keeps (``"action": "preserve"``) or drops (``"discard"``) the points whose
``value_name`` dimension (``classification``, ``intensity``, an extra dimension, ...) satisfies
``condition_type`` against ``value_target``. The concatenation takes the first cloud's header
(LAS version, point format, scales, offsets, coordinate system) and its dimensions, as VL3D does:
every other cloud must hold its extra dimensions; a standard dimension of the first point format
that another cloud's lacks (``gps_time``, colours, ...) is 0 for that cloud's points, with a warning.

Example:
    >>> import laspy
    >>> cloud = read_concatenation([
    ...     {"in_pcloud": tile, "conditions": [
    ...         {"value_name": "classification", "condition_type": "in", "value_target": [2, 6], "action": "preserve"}]},
    ...     {"in_pcloud": tile, "conditions": None}])
    >>> full = laspy.read(tile)
    >>> cloud.num_points == int(np.isin(full.classification, [2, 6]).sum()) + len(full.points)
    True
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import laspy
import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.io.las import PointCloud, las_dimensions, read_cloud
from vl3d_focal.wording import counted, noun, shortened

logger = logging.getLogger(__name__)

CONDITION_TYPES: dict[str, Callable[[np.ndarray, Any], np.ndarray]] = {
    "equals": np.equal,
    "not_equals": np.not_equal,
    "less_than": np.less,
    "less_than_or_equal_to": np.less_equal,
    "greater_than": np.greater,
    "greater_than_or_equal_to": np.greater_equal,
    "in": np.isin,
    "not_in": lambda values, targets: ~np.isin(values, targets),
}
"""VL3D's condition types (case-insensitive): a point's value against ``value_target`` (a
number; a list for ``in`` and ``not_in``)."""
LIST_CONDITIONS = ("in", "not_in")
"""The condition types whose ``value_target`` is a list of values."""
ACTIONS = ("preserve", "discard")
"""What a condition does with the points that satisfy it (case-insensitive)."""


def condition_dimensions(las: laspy.LasData | laspy.LasHeader) -> list[str]:
    """The names a condition's ``value_name`` may take for a cloud: its coordinates and dimensions.

    Example:
        >>> condition_dimensions(laspy.read(tile))[:4]
        ['x', 'y', 'z', 'intensity']
    """
    return ["x", "y", "z", *las_dimensions(las)]


def condition_dimension(name: str) -> str:
    """The dimension a condition's ``value_name`` names: as written, but ``classification`` in any
    case (VL3D reads it case-insensitively).

    Example:
        >>> condition_dimension("Classification"), condition_dimension("Reflectance")
        ('classification', 'Reflectance')
    """
    return "classification" if name.lower() == "classification" else name


def kept_points(las: laspy.LasData, conditions: Sequence[Mapping[str, Any]] | None, *, path: Path) -> np.ndarray:
    """The mask of the points a cloud keeps after its conditions (all of them without conditions).

    Raises:
        DataError: a condition names a dimension the cloud does not have.

    Example:
        >>> las = laspy.read(tile)
        >>> mask = kept_points(las, [{"value_name": "classification", "condition_type": "equals",
        ...                           "value_target": 2, "action": "discard"}], path=Path(tile))
        >>> int(mask.sum()) == int((las.classification != 2).sum())
        True
    """
    keep = np.ones(len(las.points), dtype=bool)
    for number, condition in enumerate(conditions or []):
        name = condition_dimension(condition["value_name"])
        if name not in condition_dimensions(las):
            raise DataError(
                f"in_pcloud_concat: {path}: condition {number} names the dimension {name!r}, which the cloud "
                f"does not have (it has: {', '.join(condition_dimensions(las))})"
            )
        values = np.asarray(las[name])
        satisfied = np.asarray(CONDITION_TYPES[condition["condition_type"].lower()](values, condition["value_target"]))
        keep &= satisfied if condition["action"].lower() == "preserve" else ~satisfied
    return keep


def _merge(parts: Sequence[tuple[laspy.LasData, np.ndarray, Path]]) -> laspy.LasData:
    """One LAS record of the kept points of every part, under the first part's header."""
    header = copy.deepcopy(parts[0][0].header)
    total = sum(int(mask.sum()) for _, mask, _ in parts)
    merged = laspy.LasData(header=header, points=laspy.ScaleAwarePointRecord.zeros(total, header=header))
    extra = set(header.point_format.extra_dimension_names)
    for las, _, path in parts[1:]:
        lacking = [name for name in las_dimensions(header) if name not in las.point_format.dimension_names]
        if set(lacking) & extra:
            raise DataError(
                f"in_pcloud_concat: {path} lacks the extra {noun(len(set(lacking) & extra), 'dimension')} "
                f"{sorted(set(lacking) & extra)} of the first "
                f"cloud {parts[0][2]}, whose dimensions the concatenation takes; list first a cloud whose extra "
                "dimensions every other cloud has"
            )
        if lacking:
            logger.warning(
                "in_pcloud_concat: %s lacks %s of the first cloud's point format %d: 0 for its points",
                path,
                ", ".join(lacking),
                header.point_format.id,
            )
    for name in las_dimensions(header):
        dtype = np.asarray(merged[name]).dtype
        merged[name] = np.concatenate(
            [
                np.asarray(las[name])[mask] if name in las.point_format.dimension_names else np.zeros(mask.sum(), dtype)
                for las, mask, _ in parts
            ]
        )
    for axis in ("x", "y", "z"):
        try:
            setattr(merged, axis, np.concatenate([np.asarray(getattr(las, axis))[mask] for las, mask, _ in parts]))
        except OverflowError as err:
            raise DataError(
                f"in_pcloud_concat: the {axis} coordinates of the clouds do not fit the first cloud's scale and offset "
                f"({header.scales[0]:g}, {header.offsets}); concatenate clouds of one area and coordinate system"
            ) from err
    merged.update_header()
    return merged


def concatenation_name(paths: Sequence[str | Path], *, shown: int = 3) -> Path:
    """What names the one cloud of ``in_pcloud_concat`` in messages and reports: its files' stems
    (the first ``shown``) in the first file's folder; not a file.

    Example:
        >>> concatenation_name(["/d/a.laz", "/e/b.laz", "c.las", "d.las", "e.las"]).as_posix()
        '/d/in_pcloud_concat(a+b+c … and 2 more)'
    """
    stems = [Path(path).stem for path in paths]
    return Path(paths[0]).parent / f"in_pcloud_concat({shortened(stems, shown, separator='+')})"


def read_concatenation(entries: Sequence[Mapping[str, Any]]) -> PointCloud:
    """The clouds of ``in_pcloud_concat`` entries, each filtered by its conditions, as one cloud.

    Args:
        entries: ``{"in_pcloud": path, "conditions": [...] or None}`` objects, as validated.

    Returns:
        The concatenated cloud, named by :func:`concatenation_name` (its ``path``, not a file),
        with the first entry's header.

    Raises:
        DataError: a cloud cannot be read, a condition names a dimension a cloud lacks, a
            cloud lacks an extra dimension of the first one, or no point is kept.

    Example:
        >>> read_concatenation([{"in_pcloud": tile}, {"in_pcloud": tile}]).num_points
        3062
    """
    parts = []
    for entry in entries:
        path = Path(entry["in_pcloud"])
        las = read_cloud(path).las
        mask = kept_points(las, entry.get("conditions"), path=path)
        logger.info("in_pcloud_concat: %s: %d of %d points kept", path, int(mask.sum()), len(mask))
        parts.append((las, mask, path))
    kept = sum(int(mask.sum()) for _, mask, _ in parts)
    if kept == 0:
        raise DataError(
            f"in_pcloud_concat: the conditions keep no point of the {counted(len(parts), 'cloud')}; check their "
            "value_name, condition_type, value_target and action"
        )
    merged = _merge(parts)
    logger.info("in_pcloud_concat: %s concatenated into one of %d points", counted(len(parts), "cloud"), kept)
    return PointCloud.from_las(merged, path=concatenation_name([path for _, _, path in parts]))
