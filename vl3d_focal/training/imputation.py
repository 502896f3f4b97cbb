"""The imputers of a training: resolved for its features, fitted on its clouds, applied to them.

A train step after imputer steps (:mod:`vl3d_focal.data.imputers`) trains on each cloud as
its model sees it (:func:`~vl3d_focal.data.model_view.model_view`): the ``UnivariateImputer``
fill values are fitted on every point of the training clouds (their values other than the
target, after the imputers before them), the points a ``RemovalImputer`` leaves out are
neither training points nor field points (the training's evaluation and classified training
clouds hold the kept points, as VL3D's), and the model keeps the fitted imputers.

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
from vl3d_focal.data.pca_projection import PCATransformer
from vl3d_focal.data.records import CloudRecord

logger = logging.getLogger(__name__)


def imputed_clouds(
    training: Sequence[CloudRecord],
    validation: Sequence[CloudRecord],
    *,
    feature_names: Sequence[str],
    imputers: Sequence[Imputer],
    miners: Sequence[MinedFeatures] = (),
    projection: PCATransformer | None = None,
) -> tuple[list[CloudRecord], list[CloudRecord], tuple[Imputer, ...]]:
    """The training and validation clouds as the model sees them, and its fitted imputers.

    Args:
        training, validation: the clouds (labelled).
        feature_names: the model's features; miners: the recipes of the mined ones.
        imputers: the imputer steps' recipes before the train step.
        projection: the fitted ``PCATransformer`` whose outputs are among ``feature_names``: the
            imputers act on its inputs, which are then projected.

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
    names = list(feature_names) if projection is None else projection.computed(feature_names)
    resolved, used = model_imputers(imputers, names), recipes_for(names, miners)
    if not resolved and projection is None:
        return list(training), list(validation), ()
    raws = [raw_cloud_features(record, feature_names=names, miners=used) for record in training]  # computed once
    fitted = fit_imputers(raws, names, resolved)
    for imputer in fitted:
        if imputer.fills is not None:
            values = ", ".join(f"{name}={fill:.6g}" for name, fill in zip(imputer.fnames, imputer.fills))
            logger.info("%s: fill values fitted on the training clouds: %s", imputer.describe(), values)
    view = functools.partial(
        model_view, feature_names=list(feature_names), miners=miners, imputers=fitted, projection=projection
    )
    return [view(record) for record in training], [view(record) for record in validation], fitted
