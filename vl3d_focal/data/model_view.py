"""A cloud as a model with imputers or a projection sees it: its kept points, their features imputed.

A model trained after imputer steps (:mod:`vl3d_focal.data.imputers`), or after a
``PCATransformer`` (:mod:`vl3d_focal.data.pca_projection`: its inputs are computed and imputed,
then projected), takes each cloud through
:func:`model_view`: a :class:`ModelView` record whose features (under the model's feature
names and miners, :func:`~vl3d_focal.data.field_inputs.cloud_features`) are the imputed ones,
computed on the whole cloud (neighbourhood features see every point), and whose points are those
no ``RemovalImputer`` leaves out, with their labels. Training, its fields and its evaluation
use the view as any record; a prediction made on the view is brought back to every point of
the cloud by :meth:`ModelView.all_points`: a point left out takes the prediction of its nearest
kept point (as a point in no receptive field takes its nearest covered point's), with a
warning counting them. No point is lost.

Example:
    >>> from vl3d_focal.data.imputers import Imputer
    >>> view = model_view(record, feature_names=["intensity"], imputers=[Imputer("RemovalImputer", target=0.0)])
    >>> view.num_points == record.num_points - int((record.cloud.las.intensity == 0).sum())
    True
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

import laspy
import numpy as np

from vl3d_focal.data.field_inputs import features_key, raw_cloud_features
from vl3d_focal.data.imputers import Imputer
from vl3d_focal.data.miners import MinedFeatures, recipes_for
from vl3d_focal.data.pca_projection import PCATransformer, computed_features
from vl3d_focal.data.point_tree import nearest_values
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.errors import DataError
from vl3d_focal.io.las import PointCloud

logger = logging.getLogger(__name__)


def _subset(cloud: PointCloud, kept: np.ndarray) -> PointCloud:
    """The points of ``cloud`` at ``kept`` (a copy), with its header."""
    las = laspy.LasData(header=copy.deepcopy(cloud.las.header), points=cloud.las.points[kept].copy())
    return PointCloud(xyz=cloud.xyz[kept], las=las, path=cloud.path)


class ModelView(CloudRecord):
    """A cloud's kept points with their imputed features (module docstring).

    Attributes:
        source: the record of the whole cloud.
        kept: ``(N,)`` the points of ``source`` kept; None when every point is (the view then
            shares the source's cloud and fields).
        token: what the view was made for (the feature names, miners and imputers).
    """

    def __init__(
        self, source: CloudRecord, *, kept: np.ndarray, features: np.ndarray, key: tuple[str, ...], token: str
    ) -> None:
        everything = bool(kept.all())
        cloud = source.cloud if everything else _subset(source.cloud, kept)
        super().__init__(path=source.path, cloud=cloud, prefix=source.prefix)
        self.source, self.token = source, token
        self.kept = None if everything else kept
        self.features_cache[key] = features
        self.warnings = source.warnings  # one list: what the steps note about the view is the cloud's
        self._view_labels: np.ndarray | None = None
        if everything:
            self.fields_cache = source.fields_cache

    @property
    def labels(self) -> np.ndarray | None:
        """The source's labels of the kept points (mapped when first used)."""
        if self._view_labels is None:
            labels = self.source.labels
            if labels is not None:
                self._view_labels = labels if self.kept is None else labels[self.kept]
        return self._view_labels

    @labels.setter
    def labels(self, value: np.ndarray | None) -> None:
        self._view_labels = value

    @property
    def feature_warnings(self) -> list[str]:
        """The source's (a prediction of the view warns about the cloud)."""
        return self.source.feature_warnings

    @feature_warnings.setter
    def feature_warnings(self, value: list[str]) -> None:
        if hasattr(self, "source"):  # CloudRecord.__init__ sets it before the source is known
            self.source.feature_warnings = value

    def all_points(self, values: np.ndarray) -> np.ndarray:
        """``(N, ...)`` values of every point of the source from ``values`` of the kept points: a
        point left out takes its nearest kept point's (a WARNING counts them).

        Example:
            >>> from vl3d_focal.data.imputers import Imputer
            >>> view = model_view(record, feature_names=["intensity"], imputers=[Imputer("RemovalImputer", target=0.0)])
            >>> view.all_points(np.zeros((view.num_points, 2))).shape == (record.num_points, 2)
            True
        """
        if self.kept is None:
            return values
        values = np.asarray(values)
        out = np.empty((len(self.kept), *values.shape[1:]), dtype=values.dtype)
        out[self.kept] = values
        removed = np.flatnonzero(~self.kept)
        out[removed] = nearest_values(values, self.cloud.xyz, self.source.cloud.xyz[removed])
        note_left_out(self.source, removed.size)
        return out


def note_left_out(record: CloudRecord, count: int) -> str:
    """Notes that a prediction gave ``count`` points of ``record`` left out by a ``RemovalImputer``
    their nearest kept point's prediction: in ``record.left_out_points`` (the evaluation reports
    it) and ``record.warnings`` (a survey's record), and as a WARNING, logged once however many
    steps predict the cloud so (a ``DLModelEvaluator`` after the predict step). Returns the message.

    Example:
        >>> from pathlib import Path
        >>> tile = CloudRecord(path=Path("a.laz"), num_points=10)
        >>> note_left_out(tile, 3) == note_left_out(tile, 3) == tile.warnings[0], len(tile.warnings), tile.left_out_points
        (True, 1, 3)
        >>> tile.warnings[0]
        'a.laz: 3 points left out by a RemovalImputer (a target value in a feature it names) took the prediction of their nearest kept point'
    """
    message = (
        f"{record.path}: {count} points left out by a RemovalImputer (a target value in a feature it names) took "
        "the prediction of their nearest kept point"
    )
    record.left_out_points = int(count)
    if message not in record.warnings:
        record.warnings.append(message)
        logger.warning(message)
    return message


def model_view(
    record: CloudRecord,
    *,
    feature_names: Sequence[str],
    miners: Sequence[MinedFeatures] = (),
    imputers: Sequence[Imputer] = (),
    projection: PCATransformer | None = None,
) -> CloudRecord:
    """The cloud as a model of ``feature_names`` with ``imputers`` sees it (module docstring):
    ``record`` itself without imputers, a :class:`ModelView` else (``record`` when it is one
    already made for them). The cloud's raw features are computed once
    (:func:`~vl3d_focal.data.field_inputs.raw_cloud_features`: its training, its predictions).

    Args:
        record: the cloud.
        feature_names: the model's features; miners: the recipes of its mined ones.
        imputers: its fitted imputers (of the features computed: a projection's inputs).
        projection: its fitted ``PCATransformer``, whose outputs are among ``feature_names``.

    Raises:
        DataError: every point of the cloud left out, or a value of a kept point not finite.

    Example:
        >>> model_view(record, feature_names=["intensity"]) is record
        True
    """
    from vl3d_focal.data.features import model_features

    if (not imputers and projection is None) or not feature_names:
        return record
    computed = computed_features(feature_names, projection)
    used, key = recipes_for(computed, miners), features_key(feature_names, recipes_for(feature_names, miners))
    token = repr([imputer.key() for imputer in imputers]) + repr(features_key(computed, used))
    token += "" if projection is None else projection.key()
    if isinstance(record, ModelView) and record.token == token:
        return record
    raw = raw_cloud_features(record, feature_names=computed, miners=used)
    features, kept = model_features(record.cloud, computed, miners=used, imputers=imputers, raw=raw)
    features = features if projection is None else projection.apply(features)
    if not kept.any():
        raise DataError(
            f"point cloud {record.path}: every point holds the target value of a RemovalImputer in a feature it "
            "names; no point is left to learn from or to predict with"
        )
    return ModelView(record, kept=kept, features=features[kept], key=key, token=token)
