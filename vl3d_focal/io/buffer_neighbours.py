"""Which neighbour tiles a buffered prediction read: kept per tile in a survey's record, so that
``--resume`` predicts again a tile whose buffer would now hold other neighbours.

A tile predicted with ``buffer`` metres reads the points of its neighbours
(:meth:`~vl3d_focal.io.footprints.TileIndex.neighbours`); one that cannot be read is left out
and fails on its own (:mod:`vl3d_focal.inference.buffered`). :class:`BufferNeighbours` holds
the neighbours used and those left out, each of the latter with its file's size and
modification time then (:func:`file_signature`). Against the tile index of a later run,
:meth:`BufferNeighbours.changes` says what differs:

- a neighbour whose header reads now and that was none then (its header did not read, or it
  was no input): ``readable now``;
- a neighbour left out then whose file changed since (repaired, presumably): ``changed since
  it was left out``; one whose file did not change would be left out again, no change;
- a neighbour used then that is none now (its header no longer reads, it is no input any
  more): ``used, no longer readable``.

Example:
    >>> from vl3d_focal.io.footprints import Footprint
    >>> index = TileIndex(footprints=(Footprint(path="a.las", low=(0, 0, 0), high=(10, 10, 5), points=9),
    ...                               Footprint(path="b.las", low=(10, 0, 0), high=(20, 10, 5), points=9)))
    >>> BufferNeighbours(metres=2.0, used=(), left_out={}).changes("a.las", index=index)
    ['b.las readable now']
    >>> BufferNeighbours(metres=2.0, used=("b.las",), left_out={}).changes("a.las", index=index)
    []
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vl3d_focal.io.footprints import TileIndex


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


@dataclass(frozen=True)
class BufferNeighbours:
    """The neighbour tiles the buffered prediction of a tile read (see the module docstring).

    Attributes:
        metres: the buffer.
        used: the neighbours whose points were read, by path (as in the tile index).
        left_out: the neighbours left out, by path, with their :func:`file_signature` then.
    """

    metres: float
    used: tuple[str, ...]
    left_out: Mapping[str, list[int] | None]

    @classmethod
    def read(cls, *, metres: float, neighbours: Sequence[str], used: Sequence[str]) -> BufferNeighbours:
        """The record of a buffer of ``metres`` over ``neighbours`` (paths, from the tile index),
        of which ``used`` were read and the others left out.

        Example:
            >>> BufferNeighbours.read(metres=2.0, neighbours=["b.las", "c.las"], used=["b.las"]).left_out
            {'c.las': None}
        """
        kept = set(used)
        return cls(
            metres=float(metres),
            used=tuple(path for path in neighbours if path in kept),
            left_out={path: file_signature(path) for path in neighbours if path not in kept},
        )

    def merged(self, other: BufferNeighbours) -> BufferNeighbours:
        """The neighbours of two buffered predictions of one tile (two predict steps of a phase):
        those either used, and those both left out.

        Example:
            >>> one = BufferNeighbours(metres=1.0, used=("b.las",), left_out={"c.las": None})
            >>> one.merged(BufferNeighbours(metres=3.0, used=("c.las",), left_out={"d.las": None}))
            BufferNeighbours(metres=3.0, used=('b.las', 'c.las'), left_out={'d.las': None})
        """
        used = tuple(dict.fromkeys(self.used + other.used))
        left_out = {path: sign for path, sign in {**self.left_out, **other.left_out}.items() if path not in used}
        return BufferNeighbours(metres=max(self.metres, other.metres), used=used, left_out=left_out)

    def to_json(self) -> dict[str, Any]:
        """The JSON form kept in ``survey.json`` (:meth:`from_json` reads it back).

        Example:
            >>> BufferNeighbours(metres=2.0, used=("b.las",), left_out={"c.las": [10, 7]}).to_json()
            {'metres': 2.0, 'used': ['b.las'], 'left_out': {'c.las': [10, 7]}}
        """
        return {"metres": self.metres, "used": list(self.used), "left_out": dict(self.left_out)}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> BufferNeighbours:
        """The record :meth:`to_json` wrote.

        Example:
            >>> BufferNeighbours.from_json({"metres": 2, "used": ["b.las"], "left_out": {}}).used
            ('b.las',)
        """
        return cls(
            metres=float(document["metres"]),
            used=tuple(str(path) for path in document["used"]),
            left_out={str(path): sign for path, sign in dict(document["left_out"]).items()},
        )

    def changes(self, path: str | Path, *, index: TileIndex) -> list[str]:
        """How the neighbours tile ``path``'s buffer would read now (``index``: the tiles whose
        header reads now) differ from the recorded ones, one phrase per neighbour; empty when
        a new prediction would read the same neighbours.

        Example:
            >>> from vl3d_focal.io.footprints import Footprint
            >>> index = TileIndex(footprints=(Footprint(path="a.las", low=(0, 0, 0), high=(10, 10, 5), points=9),))
            >>> BufferNeighbours(metres=2.0, used=("gone.las",), left_out={}).changes("a.las", index=index)
            ['gone.las used, no longer readable']
        """
        now = [footprint.path for footprint in index.neighbours(path, margin=self.metres)]
        known = set(self.used) | set(self.left_out)
        found = [f"{Path(other).name} readable now" for other in now if other not in known]
        found += [
            f"{Path(other).name} changed since it was left out"
            for other in now
            if other in self.left_out and file_signature(other) != self.left_out[other]
        ]
        found += [f"{Path(other).name} used, no longer readable" for other in self.used if other not in now]
        return found
