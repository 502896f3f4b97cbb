"""VL3D's evaluation metrics, by name, from a confusion matrix (rows reference, columns predicted).

VL3D computes them with scikit-learn's default conventions, and so do these:

* ``OA``: the fraction of points whose predicted class is the reference.
* ``P``, ``R``, ``F1``, ``IoU``: per-class precision ``tp / predicted``, recall
  ``tp / support``, F1 ``2 tp / (support + predicted)`` and IoU (Jaccard)
  ``tp / (support + predicted - tp)``, averaged over the classes present in the reference or
  in the predictions (scikit-learn's ``average="macro"``); a ratio with a zero denominator
  counts as 0 (scikit-learn's ``zero_division`` default).
* ``wP``, ``wR``, ``wF1``, ``wIoU``: the same per-class values averaged with the classes'
  reference counts as weights (``average="weighted"``).
* ``MCC``: the multiclass Matthews correlation coefficient, 0 when undefined (a constant
  reference or prediction), as scikit-learn; ``Kappa``: Cohen's kappa, None when undefined
  (the chance agreement is 1; scikit-learn gives NaN).

Class metrics (``class_metrics``: ``P``, ``R``, ``F1``, ``IoU``) are the per-class values, 0
where undefined (scikit-learn with ``labels=[class]``).

Example:
    >>> cm = [[2, 1, 1], [1, 2, 0], [0, 1, 1]]
    >>> m = global_metrics(cm, names=["OA", "P", "wR"])
    >>> {k: round(v, 4) for k, v in m.items()}
    {'OA': 0.5556, 'P': 0.5556, 'wR': 0.5556}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.reports.metrics import cohen_kappa, matthews_corrcoef

GLOBAL_METRICS: tuple[str, ...] = ("OA", "P", "R", "F1", "IoU", "wP", "wR", "wF1", "wIoU", "MCC", "Kappa")
"""VL3D's ``metrics`` names, in its documentation's order."""
CLASS_METRICS: tuple[str, ...] = ("P", "R", "F1", "IoU")
"""VL3D's ``class_metrics`` names."""


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _counts(confusion: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cm = np.asarray(confusion, dtype=np.int64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise DataError(f"confusion must be a square matrix; got shape {cm.shape}")
    if cm.sum() <= 0 or (cm < 0).any():
        raise DataError("confusion must hold non-negative counts of at least one point")
    return np.diag(cm).astype(np.float64), cm.sum(axis=1).astype(np.float64), cm.sum(axis=0).astype(np.float64)


def per_class_metrics(confusion: Any) -> dict[str, list[float]]:
    """``{"P", "R", "F1", "IoU"}``: one value per class, 0 where the denominator is 0.

    Example:
        >>> per_class_metrics([[3, 1], [0, 0]])["P"]
        [1.0, 0.0]
    """
    tp, support, predicted = _counts(confusion)
    return {
        "P": _safe_ratio(tp, predicted).tolist(),
        "R": _safe_ratio(tp, support).tolist(),
        "F1": _safe_ratio(2 * tp, support + predicted).tolist(),
        "IoU": _safe_ratio(tp, support + predicted - tp).tolist(),
    }


def global_metrics(confusion: Any, *, names: Sequence[str] = GLOBAL_METRICS) -> dict[str, float | None]:
    """The named VL3D metrics of a confusion matrix (see the module docstring), in ``names`` order.

    Raises:
        DataError: an unknown metric name, or a matrix that is not square or counts no point.

    Example:
        >>> global_metrics([[5, 0], [0, 5]], names=["MCC", "Kappa"])
        {'MCC': 1.0, 'Kappa': 1.0}
    """
    unknown = [name for name in names if name not in GLOBAL_METRICS]
    if unknown:
        raise DataError(f"unknown VL3D metrics {unknown}; expected some of {list(GLOBAL_METRICS)}")
    tp, support, predicted = _counts(confusion)
    per = {key: np.asarray(values) for key, values in per_class_metrics(confusion).items()}
    present = (support + predicted) > 0
    weights = support[present] / support.sum()
    values: dict[str, float | None] = {"OA": float(tp.sum() / support.sum())}
    for key in CLASS_METRICS:
        values[key] = float(per[key][present].mean())
        values["w" + key] = float(np.sum(weights * per[key][present]))
    mcc = matthews_corrcoef(np.asarray(confusion))
    values["MCC"] = 0.0 if mcc is None else mcc
    values["Kappa"] = cohen_kappa(np.asarray(confusion))
    return {name: values[name] for name in names}
