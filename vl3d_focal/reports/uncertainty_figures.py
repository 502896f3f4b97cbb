"""The figures of an uncertainty evaluation (VL3D's ``ClassificationUncertaintyEvaluator`` plots).

One SVG figure per measure (:data:`FIGURE_NAMES`), four panels each: the measure's histogram
(percent of the points), its histograms on the successfully and the wrongly classified points
(each group normalised to 100 %), and its distribution per reference class and per predicted
class (violin plots of ``kernel_points`` points each, VL3D's ``gaussian_kernel_points``; a class
whose values are all one value is a line), under a title naming the cloud and the measure's unit
(:data:`UNITS`). The SVG text is text (``svg.fonttype: none``). matplotlib is imported when a
figure is drawn.

Example:
    >>> FIGURE_NAMES["ClassAmbiguity"]
    'class_ambiguity_figure.svg'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.reports.figures import pyplot, save_figure

FIGURE_NAMES = {
    "PointWiseEntropy": "point_wise_entropy_figure.svg",
    "WeightedEntropy": "weighted_entropy_figure.svg",
    "ClusterWiseEntropy": "cluster_wise_entropy_figure.svg",
    "ClassAmbiguity": "class_ambiguity_figure.svg",
}
"""Measure (the report's dimension) -> its figure's file name in the plot folder."""
UNITS = {"ClassAmbiguity": "no unit, 0 to 1"}
"""The unit of a measure in its figure's title; the entropies: bits (log2)."""
BINS = 32


def _percent(values: np.ndarray) -> np.ndarray:
    return np.full(len(values), 100.0 / max(len(values), 1))


def _success_panel(ax: Any, values: np.ndarray, reference: np.ndarray | None, predicted: np.ndarray) -> None:
    scored = reference >= 0 if reference is not None else np.zeros(len(values), dtype=bool)
    if not scored.any():
        ax.text(0.5, 0.5, "no reference classes", ha="center", va="center", transform=ax.transAxes)
        return
    assert reference is not None
    hit = values[scored & (reference == predicted)]
    fail = values[scored & (reference != predicted)]
    ax.hist([hit, fail], bins=BINS, weights=[_percent(hit), _percent(fail)], label=["success", "fail"])
    ax.legend(title="each group: 100 %")


def _class_panel(ax: Any, values: np.ndarray, classes: np.ndarray | None, names: Sequence[str], points: int) -> None:
    groups = [(k, values[classes == k]) for k in range(len(names))] if classes is not None else []
    groups = [(k, group) for k, group in groups if len(group)]
    if not groups:
        empty = "no points" if classes is not None else "no reference classes"
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes)
        return
    spread = [(k, group) for k, group in groups if np.ptp(group) > 0]
    positions = {k: i + 1 for i, (k, _) in enumerate(groups)}
    if spread:
        ax.violinplot(
            [group for _, group in spread], positions=[positions[k] for k, _ in spread], points=points, showmedians=True
        )
    for k, group in groups:
        if np.ptp(group) == 0:  # one value: no density to draw
            ax.hlines(group[0], positions[k] - 0.3, positions[k] + 0.3)
    ax.set_xticks(list(positions.values()), [names[k] for k in positions], rotation=30, ha="right")


def plot_uncertainty(
    values: np.ndarray,
    *,
    measure: str,
    reference: np.ndarray | None,
    predicted: np.ndarray,
    class_names: Sequence[str],
    path: Path,
    kernel_points: int = 256,
    cloud: str = "",
) -> Path:
    """Draws the four panels of one measure of the points (module docstring) of ``cloud`` (its
    file name) to ``path``.

    Example:
        >>> plot_uncertainty(np.array([0.1, 0.5, 0.9, 0.9]), measure="PointWiseEntropy", reference=np.array([0, 1, 1, -1]),
        ...                  predicted=np.array([0, 0, 1, 1]), class_names=["a", "b"], path=out / "e.svg").name
        'e.svg'
    """
    values = np.asarray(values, dtype=np.float64)
    with pyplot().rc_context({"svg.fonttype": "none"}):  # text as text, not glyph outlines
        fig, axes = pyplot().subplots(2, 2, figsize=(12, 10), gridspec_kw={"hspace": 0.45})
        fig.suptitle(f"{cloud + ': ' if cloud else ''}{measure} ({UNITS.get(measure, 'bits')})")
        axes[0, 0].hist(values, bins=BINS, weights=_percent(values))
        axes[0, 0].set_title(f"{measure} distribution")
        _success_panel(axes[0, 1], values, reference, predicted)
        axes[0, 1].set_title(f"{measure} success/fail distribution (each group normalised to 100 %)")
        for ax in axes[0]:
            ax.set_xlabel(measure)
            ax.set_ylabel("Percentage (%)")
        _class_panel(axes[1, 0], values, reference, class_names, kernel_points)
        axes[1, 0].set_title(f"{measure} by reference class")
        _class_panel(axes[1, 1], values, predicted, class_names, kernel_points)
        axes[1, 1].set_title(f"{measure} by predicted class")
        for ax in axes[1]:
            ax.set_ylabel(measure)
        save_figure(fig, path=path)
    return Path(path)


def write_uncertainty_figures(
    measures: Mapping[str, np.ndarray],
    *,
    reference: np.ndarray | None,
    predicted: np.ndarray,
    class_names: Sequence[str],
    folder: str | Path,
    kernel_points: int = 256,
    cloud: str = "",
) -> dict[str, str]:
    """The figure of each measure (:data:`FIGURE_NAMES`) of ``cloud`` in ``folder``, by measure.

    Example:
        >>> written = write_uncertainty_figures({"ClassAmbiguity": np.array([0.2, 0.4])}, reference=None,
        ...     predicted=np.array([0, 1]), class_names=["a", "b"], folder=out)
        >>> Path(written["ClassAmbiguity"]).name
        'class_ambiguity_figure.svg'
    """
    return {
        measure: str(
            plot_uncertainty(
                values,
                measure=measure,
                reference=reference,
                predicted=predicted,
                class_names=class_names,
                path=Path(folder) / FIGURE_NAMES[measure],
                kernel_points=kernel_points,
                cloud=cloud,
            )
        )
        for measure, values in measures.items()
        if measure in FIGURE_NAMES
    }
