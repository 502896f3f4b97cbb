"""Mined features: what a VL3D ``miner`` step computes, as a recipe stored with the model.

A :class:`MinedFeatures` recipe (a ``GeometricFeatures``, ``HeightFeatures``, ``SmoothFeatures``,
``HSVFromRGB`` or PDAL's ``CovarianceFeatures`` step) names its features (``frenames``, or VL3D's
names: ``linearity_r1.0``, ``linearity_k16``, ``floor_distance_r50.0_sep0.35``, ``HSV_H``) and
how to compute them from the points and the features it reads (:attr:`MinedFeatures.inputs`,
which earlier recipes may mine: :func:`input_sources`, :mod:`vl3d_focal.data.mined_chain`), when
a step first uses them, for a whole cloud or a tile with the margin they depend on
(:attr:`MinedFeatures.reach`, :mod:`vl3d_focal.inference.tile_features`). A model file keeps the
recipes of its ``fnames`` and of what they smooth (:func:`recipes_for`).

Example:
    >>> recipe = MinedFeatures.from_step({"miner": "GeometricFeatures", "radius": 1.0,
    ...                                   "fnames": ["planarity", "verticality"]})
    >>> recipe.names
    ('planarity_r1.0', 'verticality_r1.0')
    >>> MinedFeatures.from_config(recipe.to_config()) == recipe
    True
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vl3d_focal.data.covariance_features import covariance_recipe, spec_number
from vl3d_focal.data.feature_names import (
    COLOUR_DIMENSIONS,
    HEIGHT_NEIGHBORHOODS,
    HSV_DEFAULT_NAMES,
    HSV_FEATURE_NAMES,
    SMOOTH_NEIGHBORHOODS,
)
from vl3d_focal.data.miner_kinds import SMOOTH_FEATURES, MinerKind, miner_kind
from vl3d_focal.errors import DataError


def _neighborhood_type(name: str, known: Sequence[str]) -> str:
    """A miner's neighbourhood type as ``known`` spells it (VL3D reads the names in any case); an
    unknown name is left for the miner to refuse."""
    return {spelled.lower(): spelled for spelled in known}.get(name.lower(), name)


@dataclass(frozen=True)
class MinedFeatures:
    """The recipe of one miner step.

    Attributes:
        miner: a name of :data:`~vl3d_focal.data.miner_kinds.MINER_KINDS`, whose record is
            :attr:`kind` (``CovarianceFeatures``: PDAL's features that no
            ``GeometricFeatures`` one equals, :func:`~vl3d_focal.data.covariance_features.covariance_recipe`).
        features: what is computed for each name: the miner's ``fnames`` (for smoothing, the
            strategy of each output), in the order of ``names``.
        names: the names the features get (``frenames`` or automatic).
        params: the neighbourhood: ``radius`` or ``k`` (geometric; covariance: and ``mode``,
            ``optimize``, ``optimal_k``); ``radius``,
            ``separation_factor``, ``neighborhood`` and ``outlier_filter`` (height); ``radius``,
            ``neighborhood``, the two omegas and ``nan_policy`` (smoothing); ``hue_unit`` (HSV).
        inputs: the features read: for smoothing, the one each name smooths (a point-wise
            feature of the clouds, or one an earlier recipe mines); for HSV, ``red``, ``green``
            and ``blue``; empty otherwise.
    """

    miner: str
    features: tuple[str, ...]
    names: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()

    @classmethod
    def from_step(cls, step: Mapping[str, Any]) -> MinedFeatures:
        """The recipe of a normalised miner step.

        Example:
            >>> MinedFeatures.from_step({"miner": "HeightFeatures", "fnames": ["floor_distance"],
            ...     "neighborhood": {"type": "Rectangular2D", "radius": 5.0, "separation_factor": 0.5}}).names
            ('floor_distance_r5.0_sep0.5',)
        """
        kind = miner_kind(str(step["miner"]))
        if kind.pdal:  # VL3D's legacy eigenvalue miner: a GeometricFeatures recipe where one is equal
            return cls(*covariance_recipe(step))
        if kind.smooths:
            return cls._smoothing(step)
        if kind.reads_colours:
            names = tuple(step.get("frenames") or HSV_DEFAULT_NAMES)
            colour_params = {"hue_unit": str(step["hue_unit"]).lower()}
            return cls(kind.name, HSV_FEATURE_NAMES, names, colour_params, COLOUR_DIMENSIONS)
        features = tuple(step["fnames"])
        params: dict[str, Any]
        if kind.radius_or_k:
            params = {"radius": float(step["radius"])} if step.get("radius") is not None else {"k": int(step["k"])}
            suffix = f"_r{spec_number(step['radius'])}" if "radius" in params else f"_k{params['k']}"
        else:
            hood = step["neighborhood"]
            params = {
                "radius": float(hood["radius"]),
                "separation_factor": float(hood["separation_factor"]),
                "neighborhood": _neighborhood_type(str(hood["type"]), HEIGHT_NEIGHBORHOODS),
                "outlier_filter": step.get("outlier_filter"),
            }
            suffix = f"_r{spec_number(hood['radius'])}_sep{spec_number(hood['separation_factor'])}"
        names = tuple(step.get("frenames") or [name + suffix for name in features])
        return cls(miner=kind.name, features=features, names=names, params=params)

    @classmethod
    def _smoothing(cls, step: Mapping[str, Any]) -> MinedFeatures:
        """A ``SmoothFeatures`` step: one output per (strategy, input), VL3D's order and names
        (``_cyl`` instead of ``_r`` for a cylinder, which VL3D leaves unnamed)."""
        hood = step["neighborhood"]
        kind = _neighborhood_type(str(hood["type"]), SMOOTH_NEIGHBORHOODS)
        pairs = [(strategy, name) for strategy in step["fnames"] for name in step["input_fnames"]]
        suffix = ("_r" if kind == "sphere" else "_cyl") + spec_number(hood["radius"])
        names = tuple(step.get("frenames") or [f"{name}_{strategy}{suffix}" for strategy, name in pairs])
        params = {
            "radius": float(hood["radius"]),
            "neighborhood": kind,
            "weighted_mean_omega": float(step["weighted_mean_omega"]),
            "gaussian_rbf_omega": float(step["gaussian_rbf_omega"]),
            "nan_policy": str(step["nan_policy"]).lower(),  # VL3D reads it case-insensitively
        }
        return cls(
            miner=SMOOTH_FEATURES.name,
            features=tuple(strategy for strategy, _ in pairs),
            names=names,
            params=params,
            inputs=tuple(name for _, name in pairs),
        )

    def to_config(self) -> dict[str, Any]:
        """JSON-ready dict (stored in the model file)."""
        config = {
            "miner": self.miner,
            "features": list(self.features),
            "names": list(self.names),
            "params": dict(self.params),
        }
        if self.inputs:
            config["inputs"] = list(self.inputs)
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MinedFeatures:
        """The inverse of :meth:`to_config`."""
        return cls(
            miner=str(config["miner"]),
            features=tuple(config["features"]),
            names=tuple(config["names"]),
            params=dict(config["params"]),
            inputs=tuple(config.get("inputs", ())),
        )

    def key(self) -> str:
        """A text that tells recipes apart (for caches)."""
        return json.dumps(self.to_config(), sort_keys=True)

    @property
    def kind(self) -> MinerKind:
        """What this recipe's miner reads and how far it reaches (:mod:`vl3d_focal.data.miner_kinds`)."""
        return miner_kind(self.miner)

    @property
    def reach(self) -> float | None:
        """How far (in each of x and y) a point's value depends on other points
        (:meth:`~vl3d_focal.data.miner_kinds.MinerKind.reach`): None for k neighbours (it depends
        on the density: see :func:`compute_mined`'s reach), 0 for a point-wise miner (HSV). A
        smoothing of mined features reaches farther: :func:`~vl3d_focal.data.mined_chain.chain_reach`."""
        return self.kind.reach(self.params)


def input_sources(recipe: MinedFeatures, miners: Sequence[MinedFeatures]) -> dict[str, MinedFeatures]:
    """The inputs of a smoothing ``recipe`` that a recipe before it in ``miners`` gives (the last
    such one): features mined by earlier steps of the pipeline; its other inputs are point-wise
    features of the clouds. When ``recipe`` is not among ``miners``, all of them come before it.

    Example:
        >>> hsv = MinedFeatures("HSVFromRGB", ("H",), ("hue",), {"hue_unit": "radians"}, ("red", "green", "blue"))
        >>> smooth = MinedFeatures("SmoothFeatures", ("mean", "mean"), ("hue_mean", "i_mean"), {"radius": 1.0},
        ...                        inputs=("hue", "intensity"))
        >>> list(input_sources(smooth, [hsv, smooth])), input_sources(smooth, [smooth, hsv])
        (['hue'], {})
    """
    if not recipe.kind.smooths:
        return {}
    position = next((i for i, other in enumerate(miners) if other == recipe), len(miners))
    owner: dict[str, MinedFeatures] = {}
    for earlier in miners[:position]:
        owner.update({name: earlier for name in earlier.names})
    return {name: owner[name] for name in dict.fromkeys(recipe.inputs) if name in owner}


def _reads(recipe: MinedFeatures, names: Sequence[str]) -> list[str]:
    """The inputs the recipe's outputs ``names`` read: each smoothed one its own, HSV all three colours."""
    smoothing = recipe.kind.smooths
    return [recipe.inputs[recipe.names.index(name)] for name in names] if smoothing else list(recipe.inputs)


def _needed(names: Sequence[str], miners: Sequence[MinedFeatures]) -> dict[str, tuple[MinedFeatures, list[str]]]:
    """Each recipe (by key) that gives one of ``names`` or a mined feature they smooth, again and
    again, with the outputs of it that are needed."""
    owner: dict[str, MinedFeatures] = {}
    for recipe in miners:
        owner.update({name: recipe for name in recipe.names})
    needed: dict[str, tuple[MinedFeatures, list[str]]] = {}
    pending = [(owner[name], name) for name in names if name in owner]
    while pending:
        recipe, name = pending.pop(0)
        outputs = needed.setdefault(recipe.key(), (recipe, []))[1]
        if name not in outputs:
            outputs.append(name)
            sources = input_sources(recipe, miners)
            pending.extend((sources[read], read) for read in _reads(recipe, [name]) if read in sources)
    return needed


def recipes_for(names: Sequence[str], miners: Sequence[MinedFeatures]) -> tuple[MinedFeatures, ...]:
    """The recipes that give at least one of ``names`` (the last recipe of a name wins), and those
    that give the mined features they smooth (:func:`input_sources`), again and again, in the
    order of ``miners``.

    Example:
        >>> a = MinedFeatures("GeometricFeatures", ("planarity",), ("p",), {"radius": 1.0})
        >>> recipes_for(["p", "intensity"], [a]) == (a,)
        True
        >>> s = MinedFeatures("SmoothFeatures", ("mean", "mean"), ("p_mean", "i_mean"), {"radius": 1.0}, inputs=("p", "i"))
        >>> recipes_for(["p_mean"], [a, s]) == (a, s), recipes_for(["i_mean"], [a, s]) == (s,)
        (True, True)
    """
    needed = _needed(names, miners)
    return tuple({recipe.key(): recipe for recipe in miners if recipe.key() in needed}.values())


def cloud_inputs(names: Sequence[str], miners: Sequence[MinedFeatures]) -> list[str]:
    """The point-wise features of the clouds that the recipes of ``names`` read (smooth, or take
    colours from), directly or through the mined features they smooth.

    Example:
        >>> p = MinedFeatures("GeometricFeatures", ("planarity",), ("p",), {"radius": 1.0})
        >>> s = MinedFeatures("SmoothFeatures", ("mean", "mean"), ("p_m", "i_m"), {"radius": 1.0}, inputs=("p", "i"))
        >>> cloud_inputs(["p_m"], [p, s]), cloud_inputs(["p_m", "i_m"], [p, s])
        ([], ['i'])
    """
    read = [
        name
        for recipe, outputs in _needed(names, miners).values()
        for name in _reads(recipe, outputs)
        if name not in input_sources(recipe, miners)
    ]
    return list(dict.fromkeys(read))


def smoothing_inputs(names: Sequence[str], miners: Sequence[MinedFeatures]) -> list[str]:
    """The point-wise features the recipes of ``names`` read (:func:`cloud_inputs`) that ``names``
    lacks: a streamed cloud keeps them beside ``names``.

    Example:
        >>> r = MinedFeatures("SmoothFeatures", ("mean",), ("i_mean",), {"radius": 1.0}, inputs=("intensity",))
        >>> smoothing_inputs(["i_mean", "z"], [r]), smoothing_inputs(["i_mean", "intensity"], [r])
        (['intensity'], [])
    """
    return [name for name in cloud_inputs(names, miners) if name not in names]


def mined_names(miners: Sequence[MinedFeatures]) -> list[str]:
    """Every feature name the recipes give.

    Example:
        >>> mined_names([MinedFeatures("GeometricFeatures", ("planarity",), ("p",), {"k": 8})])
        ['p']
    """
    return list(dict.fromkeys(name for recipe in miners for name in recipe.names))


def _smoothed(
    recipe: MinedFeatures,
    xyz: np.ndarray,
    *,
    names: Sequence[str],
    queries: np.ndarray | None,
    inputs: Mapping[str, np.ndarray],
) -> np.ndarray:
    from vl3d_focal.data.smooth_features import smooth_features

    outputs = [recipe.names.index(name) for name in names]
    strategies = list(dict.fromkeys(recipe.features[i] for i in outputs))
    smoothed = list(dict.fromkeys(recipe.inputs[i] for i in outputs))
    absent = [name for name in smoothed if name not in inputs]
    if absent:
        raise DataError(f"SmoothFeatures: no values of {absent} to smooth; expected them beside the points")
    params = recipe.params
    values = smooth_features(
        xyz,
        np.column_stack([np.asarray(inputs[name], dtype=np.float64) for name in smoothed]),
        strategies=strategies,
        radius=params["radius"],
        neighborhood=params["neighborhood"],
        weighted_mean_omega=params["weighted_mean_omega"],
        gaussian_rbf_omega=params["gaussian_rbf_omega"],
        nan_policy=params["nan_policy"],
        queries=queries,
    )
    return np.column_stack(
        [values[:, strategies.index(recipe.features[i]), smoothed.index(recipe.inputs[i])] for i in outputs]
    )


def compute_mined(
    recipe: MinedFeatures,
    xyz: np.ndarray,
    *,
    names: Sequence[str],
    queries: np.ndarray | None = None,
    ids: np.ndarray | None = None,
    inputs: Mapping[str, np.ndarray] | None = None,
    isolated: set[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The recipe's features ``names`` of some points, and the reach each value needed.

    Args:
        recipe: the miner's recipe.
        xyz: ``(n, 3)`` the points (a cloud, or a tile and its margin).
        names: output names of the recipe to compute.
        queries: rows of ``xyz`` whose features are wanted (None: all).
        ids: the points' ids in the cloud (ties of k neighbours; None: row numbers).
        inputs: each :attr:`~MinedFeatures.inputs` feature's values at every row of ``xyz``;
            for HSV, the colours of the whole cloud, or already divided by their cloud's
            :func:`~vl3d_focal.data.hsv_features.colour_scale`.
        isolated: for GeometricFeatures of a radius, gets the ids of the queried points with no
            other point within it (:func:`~vl3d_focal.data.eigen_features.eigen_features`).

    Returns:
        ``(values (q, len(names)), reach (q,))``: reach in metres, per point.

    Raises:
        DataError: a value that is not finite; an input missing.

    Example:
        >>> r = MinedFeatures("GeometricFeatures", ("linearity",), ("lin",), {"k": 3})
        >>> line = np.column_stack([np.arange(5.0), np.zeros(5), np.zeros(5)])
        >>> compute_mined(r, line, names=["lin"])[0].ravel().tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    from vl3d_focal.data.eigen_features import eigen_features
    from vl3d_focal.data.height_features import height_features

    kinds = [recipe.features[recipe.names.index(name)] for name in names]
    rows = len(xyz) if queries is None else len(queries)
    kind = recipe.kind
    if kind.smooths:
        values = _smoothed(recipe, xyz, names=names, queries=queries, inputs=inputs or {})
        reach = np.full(rows, float(recipe.params["radius"]))
    elif kind.reads_colours:
        from vl3d_focal.data.hsv_features import mined_hsv

        values = mined_hsv(names=kinds, hue_unit=recipe.params["hue_unit"], queries=queries, inputs=inputs or {})
        reach = np.zeros(rows)
    elif kind.pdal:
        from vl3d_focal.data.pdal_features import pdal_features

        values, reach = pdal_features(xyz, names=kinds, **dict(recipe.params), queries=queries, ids=ids)
    elif kind.radius_or_k:
        values, reach = eigen_features(
            xyz,
            names=kinds,
            radius=recipe.params.get("radius"),
            k=recipe.params.get("k"),
            queries=queries,
            ids=ids,
            isolated=isolated,
        )
    else:
        params = recipe.params
        values = height_features(
            xyz,
            names=kinds,
            radius=params["radius"],
            separation_factor=params["separation_factor"],
            neighborhood=params["neighborhood"],
            outlier_filter=params["outlier_filter"],
            queries=queries,
        )
        radius_reach = recipe.reach
        assert radius_reach is not None  # None only for k neighbours, which height features do not take
        reach = np.full(rows, radius_reach)
    if not np.isfinite(values).all():
        raise DataError(f"{recipe.miner}: non-finite values of {list(names)}; expected finite features")
    return values, reach
