"""Scoring the predictions of a cloud against its mapped reference classes.

Only scored points count: points whose LAS code the class mapping ignores are left out of the
confusion matrix. A cloud is scored chunk by chunk, whether its predictions are in memory or
on disk (a cloud predicted tile by tile from its file).

Example:
    >>> plot_sample(10, limit=4)
    slice(None, None, 3)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from vl3d_focal.data.labels import IGNORE_LABEL, ClassMapping
from vl3d_focal.data.records import CloudRecord, no_labels_error
from vl3d_focal.errors import DataError
from vl3d_focal.reports.metrics import classification_metrics, confusion_matrix

MAX_PLOTTED_POINTS = 400_000
"""The top-down picture shows at most this many points (an even stride over the cloud)."""


def plot_sample(num_points: int, *, limit: int = MAX_PLOTTED_POINTS) -> slice:
    """The points drawn in the top-down picture: all, or every k-th one of a big cloud.

    The metrics always use every point; only the picture is thinned, so that its memory and
    time stay bounded for any cloud size.

    Example:
        >>> plot_sample(10, limit=4)
        slice(None, None, 3)
    """
    return slice(None, None, max(1, math.ceil(num_points / max(int(limit), 1))))


def evaluate_predictions(
    record: CloudRecord, *, mapping: ClassMapping, class_names: Sequence[str] | None = None, ignore: Sequence[int] = ()
) -> tuple[dict[str, Any], tuple[np.ndarray, ...]]:
    """Metrics of a cloud's predictions, its points and predictions read chunk by chunk.

    The confusion matrix is summed over the chunks (in memory or streamed from disk, the same
    matrix) and the points of :func:`plot_sample` are kept for the picture. Points whose
    reference class is in ``ignore`` are not scored (VL3D's ``ignore_classes``); the metrics
    name the classes ``class_names`` (default: the mapping's).

    Returns:
        The metrics and ``(xyz, reference, predicted)`` of the plotted points.

    Raises:
        DataError: no predictions yet, a code neither mapped nor ignored, or no point of a
            mapped class.

    Example:
        >>> from vl3d_focal.inference.prediction import predict_cloud
        >>> predict_cloud(record, bundle)
        >>> metrics, shown = evaluate_predictions(record, mapping=mapping)
        >>> int(np.sum(metrics["confusion_matrix"])), metrics["class_names"][:2]  # every point but the noise one
        (1530, ['ground', 'vegetation'])
    """
    if record.result is None:
        raise DataError(f"eval step: cloud {record.path} has no predictions; expected a 'predict' step before it")
    class_names = list(mapping.names if class_names is None else class_names)
    confusion = np.zeros((len(class_names), len(class_names)), dtype=np.int64)
    step = plot_sample(record.num_points).step
    kept: list[list[np.ndarray]] = [[], [], []]
    code_counts = np.zeros(256, dtype=np.int64)
    for start, points, predicted, _ in record.result.iter_chunks():
        assert predicted is not None  # the chunks of a prediction
        codes = np.asarray(points.classification)
        code_counts += np.bincount(codes, minlength=256)[:256]
        labels = np.asarray(mapping.map(codes, source=str(record.path)), dtype=np.int64)
        labels[np.isin(labels, np.asarray(ignore, dtype=np.int64))] = IGNORE_LABEL
        confusion += np.asarray(
            confusion_matrix(labels, predicted, num_classes=len(class_names), ignore_label=IGNORE_LABEL), dtype=np.int64
        )
        shown = np.arange((-start) % step, len(labels), step)
        xyz = np.column_stack([np.asarray(points.x)[shown], np.asarray(points.y)[shown], np.asarray(points.z)[shown]])
        for part, values in zip(kept, (xyz, labels[shown], predicted[shown])):
            part.append(values)
    if confusion.sum() == 0:
        raise no_labels_error(record.path, code_counts)
    return classification_metrics(confusion, class_names=class_names), tuple(np.concatenate(p) for p in kept)
