"""VL3D's ``Standardizer``: features centred on their training mean and divided by their
standard deviation, for the feature transformers after it.

A :class:`Standardizer` is the recipe of one ``feature_transformer: Standardizer`` step; the
train step after it fits it on its training points (:meth:`Standardizer.fit`, scikit-learn's
``StandardScaler``: the population standard deviation, 1 for a feature without variance) and
hands the standardised values to the transformers after it: a ``VarianceSelector`` compares
their variances and a ``PCATransformer`` finds the axes of their correlations (without it,
features of large units take the first axes). A model trained after it learns from the
features as computed: its own standardisation (the median and IQR of its training points,
:mod:`vl3d_focal.data.normalization`) gives the same inputs after any change of offset and unit,
and a projection fitted on standardised features is kept with the standardisation folded in
(:class:`Standardization`), so a prediction computes nothing more.

Example:
    >>> values = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> standardised, fitted = Standardizer().fit(values, ["a", "b"])
    >>> standardised.tolist(), fitted.offsets, fitted.scales
    ([[-1.0, -1.0], [1.0, 1.0]], {'a': 2.0, 'b': 20.0}, {'a': 1.0, 'b': 10.0})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vl3d_focal.data.recipe_options import AUTO, named_features, step_fnames

STANDARDIZER = "Standardizer"


@dataclass(frozen=True)
class Standardization:
    """What standardised features are: ``(value - offsets[name]) / scales[name]`` of the
    features as computed, for each standardised feature (composed over several Standardizers).

    Example:
        >>> Standardization({"a": 1.0}, {"a": 2.0}).then(Standardization({"a": 1.0}, {"a": 3.0}))
        Standardization(offsets={'a': 3.0}, scales={'a': 6.0})
    """

    offsets: dict[str, float] = field(default_factory=dict)
    scales: dict[str, float] = field(default_factory=dict)

    def then(self, later: Standardization) -> Standardization:
        """This standardisation followed by ``later`` (which acts on its outputs)."""
        offsets, scales = dict(self.offsets), dict(self.scales)
        for name, offset in later.offsets.items():
            before_offset, before_scale = offsets.get(name, 0.0), scales.get(name, 1.0)
            offsets[name] = before_offset + before_scale * offset
            scales[name] = before_scale * later.scales[name]
        return Standardization(offsets, scales)

    def unfold(self, names: Sequence[str], mean: np.ndarray, components: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A projection ``(x - mean) @ components.T`` of standardised features ``names``, as the
        same projection of the features as computed: its mean and components.

        Example:
            >>> mean, axes = Standardization({"a": 1.0}, {"a": 2.0}).unfold(["a", "b"], np.zeros(2), np.eye(2))
            >>> mean.tolist(), axes.tolist()
            ([1.0, 0.0], [[0.5, 0.0], [0.0, 1.0]])
        """
        offsets = np.array([self.offsets.get(name, 0.0) for name in names])
        scales = np.array([self.scales.get(name, 1.0) for name in names])
        return offsets + scales * np.asarray(mean, dtype=np.float64), np.asarray(components, dtype=np.float64) / scales


@dataclass(frozen=True)
class Standardizer:
    """The recipe of a ``Standardizer`` step.

    Attributes:
        fnames: the features it standardises (``("AUTO",)``: every feature of the model).
        center: subtract the training mean; scale: divide by the training standard deviation.
        report_path: its report (its step expands a leading ``*``), or None.
    """

    fnames: tuple[str, ...] = (AUTO,)
    center: bool = True
    scale: bool = True
    report_path: str | None = None

    @classmethod
    def from_step(cls, step: Mapping[str, Any]) -> Standardizer:
        """The recipe of a normalised step.

        Example:
            >>> Standardizer.from_step({"feature_transformer": "Standardizer", "center": False}).center
            False
        """
        return cls(
            fnames=step_fnames(step),
            center=bool(step.get("center", True)),
            scale=bool(step.get("scale", True)),
            report_path=step.get("report_path"),
        )

    def describe(self) -> str:
        """A short text for logs.

        Example:
            >>> Standardizer(scale=False).describe()
            'Standardizer (centred)'
        """
        done = [word for word, on in (("centred", self.center), ("scaled", self.scale)) if on]
        return f"{STANDARDIZER} ({' and '.join(done) or 'unchanged'})"

    def fit(self, values: np.ndarray, feature_names: Sequence[str]) -> tuple[np.ndarray, Standardization]:
        """``values`` ``(n, F)`` of ``feature_names`` with its features standardised (a copy,
        float64), and what it did.

        Raises:
            DataError: a feature it names that is not among ``feature_names``.

        Example:
            >>> out, fitted = Standardizer(("b",), center=False).fit(np.array([[1.0, 2.0], [3.0, 6.0]]), ["a", "b"])
            >>> out.tolist(), fitted.scales
            ([[1.0, 1.0], [3.0, 3.0]], {'b': 2.0})
        """
        names = list(feature_names)
        considered = named_features(self.fnames, names, owner=self.describe())
        columns = [names.index(name) for name in considered]
        out = np.array(values, dtype=np.float64)
        picked = out[:, columns]
        offsets = picked.mean(axis=0) if self.center and len(picked) else np.zeros(len(columns))
        spread = picked.std(axis=0) if self.scale and len(picked) else np.ones(len(columns))
        scales = np.where(spread > 0, spread, 1.0)
        out[:, columns] = (picked - offsets) / scales
        return out, Standardization(dict(zip(considered, offsets.tolist())), dict(zip(considered, scales.tolist())))
