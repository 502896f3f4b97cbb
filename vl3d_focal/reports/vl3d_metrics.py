"""VL3D's evaluation metrics by name, from a confusion matrix (rows: reference, columns: predicted).

VL3D's evaluators (page ``page_evaluators``) name their metrics ``OA``, ``P``, ``R``, ``F1``,
``IoU`` (averaged over the classes), ``wP``, ``wR``, ``wF1``, ``wIoU`` (averaged with the number
of reference points of each class as weights), ``MCC`` and ``Kappa``, and their class-wise
metrics ``P``, ``R``, ``F1``, ``IoU``. The class-wise values and MCC/Kappa are those of
:func:`vl3d_focal.reports.metrics.classification_metrics` (undefined values are None). The
plain averages are over the classes present in the reference (as ``mIoU`` there), skipping a
class whose value is undefined; the weighted ones weigh each class by its reference points.

Example:
    >>> named_metrics([[3, 1], [0, 4]], names=["OA", "wR"])
    {'OA': 0.875, 'wR': 0.875}
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.reports.metrics import classification_metrics

METRIC_NAMES = ("OA", "P", "R", "F1", "IoU", "wP", "wR", "wF1", "wIoU", "MCC", "Kappa")
"""The overall metrics of VL3D's evaluators, in VL3D's order."""
CLASS_METRIC_NAMES = ("P", "R", "F1", "IoU")
"""The class-wise metrics of VL3D's evaluators."""


def _mean(values: Sequence[float | None], weights: Sequence[float]) -> float | None:
    pairs = [(float(v), float(w)) for v, w in zip(values, weights) if v is not None and w > 0]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total > 0 else None


def class_metrics(confusion: Any) -> list[dict[str, Any]]:
    """Per class: ``P``, ``R``, ``F1``, ``IoU`` (None where undefined) and ``support``.

    Example:
        >>> class_metrics([[3, 1], [0, 4]])[1]["P"]
        0.8
    """
    cm = np.asarray(confusion)
    names = [f"c{k}" for k in range(cm.shape[0])] if cm.ndim == 2 else []
    result = classification_metrics(cm, class_names=names)
    return [result["per_class"][name] for name in names]


def named_metrics(confusion: Any, *, names: Sequence[str] = METRIC_NAMES) -> dict[str, float | None]:
    """The VL3D overall metrics ``names`` of a confusion matrix, in the given order.

    Raises:
        DataError: an unknown metric name, or a matrix :func:`classification_metrics` refuses.

    Example:
        >>> m = named_metrics([[3, 1], [0, 4]])
        >>> m["P"], m["wIoU"]
        (0.9, 0.775)
    """
    unknown = [name for name in names if name not in METRIC_NAMES]
    if unknown:
        raise DataError(f"evaluation metrics: expected names among {list(METRIC_NAMES)}; got {unknown}")
    cm = np.asarray(confusion)
    overall = classification_metrics(cm, class_names=[f"c{k}" for k in range(cm.shape[0])])
    rows = list(overall["per_class"].values())
    support = [row["support"] for row in rows]
    present = [1.0 if s > 0 else 0.0 for s in support]
    values: dict[str, float | None] = {"OA": overall["OA"], "MCC": overall["MCC"], "Kappa": overall["Kappa"]}
    for key in CLASS_METRIC_NAMES:
        column = [row[key] for row in rows]
        values[key] = _mean(column, present)
        values[f"w{key}"] = _mean(column, support)
    return {name: values[name] for name in names}
