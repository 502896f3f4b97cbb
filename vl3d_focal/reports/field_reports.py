"""Reports on receptive fields: the distribution of the classes among them, as VL3D writes it.

Per class, over the points of the fields (a point in several fields counts once per field): how
many are predicted as (or labelled with) the class and their share, and how many fields hold at
least one such point and their share. The text report has one row per class and a sum row; the
plot (format from the suffix) shows both counts for the predictions and the reference.

Example:
    >>> counts = FieldClassCounts.of(np.array([[0, 0, 1], [1, 1, -1]]), num_classes=2)
    >>> counts.points.tolist(), counts.fields.tolist()
    ([2, 3], [1, 2])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vl3d_focal.io.atomic import write_text
from vl3d_focal.reports.figures import class_rgba, pyplot, save_figure

logger = logging.getLogger(__name__)


@dataclass
class FieldClassCounts:
    """Per class: points of the fields with that class, and fields holding at least one.

    Attributes:
        points: ``(C,)`` points per class (ignored points, -1, left out).
        fields: ``(C,)`` fields holding the class.
        num_fields: fields counted.
    """

    points: np.ndarray
    fields: np.ndarray
    num_fields: int = 0

    @classmethod
    def of(cls, labels: np.ndarray, *, num_classes: int) -> FieldClassCounts:
        """The counts of ``(M, P)`` field labels.

        Example:
            >>> FieldClassCounts.of(np.array([[2, 2]]), num_classes=3).fields.tolist()
            [0, 0, 1]
        """
        counts = cls(np.zeros(num_classes, np.int64), np.zeros(num_classes, np.int64))
        counts.add(labels)
        return counts

    def add(self, labels: np.ndarray) -> None:
        """Counts more fields' ``(M, P)`` labels.

        Example:
            >>> c = FieldClassCounts.of(np.array([[0]]), num_classes=1); c.add(np.array([[0, 0]])); c.points.tolist()
            [3]
        """
        labels = np.asarray(labels)
        for cls in range(len(self.points)):
            hits = labels == cls
            self.points[cls] += int(hits.sum())
            self.fields[cls] += int(hits.any(axis=1).sum())
        self.num_fields += int(labels.shape[0])


def distribution_text(
    predicted: FieldClassCounts, reference: FieldClassCounts | None, *, class_names: Sequence[str]
) -> str:
    """VL3D's receptive-fields distribution table (see the module docstring).

    Example:
        >>> p = FieldClassCounts.of(np.array([[0, 1]]), num_classes=2)
        >>> print(distribution_text(p, None, class_names=["a", "b"]).splitlines()[1])
        a                       ,                1,          50.0000,                1,         100.0000
    """
    parts = [("PRED", predicted)] + ([("TRUE", reference)] if reference is not None else [])
    header = "CLASS                   "
    for label, _ in parts:
        header += f", {label + ' COUNT':>16}, {label + ' FREQ (%)':>16}, {label + ' RF COUNT':>16}, {label + ' RF FREQ (%)':>16}"
    lines = [header]
    sums = {label: np.zeros(4) for label, _ in parts}
    for cls, name in enumerate(class_names):
        line = f"{name:24.24}"
        for label, counts in parts:
            values = [
                counts.points[cls],
                counts.points[cls] / max(counts.points.sum(), 1),
                counts.fields[cls],
                counts.fields[cls] / max(counts.num_fields, 1),
            ]
            sums[label] += values
            line += f", {int(values[0]):16d}, {100 * values[1]:16.4f}, {int(values[2]):16d}, {100 * values[3]:16.4f}"
        lines.append(line)
    lines.append("")
    lines.append(
        "SUM                     "
        + "".join(f", {int(v[0]):16d}, {100 * v[1]:16.4f}, {int(v[2]):16d}, {100 * v[3]:16.4f}" for v in sums.values())
    )
    return "\n".join(lines) + "\n"


def plot_distribution(
    predicted: FieldClassCounts, reference: FieldClassCounts | None, *, class_names: Sequence[str], path: Path
) -> None:
    """Two panels, points and fields per class, predicted (and reference) side by side.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "rf.svg"
        >>> plot_distribution(FieldClassCounts.of(np.array([[0, 1]]), num_classes=2), None,
        ...                   class_names=["a", "b"], path=out)
        >>> "<svg" in out.read_text()
        True
    """
    series = [("predicted", predicted)] + ([("reference", reference)] if reference is not None else [])
    colors = class_rgba(None, count=len(class_names))
    x = np.arange(len(class_names))
    width = 0.8 / len(series)
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 1.2 * len(class_names) + 4), 4.5), layout="constrained")
    for ax, attribute, title in (
        (axes[0], "points", "points in the fields"),
        (axes[1], "fields", "fields holding the class"),
    ):
        for s, (label, counts) in enumerate(series):
            ax.bar(
                x + (s - (len(series) - 1) / 2) * width,
                getattr(counts, attribute),
                width,
                color=colors,
                edgecolor="black",
                linewidth=0.5,
                hatch="" if s == 0 else "//",
                label=label,
            )
        ax.set(xticks=x, title=title)
        ax.set_xticklabels(class_names, rotation=30, ha="right")
    axes[0].legend()
    fig.suptitle("Receptive fields: class distribution")
    save_figure(fig, path=Path(path))


def write_field_distribution(
    predicted: FieldClassCounts,
    reference: FieldClassCounts | None,
    *,
    class_names: Sequence[str],
    report_path: Path | None,
    plot_path: Path | None,
) -> None:
    """Writes the text report and/or the plot (each when its path is given).

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "rf.log"
        >>> write_field_distribution(FieldClassCounts.of(np.array([[0]]), num_classes=1), None,
        ...                          class_names=["a"], report_path=out, plot_path=None)
        >>> out.read_text().startswith("CLASS")
        True
    """
    if report_path is not None:
        write_text(Path(report_path), distribution_text(predicted, reference, class_names=class_names))
    if plot_path is not None:
        plot_distribution(predicted, reference, class_names=class_names, path=Path(plot_path))
