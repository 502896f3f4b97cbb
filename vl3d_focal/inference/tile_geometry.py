"""The geometry of streamed prediction's tiles: the field grids' cell sizes and the margin a
tile's points are loaded with (:mod:`vl3d_focal.inference.streaming`).

Example:
    >>> from vl3d_focal.data.receptive_fields import FieldSpec
    >>> field_geometry(FieldSpec(radius=2.0, separation_factor=0.5))[:3]
    (3, 2.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

SLACK = 1.01
"""Relative slack on the grid's cell sizes and the margins (float rounding at cell borders)."""


def field_geometry(spec: Any) -> tuple[int, float, float, float]:
    """``(dims, p, cell, fine)``: the distance of the neighbourhood and the two grid cell sizes
    :func:`vl3d_focal.data.receptive_fields.field_centers` uses.

    Example:
        >>> from vl3d_focal.data.receptive_fields import FieldSpec
        >>> field_geometry(FieldSpec(radius=2.0, separation_factor=0.5))[:3]
        (3, 2.0, 1.0)
    """
    from vl3d_focal.data.receptive_fields import NEIGHBORHOODS

    dims, p = NEIGHBORHOODS[spec.neighborhood]
    cell = spec.separation_factor * spec.radius
    fine = spec.radius * (0.99 / math.sqrt(dims) if p == 2.0 else 0.99)
    return dims, p, cell, fine


def tile_margin(spec: Any) -> float:
    """How far beyond its tile a tile's points are loaded: enough for the cell means, the
    uncovered points, the fields of every centre within one radius (plus one radius for the
    nearest covered neighbour) of the tile's points.

    Example:
        >>> from vl3d_focal.data.receptive_fields import FieldSpec
        >>> round(tile_margin(FieldSpec(radius=1.0, separation_factor=1.0)), 3)
        4.617
    """
    _, _, cell, fine = field_geometry(spec)
    return SLACK * (3.0 * spec.radius + cell + fine) + 1e-6


def inside(xy: np.ndarray, low: np.ndarray, high: np.ndarray, shrink: float) -> np.ndarray:
    """Which points lie in the xy box ``[low, high]`` shrunk by ``shrink`` on every side.

    Example:
        >>> inside(np.array([[0.5, 0.5], [0.05, 0.5]]), np.zeros(2), np.ones(2), 0.1).tolist()
        [True, False]
    """
    return np.all((xy[:, :2] >= low + shrink) & (xy[:, :2] <= high - shrink), axis=1)


def with_buffer(low: np.ndarray, high: np.ndarray, buffer: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, int]:
    """The bounds and point count of a cloud and its buffer (its ``BufferPoints``).

    Example:
        >>> with_buffer(np.zeros(3), np.ones(3), [])
        (array([0., 0., 0.]), array([1., 1., 1.]), 0)
    """
    total = 0
    for part in buffer:
        if len(part):
            xyz = np.column_stack([np.asarray(part.points.x), np.asarray(part.points.y), np.asarray(part.points.z)])
            low, high = np.minimum(low, xyz.min(axis=0)), np.maximum(high, xyz.max(axis=0))
            total += len(part)
    return low, high, total


def anchored(low: np.ndarray, origin: np.ndarray | None, cell: float) -> np.ndarray:
    """``low`` moved down onto the grid of ``cell`` metres anchored at ``origin`` (xy).

    Example:
        >>> anchored(np.array([5.5, 7.0, 1.0]), np.zeros(3), 2.0).tolist()
        [4.0, 6.0, 1.0]
    """
    if origin is None:
        return low
    snapped = low.copy()
    snapped[:2] = origin[:2] + np.floor((low[:2] - origin[:2]) / cell) * cell
    return snapped
