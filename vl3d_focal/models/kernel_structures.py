"""Initial kernel points of an RBF feature extraction layer (VL3D's ``structure_initialization_type``).

A structure is a centre point followed by ``n - 1`` concentric shells, ``n`` being the length
of ``angular_resolutions`` (VL3D's ``radii_resolution``). Shell ``k`` (1..n-1) has the radii
``k / (n - 1) * max_radii`` along x, y and z and a resolution ``m = angular_resolutions[k]``;
the first entry stands for the centre and is 1. Per shell, the types place:

- ``concentric_ellipsoids``: ``m * m`` points, polar angles ``i pi / m`` times azimuths
  ``2 j pi / m`` on the ellipsoid (the points of polar angle 0 coincide, as in VL3D);
- ``concentric_grids``: the ``m ** 3`` points of a regular grid spanning ``[-r, r]`` per axis;
- ``concentric_rectangulars``: the points of that grid on the box's faces
  (``6 m^2 - 12 m + 8`` for ``m >= 2``);
- ``concentric_cylinders``: ``m`` heights spanning ``[-r_z, r_z]``, each an ellipse of
  ``ceil(m * max(r_x, r_y))`` equally spaced points;
- ``cone``: ``m`` heights ``z`` spanning ``[-r_z, r_z]``, each an ellipse scaled by
  ``|z| / r_z`` with ``ceil(m |z| / r_z)`` points (a height 0 has none);
- ``zeros``: ``1 + sum(m^2)`` points at the origin (training moves them).

NumPy only (float64), so that validation can count kernel points without Keras.

Example:
    >>> kernel_points(structure="concentric_grids", max_radii=(1, 1, 1), angular_resolutions=(1, 2)).shape
    (9, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

STRUCTURE_TYPES: tuple[str, ...] = (
    "concentric_ellipsoids",
    "concentric_grids",
    "concentric_rectangulars",
    "concentric_cylinders",
    "cone",
    "zeros",
)
"""VL3D's ``structure_initialization_type`` values."""


def _ellipsoid(r: np.ndarray, m: int) -> np.ndarray:
    polar, azimuth = np.meshgrid(np.arange(m) * np.pi / m, np.arange(m) * 2 * np.pi / m, indexing="ij")
    return np.stack(
        [r[0] * np.sin(polar) * np.cos(azimuth), r[1] * np.sin(polar) * np.sin(azimuth), r[2] * np.cos(polar)], axis=-1
    ).reshape(-1, 3)


def _grid(r: np.ndarray, m: int, *, faces_only: bool) -> np.ndarray:
    axes = [np.linspace(-r[d], r[d], m) for d in range(3)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    if not faces_only:
        return points
    index = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    return points[np.any((index == 0) | (index == m - 1), axis=1)]


def _ellipse(rx: float, ry: float, z: float, count: int) -> np.ndarray:
    theta = 2 * np.pi * np.arange(count) / max(count, 1)
    return np.stack([rx * np.cos(theta), ry * np.sin(theta), np.full(count, z)], axis=-1)


def _cylinder(r: np.ndarray, m: int) -> np.ndarray:
    count = int(np.ceil(m * np.max(r[:2])))
    return np.concatenate([_ellipse(r[0], r[1], z, count) for z in np.linspace(-r[2], r[2], m)])


def _cone(r: np.ndarray, m: int) -> np.ndarray:
    heights = np.linspace(-r[2], r[2], m)
    ratios = np.abs(heights) / r[2]
    return np.concatenate(
        [_ellipse(q * r[0], q * r[1], z, int(np.ceil(m * q))) for z, q in zip(heights, ratios, strict=True)]
    )


def kernel_points(*, structure: str, max_radii: Sequence[float], angular_resolutions: Sequence[int]) -> np.ndarray:
    """The ``(K, 3)`` initial kernel points of ``structure`` (see the module docstring).

    Args:
        structure: one of :data:`STRUCTURE_TYPES` (case-insensitive, as VL3D).
        max_radii: radii of the outermost shell along x, y and z (positive).
        angular_resolutions: one resolution per shell, the centre's (1) first.

    Raises:
        ValueError: an unknown structure, no resolution, or non-positive radii.

    Example:
        >>> kernel_points(structure="cone", max_radii=(1, 1, 1), angular_resolutions=(1, 3)).shape
        (7, 3)
        >>> kernel_points(structure="zeros", max_radii=(1, 1, 1), angular_resolutions=(1,)).tolist()
        [[0.0, 0.0, 0.0]]
    """
    kind = str(structure).lower()
    radii = np.asarray(max_radii, dtype=np.float64)
    resolutions = [int(m) for m in angular_resolutions]
    if kind not in STRUCTURE_TYPES:
        raise ValueError(f"expected one of {', '.join(STRUCTURE_TYPES)}, got {structure!r}")
    if not resolutions or radii.shape != (3,) or np.any(radii <= 0):
        raise ValueError(f"expected 3 positive max_radii and resolutions, got {max_radii!r}, {angular_resolutions!r}")
    n = len(resolutions)
    if kind == "zeros":
        return np.zeros((1 + sum(m * m for m in resolutions[1:]), 3))
    shells = [np.zeros((1, 3))]
    for k, m in enumerate(resolutions[1:], start=1):
        r = k / (n - 1) * radii
        if kind == "concentric_ellipsoids":
            shells.append(_ellipsoid(r, m))
        elif kind in ("concentric_grids", "concentric_rectangulars"):
            shells.append(_grid(r, m, faces_only=kind == "concentric_rectangulars"))
        elif kind == "concentric_cylinders":
            shells.append(_cylinder(r, m))
        else:
            shells.append(_cone(r, m))
    return np.concatenate(shells)


def num_kernel_points(*, structure: str, max_radii: Sequence[float], angular_resolutions: Sequence[int]) -> int:
    """How many kernel points :func:`kernel_points` places (K).

    Example:
        >>> num_kernel_points(structure="concentric_rectangulars", max_radii=(1, 1, 1), angular_resolutions=(1, 3))
        27
    """
    return len(kernel_points(structure=structure, max_radii=max_radii, angular_resolutions=angular_resolutions))


def max_radii_schema(description: str) -> dict[str, Any]:
    """The JSON Schema of a kernel point structure's ``max_radii`` (three positive radii).

    Example:
        >>> max_radii_schema("Radii.")["maxItems"]
        3
    """
    return {
        "type": "array",
        "minItems": 3,
        "maxItems": 3,
        "items": {"type": "number", "exclusiveMinimum": 0},
        "description": description,
    }
