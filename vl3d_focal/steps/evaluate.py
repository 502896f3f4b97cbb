"""The ``eval`` step: metrics of the predictions against the mapped reference classes.

Only scored points count: points whose LAS code is ignored by the class mapping are left
out of the confusion matrix (computed over every point). Each cloud gets the report files of
:func:`vl3d_focal.reports.write_evaluation` at its ``report_path`` and a top-down picture
(reference, predicted, misclassified) beside it, named ``<report stem>_topdown.png``.

Example:
    >>> run_eval({"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
    ...          state)                                          # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.steps.paths import expand_output, prepare_output
from vl3d_focal.steps.reading import reference_labels
from vl3d_focal.steps.state import CloudRecord, PipelineState

logger = logging.getLogger(__name__)

IGNORE_LABEL = -1
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


def topdown_path(report_path: str | Path) -> Path:
    """Where the top-down picture of a report goes.

    Example:
        >>> topdown_path("out/eval/evaluation.json").as_posix()
        'out/eval/evaluation_topdown.png'
    """
    report = Path(report_path)
    return report.with_name(f"{report.stem}_topdown.png")


def evaluate_cloud(record: CloudRecord, *, class_names: list[str]) -> dict[str, Any]:
    """Metrics of one cloud's predictions (ignored points left out).

    Example:
        >>> evaluate_cloud(state.clouds[0], class_names=names)["mIoU"]   # doctest: +SKIP
    """
    from vl3d_focal.evaluation import classification_metrics, confusion_matrix

    if record.predictions is None:
        raise DataError(f"eval step: cloud {record.path} has no predictions; expected a 'predict' step before it")
    confusion = confusion_matrix(record.labels, record.predictions, num_classes=len(class_names),
                                 ignore_label=IGNORE_LABEL)
    return classification_metrics(confusion, class_names=class_names)


def evaluate_streamed(record: CloudRecord, *, mapping: Any) -> tuple[dict[str, Any], tuple[np.ndarray, ...]]:
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
    from vl3d_focal.evaluation import classification_metrics, confusion_matrix

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


def _training_counts(state: PipelineState, *, num_classes: int) -> dict[str, list[int]] | None:
    counts = (state.bundle.loss_info.get("class_counts") if state.bundle is not None else None) or None
    return {"training": list(counts)} if counts is not None and len(counts) == num_classes else None


def run_eval(step: Mapping[str, Any], state: PipelineState) -> None:
    """Evaluates every cloud and writes its report, plots and top-down picture.

    Example:
        >>> run_eval({"eval": "ClassificationEvaluator", "report_path": "*eval.json"},
        ...          state)                                      # doctest: +SKIP
    """
    from vl3d_focal.reports import write_evaluation
    from vl3d_focal.topdown import plot_topdown

    mapping = state.require_mapping(step="eval")
    class_names = list(mapping.names)
    if state.bundle is not None and class_names != list(state.bundle.class_names):
        raise DataError(
            f"eval step: the class mapping's classes {class_names} differ from the model's "
            f"{list(state.bundle.class_names)}; expected the same classes in the same order"
        )
    for record in state.clouds:
        if record.streamed is not None:
            metrics, (xyz, reference, predicted) = evaluate_streamed(record, mapping=mapping)
        else:
            if record.labels is None:
                record.labels = reference_labels(record.cloud, mapping)
            metrics = evaluate_cloud(record, class_names=class_names)
            shown = plot_sample(record.num_points)
            xyz, reference, predicted = record.cloud.xyz[shown], record.labels[shown], record.predictions[shown]
        report = prepare_output(expand_output(step["report_path"], prefix=record.prefix))
        write_evaluation(metrics, report_path=report, class_colors=list(mapping.colors),
                         class_counts=_training_counts(state, num_classes=len(class_names)))
        plot_topdown(xyz, reference, predicted, class_names=class_names, colors=list(mapping.colors),
                     path=topdown_path(report), ignore_label=IGNORE_LABEL)
        scored = int(np.asarray(metrics["confusion_matrix"]).sum())
        logger.info("%s: OA=%.4f mIoU=%.4f macro_F1=%.4f (%d scored points) -> %s", record.path.name,
                    metrics["OA"], metrics["mIoU"], metrics["macro_F1"], scored, report)
