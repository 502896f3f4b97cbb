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
  more): ``used, no longer readable``;
- a neighbour used then whose file is another now (its :attr:`~vl3d_focal.io.footprints.Footprint.identity`:
  size, modification time and point count, kept in ``used_inputs``): ``changed since it was used``.

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vl3d_focal.io.footprints import TileIndex, file_signature

__all__ = ["BufferNeighbours", "file_signature"]


@dataclass(frozen=True)
class BufferNeighbours:
    """The neighbour tiles the buffered prediction of a tile read (see the module docstring).

    Attributes:
        metres: the buffer.
        used: the neighbours whose points were read, by path (as in the tile index).
        left_out: the neighbours left out, by path, with their :func:`file_signature` then.
        used_inputs: the identity of each used neighbour's file (:meth:`identified`), by path;
            empty in records written before they were kept (then not compared).
    """

    metres: float
    used: tuple[str, ...]
    left_out: Mapping[str, list[int] | None]
    used_inputs: Mapping[str, list[int]] = field(default_factory=dict)

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
            BufferNeighbours(metres=3.0, used=('b.las', 'c.las'), left_out={'d.las': None}, used_inputs={})
        """
        used = tuple(dict.fromkeys(self.used + other.used))
        left_out = {path: sign for path, sign in {**self.left_out, **other.left_out}.items() if path not in used}
        inputs = {**self.used_inputs, **other.used_inputs}
        return BufferNeighbours(metres=max(self.metres, other.metres), used=used, left_out=left_out, used_inputs=inputs)

    def identified(self, *, index: TileIndex) -> BufferNeighbours:
        """These neighbours with the identity of each used one's file as ``index`` knows it (the
        run's tile index, read before any tile: a file replaced later reads as changed).

        Example:
            >>> from vl3d_focal.io.footprints import Footprint
            >>> index = TileIndex(footprints=(Footprint(path="b.las", low=(0, 0, 0), high=(1, 1, 1), points=9,
            ...                                         signature=(120, 7)),))
            >>> BufferNeighbours(metres=1.0, used=("b.las",), left_out={}).identified(index=index).used_inputs
            {'b.las': [120, 7, 9]}
        """
        found = {path: index_identity(path, index=index) for path in self.used}
        return replace(self, used_inputs={path: identity for path, identity in found.items() if identity is not None})

    def to_json(self) -> dict[str, Any]:
        """The JSON form kept in ``survey.json`` (:meth:`from_json` reads it back).

        Example:
            >>> BufferNeighbours(metres=2.0, used=("b.las",), left_out={"c.las": [10, 7]}).to_json()
            {'metres': 2.0, 'used': ['b.las'], 'left_out': {'c.las': [10, 7]}}
        """
        document = {"metres": self.metres, "used": list(self.used), "left_out": dict(self.left_out)}
        return {**document, "used_inputs": dict(self.used_inputs)} if self.used_inputs else document

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
            used_inputs={str(path): list(identity) for path, identity in dict(document.get("used_inputs", {})).items()},
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
        found += [
            f"{Path(other).name} changed since it was used"
            for other in self.used
            if other in now
            and other in self.used_inputs
            and index_identity(other, index=index) != self.used_inputs[other]
        ]
        return found


def index_identity(path: str, *, index: TileIndex) -> list[int] | None:
    """The identity of ``path``'s file as ``index`` knows it (None: not indexed, or no signature).

    Example:
        >>> index_identity("a.las", index=TileIndex(footprints=())) is None
        True
    """
    footprint = index.get(path)
    return None if footprint is None else footprint.identity
