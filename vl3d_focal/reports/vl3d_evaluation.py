"""VL3D's evaluation outputs: text reports (any suffix, e.g. ``.log``) and plots (``.svg``/``.png``).

One function per file of VL3D's ``ClassificationEvaluator`` (and of its training evaluation):
the global report (the ``metrics``, in percent), the class report (the ``class_metrics`` of
each class, in percent), the confusion matrix (counts), the class distribution (reference and
predicted counts and percentages), and the two plots. :func:`write_vl3d_evaluation` writes the
ones whose path is given.

Example:
    >>> print(format_global_report({"OA": 0.9, "MCC": None}), end="")
             OA,        MCC
         90.000,        n/a
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.io.atomic import write_text
from vl3d_focal.reports.evaluation_report import plot_confusion, plot_distribution
from vl3d_focal.reports.figures import class_rgba
from vl3d_focal.reports.vl3d_metrics import global_metrics, per_class_metrics

logger = logging.getLogger(__name__)

CELL = 11
"""Width of a value column."""

REPORT_KEYS: tuple[str, ...] = (
    "report_path",
    "class_report_path",
    "confusion_matrix_report_path",
    "confusion_matrix_plot_path",
    "class_distribution_report_path",
    "class_distribution_plot_path",
)
"""The output keys of VL3D's ClassificationEvaluator, in the order they are written."""


def _percent(value: float | None) -> str:
    return f"{'n/a':>{CELL}}" if value is None else f"{100.0 * value:{CELL}.3f}"


def _row(cells: Iterable[str]) -> str:
    return ",".join(cells) + "\n"


def format_global_report(values: Mapping[str, float | None]) -> str:
    """The metrics' names, then their values in percent (n/a: undefined).

    Example:
        >>> format_global_report({"OA": 1.0}).splitlines()[1].strip()
        '100.000'
    """
    return _row(f"{name:>{CELL}}" for name in values) + _row(_percent(v) for v in values.values())


def format_class_report(per_class: Mapping[str, Sequence[float]], *, class_names: Sequence[str]) -> str:
    """One row per class: its name, then each class metric in percent.

    Example:
        >>> print(format_class_report({"P": [1.0, 0.5]}, class_names=["a", "b"]), end="")
        class           ,          P
        a               ,    100.000
        b               ,     50.000
    """
    width = max([16] + [len(name) for name in class_names])
    text = _row([f"{'class':<{width}}", *(f"{name:>{CELL}}" for name in per_class)])
    for k, name in enumerate(class_names):
        text += _row([f"{name:<{width}}", *(_percent(values[k]) for values in per_class.values())])
    return text


def format_confusion_report(confusion: Any, *, class_names: Sequence[str]) -> str:
    """The confusion matrix: rows are reference classes, columns predicted classes.

    Example:
        >>> print(format_confusion_report([[3, 1], [0, 2]], class_names=["a", "b"]), end="")
        reference \\ predicted,          a,          b
        a                    ,          3,          1
        b                    ,          0,          2
    """
    cm = np.asarray(confusion, dtype=np.int64)
    corner = "reference \\ predicted"
    width = max([len(corner)] + [len(name) for name in class_names])
    cell = max(CELL, *(len(name) for name in class_names))
    text = _row([f"{corner:<{width}}", *(f"{name:>{cell}}" for name in class_names)])
    for name, row in zip(class_names, cm):
        text += _row([f"{name:<{width}}", *(f"{int(v):>{cell}}" for v in row)])
    return text


def format_distribution_report(confusion: Any, *, class_names: Sequence[str]) -> str:
    """Per class: reference points and percentage, predicted points and percentage.

    Example:
        >>> format_distribution_report([[3, 1], [0, 0]], class_names=["a", "b"]).splitlines()[1]
        'a               ,          4,    100.000,          3,     75.000'
    """
    cm = np.asarray(confusion, dtype=np.int64)
    reference, predicted = cm.sum(axis=1), cm.sum(axis=0)
    width = max([16] + [len(name) for name in class_names])
    header = ["class", "reference", "ref. %", "predicted", "pred. %"]
    text = _row([f"{header[0]:<{width}}", *(f"{h:>{CELL}}" for h in header[1:])])
    for k, name in enumerate(class_names):
        text += _row(
            [
                f"{name:<{width}}",
                f"{int(reference[k]):>{CELL}}",
                _percent(reference[k] / reference.sum()),
                f"{int(predicted[k]):>{CELL}}",
                _percent(predicted[k] / predicted.sum()),
            ]
        )
    return text


def write_vl3d_evaluation(
    confusion: Any,
    *,
    class_names: Sequence[str],
    metrics: Sequence[str],
    class_metrics: Sequence[str],
    paths: Mapping[str, str | Path | None],
    colors: Sequence[str | None] | None = None,
) -> list[Path]:
    """Writes the files of :data:`REPORT_KEYS` whose path is given in ``paths``.

    Args:
        confusion: ``(C, C)`` counts, rows reference.
        class_names: the C class names.
        metrics: the global metrics of the ``report_path`` report (VL3D names).
        class_metrics: the per-class metrics of the ``class_report_path`` report.
        paths: ``{key of REPORT_KEYS: path or None}``; a missing or None path is not written.
        colors: class colours of the distribution plot (None: matplotlib's).

    Returns:
        The files written.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> written = write_vl3d_evaluation([[3, 1], [0, 2]], class_names=["a", "b"], metrics=["OA"],
        ...     class_metrics=["P"], paths={"report_path": out / "global.log",
        ...                                 "confusion_matrix_plot_path": out / "cm.svg"})
        >>> [p.name for p in written], (out / "global.log").read_text().split()
        (['global.log', 'cm.svg'], ['OA', '83.333'])
    """
    cm = np.asarray(confusion, dtype=np.int64)
    names = [str(name) for name in class_names]
    per_class = per_class_metrics(cm)
    texts = {
        "report_path": lambda: format_global_report(global_metrics(cm, names=list(metrics))),
        "class_report_path": lambda: format_class_report({k: per_class[k] for k in class_metrics}, class_names=names),
        "confusion_matrix_report_path": lambda: format_confusion_report(cm, class_names=names),
        "class_distribution_report_path": lambda: format_distribution_report(cm, class_names=names),
    }
    written = []
    for key in REPORT_KEYS:
        path = paths.get(key)
        if path is None:
            continue
        path = Path(path)
        if key in texts:
            write_text(path, texts[key]())
        elif key == "confusion_matrix_plot_path":
            plot_confusion(cm, names, path)
        else:
            series = {"reference": cm.sum(axis=1), "predicted": cm.sum(axis=0)}
            plot_distribution(series, names, class_rgba(colors, count=len(names)), path)
        written.append(path)
    return written
