"""VL3D-style evaluation outputs: text tables (metrics in %, as VL3D's ``.log`` reports) and plots.

One function per report of VL3D's ``ClassificationEvaluator`` (and of a training's evaluation):
overall metrics, class-wise metrics, confusion matrix, class distribution. Text reports are
written whatever the path's suffix (VL3D writes ``.log``); plots take their format from the
suffix (``.svg``, ``.png``, ``.pdf``). Every file is written atomically.

Example:
    >>> print(metrics_table({"OA": 0.875, "MCC": None}), end="")
    OA    , MCC
    87.500, n/a
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.reports.evaluation_report import plot_class_distribution, plot_confusion
from vl3d_focal.reports.figures import class_rgba
from vl3d_focal.reports.vl3d_metrics import class_metrics, named_metrics

logger = logging.getLogger(__name__)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100.0 * value:.3f}"


def _rows(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    table = [[str(cell) for cell in header]] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[k]) for row in table) for k in range(len(header))]
    return "".join(", ".join(f"{cell:<{w}}" for cell, w in zip(row, widths)).rstrip() + "\n" for row in table)


def metrics_table(values: Mapping[str, float | None]) -> str:
    """One row of metric names, one of their values in percent.

    Example:
        >>> metrics_table({"OA": 0.5}).splitlines()
        ['OA', '50.000']
    """
    return _rows(list(values), [[_percent(v) for v in values.values()]])


def class_metrics_table(confusion: Any, *, class_names: Sequence[str], names: Sequence[str]) -> str:
    """One row per class: its ``names`` metrics (P, R, F1, IoU) in percent.

    Example:
        >>> print(class_metrics_table([[3, 1], [0, 4]], class_names=["a", "b"], names=["P"]), end="")
        CLASS, P
        a    , 100.000
        b    , 80.000
    """
    rows = class_metrics(confusion)
    return _rows(["CLASS", *names], [[name, *(_percent(row[m]) for m in names)] for name, row in zip(class_names, rows)])


def confusion_table(confusion: Any, *, class_names: Sequence[str]) -> str:
    """The confusion matrix: one row per reference class, one column per predicted class.

    Example:
        >>> confusion_table([[3, 1], [0, 4]], class_names=["a", "b"]).splitlines()[1]
        'a               , 3, 1'
    """
    cm = np.asarray(confusion, dtype=np.int64)
    return _rows(["TRUE \\ PREDICTED", *class_names], [[name, *row.tolist()] for name, row in zip(class_names, cm)])


def class_distribution_table(confusion: Any, *, class_names: Sequence[str]) -> str:
    """Points per class: predicted and reference counts and percentages.

    Example:
        >>> class_distribution_table([[3, 1], [0, 4]], class_names=["a", "b"]).splitlines()[1]
        'a    , 3          , 37.500        , 4         , 50.000'
    """
    cm = np.asarray(confusion, dtype=np.int64)
    predicted, reference = cm.sum(axis=0), cm.sum(axis=1)
    total = max(int(cm.sum()), 1)
    rows = [[name, int(p), f"{100.0 * p / total:.3f}", int(t), f"{100.0 * t / total:.3f}"]
            for name, p, t in zip(class_names, predicted, reference)]
    return _rows(["CLASS", "PRED. COUNT", "PRED. PERCENT.", "TRUE COUNT", "TRUE PERCENT."], rows)


def write_text(path: Path, text: str) -> Path:
    """Writes a text report atomically.

    Example:
        >>> import tempfile
        >>> write_text(Path(tempfile.mkdtemp()) / "r.log", "OA\\n").read_text()
        'OA\\n'
    """
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    logger.info("wrote %s", path)
    return Path(path)


def write_evaluation_outputs(
    confusion: Any, *, class_names: Sequence[str], metrics: Sequence[str], class_metric_names: Sequence[str],
    outputs: Mapping[str, Path | None],
) -> list[Path]:
    """Writes the requested outputs of an evaluation (missing or None keys are skipped).

    Args:
        confusion: ``(C, C)`` counts, rows reference.
        class_names: the C names.
        metrics: the overall metrics of ``outputs["evaluation_report"]``.
        class_metric_names: the class-wise metrics of ``outputs["class_evaluation_report"]``.
        outputs: paths under the keys ``evaluation_report``, ``class_evaluation_report``,
            ``confusion_matrix_report``, ``confusion_matrix_plot``, ``class_distribution_report``,
            ``class_distribution_plot``.

    Returns:
        The paths written.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> [p.name for p in write_evaluation_outputs([[3, 1], [0, 4]], class_names=["a", "b"], metrics=["OA"],
        ...     class_metric_names=["P"], outputs={"evaluation_report": out / "eval.log"})]
        ['eval.log']
    """
    cm = np.asarray(confusion, dtype=np.int64)
    texts = {
        "evaluation_report": lambda: metrics_table(named_metrics(cm, names=metrics)),
        "class_evaluation_report": lambda: class_metrics_table(cm, class_names=class_names, names=class_metric_names),
        "confusion_matrix_report": lambda: confusion_table(cm, class_names=class_names),
        "class_distribution_report": lambda: class_distribution_table(cm, class_names=class_names),
    }
    written = [write_text(outputs[key], make()) for key, make in texts.items() if outputs.get(key)]
    if outputs.get("confusion_matrix_plot"):
        plot_confusion(cm, list(class_names), outputs["confusion_matrix_plot"])
        written.append(outputs["confusion_matrix_plot"])
    if outputs.get("class_distribution_plot"):
        series = {"reference": cm.sum(axis=1), "predicted": cm.sum(axis=0)}
        colors = class_rgba(None, count=len(class_names))
        plot_class_distribution(series, list(class_names), colors, outputs["class_distribution_plot"])
        written.append(outputs["class_distribution_plot"])
    return written
