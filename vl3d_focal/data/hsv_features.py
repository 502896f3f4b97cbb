"""Hue, saturation and value of each point's colour (VL3D's ``HSVFromRGB`` miner).

The colours are first brought to ``[0, 1]`` by one divisor for the whole cloud
(:func:`colour_scale`), as VL3D does: none when no colour exceeds 1, 255 when every colour lies
in ``[0, 255]`` (8-bit colours), 65535 when every colour lies in ``[0, 65535]`` (LAS's 16-bit
colours; a 16-bit cloud whose colours all lie at or below 255 is taken for an 8-bit one).
Then, with ``M`` and ``m`` the largest and smallest of a point's red, green and blue:

* hue: ``60 * ((g - b) / (M - m) mod 6)`` when red is largest, ``60 * ((b - r) / (M - m) + 2)``
  when green is, ``60 * ((r - g) / (M - m) + 4)`` when blue is, in degrees within ``[0, 360)``
  or in radians (times pi / 180); 0 for a grey point (``M == m``);
* saturation: ``(M - m) / M`` (0 for black);
* value: ``M``.

Example:
    >>> hsv_features(np.array([[255.0, 0, 0], [0, 128, 128], [64, 64, 64]]), hue_unit="degrees").round(3).tolist()
    [[0.0, 1.0, 1.0], [180.0, 1.0, 0.502], [0.0, 0.0, 0.251]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from vl3d_focal.data.feature_names import COLOUR_DIMENSIONS, HSV_FEATURE_NAMES, HSV_HUE_UNITS
from vl3d_focal.errors import DataError

COLOUR_SCALES = (1.0, 255.0, 65535.0)
"""The divisors of :func:`colour_scale`, in the order they are tried."""


def colour_scale(low: float, high: float) -> float:
    """The divisor that brings a cloud's colours to ``[0, 1]``, from their lowest and highest
    values (over red, green and blue of every point).

    Raises:
        DataError: colours beyond ``[0, 65535]``.

    Example:
        >>> colour_scale(0, 1), colour_scale(3, 255), colour_scale(0, 256)
        (1.0, 255.0, 65535.0)
    """
    if high <= 1.0:
        return 1.0
    scale = next((s for s in COLOUR_SCALES[1:] if low >= 0.0 and high <= s), None)
    if scale is None:
        raise DataError(
            f"HSVFromRGB: colours from {low} to {high}; expected them within [0, 1], [0, 255] or [0, 65535]"
        )
    return scale


def hsv_features(rgb: np.ndarray, *, hue_unit: str = "radians") -> np.ndarray:
    """``(n, 3)`` hue, saturation and value of ``(n, 3)`` red, green and blue colours of a whole cloud
    (or colours already divided by their cloud's :func:`colour_scale`).

    Raises:
        DataError: colours beyond ``[0, 65535]``.
        ValueError: a hue unit other than ``radians`` and ``degrees``.

    Example:
        >>> hsv_features(np.array([[0.0, 0.0, 65535.0], [0, 0, 0]])).round(4).tolist()  # 16-bit blue, black
        [[4.1888, 1.0, 1.0], [0.0, 0.0, 0.0]]
    """
    if hue_unit not in HSV_HUE_UNITS:
        raise ValueError(f"hsv_features: hue unit {hue_unit!r}; expected one of {list(HSV_HUE_UNITS)}")
    rgb = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
    if len(rgb):
        rgb = rgb / colour_scale(float(rgb.min()), float(rgb.max()))
    red, green, blue = rgb.T
    high, low = rgb.max(axis=1), rgb.min(axis=1)
    spread = high - low
    coloured = spread > 0
    step = np.where(coloured, spread, 1.0)
    sector = np.select(
        [high == blue, high == green],
        [(red - green) / step + 4.0, (blue - red) / step + 2.0],
        np.mod((green - blue) / step, 6.0),
    )
    hue = np.where(coloured, 60.0 * sector, 0.0)
    if hue_unit == "radians":
        hue = hue * np.pi / 180.0
    saturation = np.where(high > 0, spread / np.where(high > 0, high, 1.0), 0.0)
    return np.column_stack([hue, saturation, high])


def mined_hsv(
    *, names: Sequence[str], hue_unit: str, queries: np.ndarray | None, inputs: Mapping[str, np.ndarray]
) -> np.ndarray:
    """The HSV features ``names`` (of :data:`HSV_FEATURE_NAMES`) of the rows ``queries`` (None: all)
    of the colours in ``inputs`` (``red``, ``green``, ``blue``, already on [0, 1]).

    Raises:
        DataError: a colour missing from ``inputs``.

    Example:
        >>> colours = {"red": np.array([1.0, 0.0]), "green": np.array([0.0, 0.0]), "blue": np.array([0.0, 1.0])}
        >>> mined_hsv(names=["value"], hue_unit="radians", queries=np.array([1]), inputs=colours).tolist()
        [[1.0]]
    """
    absent = [name for name in COLOUR_DIMENSIONS if name not in inputs]
    if absent:
        raise DataError(f"HSVFromRGB: no values of {absent}; expected the colours beside the points")
    hsv = hsv_features(np.column_stack([inputs[name] for name in COLOUR_DIMENSIONS]), hue_unit=hue_unit)
    hsv = hsv if queries is None else hsv[queries]
    return hsv[:, [HSV_FEATURE_NAMES.index(name) for name in names]]
