"""A survey tile's entry in the record before any phase ran (:func:`new_tile`): its input's header
facts (points, bounds, CRS, identity: :class:`~vl3d_focal.io.footprints.Footprint`) and empty
results. An empty tile (skipped, never in the tile index) keeps its header's point count (0) and
CRS, but no bounds: an empty header's bounds are meaningless.

Example:
    >>> new_tile("a.laz", prefix="out/a/", footprint=None)["points"] is None
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vl3d_focal.errors import DataError
from vl3d_focal.io.footprints import Footprint, read_footprint
from vl3d_focal.runner.survey_scores import scores_of


def new_tile(path: str | Path, *, prefix: str, footprint: Footprint | None, empty: bool = False) -> dict[str, Any]:
    """The pending entry of the tile ``path`` (``footprint``: its header's, None when unreadable;
    ``empty``: a tile of no point, whose bounds are left null).

    Example:
        >>> from vl3d_focal.io.footprints import Footprint
        >>> foot = Footprint(path="a.laz", low=(0, 0, 0), high=(0, 0, 0), points=0, crs="EPSG:2154")
        >>> tile = new_tile("a.laz", prefix="out/a/", footprint=foot, empty=True)
        >>> tile["status"], tile["points"], tile["crs"], tile["bounds"]
        ('pending', 0, 'EPSG:2154', None)
    """
    located = footprint is not None and not empty
    return {
        "path": str(path),
        "prefix": prefix,
        "status": "pending",
        "points": footprint.points if footprint else None,
        "bounds": [*footprint.low[:2], *footprint.high[:2]] if footprint and located else None,
        "crs": footprint.crs if footprint else None,
        "input": footprint.identity if footprint and located else None,
        "seconds": 0.0,
        "outputs": [],
        **scores_of([]),
        "error": None,
        "removed_outputs": [],
        "warnings": [],
        "peak_memory_mib": None,
        "phases": [],
        "buffers": [],
        "final_cloud": None,
    }


def empty_footprint(path: str | Path) -> Footprint | None:
    """The header facts of a tile set aside as empty (not in the run's tile index: its header is
    read again, a few hundred bytes), or None when it cannot be read any more.

    Example:
        >>> empty_footprint("no_such.laz") is None
        True
    """
    try:
        return read_footprint(path)
    except (DataError, OSError):
        return None
