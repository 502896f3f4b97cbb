"""The epoch axis of the training history charts (the report's inline SVG and the history PNG) is
labelled with whole epochs only, for a training of one epoch as for a long one."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from vl3d_focal.reports import history as history_module
from vl3d_focal.reports.figures import pyplot
from vl3d_focal.reports.html_training import training_section

SVG = "{http://www.w3.org/2000/svg}"


def _history(epochs: int) -> list[dict]:
    return [{"epoch": e + 1, "loss": 1.0 / (e + 1), "val_loss": 1.2 / (e + 1)} for e in range(epochs)]


def _epoch_labels(epochs: int) -> list[str]:
    """The x-axis labels of the loss chart of a training section with ``epochs`` epochs."""
    training = {"model": "M", "loss": {"function": "x"}, "class_names": ["a"], "class_counts": [2]}
    html = training_section({}, {**training, "history": _history(epochs)}, folder=Path("."))
    svg = ET.fromstring(re.search(r"<svg.*?</svg>", html, re.S).group(0))
    height = float(svg.get("height"))
    # the x ticks stand at height - 20, the y ticks beside the axis and the axis name under them
    return [t.text for t in svg.iter(f"{SVG}text") if t.get("y") == f"{height - 20:g}"]


@pytest.mark.parametrize(("epochs", "expected"), [(1, ["1"]), (2, ["1", "2"]), (37, ["10", "20", "30"])])
def test_the_svg_history_chart_labels_whole_epochs(epochs, expected):
    assert _epoch_labels(epochs) == expected


@pytest.mark.parametrize("epochs", [1, 2, 37])
def test_the_history_png_labels_whole_epochs(tmp_path, monkeypatch, epochs):
    figures = []
    monkeypatch.setattr(history_module, "save_figure", lambda fig, *, path: figures.append(fig))
    rows = "".join(f"{e + 1},{1.0 / (e + 1)},0.5\n" for e in range(epochs))
    (tmp_path / "h.csv").write_text(f"epoch,loss,accuracy\n{rows}", encoding="utf-8")
    history_module.plot_training_history(csv_path=tmp_path / "h.csv", png_path=tmp_path / "h.png")
    for ax in figures[0].axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and len(ticks) <= 11
        assert all(float(t).is_integer() for t in ticks), ticks
        assert set(range(1, epochs + 1)) & {int(t) for t in ticks}
    pyplot().close(figures[0])
