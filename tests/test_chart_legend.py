"""A line chart's legend stands outside its plot area: it never covers a curve, however many
series there are and however long their names."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from vl3d_focal.reports.svg_charts import CHAR_PX, FONT, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def _boxes(svg: str) -> tuple[tuple[float, float, float, float], list[tuple[float, float, float, float]], float]:
    """The plot area (x0, y0, x1, y1: the box of every drawn point), the box of each legend entry
    (swatch and name, a name's glyphs from a font size above to a third of it below its baseline)
    and the chart's width."""
    root = ET.fromstring(svg)
    points = [(float(c.get("cx")), float(c.get("cy"))) for c in root.iter(f"{SVG}circle")]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    legend = root.find(f"{SVG}g[@class='legend']")
    entries = []
    for rect, text in zip(legend.iter(f"{SVG}rect"), legend.iter(f"{SVG}text")):
        x, y, baseline = float(rect.get("x")), float(rect.get("y")), float(text.get("y"))
        right = float(text.get("x")) + CHAR_PX * len(text.text)
        entries.append((x, min(y, baseline - FONT), right, max(y + float(rect.get("height")), baseline + FONT / 3)))
    return (min(xs), min(ys), max(xs), max(ys)), entries, float(root.get("width"))


def _meets(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


@pytest.mark.parametrize(
    "names",
    [
        ["training", "validation"],
        [f"series name {k}" for k in range(7)],  # more than one row of legend
    ],
)
def test_the_legend_never_meets_curves_that_fill_the_plot(names):
    epochs = list(range(1, 11))
    # the first rises from 0 to 1 and the second falls from 1 to 0: together they reach every corner
    series = {name: [(e - 1) / 9 if k % 2 == 0 else (10 - e) / 9 for e in epochs] for k, name in enumerate(names)}
    plot, entries, width = _boxes(line_chart(x=epochs, series=series, title="accuracy", x_label="epoch"))
    assert len(entries) == len(names)
    assert plot[3] - plot[1] == pytest.approx(260 - 36 - 28, abs=0.2)  # the plot keeps its height
    for entry in entries:
        assert not _meets(entry, plot), (entry, plot)
        assert 0 <= entry[0] and entry[2] <= width
    assert len({entry[1] for entry in entries}) == (1 if len(names) == 2 else 3)
