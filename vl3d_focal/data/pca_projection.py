"""VL3D's ``PCATransformer``: a model's features projected on their principal components.

A :class:`PCATransformer` is the recipe of one ``feature_transformer: PCATransformer`` step; the
train step after it fits it on its training points (:meth:`PCATransformer.fit`): the mean of its
input features (its ``fnames``; ``["AUTO"]``: every feature of the model) and the principal axes
of their covariance, as many as explain more than ``out_dim`` of their variance (scikit-learn's
rule; ``out_dim`` 1.0: all of them but those of zero variance), or an integer ``out_dim`` of them
(VL3D's, scikit-learn's ``n_components``). The model then learns from the
features it did not take, then ``PCA_1``, ``PCA_2``... (VL3D's names), the projections on the
axes in decreasing variance
(divided by their standard deviation with ``whiten``); it keeps the fitted projection and
computes its input features, imputes them (:mod:`vl3d_focal.data.imputers`) and projects them at
prediction (:meth:`PCATransformer.apply`). Each axis's sign is fixed: its entry of largest
magnitude is positive. After a ``MinmaxNormalizer`` with ``clip``
(:mod:`vl3d_focal.data.minmax_normalization`) it keeps its inputs' ``clip`` bounds and clips them
before projecting.

Example:
    >>> values = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.1]])
    >>> fitted = PCATransformer(out_dim=0.99).fit(values, ["a", "b"])
    >>> fitted.names, fitted.computed(["c", *fitted.names])
    (('PCA_1',), ['c', 'a', 'b'])
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from vl3d_focal.data.minmax_normalization import clip_to
from vl3d_focal.data.recipe_options import AUTO, named_features, step_fnames
from vl3d_focal.errors import DataError
from vl3d_focal.wording import counted

PCA = "PCATransformer"
OUTPUT_PREFIX = "PCA_"
"""The projected features' names: ``PCA_1``, ``PCA_2``... (VL3D's)."""


@dataclass(frozen=True)
class PCATransformer:
    """The recipe of a ``PCATransformer`` step, and once fitted its projection.

    Attributes:
        fnames: its input features (``("AUTO",)``: every feature of the model).
        out_dim: the fraction of the variance its components explain, in (0, 1]; an ``int``:
            the number of components.
        whiten: whether the projections are divided by their standard deviation.
        report_path, plot_path: its report and plot (its step expands a leading ``*``), or None.
        inputs: once fitted, its input features, in the model's order.
        mean: their training means; components: ``(k, len(inputs))`` the axes kept.
        variances: the variance along every axis (kept or not), decreasing.
        clip: ``(name, low, high)`` of the inputs clipped before the projection (a
            ``MinmaxNormalizer``'s bounds); empty: none.
    """

    fnames: tuple[str, ...] = (AUTO,)
    out_dim: int | float = 0.99
    whiten: bool = False
    report_path: str | None = None
    plot_path: str | None = None
    inputs: tuple[str, ...] = ()
    mean: tuple[float, ...] = ()
    components: tuple[tuple[float, ...], ...] = ()
    variances: tuple[float, ...] = ()
    clip: tuple[tuple[str, float, float], ...] = ()

    @classmethod
    def from_step(cls, step: Mapping[str, Any]) -> PCATransformer:
        """The recipe of a normalised step (``random_seed`` has no effect: the solver is exact).

        Example:
            >>> [PCATransformer.from_step({"out_dim": out_dim}).out_dim for out_dim in (0.5, 1, 1.0)]
            [0.5, 1, 1.0]
        """
        out_dim = step.get("out_dim", 0.99)
        return cls(
            fnames=step_fnames(step),
            out_dim=out_dim if isinstance(out_dim, int) and not isinstance(out_dim, bool) else float(out_dim),
            whiten=bool(step.get("whiten", False)),
            report_path=step.get("report_path"),
            plot_path=step.get("plot_path"),
        )

    def describe(self) -> str:
        """A short text for logs.

        Example:
            >>> PCATransformer(out_dim=0.9, whiten=True).describe(), PCATransformer(out_dim=2).describe()
            ('PCATransformer (components explaining 0.9 of the variance, whitened)', 'PCATransformer (2 components)')
        """
        whitened = ", whitened" if self.whiten else ""
        if isinstance(self.out_dim, int):
            return f"{PCA} ({counted(self.out_dim, 'component')}{whitened})"
        share = "all" if self.out_dim >= 1 else f"{self.out_dim:g}"
        return f"{PCA} (components explaining {share} of the variance{whitened})"

    @property
    def names(self) -> tuple[str, ...]:
        """The projected features' names (empty before :meth:`fit`)."""
        return tuple(f"{OUTPUT_PREFIX}{i}" for i in range(1, len(self.components) + 1))

    @property
    def ratios(self) -> np.ndarray:
        """The explained variance ratio of every axis, decreasing.

        Example:
            >>> PCATransformer(variances=(3.0, 1.0)).ratios.tolist()
            [0.75, 0.25]
        """
        variances = np.asarray(self.variances, dtype=np.float64)
        total = variances.sum()
        return variances / total if total > 0 else np.zeros_like(variances)

    def considered(self, feature_names: Sequence[str]) -> tuple[str, ...]:
        """The features of ``feature_names`` it projects, in their order.

        Raises:
            DataError: a feature it names that is not among ``feature_names``.

        Example:
            >>> PCATransformer(("b", "a")).considered(["a", "b", "c"])
            ('a', 'b')
        """
        return named_features(self.fnames, feature_names, owner=self.describe())

    def fit(self, values: np.ndarray, feature_names: Sequence[str]) -> PCATransformer:
        """This recipe fitted on training points: ``values`` ``(n, F)`` of ``feature_names``.

        Raises:
            DataError: fewer than two points, features without variance, or fewer axes of non-zero
                variance than an integer ``out_dim``.

        Example:
            >>> x = np.random.default_rng(0).normal(size=(50, 3))
            >>> fitted = PCATransformer(out_dim=1.0, whiten=True).fit(x, ["a", "b", "c"])
            >>> fitted.names, np.var(fitted.project(x), axis=0, ddof=1).round(5).tolist()
            (('PCA_1', 'PCA_2', 'PCA_3'), [1.0, 1.0, 1.0])
        """
        names = list(feature_names)
        inputs = self.considered(names)
        x = np.asarray(values, dtype=np.float64)[:, [names.index(name) for name in inputs]]
        if len(x) < 2:
            raise DataError(f"{self.describe()}: {len(x)} training points; expected at least two")
        mean = x.mean(axis=0)
        variances, axes = np.linalg.eigh(np.cov(x - mean, rowvar=False).reshape(len(inputs), len(inputs)))
        order = np.argsort(variances)[::-1]
        variances, axes = np.maximum(variances[order], 0.0), axes[:, order].T
        if variances[0] <= 0:
            raise DataError(
                f"{self.describe()}: its features ({', '.join(inputs)}) have no variance on the training points"
            )
        signs = np.sign(axes[np.arange(len(axes)), np.argmax(np.abs(axes), axis=1)])
        axes = axes * signs[:, None]
        fitted = replace(self, inputs=inputs, mean=tuple(mean.tolist()), variances=tuple(variances.tolist()))
        varied = int(np.sum(variances > variances[0] * 1e-12))  # no axis of zero variance
        if isinstance(self.out_dim, int) and self.out_dim > varied:
            raise DataError(
                f"{self.describe()}: its {len(inputs)} features ({', '.join(inputs)}) vary along {varied} axes on "
                f"the training points; give out_dim at most {varied}"
            )
        if isinstance(self.out_dim, int):
            count = self.out_dim
        elif self.out_dim >= 1:
            count = varied
        else:
            count = min(int(np.searchsorted(np.cumsum(fitted.ratios), self.out_dim, "right")) + 1, varied)
        return replace(fitted, components=tuple(tuple(row) for row in axes[:count].tolist()))

    def project(self, values: np.ndarray) -> np.ndarray:
        """``(n, k)`` projections of ``(n, len(inputs))`` input values (float32).

        Example:
            >>> PCATransformer(inputs=("a",), mean=(1.0,), components=((1.0,),), variances=(4.0,), whiten=True).project(
            ...     np.array([[5.0]])).tolist()
            [[2.0]]
        """
        values = clip_to(np.asarray(values, dtype=np.float64), self.inputs, {n: (lo, hi) for n, lo, hi in self.clip})
        out = (values - np.asarray(self.mean)) @ np.asarray(self.components).T
        if self.whiten:
            out /= np.sqrt(np.asarray(self.variances[: len(self.components)]))
        return out.astype(np.float32)

    def computed(self, feature_names: Sequence[str]) -> list[str]:
        """The features computed for a model of ``feature_names`` (the fitted projection's outputs
        among them): the others, then its inputs.

        Example:
            >>> PCATransformer(inputs=("a", "b"), components=((1.0, 0.0),)).computed(["c", "PCA_1"])
            ['c', 'a', 'b']
        """
        return [name for name in feature_names if name not in self.names] + list(self.inputs)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """The model's features (the others, then ``PCA_1``...) of ``(n, F)`` values of
        :meth:`computed`'s features, in that order.

        Example:
            >>> pca = PCATransformer(inputs=("a",), mean=(1.0,), components=((1.0,),), variances=(1.0,))
            >>> pca.apply(np.array([[7.0, 3.0]])).tolist()
            [[7.0, 2.0]]
        """
        values = np.asarray(values)
        others = values.shape[1] - len(self.inputs)
        return np.concatenate([values[:, :others].astype(np.float32), self.project(values[:, others:])], axis=1)

    def outputs(self, feature_names: Sequence[str]) -> list[str]:
        """The model's features once fitted on ``feature_names``: the others, then its outputs.

        Raises:
            DataError: another feature named like one of its outputs.

        Example:
            >>> PCATransformer(inputs=("a",), components=((1.0,),)).outputs(["a", "c"])
            ['c', 'PCA_1']
        """
        others = [name for name in feature_names if name not in self.inputs]
        clash = [name for name in others if name in self.names]
        if clash:
            raise DataError(f"{self.describe()}: the model has features named like its outputs ({', '.join(clash)})")
        return others + list(self.names)

    def to_config(self) -> dict[str, Any]:
        """JSON-ready dict (stored in the model file)."""
        return {
            "feature_transformer": PCA,
            "fnames": list(self.fnames),
            "out_dim": self.out_dim,
            "whiten": self.whiten,
            "inputs": list(self.inputs),
            "mean": list(self.mean),
            "components": [list(row) for row in self.components],
            "variances": list(self.variances),
            **({"clip": [list(bounds) for bounds in self.clip]} if self.clip else {}),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PCATransformer:
        """The inverse of :meth:`to_config` (paths aside).

        Example:
            >>> pca = PCATransformer(inputs=("a",), mean=(1.0,), components=((1.0,),), variances=(1.0,))
            >>> PCATransformer.from_config(json.loads(json.dumps(pca.to_config()))) == pca
            True
        """
        return replace(
            cls.from_step(config),
            inputs=tuple(config["inputs"]),
            mean=tuple(float(v) for v in config["mean"]),
            components=tuple(tuple(float(v) for v in row) for row in config["components"]),
            variances=tuple(float(v) for v in config["variances"]),
            clip=tuple((str(name), float(low), float(high)) for name, low, high in config.get("clip", ())),
        )

    def key(self) -> str:
        """A text that tells projections apart (for caches)."""
        return json.dumps(self.to_config(), sort_keys=True)


def computed_features(feature_names: Sequence[str], projection: PCATransformer | None = None) -> list[str]:
    """The features computed for a model of ``feature_names`` (then imputed): those, or with a
    fitted ``projection`` its inputs in place of its outputs (:meth:`PCATransformer.computed`).

    Example:
        >>> pca = PCATransformer(inputs=("a", "b"), components=((1.0, 0.0),))
        >>> computed_features(("c", "d")), computed_features(["c", "PCA_1"], pca)
        (['c', 'd'], ['c', 'a', 'b'])
    """
    return list(feature_names) if projection is None else projection.computed(feature_names)
