"""The feature transformers of a training: fitted on its training points, before it starts.

The ``feature_transformer`` steps before a train step (:mod:`vl3d_focal.steps.feature_transformers`)
keep their recipes; the train step fits them, in step order, on its training clouds' labelled
points (ignored and unlabelled points left out) as the model would see them: its features
(``fnames``, ``["AUTO"]`` resolved), imputed by the imputers before it
(:mod:`vl3d_focal.training.imputation`; the train step reuses them), those of its
``cloud_normalization`` that no projection takes scaled per cloud
(:meth:`~vl3d_focal.data.normalization.FeatureNormalizer.per_cloud`). At most
:data:`MAX_FIT_POINTS` points are used: a sample drawn with a fixed seed, the same at every
run. A selector
(:mod:`vl3d_focal.data.feature_selection`) gives the features the model keeps; a ``Standardizer``
(:mod:`vl3d_focal.data.feature_standardization`) standardises the values the transformers after
it are fitted on, a ``MinmaxNormalizer`` (:mod:`vl3d_focal.data.minmax_normalization`) maps them
onto its target range (its ``clip`` bounds, kept with the model: with its projection for the
projection's inputs, in units of the features as computed, with its normaliser for the others, in
units of the values the model sees, and not for a model that splits on the order of its features
only, a forest, unless given by ``minmax``); a
``PCATransformer`` (:mod:`vl3d_focal.data.pca_projection`), the last one,
the projection the model keeps, of the features as computed (a standardisation before it folded
in). What they chose is logged and written to their ``report_path`` and ``plot_path``
(their steps expanded the ``*`` with the first output prefix).

Example:
    >>> transformed_features([record], feature_names=["intensity"], transformers=[])
    (['intensity'], None, [], None, {})
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from vl3d_focal.data.feature_selection import FeatureSelector, select_features
from vl3d_focal.data.feature_standardization import Standardization, Standardizer
from vl3d_focal.data.field_inputs import cloud_features
from vl3d_focal.data.imputers import Imputer
from vl3d_focal.data.labels import IGNORE_LABEL
from vl3d_focal.data.miners import MinedFeatures, recipes_for
from vl3d_focal.data.minmax_normalization import Bounds, MinmaxNormalizer, scaled_minmax_problem
from vl3d_focal.data.normalization import FeatureNormalizer
from vl3d_focal.data.pca_projection import PCA, PCATransformer
from vl3d_focal.data.recipe_options import AUTO
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.errors import DataError

logger = logging.getLogger(__name__)

MAX_FIT_POINTS = 1_000_000
"""The most training points the transformers are fitted on (a seeded sample of them beyond)."""
SAMPLE_SEED = 0
"""The seed of that sample: the same points at every run."""


def _labelled_points(
    training: Sequence[CloudRecord],
    *,
    feature_names: Sequence[str],
    miners: Sequence[MinedFeatures],
    cloud_scaling: Mapping[str, Mapping[str, Any]],
) -> tuple[np.ndarray, np.ndarray]:
    """The ``(n, F)`` features (those of ``cloud_scaling`` scaled per cloud, from all of its
    points) and ``(n,)`` classes of the labelled training points (sampled)."""
    values, labels = [], []
    scaling = FeatureNormalizer(fnames=feature_names, cloud_scaling=cloud_scaling)
    for record in training:
        known = record.labels if record.labels is not None else np.full(record.num_points, IGNORE_LABEL)
        kept = known != IGNORE_LABEL
        values.append(scaling.per_cloud(cloud_features(record, feature_names=feature_names, miners=miners))[kept])
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


def _minmax_normalized(
    values: np.ndarray, names: list[str], normalizer: MinmaxNormalizer, standardization: Standardization
) -> tuple[np.ndarray, Standardization, Bounds, dict[str, Any]]:
    """``values`` of ``names`` (standardised by ``standardization``) normalised by ``normalizer``,
    logged and reported; what it did, its clip bounds in units of the features as computed, and
    its facts."""
    from vl3d_focal.reports.minmax_normalization import write_minmax_report

    values, fitted = normalizer.fit(values, names)
    logger.info(
        "%s of %s",
        normalizer.describe(),
        ", ".join(f"{name} [{fitted.mins[name]:.6g}, {fitted.maxs[name]:.6g}]" for name in fitted.mins),
    )
    if normalizer.report_path:
        write_minmax_report(normalizer.report_path, fitted)
    bounds = {}
    for name, (low, high) in fitted.bounds.items():  # as values of the features as computed
        offset, scale = standardization.offsets.get(name, 0.0), standardization.scales.get(name, 1.0)
        bounds[name] = (offset + scale * low, offset + scale * high)
    fact = {"transformer": normalizer.describe(), "considered": list(fitted.mins), "kept": names}
    return values, fitted.standardization, bounds, fact


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


def _fitted_scaled(
    transformers: Sequence[FeatureSelector | Standardizer | MinmaxNormalizer | PCATransformer],
    names: Sequence[str],
    cloud_scaling: Mapping[str, Mapping[str, Any]],
) -> dict[str, Mapping[str, Any]]:
    """The features of ``cloud_scaling`` the transformers are fitted on scaled per cloud: those
    among ``names`` no ``PCATransformer`` projects (the model scales them so)."""
    projected = {
        name
        for t in transformers
        if isinstance(t, PCATransformer)
        for name in (names if AUTO in t.fnames else t.fnames)
    }
    scaled = {name: how for name, how in cloud_scaling.items() if name in names and name not in projected}
    for transformer in transformers:
        if not isinstance(transformer, MinmaxNormalizer) or transformer.minmax is None:
            continue
        given = [name for name in transformer.fnames if name in scaled]
        if given:
            raise DataError(f"{transformer.describe()}: {scaled_minmax_problem(names=given)}")
    return scaled


def transformed_features(
    training: Sequence[CloudRecord],
    *,
    feature_names: Sequence[str],
    transformers: Sequence[FeatureSelector | Standardizer | MinmaxNormalizer | PCATransformer],
    imputers: Sequence[Imputer] = (),
    miners: Sequence[MinedFeatures] = (),
    cloud_scaling: Mapping[str, Mapping[str, Any]] | None = None,
    order_only: bool = False,
) -> tuple[list[str], PCATransformer | None, list[dict[str, Any]], tuple[Imputer, ...] | None, Bounds]:
    """The features of the model trained on ``training`` after ``transformers``, its fitted
    projection (a ``PCATransformer``, the last transformer; None without), what each transformer
    did (for the run report: its ``transformer``, ``considered`` and ``kept`` features), the
    imputers fitted on the training clouds to fit them (None without transformers: none fitted),
    for :func:`~vl3d_focal.training.imputation.imputed_clouds` to reuse, and the clip bounds of
    the model's features (a ``MinmaxNormalizer``'s with ``clip`` on features the model keeps
    unprojected, in units of the values it sees: scaled per cloud where ``cloud_scaling`` says;
    those of a projection's inputs are in the projection).

    Args:
        training: the training clouds (labelled).
        feature_names: the model's features before the transformers; miners: the recipes of the
            mined ones.
        transformers: the recipes of the transformer steps before the train step, in order.
        imputers: the imputer steps' recipes before the train step.
        cloud_scaling: the train step's ``cloud_normalization``: the transformers are fitted on
            those features scaled per cloud, as the model sees them, but for a projection's
            inputs (their scaling is not applied: a WARNING names those the transformers drop or
            project).
        order_only: whether the model's predictions depend on the order of each feature's values
            only (a forest's splits lie between training values): bounds fitted on the training
            values change none of them, and only those a ``MinmaxNormalizer``'s ``minmax`` gives
            are kept.

    Raises:
        DataError: a transformer that names a feature the model does not have, or would keep none
            (:func:`~vl3d_focal.data.feature_selection.select_features`), a transformer after a
            ``PCATransformer``, or a ``MinmaxNormalizer``'s ``minmax`` of a feature scaled per cloud.

    Example:
        >>> from vl3d_focal.data.feature_selection import FeatureSelector
        >>> names, projection, facts, fitted, clip = transformed_features([record], feature_names=["intensity", "return_number"],
        ...     transformers=[FeatureSelector("ExplicitSelector", ("intensity",), preserve=False)])
        >>> names, projection, facts[0]["kept"], fitted
        (['return_number'], None, ['return_number'], ())
    """
    if not transformers:
        return list(feature_names), None, [], None, {}
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
    scaling = _fitted_scaled(transformers, names, cloud_scaling or {})
    values, labels = _labelled_points(views, feature_names=names, miners=used, cloud_scaling=scaling)
    facts, projection, standardization, bounds = [], None, Standardization(), dict[str, tuple[float, float]]()
    explicit: set[str] = set()  # clipped to a MinmaxNormalizer's minmax
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
        if isinstance(transformer, MinmaxNormalizer):
            values, fitted_map, clipped, fact = _minmax_normalized(values, names, transformer, standardization)
            explicit.update(clipped if transformer.minmax is not None else ())
            for name, (low, high) in clipped.items():  # clipped twice: to the narrower interval
                earlier = bounds.get(name, (low, high))
                bounds[name] = (max(low, earlier[0]), min(high, earlier[1]))
            standardization = standardization.then(fitted_map)
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
    if projection is not None and bounds:
        clip = tuple((name, *bounds[name]) for name in projection.inputs if name in bounds)
        projection = replace(projection, clip=clip)
    kept = names if projection is None else projection.outputs(names)
    unscaled = [name for name in cloud_scaling or {} if name not in kept]
    if unscaled:
        logger.warning(
            "cloud_normalization of %s not applied: the feature transformers before the train step dropped or "
            "projected %s (the model learns from %s)",
            ", ".join(unscaled),
            "them" if len(unscaled) > 1 else "it",
            ", ".join(kept),
        )
    model_bounds = {name: bounds[name] for name in kept if name in bounds and (name in explicit or not order_only)}
    return kept, projection, facts, imputers_fitted, model_bounds
