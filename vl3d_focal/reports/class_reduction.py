"""Report and plot of a class reduction (VL3D's ``ClassReducer``): classes before and after.

Example:
    >>> print(format_reduction_report(cloud="a.laz", before=(["x", "y", "z"], [6, 3, 1]),
    ...                               after=(["xy"], [9]), groups=[["x", "y"]]))
    Class reduction of a.laz: 3 classes -> 1
    <BLANKLINE>
    Before        points          %
      x                6     60.000
      y                3     30.000
      z                1     10.000
    <BLANKLINE>
    After         points          %  grouped classes
      xy               9     90.000  x, y
    <BLANKLINE>
    Points in no group: 1 (10.000 %)
    <BLANKLINE>
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vl3d_focal.io.atomic import write_text
from vl3d_focal.reports.figures import pyplot, save_figure

logger = logging.getLogger(__name__)

Classes = tuple[Sequence[str], Sequence[int] | np.ndarray]
"""Class names and the points of each."""


def _rows(names: Sequence[str], counts: Sequence[int] | np.ndarray, total: int) -> list[tuple[str, int, float]]:
    return [(str(name), int(count), 100.0 * int(count) / total if total else 0.0) for name, count in zip(names, counts)]


def format_reduction_report(*, cloud: str, before: Classes, after: Classes, groups: Sequence[Sequence[str]]) -> str:
    """The text report: points and percentages per class before and after, points in no group.

    Percentages are of the points with a class before the reduction.
    """
    total = int(np.sum(before[1]))
    width = max([len("Before")] + [len(str(n)) + 2 for n in [*before[0], *after[0]]])
    lines = [f"Class reduction of {cloud}: {len(before[0])} classes -> {len(after[0])}", ""]
    lines.append(f"{'Before':<{width}}  {'points':>12}  {'%':>9}")
    lines += [f"  {name:<{width - 2}}  {count:>12}  {share:>9.3f}" for name, count, share in _rows(*before, total)]
    lines += ["", f"{'After':<{width}}  {'points':>12}  {'%':>9}  grouped classes"]
    for (name, count, share), group in zip(_rows(*after, total), groups):
        lines.append(f"  {name:<{width - 2}}  {count:>12}  {share:>9.3f}  {', '.join(group)}")
    dropped = total - int(np.sum(after[1]))
    if dropped:
        lines += ["", f"Points in no group: {dropped} ({100.0 * dropped / total:.3f} %)"]
    return "\n".join(lines) + "\n"


def write_reduction_report(
    path: str | Path, *, cloud: str, before: Classes, after: Classes, groups: Sequence[Sequence[str]]
) -> Path:
    """Writes :func:`format_reduction_report` to ``path`` (any suffix; text).

    Example:
        >>> import tempfile
        >>> path = write_reduction_report(Path(tempfile.mkdtemp()) / "class_reduction.log", cloud="a.laz",
        ...                               before=(["x"], [1]), after=(["x"], [1]), groups=[["x"]])
        >>> path.read_text().splitlines()[0]
        'Class reduction of a.laz: 1 classes -> 1'
    """
    return write_text(path, format_reduction_report(cloud=cloud, before=before, after=after, groups=groups))


def plot_reduction(path: str | Path, *, before: Classes, after: Classes) -> Path:
    """Bar plots of the points per class before and after; the suffix (``.svg``, ``.png``) is the format.

    Example:
        >>> import tempfile
        >>> path = plot_reduction(Path(tempfile.mkdtemp()) / "class_reduction.svg", before=(["x", "y"], [3, 1]),
        ...                       after=(["xy"], [4]))
        >>> path.read_text().lstrip().startswith("<?xml")
        True
    """
    plt = pyplot()
    fig, axes = plt.subplots(
        1, 2, figsize=(max(8.0, 0.6 * (len(before[0]) + len(after[0])) + 4), 4.5), layout="constrained"
    )
    for ax, (names, counts), title in ((axes[0], before, "Before"), (axes[1], after, "After")):
        x = np.arange(len(names))
        ax.bar(
            x, np.maximum(np.asarray(counts, dtype=np.float64), 0.5), color="#4c72b0", edgecolor="black", linewidth=0.5
        )
        ax.set_yscale("log")
        ax.set(xticks=x, title=f"{title} ({len(names)} classes)", ylabel="points (log scale)")
        ax.set_xticklabels([str(n) for n in names], rotation=35, ha="right")
    fig.suptitle("Class reduction")
    out = Path(path)
    save_figure(fig, path=out)
    return out
