"""The evaluation's confusion matrix and class distribution as stand-alone SVG files.

Written as text, without a plotting library: a survey draws them for every tile, and matplotlib
took about 0.3 s (confusion matrix) and 0.13 s (class distribution) per tile laying out their
text. The files open in any browser and in vector editors, and scale without blur.

Example:
    >>> svg = confusion_svg(np.array([[3, 1], [0, 2]]), ["ground", "pole"])
    >>> svg.count("<rect") >= 8 and "Row-normalised (recall)" in svg
    True
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

import numpy as np

from vl3d_focal.io.atomic import write_text
from vl3d_focal.reports.svg_charts import CHAR_PX, bar_chart, svg_document

FILE_FONT = "DejaVu Sans, Verdana, sans-serif"
"""The font named by stand-alone SVG files."""
BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")
"""ColorBrewer's sequential Blues (matplotlib's "Blues" colour map), from 0 to the largest value."""
MAX_CELL_LABELS = 20
"""Above this many classes the cells show colours only (their values are in their tooltips)."""


def blues(share: float) -> str:
    """The colour of ``share`` (0 to 1) on :data:`BLUES`, linearly interpolated.

    Example:
        >>> blues(0.0), blues(1.0), blues(0.5)
        ('#f7fbff', '#08306b', '#6baed6')
    """
    position = min(max(float(share), 0.0), 1.0) * (len(BLUES) - 1)
    low = min(int(position), len(BLUES) - 2)
    weight = position - low
    a, b = (np.array([int(c[i : i + 2], 16) for i in (1, 3, 5)], dtype=float) for c in BLUES[low : low + 2])
    return "#" + "".join(f"{round(v):02x}" for v in a + weight * (b - a))


def _matrix_panel(
    values: np.ndarray, counts: np.ndarray, names: Sequence[str], *, x: float, y: float, cell: float, title: str
) -> list[str]:
    """One heat map of ``values`` (rows: reference, columns: predicted) with its title and labels."""
    n = len(names)
    high = float(values.max()) if values.size else 0.0
    parts = [
        f'<text x="{x + n * cell / 2:.1f}" y="{y - 8:.1f}" text-anchor="middle" font-weight="bold">{escape(title)}</text>'
    ]
    for (i, j), value in np.ndenumerate(values):
        share = value / high if high > 0 else 0.0
        tooltip = f"reference {names[i]}, predicted {names[j]}: {int(counts[i, j])} points"
        parts.append(
            f'<rect x="{x + j * cell:.1f}" y="{y + i * cell:.1f}" width="{cell:.1f}" height="{cell:.1f}" '
            f'fill="{blues(share)}"><title>{escape(tooltip)}</title></rect>'
        )
        if n <= MAX_CELL_LABELS:
            text = f"{int(value)}" if values.dtype.kind in "iu" else f"{value:.2f}"
            parts.append(
                f'<text x="{x + (j + 0.5) * cell:.1f}" y="{y + (i + 0.5) * cell + 4:.1f}" text-anchor="middle" '
                f'font-size="{9 if cell < 40 else 10}" fill="{"white" if share > 0.5 else "black"}">{text}</text>'
            )
    bottom = y + n * cell
    parts.append(f'<rect x="{x}" y="{y}" width="{n * cell:.1f}" height="{n * cell:.1f}" fill="none" stroke="#555"/>')
    for k, name in enumerate(names):
        middle = (k + 0.5) * cell
        parts.append(
            f'<text x="{x - 5:.1f}" y="{y + middle + 4:.1f}" text-anchor="end">{escape(name)}</text>'
            f'<text transform="translate({x + middle + 4:.1f} {bottom + 6:.1f}) rotate(-45)" '
            f'text-anchor="end">{escape(name)}</text>'
        )
    return parts


def confusion_svg(cm: np.ndarray, names: Sequence[str]) -> str:
    """The confusion matrix as counts and row-normalised (each reference class' recall).

    Rows are reference classes, columns predicted ones; a cell's darkness is its value over the
    panel's largest, its tooltip gives the class pair and count.

    Example:
        >>> svg = confusion_svg(np.array([[3, 1], [0, 2]]), ["a", "b"])
        >>> ">0.75<" in svg and ">3<" in svg
        True
    """
    cm = np.asarray(cm, dtype=np.int64)
    totals = cm.sum(axis=1, keepdims=True)
    normalised = np.divide(cm, totals, out=np.zeros(cm.shape, dtype=np.float64), where=totals > 0)
    n = len(names)
    longest = CHAR_PX * max((len(name) for name in names), default=1)
    cell = max(16.0, min(56.0, 480.0 / max(n, 1)))
    side = n * cell
    left, top, gap = longest + 40, 58, longest + 56
    label_depth = 0.72 * longest + 16  # the rotated column labels
    width = int(left + 2 * side + gap + 16)
    height = int(top + side + label_depth + 24)
    parts = [
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2:.0f}" y="18" text-anchor="middle" font-weight="bold" font-size="14">Confusion matrix</text>',
    ]
    for number, (values, title) in enumerate(((cm, "Counts"), (normalised, "Row-normalised (recall)"))):
        x = left + number * (side + gap)
        parts += _matrix_panel(values, cm, names, x=x, y=top, cell=cell, title=title)
        parts.append(
            f'<text transform="translate({x - longest - 24:.1f} {top + side / 2:.1f}) rotate(-90)" '
            f'text-anchor="middle">Reference class</text>'
            f'<text x="{x + side / 2:.1f}" y="{height - 8}" text-anchor="middle">Predicted class</text>'
        )
    return svg_document(width, height, "Confusion matrix", parts, font_family=FILE_FONT)


def distribution_svg(series: Mapping[str, Sequence[int] | np.ndarray], names: Sequence[str]) -> str:
    """Points per class of each named series (e.g. reference and predicted), on a log scale.

    Example:
        >>> svg = distribution_svg({"reference": [5, 1], "predicted": [4, 2]}, ["a", "b"])
        >>> "Class distribution" in svg and svg.count("<rect") >= 4
        True
    """
    groups = {label: [float(v) for v in counts] for label, counts in series.items()}
    return bar_chart(
        categories=list(names),
        groups=groups,
        title="Class distribution",
        y_label="points (log scale)",
        log_y=True,
        height=320,
        font_family=FILE_FONT,
    )


def write_svg(path: str | os.PathLike[str], svg: str) -> Path:
    """Writes ``svg`` as a stand-alone SVG file (with an XML declaration), atomically.

    Example:
        >>> import tempfile
        >>> path = write_svg(Path(tempfile.mkdtemp()) / "c.svg", confusion_svg(np.eye(2, dtype=int), ["a", "b"]))
        >>> path.read_text().startswith('<?xml version="1.0" encoding="UTF-8"?>')
        True
    """
    return write_text(path, '<?xml version="1.0" encoding="UTF-8"?>\n' + svg + "\n")
