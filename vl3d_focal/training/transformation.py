"""The feature transformers of a training: fitted on its training points, before it starts.

The ``feature_transformer`` steps before a train step (:mod:`vl3d_focal.steps.feature_transformers`)
keep their recipes; the train step fits them, in step order, on its training clouds' labelled
points (ignored and unlabelled points left out) as the model would see them: its features
(``fnames``, ``["AUTO"]`` resolved), imputed by the imputers before it
(:mod:`vl3d_focal.training.imputation`; the train step reuses them). At most
:data:`MAX_FIT_POINTS` points are used: a sample drawn with a fixed seed, the same at every
run. A selector
(:mod:`vl3d_focal.data.feature_selection`) gives the features the model keeps; a ``Standardizer``
(:mod:`vl3d_focal.data.feature_standardization`) standardises the values the transformers after
it are fitted on; a ``PCATransformer`` (:mod:`vl3d_focal.data.pca_projection`), the last one,
the projection the model keeps, of the features as computed (a standardisation before it folded
in). What they chose is logged and written to their ``report_path`` and ``plot_path``
(their steps expanded the ``*`` with the first output prefix).

Example:
    >>> transformed_features([record], feature_names=["intensity"], transformers=[])
    (['intensity'], None, [], None)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from vl3d_focal.data.feature_selection import FeatureSelector, select_features
from vl3d_focal.data.feature_standardization import Standardization, Standardizer
from vl3d_focal.data.field_inputs import cloud_features
from vl3d_focal.data.imputers import Imputer
from vl3d_focal.data.labels import IGNORE_LABEL
from vl3d_focal.data.miners import MinedFeatures, recipes_for
from vl3d_focal.data.pca_projection import PCA, PCATransformer
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.errors import DataError

logger = logging.getLogger(__name__)

MAX_FIT_POINTS = 1_000_000
"""The most training points the transformers are fitted on (a seeded sample of them beyond)."""
SAMPLE_SEED = 0
"""The seed of that sample: the same points at every run."""


def _labelled_points(
    training: Sequence[CloudRecord], *, feature_names: Sequence[str], miners: Sequence[MinedFeatures]
) -> tuple[np.ndarray, np.ndarray]:
    """The ``(n, F)`` features and ``(n,)`` classes of the labelled training points (sampled)."""
    values, labels = [], []
    for record in training:
        known = record.labels if record.labels is not None else np.full(record.num_points, IGNORE_LABEL)
        kept = known != IGNORE_LABEL
        values.append(cloud_features(record, feature_names=feature_names, miners=miners)[kept])
        labels.append(known[kept])
    x, y = np.concatenate(values), np.concatenate(labels)
    if len(y) > MAX_FIT_POINTS:
        rows = np.sort(np.random.default_rng(SAMPLE_SEED).choice(len(y), size=MAX_FIT_POINTS, replace=False))
        logger.info("feature transformers fitted on %d of the %d labelled training points", MAX_FIT_POINTS, len(y))
        x, y = x[rows], y[rows]
    return x, y


def _standardized(
    values: np.ndarray, names: list[str], standardizer: Standardizer
) -> tuple[np.ndarray, Standardization, dict[str, Any]]:
    """``values`` of ``names`` standardised by ``standardizer``, logged and reported; what it did
    and its facts."""
    from vl3d_focal.reports.feature_standardization import write_standardization_report

    values, fitted = standardizer.fit(values, names)
    logger.info(
        "%s of %s: %s",
        standardizer.describe(),
        ", ".join(fitted.offsets),
        ", ".join(f"{name} (x - {fitted.offsets[name]:.6g}) / {fitted.scales[name]:.6g}" for name in fitted.offsets),
    )
    if standardizer.report_path:
        write_standardization_report(standardizer.report_path, standardizer.describe(), fitted)
    return values, fitted, {"transformer": standardizer.describe(), "considered": list(fitted.offsets), "kept": names}


def _fit_projection(
    values: np.ndarray, names: list[str], pca: PCATransformer, standardization: Standardization
) -> tuple[PCATransformer, dict[str, Any]]:
    """The projection fitted on ``values`` of ``names`` (standardised by ``standardization``),
    logged and reported, as a projection of the features as computed; its facts."""
    from vl3d_focal.reports.pca_projection import plot_pca, write_pca_report

    fitted = pca.fit(values, names)
    mean, components = standardization.unfold(fitted.inputs, np.asarray(fitted.mean), np.asarray(fitted.components))
    fitted = replace(fitted, mean=tuple(mean.tolist()), components=tuple(tuple(row) for row in components.tolist()))
    ratios = ", ".join(f"{name} {ratio:.4f}" for name, ratio in zip(fitted.names, fitted.ratios))
    logger.info(
        "%s: %d components of %s; explained variance ratios: %s",
        pca.describe(),
        len(fitted.names),
        ", ".join(fitted.inputs),
        ratios,
    )
    if pca.report_path:
        write_pca_report(pca.report_path, fitted)
    if pca.plot_path:
        plot_pca(pca.plot_path, fitted)
    return fitted, {"transformer": pca.describe(), "considered": list(fitted.inputs), "kept": fitted.outputs(names)}


def transformed_features(
    training: Sequence[CloudRecord],
    *,
    feature_names: Sequence[str],
    transformers: Sequence[FeatureSelector | Standardizer | PCATransformer],
    imputers: Sequence[Imputer] = (),
    miners: Sequence[MinedFeatures] = (),
    scaled: Sequence[str] = (),
) -> tuple[list[str], PCATransformer | None, list[dict[str, Any]], tuple[Imputer, ...] | None]:
    """The features of the model trained on ``training`` after ``transformers``, its fitted
    projection (a ``PCATransformer``, the last transformer; None without), what each transformer
    did (for the run report: its ``transformer``, ``considered`` and ``kept`` features), and the
    imputers fitted on the training clouds to fit them (None without transformers: none fitted),
    for :func:`~vl3d_focal.training.imputation.imputed_clouds` to reuse.

    Args:
        training: the training clouds (labelled).
        feature_names: the model's features before the transformers; miners: the recipes of the
            mined ones.
        transformers: the recipes of the transformer steps before the train step, in order.
        imputers: the imputer steps' recipes before the train step.
        scaled: the features the train step's ``cloud_normalization`` scales per cloud: a WARNING
            names those the transformers drop or project (their scaling is not applied).

    Raises:
        DataError: a transformer that names a feature the model does not have, or would keep none
            (:func:`~vl3d_focal.data.feature_selection.select_features`), or a transformer after a
            ``PCATransformer``.

    Example:
        >>> from vl3d_focal.data.feature_selection import FeatureSelector
        >>> names, projection, facts, fitted = transformed_features([record], feature_names=["intensity", "return_number"],
        ...     transformers=[FeatureSelector("ExplicitSelector", ("intensity",), preserve=False)])
        >>> names, projection, facts[0]["kept"], fitted
        (['return_number'], None, ['return_number'], ())
    """
    if not transformers:
        return list(feature_names), None, [], None
    if not feature_names:
        raise DataError(
            f"{transformers[0].describe()}: the model trained after it learns from no feature (fnames is empty): "
            "remove the feature transformers or name the model's features"
        )
    from vl3d_focal.reports.feature_selection import write_selection_report
    from vl3d_focal.training.imputation import imputed_clouds

    names, used = list(feature_names), recipes_for(feature_names, miners)
    cached = [set(record.features_cache) for record in training]
    views, _, imputers_fitted = imputed_clouds(training, [], feature_names=names, imputers=imputers, miners=used)
    values, labels = _labelled_points(views, feature_names=names, miners=used)
    facts, projection, standardization = [], None, Standardization()
    dropped_by: dict[str, str] = {}  # a feature a selector dropped -> that selector
    for transformer in transformers:
        if projection is not None:
            raise DataError(f"{transformer.describe()} after a {PCA}: a {PCA} must be the last feature transformer")
        dropped = [name for name in transformer.fnames if name in dropped_by]
        if dropped:
            raise DataError(
                f"{transformer.describe()}: {', '.join(repr(name) for name in dropped)} dropped by the "
                f"{dropped_by[dropped[0]]} before it; name only features it keeps"
            )
        if isinstance(transformer, PCATransformer):
            projection, fact = _fit_projection(values, names, transformer, standardization)
            facts.append(fact)
            continue
        if isinstance(transformer, Standardizer):
            values, fitted, fact = _standardized(values, names, transformer)
            standardization = standardization.then(fitted)
            facts.append(fact)
            continue
        selection = select_features(values, labels, names, transformer)
        dropped_by.update({name: selection.selector for name in names if name not in selection.kept})
        values = values[:, [names.index(name) for name in selection.kept]]
        names = list(selection.kept)
        logger.info("%s: features kept: %s", selection.selector, ", ".join(names))
        if transformer.report_path:
            write_selection_report(transformer.report_path, selection)
        facts.append({"transformer": selection.selector, "considered": list(selection.considered), "kept": names})
    for record, before in zip(training, cached if names != list(feature_names) else []):  # not the model's
        for key in set(record.features_cache) - before:
            del record.features_cache[key]
    kept = names if projection is None else projection.outputs(names)
    unscaled = [name for name in scaled if name not in kept]
    if unscaled:
        logger.warning(
            "cloud_normalization of %s not applied: the feature transformers before the train step dropped or "
            "projected %s (the model learns from %s)",
            ", ".join(unscaled),
            "them" if len(unscaled) > 1 else "it",
            ", ".join(kept),
        )
    return kept, projection, facts, imputers_fitted
