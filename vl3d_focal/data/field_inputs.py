"""Model inputs of a cloud: receptive fields, their coordinates and normalised features.

Example:
    >>> batch = field_inputs(record, field_spec=bundle.field_spec, seed=0,
    ...                      feature_names=["intensity"], normalizer=bundle.normalizer)
    >>> batch.coordinates.shape[1:], batch.features.shape[1:]
    ((48, 3), (48, 1))
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vl3d_focal.data.miners import MinedFeatures, recipes_for
from vl3d_focal.data.records import CloudRecord

logger = logging.getLogger(__name__)


@dataclass
class FieldInputs:
    """The receptive fields of one cloud as model inputs.

    Attributes:
        coordinates: ``(M, P, 3)`` float32 centred (and scaled) coordinates.
        features: ``(M, P, F)`` float32 normalised features (F may be 0).
        fields: the ``ReceptiveFields`` (``.indices`` ``(M, P)`` into the cloud).
        neighbours: ``(M, P, k)`` the points each field point's values are encoded from
            (``num_encoding_neighbors``, see :mod:`~vl3d_focal.data.field_encoding`); None: its own.
    """

    coordinates: np.ndarray
    features: np.ndarray
    fields: Any
    neighbours: np.ndarray | None = None

    @property
    def indices(self) -> np.ndarray:
        """``(M, P)`` point indices of each field."""
        return np.asarray(self.fields.indices)

    def as_inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(coordinates, features)`` in the order the model takes them."""
        return self.coordinates, self.features


def _cache_key(field_spec: Any, seed: int | None, training: bool) -> str:
    differs = training and field_spec.training_differs  # else the prediction fields, keyed alike
    return json.dumps({"spec": field_spec.to_config(), "seed": seed, "training": differs}, sort_keys=True, default=str)


def cloud_fields(record: CloudRecord, *, field_spec: Any, seed: int | None, training: bool = False) -> Any:
    """The receptive fields of a cloud, built once per field configuration and seed; those that
    cover every point (prediction) or, with ``training``, VL3D's training fields
    (:func:`~vl3d_focal.data.receptive_fields.field_centers`).

    Example:
        >>> fields = cloud_fields(record, field_spec=bundle.field_spec, seed=0)
        >>> fields.indices.shape[1], cloud_fields(record, field_spec=bundle.field_spec, seed=0) is fields  # cached
        (48, True)
    """
    from vl3d_focal.data.receptive_fields import build_fields

    key = _cache_key(field_spec, seed, training)
    if key not in record.fields_cache:
        start = time.perf_counter()
        fields = build_fields(record.cloud.xyz, field_spec, seed=seed, training=training)
        logger.info(
            "%s: %d receptive fields of %d points (%.1f s)",
            record.path.name,
            len(fields.indices),
            np.asarray(fields.indices).shape[1],
            time.perf_counter() - start,
        )
        record.fields_cache[key] = fields
    return record.fields_cache[key]


def features_key(feature_names: Sequence[str], used: Sequence[MinedFeatures]) -> tuple[str, ...]:
    """The key of a cloud's features in ``CloudRecord.features_cache``: their names and the
    recipes of the mined ones.

    Example:
        >>> features_key(["intensity"], [])
        ('intensity',)
    """
    return (*feature_names, *(recipe.key() for recipe in used))


RAW = "(NaN kept)"
"""The last part of the key of features kept with their NaN and infinite values (for imputers)."""


def cloud_features(
    record: CloudRecord, *, feature_names: Sequence[str], miners: Sequence[MinedFeatures] = ()
) -> np.ndarray:
    """The ``(N, F)`` raw features of a cloud, by name (F = 0 without names); ``miners`` are the
    recipes of the mined features among them. Computed once per cloud (``record.features_cache``).

    Raises:
        DataError: an unknown name, or a value that is not finite.

    Example:
        >>> cloud_features(record, feature_names=[]).shape, cloud_features(record, feature_names=["intensity"]).shape
        ((1531, 0), (1531, 1))
    """
    if not feature_names:
        return np.zeros((record.num_points, 0), dtype=np.float32)
    from vl3d_focal.data.features import extract_features, require_finite

    used = recipes_for(feature_names, miners)
    key = features_key(feature_names, used)
    if key not in record.features_cache:
        raw = record.features_cache.get((*key, RAW))
        if raw is None:
            raw = np.asarray(extract_features(record.cloud, list(feature_names), miners=used), dtype=np.float32)
        else:  # computed for imputers already
            require_finite(raw, feature_names, source=record.path)
            del record.features_cache[(*key, RAW)]
        record.features_cache[key] = raw
    return record.features_cache[key]


def raw_cloud_features(
    record: CloudRecord, *, feature_names: Sequence[str], miners: Sequence[MinedFeatures] = ()
) -> np.ndarray:
    """:func:`cloud_features` with their NaN and infinite values (a model's imputers apply to
    them, :mod:`vl3d_focal.data.model_view`), computed once per cloud too.

    Example:
        >>> raw_cloud_features(record, feature_names=["intensity"]) is raw_cloud_features(record, feature_names=["intensity"])
        True
    """
    from vl3d_focal.data.features import raw_features

    used = recipes_for(feature_names, miners)
    key = features_key(feature_names, used)
    if key in record.features_cache:  # finite values: the same
        return record.features_cache[key]
    if (*key, RAW) not in record.features_cache:
        values = raw_features(record.cloud, list(feature_names), miners=used)
        record.features_cache[(*key, RAW)] = np.asarray(values, dtype=np.float32)
    return record.features_cache[(*key, RAW)]


def field_neighbours(xyz: np.ndarray, fields: Any, field_spec: Any) -> np.ndarray | None:
    """The encoding neighbours of the fields' points (``num_encoding_neighbors`` > 1), else None.

    Example:
        >>> fields = cloud_fields(record, field_spec=bundle.field_spec, seed=0)
        >>> field_neighbours(record.cloud.xyz, fields, bundle.field_spec) is None  # no num_encoding_neighbors
        True
    """
    from vl3d_focal.data.field_encoding import encoding_neighbours
    from vl3d_focal.data.receptive_fields import NEIGHBORHOODS

    if field_spec.num_encoding_neighbors <= 1:
        return None
    dims, p = NEIGHBORHOODS[field_spec.neighborhood]
    return encoding_neighbours(
        xyz,
        np.asarray(fields.indices),
        np.asarray(fields.centers),
        k=field_spec.num_encoding_neighbors,
        radius=field_spec.reach,
        dims=dims,
        p=p,
    )


def field_features(xyz: np.ndarray, features: np.ndarray, fields: Any, field_spec: Any) -> np.ndarray:
    """``(M, P, F)`` the features fed for the fields' points: each point's own, or encoded from its
    ``num_encoding_neighbors`` nearest neighbourhood points.

    Args:
        xyz: ``(n, 3)`` a cloud or a tile holding the fields' neighbourhoods.
        features: ``(n, F)`` their (normalised) features.
        fields: the fields (indices into ``xyz`` and centres).
        field_spec: the ``FieldSpec``.

    Example:
        >>> fields = cloud_fields(record, field_spec=bundle.field_spec, seed=0)
        >>> features = cloud_features(record, feature_names=["intensity"])
        >>> field_features(record.cloud.xyz, features, fields, bundle.field_spec).shape == (fields.num_fields, 48, 1)
        True
    """
    from vl3d_focal.data.field_encoding import encode_features

    neighbours = field_neighbours(xyz, fields, field_spec)
    return features[np.asarray(fields.indices)] if neighbours is None else encode_features(features, neighbours)


def field_inputs(
    record: CloudRecord,
    *,
    field_spec: Any,
    seed: int | None,
    feature_names: Sequence[str],
    normalizer: Any,
    miners: Sequence[MinedFeatures] = (),
    fields: Any = None,
    training: bool = False,
) -> FieldInputs:
    """Coordinates and normalised features of every receptive field of a cloud.

    Args:
        record: the cloud.
        field_spec: the ``FieldSpec`` (neighbourhood, sampling, ``num_points``, encoding).
        seed: seed of the field construction.
        feature_names: ``fnames``.
        normalizer: a fitted ``FeatureNormalizer`` (ignored when there are no features); the
            cloud's per-cloud scaling comes from the whole cloud's features.
        miners: the recipes of mined features among ``feature_names``.
        fields: the fields to use; default the cloud's covering fields (:func:`cloud_fields`).
        training: without ``fields``, the cloud's training fields (:func:`cloud_fields`).

    Example:
        >>> inputs = field_inputs(record, field_spec=bundle.field_spec, seed=1, feature_names=[], normalizer=None)
        >>> inputs.features.shape[1:]
        (48, 0)
    """
    from vl3d_focal.data.field_encoding import encode_features
    from vl3d_focal.data.receptive_fields import field_coordinates

    if fields is None:
        fields = cloud_fields(record, field_spec=field_spec, seed=seed, training=training)
    features = cloud_features(record, feature_names=feature_names, miners=miners)
    if features.shape[1]:
        features = np.asarray(normalizer.transform(features), dtype=np.float32)
    neighbours = field_neighbours(record.cloud.xyz, fields, field_spec)
    coordinates = np.asarray(field_coordinates(record.cloud.xyz, fields, field_spec), dtype=np.float32)
    encoded = features[np.asarray(fields.indices)] if neighbours is None else encode_features(features, neighbours)
    return FieldInputs(coordinates=coordinates, features=encoded, fields=fields, neighbours=neighbours)


def concatenate_inputs(parts: Sequence[FieldInputs]) -> tuple[np.ndarray, np.ndarray]:
    """Stacks the fields of several clouds into one ``(coordinates, features)`` pair.

    Example:
        >>> a = FieldInputs(np.zeros((2, 4, 3)), np.zeros((2, 4, 0)), None)
        >>> [x.shape for x in concatenate_inputs([a, a])]
        [(4, 4, 3), (4, 4, 0)]
    """
    coordinates = np.concatenate([part.coordinates for part in parts], axis=0)
    features = np.concatenate([part.features for part in parts], axis=0)
    return coordinates, features
