"""The values written on bars (the class distribution's counts) and the "n/a" of bars without one:
one readable format, no two labels meeting, none cut by the picture's edge."""

from __future__ import annotations

import re

import pytest

from vl3d_focal.reports.svg_charts import LABEL_CHAR_PX, LABEL_FONT, bar_chart
from vl3d_focal.reports.svg_pictures import distribution_svg

LABEL = re.compile(
    r'<text (x="(?P<x>[\d.]+)" y="(?P<y>[\d.]+)" text-anchor="middle"|transform="translate\('
    r'(?P<rx>[\d.]+) (?P<ry>[\d.]+)\) rotate\(-90\)") font-size="9"(?: fill="#888")?>(?P<text>[^<]+)</text>'
)  # a bar's value, or "n/a" (grey) for a bar without one
REVIEWED = {  # the counts of the reviewed evaluation (classes 'ground' ... 'other')
    "reference": [21975, 3995, 12582, 17859, 3200],
    "predicted": [22341, 866, 14031, 12060, 5760],
    "training": [73036, 2720, 17306, 28510, 7230],
}


def _labels(svg: str) -> list[dict]:
    return [match.groupdict() for match in LABEL.finditer(svg)]


def _check_placement(svg: str) -> list[dict]:
    width = float(re.search(r'width="(\d+)"', svg).group(1))
    labels = _labels(svg)
    boxes = []
    for label in labels:
        length = LABEL_CHAR_PX * len(label["text"])
        if label["x"] is not None:  # horizontal, centred on its bar
            x, y = float(label["x"]), float(label["y"])
            boxes.append((x - length / 2, x + length / 2, y - LABEL_FONT, y))
        else:  # upwards from above its bar, the glyphs to the left of the anchor
            x, y = float(label["rx"]), float(label["ry"])
            boxes.append((x - LABEL_FONT, x, y - length, y))
    for left, right, top, _ in boxes:
        assert left >= 0 and right <= width and top >= 20  # inside the picture, below the title
    for a, b in zip(boxes, boxes[1:]):
        assert a[1] <= b[0] or b[1] <= a[0] or a[3] <= b[2] or b[3] <= a[2], (a, b)  # never overlapping
    return labels


def test_the_reviewed_class_distribution_has_readable_separate_labels():
    svg = distribution_svg(REVIEWED, ["ground", "low_vegetation", "high_vegetation", "building", "other"])
    labels = _check_placement(svg)
    assert [label["text"] for label in labels] == [
        "22.0k", "22.3k", "73.0k", "3,995", "866", "2,720", "12.6k", "14.0k", "17.3k",
        "17.9k", "12.1k", "28.5k", "3,200", "5,760", "7,230",
    ]  # fmt: skip
    texts = re.findall(r">([^<>]+)</text>", svg)
    assert not [text for text in texts if "e+" in text or "…" in text]
    assert "1,000" in texts  # the log axis' ticks too


@pytest.mark.parametrize("series", [1, 3, 4])
def test_long_labels_on_narrow_bars_are_written_upwards_without_overlap(series: int):
    groups = {f"run {k}": [1_234_567.0 + k, 987_654.0, 12_345.0] for k in range(series)}
    svg = bar_chart(categories=["a", "b", "c"], groups=groups, title="points", log_y=True)
    labels = _check_placement(svg)
    assert len(labels) == 3 * series and {label["text"] for label in labels} == {"1.2M", "987.7k", "12.3k"}
    if series > 1:
        assert all(label["rx"] is not None for label in labels)


@pytest.mark.parametrize("runs", [2, 7, 10])
def test_n_a_labels_of_many_runs_do_not_meet(runs: int):
    """A comparison of ``runs`` runs where only the first has the last two classes."""
    groups = {f"run {k}": [0.9, 0.5, *([0.25, 0.125] if k == 0 else [None, None])] for k in range(runs)}
    svg = bar_chart(categories=["ground", "building", "pole", "car"], groups=groups, title="IoU", y_max=1.0)
    labels = _check_placement(svg)
    missing = [label for label in labels if label["text"] == "n/a"]
    assert len(missing) == 2 * (runs - 1)
    if runs >= 7:  # bars narrower than the word: written upwards
        assert all(label["rx"] is not None for label in missing)
