"""The evaluation report of one cloud: JSON, text, confusion matrix and class distribution.

Example:
    >>> from vl3d_focal.reports.metrics import classification_metrics
    >>> print(format_text_report(classification_metrics([[1]], class_names=["a"])).splitlines()[0])
    Classification evaluation (1 points, 1 classes)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import write_text
from vl3d_focal.reports.figures import class_rgba, pyplot, save_figure, set_margins, text_inches
from vl3d_focal.reports.files import evaluation_files, is_picture, write_csv
from vl3d_focal.reports.svg_pictures import confusion_svg, distribution_svg, write_svg

logger = logging.getLogger(__name__)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_text_report(metrics: Mapping[str, Any]) -> str:
    """A human-readable report of :func:`vl3d_focal.reports.metrics.classification_metrics`' result.

    The feature warnings of the prediction first, if any, and the points a ``RemovalImputer`` left
    out (``left_out_points``); overall scores, one line per class
    ("n/a" marks undefined values), the confusion matrix.

    Example:
        >>> from vl3d_focal.reports.metrics import classification_metrics
        >>> print(format_text_report(classification_metrics([[1]], class_names=["a"])).splitlines()[0])
        Classification evaluation (1 points, 1 classes)
    """
    names = list(metrics["class_names"])
    total = int(np.sum(metrics["confusion_matrix"]))
    width = max([len("class")] + [len(n) for n in names])
    lines = [f"Classification evaluation ({total} points, {len(names)} classes)", ""]
    for warning in metrics.get("feature_warnings") or []:
        lines += [f"WARNING: {warning}", ""]
    if metrics.get("left_out_points"):
        lines += [
            f"{metrics['left_out_points']} points left out by a RemovalImputer: their nearest kept point's class",
            "",
        ]
    for key, label in (
        ("OA", "Overall accuracy"),
        ("mIoU", "Mean IoU"),
        ("macro_F1", "Macro F1"),
        ("MCC", "Matthews corr. coef."),
        ("Kappa", "Cohen's kappa"),
    ):
        lines.append(f"  {label:<22}{key:>9}  {_fmt(metrics[key])}")
    lines += ["", "  mIoU and macro F1 average the classes present in the reference; n/a = undefined.", ""]
    header = f"  {'class':<{width}}  {'precision':>9}  {'recall':>9}  {'F1':>9}  {'IoU':>9}  {'support':>10}"
    lines += [header, "  " + "-" * (len(header) - 2)]
    for name in names:
        row = metrics["per_class"][name]
        lines.append(
            f"  {name:<{width}}  {_fmt(row['P']):>9}  {_fmt(row['R']):>9}  {_fmt(row['F1']):>9}  "
            f"{_fmt(row['IoU']):>9}  {row['support']:>10}"
        )
    lines += ["", "Confusion matrix (rows: reference, columns: predicted)", ""]
    cm = np.asarray(metrics["confusion_matrix"], dtype=np.int64)
    cell = max([len(n) for n in names] + [len(str(int(cm.max()))) if cm.size else 1])
    lines.append("  " + " " * width + "".join(f"  {n:>{cell}}" for n in names))
    for name, row in zip(names, cm):
        lines.append(f"  {name:<{width}}" + "".join(f"  {int(v):>{cell}}" for v in row))
    return "\n".join(lines) + "\n"


def plot_confusion(cm: np.ndarray, names: Sequence[str], path: Path) -> None:
    """The confusion matrix, counts and row-normalised; the suffix (``.svg``, ``.png``, ``.pdf``) is
    the format: SVG is written as text (:func:`~vl3d_focal.reports.svg_pictures.confusion_svg`),
    the others by matplotlib.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> plot_confusion(np.array([[3, 1], [0, 2]]), ["a", "b"], folder / "cm.svg")
        >>> plot_confusion(np.array([[3, 1], [0, 2]]), ["a", "b"], folder / "cm.png")
        >>> (folder / "cm.svg").read_text()[:5], (folder / "cm.png").read_bytes()[:4]
        ('<?xml', b'\\x89PNG')
    """
    if Path(path).suffix.lower() == ".svg":
        write_svg(path, confusion_svg(cm, names))
        return
    totals = cm.sum(axis=1, keepdims=True)
    normalised = np.divide(cm, totals, out=np.zeros(cm.shape, dtype=np.float64), where=totals > 0)
    longest = text_inches(max((len(n) for n in names), default=1))  # a class name, in inches
    size = max(4.0, 0.7 * len(names) + 2.5)
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1.5 + 2 * longest, size + 0.71 * longest))
    panels = (
        (axes[0], cm, "Counts", lambda v: f"{int(v)}"),
        (axes[1], normalised, "Row-normalised (recall)", lambda v: f"{v:.2f}"),
    )
    for ax, values, title, fmt in panels:
        image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if values is normalised else None)
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set(
            title=title,
            xlabel="Predicted class",
            ylabel="Reference class",
            xticks=range(len(names)),
            yticks=range(len(names)),
        )
        ax.set_xticklabels(names, rotation=45, ha="right")
        ax.set_yticklabels(names)
        if len(names) <= 20:
            threshold = 0.5 * float(values.max()) if values.size else 0.0
            for (i, j), value in np.ndenumerate(values):
                ax.text(
                    j,
                    i,
                    fmt(value),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if value > threshold else "black",
                )
    fig.suptitle("Confusion matrix")
    count = text_inches(len(f"{int(cm.max())}" if cm.size else "0"))  # the colour bar's tick labels
    set_margins(
        fig, left=longest + 0.7, right=count + 0.5, bottom=0.71 * longest + 0.6, top=0.8, gap=longest + count + 0.4
    )
    save_figure(fig, path=path, tight=False)


def plot_distribution(series: Mapping[str, np.ndarray], names: list[str], colors: list[Any], path: Path) -> None:
    """Points per class of each named series (log scale); the suffix is the format (SVG as text, in
    the series' colours: :func:`~vl3d_focal.reports.svg_pictures.distribution_svg`; others by
    matplotlib, in the classes' ``colors``).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "d.png"
        >>> plot_distribution({"reference": np.array([5, 1])}, ["a", "b"], class_rgba(None, count=2), path)
        >>> path.read_bytes()[:4]
        b'\\x89PNG'
    """
    if Path(path).suffix.lower() == ".svg":
        write_svg(path, distribution_svg(series, names))
        return
    from matplotlib.patches import Patch

    longest = text_inches(max((len(n) for n in names), default=1))  # a class name, in inches
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(names) * len(series) / 2 + 3), 4.5 + 0.5 * longest))
    x = np.arange(len(names))
    width = 0.8 / len(series)
    hatches = ["", "//", "..", "xx", "\\\\"]
    for s, (label, counts) in enumerate(series.items()):
        ax.bar(
            x + (s - (len(series) - 1) / 2) * width,
            np.maximum(counts, 0.5),
            width,
            color=colors,
            edgecolor="black",
            linewidth=0.5,
            hatch=hatches[s % len(hatches)],
            label=label,
        )
    ax.set_yscale("log")
    ax.set(xticks=x, ylabel="points (log scale)", title="Class distribution")
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.legend(
        handles=[
            Patch(facecolor="white", edgecolor="black", hatch=hatches[s % len(hatches)], label=label)
            for s, label in enumerate(series)
        ]
    )
    set_margins(fig, left=1.6, right=0.2, bottom=0.5 * longest + 0.3, top=0.45)  # log ticks as 2.5x10^4
    save_figure(fig, path=path, tight=False)


def write_evaluation(
    metrics: Mapping[str, Any],
    *,
    report_path: str | os.PathLike[str],
    class_colors: Sequence[str | None] | None = None,
    class_counts: Mapping[str, Sequence[int]] | None = None,
    pictures: bool = True,
) -> dict[str, Path]:
    """Writes an evaluation: JSON, text report, confusion-matrix SVG, class distribution CSV + SVG.

    With ``report_path`` = ``eval/evaluation.json`` the files are ``eval/evaluation.json``,
    ``eval/evaluation.txt``, ``eval/evaluation_confusion.svg``,
    ``eval/evaluation_class_distribution.csv`` and ``eval/evaluation_class_distribution.svg``.

    Args:
        metrics: the result of :func:`vl3d_focal.reports.metrics.classification_metrics`.
        report_path: where the JSON goes; the other files go beside it.
        class_colors: one matplotlib colour per class (None entries take defaults).
        class_counts: extra named count series for the class distribution, e.g.
            ``{"training": [...]}``, beside the reference and predicted counts.
        pictures: False: no picture (the JSON, text and CSV only).

    Returns:
        The paths of the files written, named as in
        :func:`~vl3d_focal.reports.files.evaluation_files` (whose top-down picture
        :func:`~vl3d_focal.reports.topdown.plot_topdown` writes).

    Raises:
        DataError: a count series or colour list does not match the classes.

    Example:
        >>> from vl3d_focal.reports.metrics import classification_metrics
        >>> m = classification_metrics([[5, 1], [0, 3]], class_names=["ground", "pole"])
        >>> write_evaluation(m, report_path=out / "eval" / "evaluation.json")["text"].name
        'evaluation.txt'
    """
    json_path = Path(report_path)
    names = list(metrics["class_names"])
    cm = np.asarray(metrics["confusion_matrix"], dtype=np.int64)
    series = {"reference": cm.sum(axis=1), "predicted": cm.sum(axis=0)}
    for label, given in (class_counts or {}).items():
        counts = np.asarray(given, dtype=np.int64).reshape(-1)
        if counts.size != len(names):
            raise DataError(f"class_counts[{label!r}] must give {len(names)} counts (one per class); got {counts.size}")
        series[str(label)] = counts
    colors = class_rgba(class_colors, count=len(names))
    paths = {name: path for name, path in evaluation_files(json_path).items() if name != "topdown_svg"}
    if not pictures:
        paths = {name: path for name, path in paths.items() if not is_picture(name)}
    write_text(paths["json"], json.dumps(metrics, indent=2, allow_nan=False) + "\n", log=False)
    logger.info("wrote %s (OA %s, mIoU %s)", json_path, _fmt(metrics["OA"]), _fmt(metrics["mIoU"]))
    write_text(paths["text"], format_text_report(metrics), log=False)
    if pictures:
        plot_confusion(cm, names, paths["confusion_svg"])
    header = ["class", *series]
    rows = [[name, *(int(series[label][k]) for label in series)] for k, name in enumerate(names)]
    write_csv(paths["distribution_csv"], header, rows)
    if pictures:
        plot_distribution(series, names, colors, paths["distribution_svg"])
    return paths
