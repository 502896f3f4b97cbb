"""VL3D's ``MinmaxNormalizer``: features mapped linearly from their training range ``[min, max]``
onto a ``target_range`` ``[a, b]`` (default ``[0, 1]``), values beyond it clipped (``clip``).

A :class:`MinmaxNormalizer` is the recipe of one ``feature_transformer: MinmaxNormalizer``
step; the train step after it fits it on its training points (:meth:`MinmaxNormalizer.fit`:
each feature's minimum and maximum, or VL3D's explicit ``minmax`` pairs) and hands the
normalised values to the transformers after it, as a ``Standardizer`` does
(:mod:`vl3d_focal.data.feature_standardization`): the map is affine, ``a + (x - min) (b - a) /
(max - min)`` (a range of 0 taken as 1, as scikit-learn's ``MinMaxScaler`` does), so it is the
:class:`~vl3d_focal.data.feature_standardization.Standardization` of offset ``min - a s`` and
scale ``s = (max - min) / (b - a)``, folded into a projection fitted after it. Clipping is not
affine: with ``clip`` (VL3D's default) the model keeps each feature's :attr:`MinmaxScaling.bounds`
(the raw values that map onto ``a`` and ``b``) and clips the features it computes to them, at
training and at every prediction.

Example:
    >>> values = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> out, fitted = MinmaxNormalizer(target_range=(-1.0, 1.0)).fit(values, ["a", "b"])
    >>> out.tolist(), fitted.bounds
    ([[-1.0, -1.0], [1.0, 1.0]], {'a': (1.0, 3.0), 'b': (10.0, 30.0)})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vl3d_focal.data.feature_standardization import Standardization
from vl3d_focal.data.recipe_options import AUTO, named_features, step_fnames
from vl3d_focal.errors import DataError

MINMAX = "MinmaxNormalizer"
Bounds = dict[str, tuple[float, float]]
"""Per feature, the lowest and highest value a model takes of it (values beyond are clipped)."""


@dataclass(frozen=True)
class MinmaxScaling:
    """What a fitted ``MinmaxNormalizer`` does to each of its features.

    Attributes:
        mins, maxs: each feature's minimum and maximum on the training points (or VL3D's ``minmax``).
        target_range: ``(a, b)``, where ``min`` and ``max`` go; clip: whether values are kept in it.

    Example:
        >>> MinmaxScaling({"a": 2.0}, {"a": 2.0}).standardization
        Standardization(offsets={'a': 2.0}, scales={'a': 1.0})
    """

    mins: dict[str, float] = field(default_factory=dict)
    maxs: dict[str, float] = field(default_factory=dict)
    target_range: tuple[float, float] = (0.0, 1.0)
    clip: bool = True

    def _scale(self, name: str) -> float:
        spread = self.maxs[name] - self.mins[name]
        return (spread if spread > 0 else 1.0) / (self.target_range[1] - self.target_range[0])

    @property
    def standardization(self) -> Standardization:
        """The same affine map as ``(value - offset) / scale``."""
        scales = {name: self._scale(name) for name in self.mins}
        offsets = {name: self.mins[name] - self.target_range[0] * scales[name] for name in self.mins}
        return Standardization(offsets, scales)

    @property
    def bounds(self) -> Bounds:
        """With ``clip``, the values each feature is clipped to (those mapped onto ``a`` and ``b``);
        empty without."""
        if not self.clip:
            return {}
        width = self.target_range[1] - self.target_range[0]
        return {name: (low, low + self._scale(name) * width) for name, low in self.mins.items()}


@dataclass(frozen=True)
class MinmaxNormalizer:
    """The recipe of a ``MinmaxNormalizer`` step.

    Attributes:
        fnames: the features it normalises (``("AUTO",)``: every feature of the model).
        target_range: ``(a, b)``, a < b; clip: keep normalised values inside it.
        minmax: VL3D's explicit ``(min, max)`` of each of ``fnames``, in its order (None: fitted).
        report_path: its report (its step expands a leading ``*``), or None.
    """

    fnames: tuple[str, ...] = (AUTO,)
    target_range: tuple[float, float] = (0.0, 1.0)
    clip: bool = True
    minmax: tuple[tuple[float, float], ...] | None = None
    report_path: str | None = None

    @classmethod
    def from_step(cls, step: Mapping[str, Any]) -> MinmaxNormalizer:
        """The recipe of a normalised step.

        Example:
            >>> MinmaxNormalizer.from_step({"target_range": [-1, 1], "clip": False}).describe()
            'MinmaxNormalizer (to [-1, 1])'
        """
        low, high = step.get("target_range") or (0.0, 1.0)
        minmax = step.get("minmax")
        return cls(
            fnames=step_fnames(step),
            target_range=(float(low), float(high)),
            clip=step.get("clip") is not False,
            minmax=None if minmax is None else tuple((float(a), float(b)) for a, b in minmax),
            report_path=step.get("report_path"),
        )

    def describe(self) -> str:
        """A short text for logs.

        Example:
            >>> MinmaxNormalizer().describe()
            'MinmaxNormalizer (to [0, 1], clipped)'
        """
        low, high = self.target_range
        return f"{MINMAX} (to [{low:g}, {high:g}]{', clipped' if self.clip else ''})"

    def _ranges(self, considered: Sequence[str], picked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each considered feature's ``(min, max)``: given (``minmax``) or of ``picked``."""
        if self.minmax is None:
            if not len(picked):
                raise DataError(f"{self.describe()}: no training point to fit it on")
            return picked.min(axis=0), picked.max(axis=0)
        if tuple(self.fnames) == (AUTO,) or len(self.minmax) != len(self.fnames):
            raise DataError(
                f"{self.describe()}: minmax gives {len(self.minmax)} (min, max) pairs for fnames {list(self.fnames)}; "
                "give one pair per feature it names"
            )
        given = dict(zip(self.fnames, self.minmax))
        return np.array([given[name][0] for name in considered]), np.array([given[name][1] for name in considered])

    def fit(self, values: np.ndarray, feature_names: Sequence[str]) -> tuple[np.ndarray, MinmaxScaling]:
        """``values`` ``(n, F)`` of ``feature_names`` with its features normalised (a copy,
        float64), and what it did.

        Raises:
            DataError: a feature it names that is not among ``feature_names``, ``minmax`` pairs
                that do not match ``fnames``, or no point to fit on.

        Example:
            >>> out, fitted = MinmaxNormalizer(("b",)).fit(np.array([[1.0, 2.0], [3.0, 6.0]]), ["a", "b"])
            >>> out.tolist(), fitted.mins, fitted.maxs
            ([[1.0, 0.0], [3.0, 1.0]], {'b': 2.0}, {'b': 6.0})
        """
        names = list(feature_names)
        considered = named_features(self.fnames, names, owner=self.describe())
        columns = [names.index(name) for name in considered]
        out = np.array(values, dtype=np.float64)
        lows, highs = self._ranges(considered, out[:, columns])
        fitted = MinmaxScaling(
            dict(zip(considered, lows.tolist())), dict(zip(considered, highs.tolist())), self.target_range, self.clip
        )
        standardization = fitted.standardization
        offsets = np.array([standardization.offsets[name] for name in considered])
        scales = np.array([standardization.scales[name] for name in considered])
        normalised = (out[:, columns] - offsets) / scales
        out[:, columns] = np.clip(normalised, *self.target_range) if self.clip else normalised
        return out, fitted


def scaled_minmax_problem(*, names: Sequence[str]) -> str:
    """Why VL3D's explicit ``minmax`` cannot give the range of ``names``, features the train step
    scales per cloud (``cloud_normalization``): the model clips their scaled values.

    Example:
        >>> scaled_minmax_problem(names=["intensity"])[:50]
        "minmax gives the range of 'intensity' as computed,"
    """
    return (
        f"minmax gives the range of {', '.join(repr(n) for n in names)} as computed, but the train step's "
        "cloud_normalization scales it per cloud and the model clips the scaled values: leave out minmax (the range "
        "is then fitted on the scaled training values) or that cloud_normalization"
    )


def clip_to(values: np.ndarray, names: Sequence[str], bounds: Mapping[str, Sequence[float]]) -> np.ndarray:
    """``(n, len(names))`` values with each column of a feature in ``bounds`` clipped to them (a
    float64 copy; ``values`` itself when ``bounds`` names none of ``names``).

    Example:
        >>> clip_to(np.array([[-1.0, 5.0], [9.0, 5.0]]), ["a", "b"], {"a": (0.0, 2.0)}).tolist()
        [[0.0, 5.0], [2.0, 5.0]]
    """
    columns = [(index, bounds[name]) for index, name in enumerate(names) if name in bounds]
    if not columns:
        return values
    out = np.array(values, dtype=np.float64)
    for index, (low, high) in columns:
        out[:, index] = np.clip(out[:, index], low, high)
    return out


def bounds_problem(bounds: Any, *, names: Sequence[str]) -> str | None:
    """What is wrong with clip ``bounds`` read from a file, ``{feature: [low, high]}`` of features
    among ``names`` (two finite numbers, low <= high); None when nothing is.

    Example:
        >>> bounds_problem({"a": [0.0, 1.0]}, names=["a"]) is None, bounds_problem({"a": [2, 1]}, names=["a"])
        (True, "'a': [2, 1] has low > high")
    """
    if not isinstance(bounds, dict):
        return f"must be an object {{feature: [low, high]}}, received {bounds!r:.80}"
    for name, pair in bounds.items():
        if name not in names:
            return f"names {name!r}, not a feature it clips ({', '.join(map(str, names))})"
        numbers = isinstance(pair, list) and len(pair) == 2
        if not numbers or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in pair
        ):
            return f"{name!r}: expected [low, high], two finite numbers, received {pair!r:.80}"
        if pair[0] > pair[1]:
            return f"{name!r}: {pair} has low > high"
    return None


def stored_bounds_problem(meta: Mapping[str, Any]) -> str | None:
    """What is wrong with the clip bounds a model file's metadata ``meta`` stores in its
    ``normalizer`` (``FeatureNormalizer.to_config``) and ``projection`` (``PCATransformer.to_config``),
    of the model's ``feature_names``; None when nothing is.

    Example:
        >>> stored_bounds_problem({"feature_names": ["a"], "normalizer": {"clip": {"b": [0, 1]}}})
        "'normalizer.clip' names 'b', not a feature it clips (a)"
    """
    normalizer, projection, feature_names = meta.get("normalizer"), meta.get("projection"), meta["feature_names"]
    found: list[tuple[str, Sequence[str], Any]] = []
    if isinstance(normalizer, dict) and "clip" in normalizer:
        fnames = normalizer.get("fnames")
        found.append(("normalizer", fnames if isinstance(fnames, list) else feature_names, normalizer["clip"]))
    if isinstance(projection, dict) and "clip" in projection:
        triples, names = projection["clip"], projection.get("inputs")
        if not isinstance(triples, list) or not all(
            isinstance(t, list) and len(t) == 3 and isinstance(t[0], str) for t in triples
        ):
            return f"'projection.clip' must be a list of [feature, low, high], received {triples!r:.80}"
        found.append(("projection", names if isinstance(names, list) else [], {t[0]: t[1:] for t in triples}))
    problems = ((key, bounds_problem(bounds, names=names)) for key, names, bounds in found)
    return next((f"'{key}.clip' {problem}" for key, problem in problems if problem), None)
