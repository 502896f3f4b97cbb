"""Evaluation and training reports: JSON, text, CSV and PNG files (matplotlib, Agg backend).

Every file is written to a temporary name beside its target, then renamed into place.

Example:
    >>> write_evaluation(metrics, report_path="out/eval/evaluation.json")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from vl3d_focal.errors import DataError  # noqa: E402

logger = logging.getLogger(__name__)

@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` that replaces ``path`` when the block succeeds.

    The parent folder is created; the temporary name keeps the suffix (matplotlib picks the
    format from it). On error the temporary file is removed and the target left untouched.

    Example:
        >>> with atomic_path("out/report.txt") as tmp:  # doctest: +SKIP
        ...     tmp.write_text("done")
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:12]}.tmp{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_figure(fig: Figure, *, path: Path, dpi: int = 120) -> None:
    """Saves ``fig`` to ``path`` (format from the suffix) through :func:`atomic_path`, then closes it.

    Example:
        >>> save_figure(plt.figure(), path=Path("out/empty.png"))  # doctest: +SKIP
    """
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    logger.info("wrote %s", path)


def class_rgba(colors: Sequence[str | None] | None, *, count: int) -> list[tuple[float, ...]]:
    """The given colours as RGBA, with matplotlib's tab10/tab20 colours where none is given.

    Raises:
        DataError: more colours than classes, or a colour matplotlib does not know.

    Example:
        >>> class_rgba(["#ff0000"], count=2)[0]
        (1.0, 0.0, 0.0, 1.0)
    """
    palette = plt.get_cmap("tab10" if count <= 10 else "tab20")
    given = list(colors or [])
    if len(given) > count:
        raise DataError(f"got {len(given)} class colours for {count} classes")
    given += [None] * (count - len(given))
    out = []
    for k, color in enumerate(given):
        try:
            out.append(to_rgba(color) if color else palette(k % palette.N))
        except ValueError:
            raise DataError(f"class colour {k} must be a matplotlib colour such as '#a0785a'; got {color!r}") from None
    return out


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_text_report(metrics: Mapping[str, Any]) -> str:
    """A human-readable report of :func:`vl3d_focal.evaluation.classification_metrics`' result.

    Overall scores, one line per class ("n/a" marks undefined values), the confusion matrix.

    Example:
        >>> from vl3d_focal.evaluation import classification_metrics
        >>> print(format_text_report(classification_metrics([[1]], class_names=["a"])).splitlines()[0])
        Classification evaluation (1 points, 1 classes)
    """
    names = list(metrics["class_names"])
    total = int(np.sum(metrics["confusion_matrix"]))
    width = max([len("class")] + [len(n) for n in names])
    lines = [f"Classification evaluation ({total} points, {len(names)} classes)", ""]
    for key, label in (("OA", "Overall accuracy"), ("mIoU", "Mean IoU"), ("macro_F1", "Macro F1"),
                       ("MCC", "Matthews corr. coef."), ("Kappa", "Cohen's kappa")):
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


def _plot_confusion(cm: np.ndarray, names: Sequence[str], path: Path) -> None:
    totals = cm.sum(axis=1, keepdims=True)
    normalised = np.divide(cm, totals, out=np.zeros(cm.shape, dtype=np.float64), where=totals > 0)
    size = max(4.0, 0.7 * len(names) + 2.5)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1.5, size), layout="constrained")
    panels = ((axes[0], cm, "Counts", lambda v: f"{int(v)}"),
              (axes[1], normalised, "Row-normalised (recall)", lambda v: f"{v:.2f}"))
    for ax, values, title, fmt in panels:
        image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if values is normalised else None)
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set(title=title, xlabel="Predicted class", ylabel="Reference class",
               xticks=range(len(names)), yticks=range(len(names)))
        ax.set_xticklabels(names, rotation=45, ha="right")
        ax.set_yticklabels(names)
        if len(names) <= 20:
            threshold = 0.5 * float(values.max()) if values.size else 0.0
            for (i, j), value in np.ndenumerate(values):
                ax.text(j, i, fmt(value), ha="center", va="center", fontsize=8,
                        color="white" if value > threshold else "black")
    fig.suptitle("Confusion matrix")
    save_figure(fig, path=path)


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    logger.info("wrote %s", path)


def _plot_distribution(series: Mapping[str, np.ndarray], names: list[str], colors: list[Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(names) * len(series) / 2 + 3), 4.5), layout="constrained")
    x = np.arange(len(names))
    width = 0.8 / len(series)
    hatches = ["", "//", "..", "xx", "\\\\"]
    for s, (label, counts) in enumerate(series.items()):
        ax.bar(x + (s - (len(series) - 1) / 2) * width, np.maximum(counts, 0.5), width, color=colors,
               edgecolor="black", linewidth=0.5, hatch=hatches[s % len(hatches)], label=label)
    ax.set_yscale("log")
    ax.set(xticks=x, ylabel="points (log scale)", title="Class distribution")
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.legend(handles=[Patch(facecolor="white", edgecolor="black", hatch=hatches[s % len(hatches)], label=label)
                       for s, label in enumerate(series)])
    save_figure(fig, path=path)


def write_evaluation(
    metrics: Mapping[str, Any],
    *,
    report_path: str | os.PathLike[str],
    class_colors: Sequence[str | None] | None = None,
    class_counts: Mapping[str, Sequence[int]] | None = None,
) -> dict[str, Path]:
    """Writes an evaluation: JSON, text report, confusion-matrix PNG, class distribution CSV + PNG.

    With ``report_path`` = ``eval/evaluation.json`` the files are ``eval/evaluation.json``,
    ``eval/evaluation.txt``, ``eval/evaluation_confusion.png``,
    ``eval/evaluation_class_distribution.csv`` and ``eval/evaluation_class_distribution.png``.

    Args:
        metrics: the result of :func:`vl3d_focal.evaluation.classification_metrics`.
        report_path: where the JSON goes; the other files go beside it.
        class_colors: one matplotlib colour per class (None entries take defaults).
        class_counts: extra named count series for the class distribution, e.g.
            ``{"training": [...]}``, beside the reference and predicted counts.

    Returns:
        ``{"json", "text", "confusion_png", "distribution_csv", "distribution_png"}`` paths.

    Raises:
        DataError: a count series or colour list does not match the classes.

    Example:
        >>> from vl3d_focal.evaluation import classification_metrics
        >>> m = classification_metrics([[5, 1], [0, 3]], class_names=["ground", "pole"])
        >>> write_evaluation(m, report_path="out/eval/evaluation.json")["text"]  # doctest: +SKIP
        PosixPath('out/eval/evaluation.txt')
    """
    json_path = Path(report_path)
    names = list(metrics["class_names"])
    cm = np.asarray(metrics["confusion_matrix"], dtype=np.int64)
    series = {"reference": cm.sum(axis=1), "predicted": cm.sum(axis=0)}
    for label, counts in (class_counts or {}).items():
        counts = np.asarray(counts, dtype=np.int64).reshape(-1)
        if counts.size != len(names):
            raise DataError(f"class_counts[{label!r}] must give {len(names)} counts (one per class); got {counts.size}")
        series[str(label)] = counts
    colors = class_rgba(class_colors, count=len(names))
    stem = json_path.with_suffix("")
    paths = {
        "json": json_path,
        "text": json_path.with_suffix(".txt"),
        "confusion_png": Path(f"{stem}_confusion.png"),
        "distribution_csv": Path(f"{stem}_class_distribution.csv"),
        "distribution_png": Path(f"{stem}_class_distribution.png"),
    }
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    logger.info("wrote %s (OA %s, mIoU %s)", json_path, _fmt(metrics["OA"]), _fmt(metrics["mIoU"]))
    with atomic_path(paths["text"]) as tmp:
        tmp.write_text(format_text_report(metrics), encoding="utf-8")
    _plot_confusion(cm, names, paths["confusion_png"])
    header = ["class", *series]
    rows = [[name, *(int(series[label][k]) for label in series)] for k, name in enumerate(names)]
    _write_csv(paths["distribution_csv"], header, rows)
    _plot_distribution(series, names, colors, paths["distribution_png"])
    return paths


def plot_training_history(*, csv_path: str | os.PathLike[str], png_path: str | os.PathLike[str]) -> Path:
    """Plots a training history CSV (an ``epoch`` column, then one column per quantity).

    Each quantity gets a panel; ``val_<name>`` is drawn in the panel of ``<name>``.

    Args:
        csv_path: the CSV, as written by :func:`write_training_history`.
        png_path: the picture to write (returned as a Path).

    Example:
        >>> plot_training_history(csv_path="out/history.csv", png_path="out/history.png")  # doctest: +SKIP
    """
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise DataError(f"training history {csv_path} has no epochs")
    columns = [c for c in rows[0] if c != "epoch"]
    epochs = [int(row["epoch"]) for row in rows] if "epoch" in rows[0] else list(range(1, len(rows) + 1))
    history = {c: [float(row[c]) if row[c] not in ("", None) else np.nan for row in rows] for c in columns}
    groups: dict[str, list[str]] = {}
    for column in columns:
        base = column[4:] if column.startswith("val_") and column[4:] in columns else column
        groups.setdefault(base, []).append(column)
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.8), layout="constrained", squeeze=False)
    for ax, (base, members) in zip(axes[0], groups.items()):
        for column in members:
            ax.plot(epochs, history[column], marker="o", markersize=3,
                    label="validation" if column.startswith("val_") else "training")
        if base in ("learning_rate", "lr") or base.endswith("loss"):
            values = np.asarray([history[c] for c in members], dtype=np.float64)
            if np.all(values[np.isfinite(values)] > 0):
                ax.set_yscale("log")
        ax.set(title=base, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if len(members) > 1:
            ax.legend()
    fig.suptitle("Training history")
    path = Path(png_path)
    save_figure(fig, path=path)
    return path


def write_training_history(
    history: Mapping[str, Sequence[float]], *, csv_path: str | os.PathLike[str], png_path: str | os.PathLike[str]
) -> dict[str, Path]:
    """Writes a Keras ``History.history`` dictionary as CSV (epochs from 1) and plots it.

    Args:
        history: quantity name -> one value per epoch (all the same length).
        csv_path: the CSV to write.
        png_path: the picture to write (see :func:`plot_training_history`).

    Returns:
        ``{"csv", "png"}`` paths.

    Raises:
        DataError: the history is empty or its lists differ in length.

    Example:
        >>> write_training_history({"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]},
        ...                        csv_path="h.csv", png_path="h.png")  # doctest: +SKIP
    """
    lengths = {name: len(values) for name, values in history.items()}
    if not lengths or max(lengths.values()) == 0:
        raise DataError("training history has no epochs")
    if len(set(lengths.values())) != 1:
        raise DataError(f"training history lists must have one value per epoch; got lengths {lengths}")
    epochs = next(iter(lengths.values()))
    names = list(history)
    rows = [[epoch + 1, *(float(history[name][epoch]) for name in names)] for epoch in range(epochs)]
    _write_csv(Path(csv_path), ["epoch", *names], rows)
    return {"csv": Path(csv_path), "png": plot_training_history(csv_path=csv_path, png_path=png_path)}
