"""The uncertainty evaluation of one predicted cloud, read chunk by chunk, and its LAS report.

:func:`evaluate_uncertainty` reads the cloud's predictions twice, chunk by chunk, whether they
are in memory or on disk (a cloud predicted tile by tile): first the points per class (the
weights of the weighted entropy), then the measures of :mod:`vl3d_focal.inference.uncertainty`,
written as the LAS report as they come. Points whose reference class is ignored
(``ignore_classes``) are left out. Clusters need the features of every point at once: they are
given by the caller (:class:`Clustering`), for a cloud held in memory.

The report keeps every input dimension and is laid out as VL3D's
``ClassificationUncertaintyReport``: ``classification`` the reference class and ``Prediction``
the predicted class, both written as the prediction outputs write a class
(:meth:`~vl3d_focal.data.labels.ClassMapping.prediction_values`: the cloud's codes where the
classes are its codes, no class step; else the class indices, as after VL3D's ``ClassReducer``),
so that they compare as VL3D's ``y`` and ``yhat``; a point of no class keeps its code where the
classes are the cloud's codes, else takes the highest code of its point format (as the
``Writer`` writes it). Then ``Success`` (1 where the prediction is the reference class, else 0,
also for a point of no class, as VL3D's ``y == yhat``; only for a cloud with reference classes),
one probability per class named by the class (``include_probabilities``), ``PointWiseEntropy``,
``WeightedEntropy``, ``ClusterLabel`` and ``ClusterWiseEntropy``, and ``ClassAmbiguity``.

Example:
    >>> from vl3d_focal.inference.prediction import predict_cloud
    >>> predict_cloud(record, bundle)
    >>> found = evaluate_uncertainty(record, mapping=mapping, options=UncertaintyOptions(list(mapping.names)),
    ...                              report_path=out / "uncertainty.laz")
    >>> found.summary["points"], sorted(found.measures)
    (1531, ['ClassAmbiguity', 'PointWiseEntropy', 'WeightedEntropy'])
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.errors import DataError
from vl3d_focal.inference.classified_output import PREDICTION, SUCCESS, probability_names
from vl3d_focal.inference.scoring import plot_sample
from vl3d_focal.inference.uncertainty import (
    class_ambiguity,
    class_weights,
    cluster_entropy,
    cluster_labels,
    pointwise_entropy,
    weighted_entropy,
)
from vl3d_focal.io.chunks import ChunkedCloudWriter, read_header
from vl3d_focal.io.las import max_classification_code

logger = logging.getLogger(__name__)

ENTROPY, WEIGHTED, CLUSTER, CLUSTER_ENTROPY, AMBIGUITY = (
    "PointWiseEntropy",
    "WeightedEntropy",
    "ClusterLabel",
    "ClusterWiseEntropy",
    "ClassAmbiguity",
)
"""The extra dimensions of the measures."""
MEAN_KEYS = {ENTROPY: "mean_entropy", WEIGHTED: "mean_weighted_entropy", AMBIGUITY: "mean_ambiguity"}
"""The summary's means of the measures."""


@dataclass(frozen=True)
class Clustering:
    """The clusters of the cluster-wise entropy: the ``(N, F)`` features of every point of the
    cloud and VL3D's clustering arguments."""

    features: np.ndarray
    num_clusters: int = 8
    max_iter: int = 128
    batch_size: int = 4096
    entropy_weights: bool = False
    reduce: str = "max"


@dataclass(frozen=True)
class UncertaintyOptions:
    """What an uncertainty evaluation computes: the classes' names, the ignored classes
    (indices), and VL3D's ``include_probabilities``, ``include_weighted_entropy``,
    ``weight_by_predictions``; ``clustering`` None: no clusters."""

    class_names: list[str]
    ignore: tuple[int, ...] = ()
    include_probabilities: bool = True
    include_weighted_entropy: bool = True
    weight_by_predictions: bool = False
    clustering: Clustering | None = None


@dataclass
class UncertaintyResult:
    """What the figures and the run report need of one evaluation.

    Attributes:
        measures: each measure of the plotted points (every k-th evaluated point,
            :func:`~vl3d_focal.inference.scoring.plot_sample`), by dimension name.
        reference: their reference classes (-1: none), None for a cloud without any.
        predicted: their predicted classes.
        summary: ``points``, ``mean_entropy``, ``mean_ambiguity`` (and ``mean_weighted_entropy``)
            of every evaluated point, and ``class_entropy``: the mean entropy per predicted class.
    """

    measures: dict[str, np.ndarray]
    reference: np.ndarray | None
    predicted: np.ndarray
    summary: dict[str, Any] = field(default_factory=dict)


def _chunks(record: CloudRecord, mapping: ClassMapping, ignore: tuple[int, ...]) -> Iterator[tuple]:
    """``(points, kept, labels, predicted, probabilities)`` of each chunk, the last three of its kept points."""
    if record.result is None:
        raise DataError(f"eval step: cloud {record.path} has no predictions; expected a 'predict' step before it")
    for _, points, predicted, probabilities in record.result.iter_chunks():
        if probabilities is None:
            raise DataError(
                f"ClassificationUncertaintyEvaluator: the predictions of {record.path} have no class probabilities, "
                "which every uncertainty measure needs; predict the cloud with a predict step before this one"
            )
        labels = np.asarray(mapping.map(np.asarray(points.classification), source=str(record.path)), dtype=np.int64)
        kept = ~np.isin(labels, np.asarray(ignore, dtype=np.int64))
        yield points, kept, labels[kept], np.asarray(predicted)[kept], np.asarray(probabilities)[kept]


def _counts(record: CloudRecord, mapping: ClassMapping, options: UncertaintyOptions) -> tuple[np.ndarray, np.ndarray]:
    """The reference and predicted points per class of the kept points."""
    size = len(options.class_names)
    reference, predicted = np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64)
    for _, _, labels, classes, _ in _chunks(record, mapping, options.ignore):
        reference += np.bincount(labels[labels >= 0], minlength=size)[:size]
        predicted += np.bincount(classes, minlength=size)[:size]
    return reference, predicted


def _clusters(record: CloudRecord, mapping: ClassMapping, options: UncertaintyOptions) -> tuple[np.ndarray, np.ndarray]:
    """The cluster and cluster-wise entropy of every kept point, in file order."""
    clustering = options.clustering
    assert clustering is not None
    parts = list(_chunks(record, mapping, options.ignore))
    kept = np.concatenate([part[1] for part in parts])
    entropy = pointwise_entropy(np.concatenate([part[4] for part in parts]))
    weighted = clustering.entropy_weights and bool(np.any(entropy > 0))
    if clustering.entropy_weights and not weighted:
        logger.warning(
            "ClassificationUncertaintyEvaluator: every point-wise entropy of %s is 0 (every probability 0 or 1), "
            "which leaves clustering_entropy_weights no weight; its points are clustered unweighted",
            record.path,
        )
    labels = cluster_labels(
        clustering.features[kept],
        num_clusters=clustering.num_clusters,
        max_iter=clustering.max_iter,
        batch_size=clustering.batch_size,
        sample_weight=entropy if weighted else None,
    )
    return labels, cluster_entropy(entropy, labels, reduce=clustering.reduce)


def _dimensions(options: UncertaintyOptions, *, success: bool) -> dict[str, str]:
    names = [PREDICTION, *([SUCCESS] if success else [])]
    names += probability_names(options.class_names) if options.include_probabilities else []
    names += [ENTROPY, *([WEIGHTED] if options.include_weighted_entropy else [])]
    names += [CLUSTER, CLUSTER_ENTROPY] if options.clustering is not None else []
    names.append(AMBIGUITY)
    if len(set(names)) != len(names):
        twice = sorted({name for name in names if names.count(name) > 1})
        raise DataError(
            f"ClassificationUncertaintyEvaluator: the report's dimensions {twice} would have the same name; "
            "class_names must name the classes apart from each other and from the measures"
        )
    return {name: "int32" if name in (PREDICTION, SUCCESS, CLUSTER) else "float32" for name in names}


def _reference_values(labels: np.ndarray, *, codes: np.ndarray, mapping: ClassMapping, top: int) -> np.ndarray:
    """The report's ``classification``: each point's reference class written as ``Prediction``
    is; a point of no class keeps its code ``codes`` where the classes are the cloud's codes,
    else takes ``top``, the highest code of the point format."""
    return np.where(labels < 0, codes if mapping.raw_codes else top, mapping.prediction_values(labels))


def _writer(record: CloudRecord, path: str | Path | None, types: dict[str, str]) -> Any:
    if path is None:
        return contextlib.nullcontext()
    header = record.cloud.las.header if record.loaded else read_header(record.path)
    return ChunkedCloudWriter(path, header=header, extra_dims=types, source_path=record.path)


def evaluate_uncertainty(
    record: CloudRecord, *, mapping: ClassMapping, options: UncertaintyOptions, report_path: str | Path | None
) -> UncertaintyResult:
    """The uncertainty measures of a predicted cloud, written to ``report_path`` (None: not written).

    Raises:
        DataError: no predictions, predictions without probabilities, clashing dimension names.

    Example:
        >>> from vl3d_focal.inference.prediction import predict_cloud
        >>> predict_cloud(record, bundle)
        >>> options = UncertaintyOptions(list(mapping.names), include_weighted_entropy=False)
        >>> sorted(evaluate_uncertainty(record, mapping=mapping, options=options, report_path=None).measures)
        ['ClassAmbiguity', 'PointWiseEntropy']
    """
    reference_counts, predicted_counts = _counts(record, mapping, options)
    has_reference = bool(reference_counts.sum())
    by_predictions = options.weight_by_predictions or not has_reference
    weights = class_weights(predicted_counts if by_predictions else reference_counts)
    clusters = _clusters(record, mapping, options) if options.clustering is not None else None
    types = _dimensions(options, success=has_reference)
    total = int(predicted_counts.sum())
    step = plot_sample(total).step
    sums = dict.fromkeys((name for name in MEAN_KEYS if name in types), 0.0)
    class_sums = np.zeros(len(options.class_names))
    shown: dict[str, list[np.ndarray]] = {name: [] for name in (*sums, CLUSTER_ENTROPY, "reference", "predicted")}
    start = 0
    with _writer(record, report_path, types) as writer:
        for points, kept, labels, predicted, probabilities in _chunks(record, mapping, options.ignore):
            columns: dict[str, np.ndarray] = {
                PREDICTION: mapping.prediction_values(predicted),
                ENTROPY: pointwise_entropy(probabilities),
            }
            if has_reference:
                columns[SUCCESS] = labels == predicted
            if options.include_probabilities:
                columns.update(zip(probability_names(options.class_names), probabilities.T))
            if options.include_weighted_entropy:
                columns[WEIGHTED] = weighted_entropy(probabilities, weights)
            if clusters is not None:
                columns[CLUSTER] = clusters[0][start : start + len(labels)]
                columns[CLUSTER_ENTROPY] = clusters[1][start : start + len(labels)]
            columns[AMBIGUITY] = class_ambiguity(probabilities)
            if writer is not None:
                writer.write(
                    points[kept],
                    classification=_reference_values(
                        labels,
                        codes=np.asarray(points.classification)[kept],
                        mapping=mapping,
                        top=max_classification_code(writer.header.point_format.id),
                    ),
                    extra={name: np.asarray(values).astype(types[name]) for name, values in columns.items()},
                )
            for name in sums:
                sums[name] += float(np.sum(columns[name]))
            class_sums += np.bincount(predicted, weights=columns[ENTROPY], minlength=len(class_sums))
            sample = np.arange((-start) % step, len(labels), step)
            for name, values in {**columns, "reference": labels, "predicted": predicted}.items():
                if name in shown:
                    shown[name].append(np.asarray(values)[sample])
            start += len(labels)
    summary: dict[str, Any] = {"points": total, "weights_by": "predictions" if by_predictions else "reference"}
    summary.update({MEAN_KEYS[name]: value / total if total else None for name, value in sums.items()})
    summary["class_entropy"] = {
        name: float(class_sums[c] / predicted_counts[c]) if predicted_counts[c] else None
        for c, name in enumerate(options.class_names)
    }
    sampled = {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in shown.items()}
    reference, predicted_shown = sampled.pop("reference"), sampled.pop("predicted")
    return UncertaintyResult(
        measures={name: values for name, values in sampled.items() if name in types},
        reference=reference.astype(np.int64) if has_reference else None,
        predicted=predicted_shown.astype(np.int64),
        summary=summary,
    )
