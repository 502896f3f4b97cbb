"""Classification metrics from a confusion matrix (rows: reference class, columns: predicted class).

Conventions, the same everywhere in this module:

* Points whose reference label is ``ignore_label`` are left out of the confusion matrix, hence
  out of every metric.
* A ratio whose denominator is zero is undefined and reported as ``None`` (``null`` in JSON),
  never NaN and never a made-up 0 or 1. For a class ``c`` with ``support`` reference points,
  ``predicted`` predicted points and ``tp`` hits:
  ``P = tp / predicted`` (None when nothing was predicted as ``c``),
  ``R = tp / support`` (None when ``c`` is absent from the reference),
  ``F1 = 2 tp / (support + predicted)`` and ``IoU = tp / (support + predicted - tp)`` (None only
  when ``c`` is neither in the reference nor predicted; a class predicted but absent from the
  reference gets F1 = IoU = 0).
* ``mIoU`` and ``macro_F1`` average over the classes present in the reference (support > 0),
  for which IoU and F1 are always defined; predictions into absent classes still lower them
  through the recall of the classes those points really belong to.
* ``MCC`` is the multiclass Matthews correlation coefficient (Gorodkin's R_K) and ``Kappa``
  Cohen's kappa; both are None when undefined (e.g. a single class in both reference and
  prediction).

Example:
    >>> cm = confusion_matrix([0, 0, 1, 2, -1], [0, 1, 1, 2, 0], num_classes=3)
    >>> cm.tolist()
    [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    >>> classification_metrics(cm, class_names=["a", "b", "c"])["OA"]
    0.75
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from vl3d_focal.errors import DataError

logger = logging.getLogger(__name__)


def _as_labels(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        array = array.reshape(-1)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise DataError(f"{name} must hold integer class indices; got dtype {array.dtype} with fractions")
    return array.astype(np.int64, copy=False)


def confusion_matrix(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, *, num_classes: int, ignore_label: int = -1
) -> np.ndarray:
    """Counts points per (reference, predicted) class pair, leaving ignored points out.

    Args:
        y_true: reference class indices in ``[0, num_classes)`` or ``ignore_label``.
        y_pred: predicted class indices in ``[0, num_classes)``, same length as ``y_true``.
        num_classes: number of classes C.
        ignore_label: reference label of points that are not scored.

    Returns:
        ``(C, C)`` int64 matrix, rows reference classes, columns predicted classes.

    Raises:
        DataError: lengths differ or a label is out of range.

    Example:
        >>> confusion_matrix([1, 1, 0, -1], [1, 0, 0, 1], num_classes=2).tolist()
        [[1, 0], [1, 1]]
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise DataError(f"num_classes must be a positive integer; got {num_classes!r}")
    truth = _as_labels(y_true, "y_true")
    pred = _as_labels(y_pred, "y_pred")
    if truth.shape != pred.shape:
        raise DataError(f"y_true and y_pred must have the same length; got {truth.size} and {pred.size}")
    keep = truth != ignore_label
    truth, pred = truth[keep], pred[keep]
    for name, labels in (("y_true", truth), ("y_pred", pred)):
        bad = (labels < 0) | (labels >= num_classes)
        if bad.any():
            values, counts = np.unique(labels[bad], return_counts=True)
            found = ", ".join(f"{v} ({c} points)" for v, c in zip(values.tolist(), counts.tolist()))
            raise DataError(
                f"{name} must hold classes in [0, {num_classes}) (reference points labelled "
                f"{ignore_label} are ignored); got {found}"
            )
    flat = np.bincount(truth * num_classes + pred, minlength=num_classes * num_classes)
    logger.debug("confusion matrix of %d points (%d ignored)", truth.size, int((~keep).sum()))
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator) / float(denominator) if denominator > 0 else None


def matthews_corrcoef(confusion: np.ndarray) -> float | None:
    """Multiclass Matthews correlation coefficient (Gorodkin's R_K) of a confusion matrix.

    ``(c s - sum_k p_k t_k) / sqrt((s^2 - sum_k p_k^2) (s^2 - sum_k t_k^2))`` with ``c`` the
    hits, ``s`` the points, ``t_k`` the reference and ``p_k`` the predicted counts of class k.

    Args:
        confusion: ``(C, C)`` counts, rows reference.

    Returns:
        The coefficient in [-1, 1], or None when a factor of the denominator is zero.

    Example:
        >>> matthews_corrcoef(np.array([[2, 0], [0, 2]]))
        1.0
    """
    cm = np.asarray(confusion, dtype=np.float64)
    s, c = cm.sum(), np.trace(cm)
    t, p = cm.sum(axis=1), cm.sum(axis=0)
    denominator = (s * s - p @ p) * (s * s - t @ t)
    if denominator <= 0:
        return None
    return float((c * s - p @ t) / np.sqrt(denominator))


def cohen_kappa(confusion: np.ndarray) -> float | None:
    """Cohen's kappa ``(p_o - p_e) / (1 - p_e)`` of a confusion matrix.

    Args:
        confusion: ``(C, C)`` counts, rows reference.

    Returns:
        Kappa, or None when the chance agreement ``p_e`` is 1 (or there are no points).

    Example:
        >>> cohen_kappa(np.array([[2, 0], [0, 2]]))
        1.0
    """
    cm = np.asarray(confusion, dtype=np.float64)
    s = cm.sum()
    if s <= 0:
        return None
    observed = np.trace(cm) / s
    expected = float(cm.sum(axis=1) @ cm.sum(axis=0)) / (s * s)
    if expected >= 1.0:
        return None
    return float((observed - expected) / (1.0 - expected))


def classification_metrics(
    confusion: np.ndarray | Sequence[Sequence[int]], *, class_names: Sequence[str], quiet: bool = False
) -> dict[str, Any]:
    """Overall and per-class metrics of a confusion matrix, JSON-ready (no NaN: None instead).

    Args:
        confusion: ``(C, C)`` counts, rows reference classes, columns predicted classes.
        class_names: the C class names, in index order.
        quiet: the classes absent from the reference are logged at DEBUG, not INFO (scores
            summed or read again from an earlier record, whose own scoring said it).

    Returns:
        ``{"OA", "mIoU", "macro_F1", "MCC", "Kappa", "class_names", "confusion_matrix",
        "per_class": {name: {"P", "R", "F1", "IoU", "support"}}}``; see the module docstring
        for undefined values (None) and the averaging of mIoU and macro_F1.

    Raises:
        DataError: the matrix is not square, does not match ``class_names``, has negative
            counts, or counts no point at all.

    Example:
        >>> m = classification_metrics([[3, 1], [0, 4]], class_names=["ground", "pole"])
        >>> m["OA"], m["per_class"]["pole"]["P"]
        (0.875, 0.8)
    """
    cm = np.asarray(confusion)
    names = [str(name) for name in class_names]
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise DataError(f"confusion must be a square matrix; got shape {cm.shape}")
    if cm.shape[0] != len(names):
        raise DataError(
            f"class_names must name the {cm.shape[0]} classes of the confusion matrix; got {len(names)}: {names}"
        )
    if len(set(names)) != len(names):
        raise DataError(f"class_names must be unique; got {names}")
    if (cm < 0).any() or not np.all(np.equal(np.mod(cm, 1), 0)):
        raise DataError("confusion must hold non-negative integer counts")
    cm = cm.astype(np.int64)
    total = int(cm.sum())
    if total == 0:
        raise DataError("the confusion matrix counts no point (were all reference points ignored?)")

    hits = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    per_class: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(names):
        tp, sup, pred = int(hits[k]), int(support[k]), int(predicted[k])
        per_class[name] = {
            "P": _ratio(tp, pred),
            "R": _ratio(tp, sup),
            "F1": _ratio(2 * tp, sup + pred),
            "IoU": _ratio(tp, sup + pred - tp),
            "support": sup,
        }
    present = [name for name, sup in zip(names, support) if sup > 0]
    absent = [name for name in names if name not in present]
    if absent:
        logger.log(
            logging.DEBUG if quiet else logging.INFO,
            "classes absent from the reference, left out of mIoU and macro_F1: %s",
            ", ".join(absent),
        )
    return {
        "OA": float(np.trace(cm)) / total,
        "mIoU": float(np.mean([per_class[name]["IoU"] for name in present])),
        "macro_F1": float(np.mean([per_class[name]["F1"] for name in present])),
        "MCC": matthews_corrcoef(cm),
        "Kappa": cohen_kappa(cm),
        "class_names": names,
        "confusion_matrix": cm.tolist(),
        "per_class": per_class,
    }
