"""VL3D's feature selectors: which features a model trained after them learns from.

A :class:`FeatureSelector` is the recipe of one ``feature_transformer`` step that selects
features; the train step after it fits it on its training points (:func:`select_features`) and
the model keeps only the features selected (its ``fnames``), so a prediction computes only those:

- ``KBestSelector``: the ``k`` features of its ``fnames`` with the highest ANOVA F-value against
  the classes (scikit-learn's ``f_classif``; ``type: "regression"``: ``f_regression`` with the
  class indices taken as numbers), as scikit-learn's ``SelectKBest``;
- ``PercentileSelector``: that ``percentile`` of its features by F-value (``SelectPercentile``);
- ``VarianceSelector``: its features whose variance is above ``variance_threshold``
  (``VarianceThreshold``: a feature whose variance equals the threshold, to 1e-9 relative, is
  dropped: a Standardizer's unit variances are equal to a threshold of 1, whatever their rounding);
- ``ExplicitSelector``: ``preserve: true`` keeps only the features it names (every other
  feature of the model is dropped, as in VL3D), ``false`` drops them.

The first three choose among the features of their ``fnames`` (``["AUTO"]``: every feature of
the model); a feature of the model they do not name is kept.

Example:
    >>> values = np.array([[0.0, 5.0, 1.0], [0.1, 5.0, 9.0], [1.0, 5.0, 2.0], [1.1, 5.0, 8.0]])
    >>> selector = FeatureSelector.from_step({"feature_transformer": "KBestSelector", "k": 1})
    >>> select_features(values, np.array([0, 0, 1, 1]), ["a", "b", "c"], selector).kept
    ('a',)
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vl3d_focal.data.recipe_options import AUTO, named_features, one_of, step_fnames
from vl3d_focal.errors import DataError
from vl3d_focal.wording import counted

logger = logging.getLogger(__name__)

KBEST, PERCENTILE, VARIANCE, EXPLICIT = "KBestSelector", "PercentileSelector", "VarianceSelector", "ExplicitSelector"
SELECTORS = (KBEST, PERCENTILE, VARIANCE, EXPLICIT)
"""The ``feature_transformer`` values these recipes describe."""
TASKS = ("classification", "regression")
"""The ``type`` of the F-test of ``KBestSelector`` and ``PercentileSelector``."""


@dataclass(frozen=True)
class Selection:
    """What a selector fitted on training points chose.

    Attributes:
        selector: the selector's ``describe()``.
        considered: the features it chose among, in the model's order.
        kept: the features of the model it keeps (those it did not consider included).
        scores: per considered feature, its F-value or variance (None for ``ExplicitSelector``).
        pvalues: per considered feature, the F-test's p-value (F-tests only).
        score_name: what ``scores`` are (``F-VALUE`` or ``VARIANCE``).
    """

    selector: str
    considered: tuple[str, ...]
    kept: tuple[str, ...]
    scores: tuple[float, ...] | None = None
    pvalues: tuple[float, ...] | None = None
    score_name: str = ""


@dataclass(frozen=True)
class FeatureSelector:
    """The recipe of one selector step (module docstring); missing keys take VL3D's defaults.

    Attributes:
        selector: one of :data:`SELECTORS`.
        fnames: the features it acts on (``("AUTO",)``: every feature of the model).
        task: ``classification`` or ``regression`` (F-tests).
        k: features kept by ``KBestSelector``; percentile: by ``PercentileSelector`` (0-100).
        threshold: ``VarianceSelector``'s ``variance_threshold``.
        preserve: ``ExplicitSelector`` keeps (True) or drops (False) its ``fnames``.
        report_path: where its report goes (its step expands a leading ``*``), or None.
    """

    selector: str
    fnames: tuple[str, ...] = (AUTO,)
    task: str = "classification"
    k: int = 10
    percentile: float = 10.0
    threshold: float = 0.0
    preserve: bool = True
    report_path: str | None = None

    @classmethod
    def from_step(cls, step: Mapping[str, Any]) -> FeatureSelector:
        """The recipe of a selector step.

        Example:
            >>> FeatureSelector.from_step({"feature_transformer": "VarianceSelector", "variance_threshold": 0.01}).threshold
            0.01
        """
        return cls(
            selector=one_of(str(step["feature_transformer"]), SELECTORS, what="feature_transformer"),
            fnames=step_fnames(step),
            task=str(step.get("type", "classification")),
            k=int(step.get("k", 10)),
            percentile=float(step.get("percentile", 10)),
            threshold=float(step.get("variance_threshold", 0.0)),
            preserve=bool(step.get("preserve", True)),
            report_path=step.get("report_path"),
        )

    def describe(self) -> str:
        """A short text for logs.

        Example:
            >>> FeatureSelector(KBEST, k=2).describe(), FeatureSelector(EXPLICIT, ("a",), preserve=False).describe()
            ('KBestSelector (the 2 features of highest classification F-value)', 'ExplicitSelector (drops a)')
        """
        if self.selector == KBEST:
            return f"{KBEST} (the {counted(self.k, 'feature')} of highest {self.task} F-value)"
        if self.selector == PERCENTILE:
            return f"{PERCENTILE} ({self.percentile:g} % of the features by {self.task} F-value)"
        if self.selector == VARIANCE:
            return f"{VARIANCE} (features of variance above {self.threshold:g})"
        return f"{EXPLICIT} ({'keeps only' if self.preserve else 'drops'} {', '.join(self.fnames)})"

    @property
    def needs_labels(self) -> bool:
        """Whether it is fitted with the training points' classes (the F-tests)."""
        return self.selector in (KBEST, PERCENTILE)

    def considered(self, feature_names: Sequence[str]) -> tuple[str, ...]:
        """The features of ``feature_names`` it chooses among, in their order.

        Raises:
            DataError: a feature it names that is not among ``feature_names``.

        Example:
            >>> FeatureSelector(VARIANCE).considered(["a", "b"]), FeatureSelector(EXPLICIT, ("b",)).considered(["a", "b"])
            (('a', 'b'), ('a', 'b'))
        """
        named = named_features(self.fnames, feature_names, owner=self.describe())
        return tuple(feature_names) if self.selector == EXPLICIT and self.preserve else named

    def _chosen(self, values: np.ndarray, labels: np.ndarray | None, names: tuple[str, ...]) -> Selection:
        """The features of ``names`` (the columns of ``values``) it keeps."""
        if self.selector == EXPLICIT:
            kept = [name for name in names if (name in self.fnames) == self.preserve]
            return Selection(self.describe(), names, tuple(kept))
        if self.selector == VARIANCE:
            variances = np.var(values, axis=0, dtype=np.float64)
            above = (variances > self.threshold) & ~np.isclose(variances, self.threshold, rtol=1e-9, atol=0.0)
            kept = [name for name, keep in zip(names, above) if keep]  # equal up to rounding: not above
            return Selection(self.describe(), names, tuple(kept), tuple(variances.tolist()), score_name="VARIANCE")
        from sklearn.feature_selection import SelectKBest, SelectPercentile, f_classif, f_regression

        if self.selector == KBEST and self.k > len(names):
            raise DataError(
                f"{self.describe()}: k={self.k} is more than the {len(names)} features it chooses among "
                f"({', '.join(names)}); give k at most {len(names)}"
            )
        test = f_classif if self.task == "classification" else f_regression
        with warnings.catch_warnings():  # a constant feature: its F-value is NaN (never chosen first)
            warnings.simplefilter("ignore", category=RuntimeWarning)
            warnings.filterwarnings("ignore", message="Features .* are constant")
            scores, pvalues = test(values, labels)
            chooser = SelectKBest(k=self.k) if self.selector == KBEST else SelectPercentile(percentile=self.percentile)
            support = chooser.set_params(score_func=lambda *_: (scores, pvalues)).fit(values, labels).get_support()
        kept = [name for name, chosen in zip(names, support) if chosen]
        return Selection(
            self.describe(), names, tuple(kept), tuple(scores.tolist()), tuple(pvalues.tolist()), score_name="F-VALUE"
        )


def select_features(
    values: np.ndarray, labels: np.ndarray | None, feature_names: Sequence[str], selector: FeatureSelector
) -> Selection:
    """Fits ``selector`` on training points: ``values`` ``(n, F)`` of ``feature_names`` and their
    class indices ``labels`` (``(n,)``, needed by the F-tests).

    Raises:
        DataError: a feature it names that the model does not have, a ``k`` above the number of
            features it chooses among, F-tests on fewer than two classes, or no feature left.

    Example:
        >>> values = np.array([[1.0, 0.0], [1.0, 2.0], [1.0, 4.0]])
        >>> select_features(values, None, ["flat", "slope"], FeatureSelector(VARIANCE, threshold=0.1)).kept
        ('slope',)
    """
    names = list(feature_names)
    considered = selector.considered(names)
    columns = [names.index(name) for name in considered]
    if selector.needs_labels and (labels is None or np.unique(labels).size < 2):
        raise DataError(
            f"{selector.describe()}: its F-test needs training points of at least two classes; found "
            f"{0 if labels is None else np.unique(labels).size}"
        )
    chosen = selector._chosen(np.asarray(values, dtype=np.float64)[:, columns], labels, considered)
    kept = tuple(name for name in names if name not in considered or name in chosen.kept)
    if not kept:
        raise DataError(
            f"{selector.describe()}: it would keep no feature of the model ({', '.join(names)}); "
            "change its arguments or its fnames"
        )
    return Selection(chosen.selector, considered, kept, chosen.scores, chosen.pvalues, chosen.score_name)
