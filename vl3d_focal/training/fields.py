"""The labelled receptive fields a model trains on: normaliser, fields (covering the clouds, or
drawn per class with ``training_class_distribution``), validation split.

Example:
    >>> f = LabelledFields(np.zeros((10, 2, 3)), np.zeros((10, 2, 0)), np.zeros((10, 2), int))
    >>> [len(part.labels) for part in split_fields(f, fraction=0.2, seed=0)]
    [8, 2]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.data.feature_names import stored_derived
from vl3d_focal.data.field_centres import draw_class_centres
from vl3d_focal.data.field_encoding import encode_labels
from vl3d_focal.data.field_inputs import FieldInputs, cloud_features, concatenate_inputs, field_inputs
from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.miners import MinedFeatures, mined_names
from vl3d_focal.data.normalization import FeatureNormalizer
from vl3d_focal.data.receptive_fields import FieldSpec, ReceptiveFields, fields_at_centers
from vl3d_focal.data.records import CloudRecord, log_class_histogram, reference_labels
from vl3d_focal.io.las import read_cloud

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldOrigins:
    """Where each field's points come from: ``clouds[cloud[m]]``'s points ``indices[m]`` (``(M,)``
    and ``(M, P)``).

    Example:
        >>> FieldOrigins([], np.array([0, 0, 1]), np.zeros((3, 2), int)).subset(np.array([2])).cloud.tolist()
        [1]
    """

    clouds: Sequence[CloudRecord]
    cloud: np.ndarray
    indices: np.ndarray

    def subset(self, rows: np.ndarray) -> FieldOrigins:
        """The origins of the fields at ``rows``."""
        return FieldOrigins(self.clouds, self.cloud[rows], self.indices[rows])


@dataclass
class LabelledFields:
    """Model inputs and ``(M, P)`` labels of the fields of some clouds (and their ``(M, 3)`` centres
    and origins)."""

    coordinates: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    centres: np.ndarray | None = None
    origins: FieldOrigins | None = None

    def subset(self, rows: np.ndarray) -> LabelledFields:
        """The fields at ``rows``.

        Example:
            >>> f = LabelledFields(np.zeros((3, 2, 3)), np.zeros((3, 2, 0)), np.zeros((3, 2), int))
            >>> f.subset(np.array([0, 2])).labels.shape
            (2, 2)
        """
        centres = None if self.centres is None else self.centres[rows]
        origins = None if self.origins is None else self.origins.subset(rows)
        return LabelledFields(self.coordinates[rows], self.features[rows], self.labels[rows], centres, origins)


def training_labels(record: CloudRecord) -> np.ndarray:
    """A training cloud's labels: every training cloud has some (its reading or the train step
    calls :func:`~vl3d_focal.data.records.reference_labels`, which raises on a cloud without).

    Example:
        >>> training_labels(CloudRecord(path=Path("a.las"), labels=np.array([0, -1]))).tolist()
        [0, -1]
    """
    labels = record.labels
    assert labels is not None, f"{record.path}: a training cloud without reference labels"
    return labels


def fit_normalizer(
    records: Sequence[CloudRecord],
    *,
    feature_names: Sequence[str],
    miners: Sequence[MinedFeatures] = (),
    cloud_scaling: Mapping[str, Mapping[str, Any]] | None = None,
    clip: Mapping[str, tuple[float, float]] | None = None,
) -> FeatureNormalizer | None:
    """Fits the feature normaliser on the non-ignored points of the training clouds, each
    cloud's features scaled per cloud (``cloud_scaling``, from all of its points) then clipped
    (``clip``: a ``MinmaxNormalizer``'s bounds; the reference percentiles are of the values
    before clipping); it records the derived features the clouds store (read, not computed).

    Example:
        >>> fit_normalizer([], feature_names=[]) is None
        True
    """
    if not feature_names:
        return None
    normalizer = FeatureNormalizer(
        fnames=list(feature_names),
        cloud_scaling=cloud_scaling,
        clip=clip,
        stored=stored_in_training(records, feature_names=feature_names, mined=mined_names(miners)),
    )
    parts = [
        normalizer.per_cloud(cloud_features(r, feature_names=feature_names, miners=miners), clipped=False)[
            training_labels(r) >= 0
        ]
        for r in records
    ]
    return normalizer.fit(np.concatenate(parts, axis=0), fnames=list(feature_names))


def stored_in_training(
    records: Sequence[CloudRecord], *, feature_names: Sequence[str], mined: Sequence[str] = ()
) -> list[str]:
    """The derived ``feature_names`` every training cloud stores as a dimension (read from the
    files, not computed; :func:`~vl3d_focal.data.feature_names.stored_derived`); warns about
    those stored by some clouds only: the model then learns two definitions under one name.

    Example:
        >>> stored_in_training([record], feature_names=["intensity", "planarity"])
        []
    """
    found = [stored_derived(record.dimension_names, feature_names, mined=mined) for record in records]
    stored = [name for name in feature_names if found and all(name in names for names in found)]
    for name in feature_names:
        storing = [record.path.name for record, names in zip(records, found) if name in names]
        if storing and name not in stored:
            logger.warning(
                "feature %r is read from the %r dimension of %s but computed by vl3d_focal for the other training "
                "clouds: the model learns two definitions under one name; give every training cloud that "
                "dimension, or none of them",
                name,
                name,
                ", ".join(storing),
            )
    return stored


def class_distribution_fields(
    records: Sequence[CloudRecord], *, field_spec: FieldSpec, counts: Sequence[int], seed: int | None
) -> list[ReceptiveFields]:
    """``training_class_distribution``: fields centred on ``counts[c]`` random points of each class c.

    Example:
        >>> fields = class_distribution_fields([record], field_spec=bundle.field_spec, counts=[20, 10, 0, 5, 5], seed=0)
        >>> fields[0].num_fields
        40
    """
    drawn = draw_class_centres([training_labels(record) for record in records], counts=counts, seed=seed)
    fields = []
    for record, rows in zip(records, drawn):
        centres = np.asarray(record.cloud.xyz[rows], dtype=np.float64)
        fields.append(
            ReceptiveFields(
                indices=fields_at_centers(record.cloud.xyz, centres, field_spec, seed=seed),
                centers=centres,
                xyz=record.cloud.xyz,
            )
        )
    return fields


def labelled_fields(
    records: Sequence[CloudRecord],
    *,
    field_spec: FieldSpec,
    seed: int | None,
    feature_names: Sequence[str],
    normalizer: FeatureNormalizer | None,
    miners: Sequence[MinedFeatures] = (),
    fields: Sequence[ReceptiveFields] | None = None,
) -> LabelledFields:
    """Fields of several labelled clouds; fields without any scored point are left out.

    Args:
        records: the clouds, labelled.
        field_spec, seed, feature_names, normalizer: see :func:`field_inputs`.
        fields: each cloud's fields; default each cloud's training fields (VL3D's: with
            ``support_strategy: fps``, the furthest points only, see
            :func:`~vl3d_focal.data.receptive_fields.field_centers`).

    Example:
        >>> data = labelled_fields(state.clouds, field_spec=bundle.field_spec, seed=0, feature_names=[], normalizer=None)
        >>> data.labels.shape[1], data.features.shape[2]
        (48, 0)
    """
    parts: list[FieldInputs] = []
    labels, centres, clouds, indices = [], [], [], []
    for number, record in enumerate(records):
        part = field_inputs(
            record,
            field_spec=field_spec,
            seed=seed,
            feature_names=feature_names,
            normalizer=normalizer,
            miners=miners,
            fields=None if fields is None else fields[number],
            training=True,
        )
        cloud_labels = training_labels(record)
        field_labels = (
            cloud_labels[part.indices]
            if part.neighbours is None
            else encode_labels(cloud_labels, part.neighbours, num_classes=max(int(cloud_labels.max()) + 1, 1))
        )
        keep = np.any(field_labels >= 0, axis=1)
        parts.append(FieldInputs(part.coordinates[keep], part.features[keep], part.fields))
        labels.append(field_labels[keep])
        centres.append(np.asarray(part.fields.centers)[keep])
        indices.append(part.indices[keep])
        clouds.append(np.full(int(keep.sum()), number))
    coordinates, features = concatenate_inputs(parts)
    origins = FieldOrigins(list(records), np.concatenate(clouds), np.concatenate(indices, axis=0))
    return LabelledFields(
        coordinates, features, np.concatenate(labels, axis=0), np.concatenate(centres, axis=0), origins
    )


def split_fields(
    data: LabelledFields, *, fraction: float, seed: int | None
) -> tuple[LabelledFields, LabelledFields | None]:
    """A seeded random split of the fields into training and validation sets.

    Example:
        >>> f = LabelledFields(np.zeros((10, 2, 3)), np.zeros((10, 2, 0)), np.zeros((10, 2), int))
        >>> [len(part.labels) for part in split_fields(f, fraction=0.2, seed=0)]
        [8, 2]
    """
    count = len(data.labels)
    n_val = int(round(fraction * count))
    if fraction <= 0 or count < 2:
        return data, None
    n_val = min(max(n_val, 1), count - 1)
    order = np.random.default_rng(seed).permutation(count)
    return data.subset(np.sort(order[n_val:])), data.subset(np.sort(order[:n_val]))


def read_labelled_clouds(paths: Sequence[str], *, mapping: ClassMapping, role: str) -> list[CloudRecord]:
    """Reads and maps clouds to train or validate on (e.g. ``model_handling.training_pcloud``).

    Raises:
        DataError: a cloud without any point of a mapped class, or with an unmapped code.

    Example:
        >>> read_labelled_clouds([], mapping=None, role="training")
        []
    """
    records = []
    for path in paths:
        cloud = read_cloud(path)
        record = CloudRecord(path=Path(path), cloud=cloud, prefix="")
        record.labels = reference_labels(cloud, mapping)
        log_class_histogram(record.labels, class_names=list(mapping.names), what=f"{role} {record.path.name}")
        records.append(record)
    return records
