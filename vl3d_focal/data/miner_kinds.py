"""One record per ``miner`` kind: what the recipes, the tiles and the checks ask about a miner,
so that none of them compares its name.

A :class:`MinerKind` says what a miner reads (a smoothing: the features it smooths; HSV: the
colours), how its neighbourhood is given (``radius`` or ``k``; a height miner's separation) and
so how far a point's value depends on other points (:meth:`MinerKind.reach`). Names are matched
as VL3D spells them (exactly); a name of no record gets a record that reads nothing and whose
reach is its radius.

Example:
    >>> miner_kind("HSVFromRGB").reads_colours, miner_kind("SmoothFeatures").smooths
    (True, True)
    >>> miner_kind("HeightFeatures").reach({"radius": 2.0, "separation_factor": 0.5})
    2.5
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MinerKind:
    """What the pipeline asks about one ``miner`` value.

    Attributes:
        name: the ``miner`` value (VL3D's name).
        radius_or_k: the step gives its neighbourhood as ``radius`` or ``k``, exactly one
            (``GeometricFeatures``).
        separated: the step's neighbourhood has a ``separation_factor`` that widens its reach
            by half the radius times it (``HeightFeatures``).
        smooths: one output per pair of strategy and input, each reading its input, which an
            earlier recipe may mine (``SmoothFeatures``).
        reads_colours: point-wise, from the red, green and blue of each point divided by one
            scale per cloud (``HSVFromRGB``): its reach is 0.
        pdal: VL3D's legacy PDAL step (``CovarianceFeatures``): PDAL's feature names and sets,
            a recipe from :func:`~vl3d_focal.data.covariance_features.covariance_recipe`.
    """

    name: str
    radius_or_k: bool = False
    separated: bool = False
    smooths: bool = False
    reads_colours: bool = False
    pdal: bool = False

    def reach(self, params: Mapping[str, Any]) -> float | None:
        """How far (in each of x and y) a point's value depends on other points, for a recipe of
        these ``params``: None for k neighbours (and PDAL's optimal neighbourhood: it depends on
        the density), 0 for a point-wise miner, else the radius (a height miner's widened by its
        separation).

        Example:
            >>> GEOMETRIC_FEATURES.reach({"radius": 1.5}), GEOMETRIC_FEATURES.reach({"k": 8})
            (1.5, None)
        """
        if "k" in params or "optimal_k" in params:
            return None
        if self.reads_colours:
            return 0.0
        radius = float(params["radius"])
        return radius + 0.5 * radius * float(params["separation_factor"]) if self.separated else radius


GEOMETRIC_FEATURES = MinerKind("GeometricFeatures", radius_or_k=True)
HEIGHT_FEATURES = MinerKind("HeightFeatures", separated=True)
SMOOTH_FEATURES = MinerKind("SmoothFeatures", smooths=True)
HSV_FROM_RGB = MinerKind("HSVFromRGB", reads_colours=True)
COVARIANCE_FEATURES = MinerKind("CovarianceFeatures", pdal=True)
MINER_KINDS: dict[str, MinerKind] = {
    kind.name: kind
    for kind in (GEOMETRIC_FEATURES, HEIGHT_FEATURES, SMOOTH_FEATURES, HSV_FROM_RGB, COVARIANCE_FEATURES)
}
"""The miners of this project, by name."""


def miner_kind(name: Any) -> MinerKind:
    """The record of the miner ``name`` (a record that reads nothing for a name of none).

    Example:
        >>> miner_kind("CovarianceFeatures").pdal, miner_kind("TakeClosestMiner").pdal
        (True, False)
    """
    return (MINER_KINDS.get(name) if isinstance(name, str) else None) or MinerKind(str(name))
