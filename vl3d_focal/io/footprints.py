"""The tile index of a survey: each input cloud's bounding box and CRS, from its LAS header.

Only headers are read. A :class:`TileIndex` answers which tiles lie near another (the
neighbours whose points a buffered prediction reads) and where the survey's field grid is
anchored (:attr:`TileIndex.origin`, the lowest header bounds of all tiles, so that every tile
of a survey places its receptive fields on the same grid).

The CRS is the EPSG code found in the header: the outermost ``AUTHORITY["EPSG", ...]`` (WKT1)
or ``ID["EPSG", ...]`` (WKT2) of a WKT VLR, else the projected (3072) or geographic (2048)
key of a GeoTIFF key directory; None when there is none.

Example:
    >>> crs_from_wkt('PROJCS["RGF93 v1 / Lambert-93",GEOGCS["RGF93",AUTHORITY["EPSG","4171"]],AUTHORITY["EPSG","2154"]]')
    'EPSG:2154'
    >>> index = TileIndex(footprints=(Footprint(path="a.las", low=(0, 0, 0), high=(10, 10, 5), points=9),
    ...                               Footprint(path="b.las", low=(10, 0, 0), high=(20, 10, 5), points=9),
    ...                               Footprint(path="c.las", low=(40, 0, 0), high=(50, 10, 5), points=9)))
    >>> [f.path for f in index.neighbours("a.las", margin=2.0)], index.origin.tolist()
    (['b.las'], [0.0, 0.0, 0.0])
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import laspy
import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.io.las_header import read_header
from vl3d_focal.wording import shortened

_WKT_EPSG = re.compile(r'(?:AUTHORITY|ID)\[\s*"EPSG"\s*,\s*"?(\d+)"?\s*\]\s*\]\s*$')
_WKT_COMPOUND = re.compile(r"\s*(?:COMPD_CS|COMPOUNDCRS)\s*\[")
_WKT_HORIZONTAL = re.compile(r"(?:PROJCS|PROJCRS|PROJECTEDCRS|GEOGCS|GEOGCRS|GEOGRAPHICCRS|GEODCRS)\s*\[")
_PROJECTED_KEY, _GEOGRAPHIC_KEY = 3072, 2048
SURVEY_USES = "neighbour buffers and the survey map"
"""What takes a survey's tiles' coordinates as one system (:meth:`TileIndex.crs_warnings`)."""
SHOWN_TILES = 10
"""At most this many tiles named in a group of :meth:`TileIndex.crs_warnings`."""


def file_signature(path: str | Path) -> list[int] | None:
    """A file's size in bytes and modification time in nanoseconds, or None when it cannot be seen.

    Example:
        >>> file_signature(out / "absent.las") is None
        True
    """
    try:
        found = os.stat(path)
    except OSError:
        return None
    return [int(found.st_size), int(found.st_mtime_ns)]


def crs_from_wkt(wkt: str) -> str | None:
    """``"EPSG:<code>"`` of a WKT's outermost authority, or None; for a compound CRS without one
    (a projection plus heights, as IGN describes its LiDAR HD tiles), its horizontal part's.

    Example:
        >>> crs_from_wkt('GEOGCRS["WGS 84",ID["EPSG",4326]]'), crs_from_wkt("LOCAL_CS[]")
        ('EPSG:4326', None)
        >>> crs_from_wkt('COMPD_CS["L93 + NGF",PROJCS["L93",AUTHORITY["EPSG","2154"]],VERT_CS["NGF",AUTHORITY["EPSG","5720"]]]')
        'EPSG:2154'
    """
    wkt = wkt.strip().rstrip("\x00").strip()
    found = _WKT_EPSG.search(wkt)
    if found:
        return f"EPSG:{found.group(1)}"
    horizontal = _WKT_HORIZONTAL.search(wkt) if _WKT_COMPOUND.match(wkt) else None
    return None if horizontal is None else crs_from_wkt(_bracketed(wkt, horizontal.start()))


def _bracketed(text: str, start: int) -> str:
    """``text`` from ``start`` to the bracket that closes the first one opened there."""
    depth = 0
    for index in range(text.index("[", start), len(text)):
        depth += {"[": 1, "]": -1}.get(text[index], 0)
        if depth == 0:
            return text[start : index + 1]
    return text[start:]


def header_crs(header: laspy.LasHeader) -> str | None:
    """The EPSG code of a LAS header's CRS (module docstring), or None.

    Example:
        >>> header_crs(laspy.LasHeader(point_format=6, version="1.4")) is None
        True
    """
    for vlr in list(header.vlrs) + list(getattr(header, "evlrs", None) or []):
        wkt = getattr(vlr, "string", None)
        if isinstance(wkt, str) and crs_from_wkt(wkt):
            return crs_from_wkt(wkt)
        keys = getattr(vlr, "geo_keys", None)
        if keys:
            codes = {int(key.id): int(key.value_offset) for key in keys}
            for key in (_PROJECTED_KEY, _GEOGRAPHIC_KEY):
                if codes.get(key, 0) not in (0, 32767):  # 32767: user-defined
                    return f"EPSG:{codes[key]}"
    return None


@dataclass(frozen=True)
class Footprint:
    """One input cloud's header facts.

    Attributes:
        path: the file.
        low: lowest x, y, z of its points (header bounds).
        high: highest x, y, z.
        points: point count.
        crs: ``"EPSG:<code>"`` or None.
        signature: the file's :func:`file_signature` taken before its header was read, or None
            (a footprint not read from a file).
    """

    path: str
    low: tuple[float, float, float]
    high: tuple[float, float, float]
    points: int
    crs: str | None = None
    signature: tuple[int, int] | None = None

    @property
    def identity(self) -> list[int] | None:
        """What tells this file from another version of it: size, modification time (ns) and the
        header's point count; None without a signature. A survey record keeps it per tile, so
        that ``--resume`` predicts again a tile whose input was replaced since it was done.

        Example:
            >>> Footprint(path="a.las", low=(0, 0, 0), high=(1, 1, 1), points=9, signature=(120, 7)).identity
            [120, 7, 9]
        """
        return None if self.signature is None else [*self.signature, self.points]


def read_footprint(path: str | Path) -> Footprint:
    """The footprint of a LAS/LAZ file, from its header only.

    Raises:
        DataError: the header cannot be read.

    Example:
        >>> read_footprint(tile).crs
        'EPSG:2154'
    """
    signature = file_signature(path)  # before the header: a file replaced meanwhile reads as changed later
    header = read_header(path)
    (x0, y0, z0), (x1, y1, z1) = (float(v) for v in header.mins), (float(v) for v in header.maxs)
    return Footprint(
        path=str(path),
        low=(x0, y0, z0),
        high=(x1, y1, z1),
        points=int(header.point_count),
        crs=header_crs(header),
        signature=None if signature is None else (signature[0], signature[1]),
    )


@dataclass(frozen=True)
class TileIndex:
    """The footprints of a run's input clouds (see the module docstring)."""

    footprints: tuple[Footprint, ...]
    _by_path: dict[str, int] = field(init=False, repr=False, compare=False)
    _boxes: np.ndarray = field(init=False, repr=False, compare=False)
    """Each footprint's xy box ``(xmin, ymin, xmax, ymax)``, one row per footprint."""

    def __post_init__(self) -> None:
        # a survey asks for a tile's footprint and neighbours once per tile: look-ups in O(1)
        # and one vectorised overlap test instead of scans of every tile (quadratic in tiles)
        object.__setattr__(self, "_by_path", {f.path: k for k, f in enumerate(self.footprints)})
        boxes = np.array([(*f.low[:2], *f.high[:2]) for f in self.footprints], dtype=np.float64).reshape(-1, 4)
        object.__setattr__(self, "_boxes", boxes)

    @classmethod
    def read(cls, paths: Sequence[str | Path]) -> TileIndex:
        """The index of readable headers among ``paths`` (unreadable ones are left out).

        Example:
            >>> TileIndex.read([]).footprints
            ()
        """
        found = []
        for path in paths:
            try:
                found.append(read_footprint(path))
            except DataError:
                continue  # the tile fails on its own; its neighbours are predicted without it
        return cls(footprints=tuple(found))

    def get(self, path: str | Path) -> Footprint | None:
        """The footprint of ``path``, or None."""
        number = self._by_path.get(str(path))
        return None if number is None else self.footprints[number]

    @property
    def origin(self) -> np.ndarray:
        """The lowest x, y, z of every tile: the anchor of the survey's field grid."""
        if not self.footprints:
            raise DataError("tile index: no readable tile; expected at least one input cloud")
        return np.min(np.array([f.low for f in self.footprints], dtype=np.float64), axis=0)

    def neighbours(self, path: str | Path, *, margin: float) -> list[Footprint]:
        """The other tiles whose xy box meets ``path``'s box grown by ``margin``, in index order.

        Example:
            >>> TileIndex(footprints=()).neighbours("a.las", margin=1.0)
            []
        """
        number = self._by_path.get(str(path))
        if number is None:
            return []
        own, boxes = self._boxes[number], self._boxes
        meets = (
            (boxes[:, 0] <= own[2] + margin)
            & (own[0] - margin <= boxes[:, 2])
            & (boxes[:, 1] <= own[3] + margin)
            & (own[1] - margin <= boxes[:, 3])
        )
        meets[number] = False
        return [self.footprints[k] for k in np.flatnonzero(meets)]

    def _crs_groups(self) -> dict[str | None, list[str]]:
        """The file names of the tiles in each CRS (None: without one), in index order."""
        groups: dict[str | None, list[str]] = {}
        for footprint in self.footprints:
            groups.setdefault(footprint.crs or None, []).append(Path(footprint.path).name)
        return groups

    def crs(self) -> str | None:
        """The one CRS of the tiles that have one (those without one are taken to be in it, and
        :meth:`crs_warnings` says so), or None (no tile has one, or they are not all the same).

        Example:
            >>> TileIndex(footprints=(Footprint(path="a", low=(0, 0, 0), high=(1, 1, 1), points=1,
            ...                                 crs="EPSG:2154"),)).crs()
            'EPSG:2154'
        """
        known = [crs for crs in self._crs_groups() if crs is not None]
        return known[0] if len(known) == 1 else None

    def crs_warnings(self, *, clouds: str = "the input clouds", by: str = SURVEY_USES) -> list[str]:
        """The warning of tiles not all in one CRS (naming the tiles of each, ``none`` without
        one), or of tiles without a CRS among tiles of one (taken to be in it: :meth:`crs`), or
        none. ``clouds`` names the tiles, ``by`` what takes their coordinates as one system.

        Example:
            >>> tiles = [Footprint(path=f"d/{n}.las", low=(0, 0, 0), high=(1, 1, 1), points=1, crs=c)
            ...          for n, c in (("a", "EPSG:2154"), ("b", None), ("c", "EPSG:32631"))]
            >>> TileIndex(footprints=tuple(tiles)).crs_warnings()[0].split(": they")[0]
            'the input clouds are not all in one coordinate system (EPSG:2154: a.las; none: b.las; EPSG:32631: c.las)'
            >>> TileIndex(footprints=tuple(tiles[:2])).crs_warnings()[0].split(", by")[0]
            'the input clouds without a coordinate system in their header (b.las) are taken to be in EPSG:2154'
            >>> TileIndex(footprints=tuple(tiles[:1])).crs_warnings()
            []
        """
        groups = self._crs_groups()
        if len(groups) < 2:
            return []
        common = self.crs()
        if common is None:
            listing = "; ".join(f"{crs or 'none'}: {shortened(names, SHOWN_TILES)}" for crs, names in groups.items())
            return [
                f"{clouds} are not all in one coordinate system ({listing}): they are taken as one by {by}; "
                "reproject them first"
            ]
        return [
            f"{clouds} without a coordinate system in their header ({shortened(groups[None], SHOWN_TILES)}) are taken to be in "
            f"{common}, by {by}, as the others ({shortened(groups[common], SHOWN_TILES)}); give them theirs if it is another"
        ]
