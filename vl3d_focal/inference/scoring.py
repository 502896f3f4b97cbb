"""Scoring the predictions of a cloud against its mapped reference classes.

Only scored points count: points whose LAS code the class mapping ignores are left out of the
confusion matrix. A streamed cloud (predicted tile by tile, its predictions on disk) is scored
chunk by chunk, with the same confusion matrix.

Example:
    >>> plot_sample(10, limit=4)
    slice(None, None, 3)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vl3d_focal.data.labels import IGNORE_LABEL, ClassMapping
from vl3d_focal.data.records import CloudRecord
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


def evaluate_cloud(record: CloudRecord, *, class_names: list[str]) -> dict[str, Any]:
    """Metrics of one cloud's predictions (ignored points left out).

    Example:
        >>> evaluate_cloud(state.clouds[0], class_names=names)["mIoU"]   # doctest: +SKIP
    """
    if record.predictions is None:
        raise DataError(f"eval step: cloud {record.path} has no predictions; expected a 'predict' step before it")
    confusion = confusion_matrix(record.labels, record.predictions, num_classes=len(class_names),
                                 ignore_label=IGNORE_LABEL)
    return classification_metrics(confusion, class_names=class_names)


def evaluate_streamed(record: CloudRecord, *, mapping: ClassMapping) -> tuple[dict[str, Any], tuple[np.ndarray, ...]]:
    """Metrics of a streamed cloud, its file and predictions read chunk by chunk.

    The confusion matrix is summed over the chunks (the same matrix as
    :func:`evaluate_cloud`'s) and the points of :func:`plot_sample` are kept for the picture.

    Returns:
        The metrics and ``(xyz, reference, predicted)`` of the plotted points.

    Raises:
        DataError: A code neither mapped nor ignored, or no point of a mapped class.

    Example:
        >>> metrics, shown = evaluate_streamed(record, mapping=mapping)   # doctest: +SKIP
    """
    class_names = list(mapping.names)
    confusion = np.zeros((len(class_names), len(class_names)), dtype=np.int64)
    step = plot_sample(record.num_points).step
    kept: list[list[np.ndarray]] = [[], [], []]
    for start, points, predicted, _ in record.streamed.iter_chunks():
        labels = np.asarray(mapping.map(np.asarray(points.classification), source=str(record.path)), dtype=np.int64)
        confusion += np.asarray(confusion_matrix(labels, predicted, num_classes=len(class_names),
                                                 ignore_label=IGNORE_LABEL), dtype=np.int64)
        shown = np.arange((-start) % step, len(labels), step)
        xyz = np.column_stack([np.asarray(points.x)[shown], np.asarray(points.y)[shown], np.asarray(points.z)[shown]])
        for part, values in zip(kept, (xyz, labels[shown], predicted[shown])):
            part.append(values)
    if confusion.sum() == 0:
        raise DataError(
            f"point cloud {record.path}: no reference labels: no point has the classification code "
            "of a mapped class; training and evaluation need a classified cloud"
        )
    return classification_metrics(confusion, class_names=class_names), tuple(np.concatenate(p) for p in kept)
