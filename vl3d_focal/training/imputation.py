"""The imputers of a training: resolved for its features, fitted on its clouds, applied to them.

A train step after imputer steps (:mod:`vl3d_focal.data.imputers`) trains on each cloud as
its model sees it (:func:`~vl3d_focal.data.model_view.model_view`): the ``UnivariateImputer``
fill values are fitted on every point of the training clouds (their values other than the
target, after the imputers before them), the points a ``RemovalImputer`` leaves out are
neither training points nor field points (the training's evaluation and classified training
clouds hold the kept points, as VL3D's), and the model keeps the fitted imputers. They are fitted
once: the feature transformers before the train step are fitted on imputed values
(:mod:`vl3d_focal.training.transformation`), and the train step reuses those imputers.

Example:
    >>> imputed_clouds([record], [], feature_names=["intensity"], imputers=[])[2]
    ()
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

from vl3d_focal.data.field_inputs import raw_cloud_features
from vl3d_focal.data.imputers import Imputer, fit_imputers, model_imputers
from vl3d_focal.data.miners import MinedFeatures, recipes_for
from vl3d_focal.data.model_view import model_view
from vl3d_focal.data.pca_projection import PCATransformer, computed_features
from vl3d_focal.data.records import CloudRecord

logger = logging.getLogger(__name__)


def restricted_imputers(fitted: Sequence[Imputer], feature_names: Sequence[str]) -> tuple[Imputer, ...] | None:
    """Imputers fitted on more features acting on those of ``feature_names`` only, their fill
    values kept (:meth:`~vl3d_focal.data.imputers.Imputer.for_features`); None when a
    ``UnivariateImputer`` follows a ``RemovalImputer`` that loses features (it leaves fewer points
    out: the fill values fitted after it would change).

    Example:
        >>> from vl3d_focal.data.imputers import REMOVAL, UNIVARIATE, Imputer
        >>> fill, drop = Imputer(UNIVARIATE, ("a", "b"), fills=(1.0, 2.0)), Imputer(REMOVAL, ("a", "b"))
        >>> [(i.fnames, i.fills) for i in restricted_imputers([fill, drop], ["b"])], restricted_imputers([drop, fill], ["b"])
        ([(('b',), (2.0,)), (('b',), None)], None)
    """
    found, fewer_removed = [], False
    for imputer in fitted:
        kept = imputer.for_features(feature_names)
        if fewer_removed and kept is not None and not kept.removes:
            return None
        fewer_removed |= imputer.removes and (kept is None or kept.fnames != imputer.fnames)
        found.extend([] if kept is None else [kept])
    return tuple(found)


def _fitted_imputers(
    training: Sequence[CloudRecord], names: list[str], imputers: Sequence[Imputer], miners: Sequence[MinedFeatures]
) -> tuple[Imputer, ...]:
    """``imputers`` (resolved for ``names``) fitted on the training clouds, their fill values logged."""
    raws = [raw_cloud_features(record, feature_names=names, miners=miners) for record in training]  # computed once
    fitted = fit_imputers(raws, names, imputers)
    for imputer in fitted:
        if imputer.fills is not None:
            values = ", ".join(f"{name}={fill:.6g}" for name, fill in zip(imputer.fnames, imputer.fills))
            logger.info("%s: fill values fitted on the training clouds: %s", imputer.describe(), values)
    return fitted


def imputed_clouds(
    training: Sequence[CloudRecord],
    validation: Sequence[CloudRecord],
    *,
    feature_names: Sequence[str],
    imputers: Sequence[Imputer],
    miners: Sequence[MinedFeatures] = (),
    projection: PCATransformer | None = None,
    fitted: Sequence[Imputer] | None = None,
) -> tuple[list[CloudRecord], list[CloudRecord], tuple[Imputer, ...]]:
    """The training and validation clouds as the model sees them, and its fitted imputers.

    Args:
        training, validation: the clouds (labelled).
        feature_names: the model's features; miners: the recipes of the mined ones.
        imputers: the imputer steps' recipes before the train step.
        projection: the fitted ``PCATransformer`` whose outputs are among ``feature_names``: the
            imputers act on its inputs, which are then projected.
        fitted: ``imputers`` already fitted on ``training``'s features before the feature
            transformers chose among them (:func:`~vl3d_focal.training.transformation.transformed_features`):
            reused (:func:`restricted_imputers`), not fitted again; None: fitted here.

    Raises:
        DataError: a feature whose every training value is the target (a ``UnivariateImputer``
            other than ``constant``), a cloud all of whose points are left out, or a value of a
            kept point that is not finite.

    Example:
        >>> from vl3d_focal.data.imputers import Imputer
        >>> views, _, fitted = imputed_clouds([record], [], feature_names=["intensity"], imputers=[Imputer("UnivariateImputer")])
        >>> fitted[0].fills == (float(np.mean(record.cloud.las.intensity)),), views[0].num_points
        (True, 1531)
    """
    names = computed_features(feature_names, projection)
    resolved, used = model_imputers(imputers, names), recipes_for(names, miners)
    if not resolved and projection is None:
        return list(training), list(validation), ()
    reused = None if fitted is None else restricted_imputers(fitted, names)
    done = _fitted_imputers(training, names, resolved, used) if reused is None else reused
    view = functools.partial(
        model_view, feature_names=list(feature_names), miners=miners, imputers=done, projection=projection
    )
    return [view(record) for record in training], [view(record) for record in validation], done
