"""Tests of vl3d_focal.reports and vl3d_focal.reports.topdown: every file written, readable, and saying
what the numbers say."""

from __future__ import annotations

import base64
import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from PIL import Image

from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.reports.evaluation_report import format_text_report, write_evaluation
from vl3d_focal.reports.history import plot_training_history
from vl3d_focal.reports.metrics import classification_metrics, confusion_matrix
from vl3d_focal.reports.topdown import plot_topdown, topdown_svg
from vl3d_focal.runner.cloud_phase import cloud_output_patterns

NAMES = ["ground", "vegetation", "pole"]
COLORS = ["#a0785a", "#2ca02c", None]


@pytest.fixture()
def scene():
    rng = np.random.default_rng(0)
    n = 3000
    xyz = np.c_[rng.uniform(0, 40, n), rng.uniform(0, 20, n), np.zeros(n)]
    reference = (xyz[:, 0] > 20).astype(np.int64)
    reference[(xyz[:, 0] - 30) ** 2 + (xyz[:, 1] - 10) ** 2 < 4] = 2
    reference[:50] = -1
    predicted = np.where(reference < 0, 0, reference)
    predicted[100:160] = (predicted[100:160] + 1) % 3
    return xyz, reference, predicted


def _metrics(scene):
    _, reference, predicted = scene
    return classification_metrics(confusion_matrix(reference, predicted, num_classes=3), class_names=NAMES)


def _png_shape(path):
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4) and image.std() > 0  # not a blank picture
    return image.shape


def test_write_evaluation_files(tmp_path, scene):
    metrics = _metrics(scene)
    report = tmp_path / "eval" / "evaluation.json"
    paths = write_evaluation(metrics, report_path=report, class_colors=COLORS, class_counts={"training": [70, 20, 1]})
    assert paths["json"] == report
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == [
        "evaluation.json",
        "evaluation.txt",
        "evaluation_class_distribution.csv",
        "evaluation_class_distribution.svg",
        "evaluation_confusion.svg",
    ]  # and no temporary file left behind
    loaded = json.loads(report.read_text())
    assert list(loaded) == ["OA", "mIoU", "macro_F1", "MCC", "Kappa", "class_names", "confusion_matrix", "per_class"]
    assert loaded == json.loads(json.dumps(metrics))
    assert set(loaded["per_class"]["pole"]) == {"P", "R", "F1", "IoU", "support"}

    text = paths["text"].read_text()
    assert f"{metrics['OA']:.4f}" in text and f"{metrics['mIoU']:.4f}" in text
    for name in NAMES:
        assert name in text

    with open(paths["distribution_csv"], newline="") as handle:
        rows = list(csv.reader(handle))
    cm = np.asarray(metrics["confusion_matrix"])
    assert rows[0] == ["class", "reference", "predicted", "training"]
    assert [r[0] for r in rows[1:]] == NAMES
    assert [int(r[1]) for r in rows[1:]] == cm.sum(axis=1).tolist()
    assert [int(r[2]) for r in rows[1:]] == cm.sum(axis=0).tolist()
    assert [int(r[3]) for r in rows[1:]] == [70, 20, 1]

    confusion = _svg_root(paths["confusion_svg"])
    assert float(confusion.get("width")) > 1.5 * float(confusion.get("height"))  # counts and recall side by side
    cells = [t for _, _, t in _texts(confusion)]
    for value in [*cm.reshape(-1).tolist(), *(f"{v:.2f}" for v in (cm / cm.sum(axis=1, keepdims=True)).reshape(-1))]:
        assert str(value) in cells  # every count and recall, as the matrix says
    tooltips = [t.text for t in confusion.iter(f"{SVG}title")]
    assert f"reference pole, predicted ground: {cm[2, 0]} points" in tooltips
    distribution = _svg_root(paths["distribution_svg"])
    bars = [t.text for t in distribution.iter(f"{SVG}title") if t.text and ", " in t.text]
    assert "pole, training: 1" in bars and f"ground, reference: {cm[0].sum()}" in bars


def test_write_evaluation_rejects_bad_counts(tmp_path, scene):
    with pytest.raises(DataError, match="3 counts"):
        write_evaluation(_metrics(scene), report_path=tmp_path / "e.json", class_counts={"training": [1, 2]})


def test_text_report_marks_undefined_values():
    metrics = classification_metrics([[4, 0], [0, 0]], class_names=["a", "b"])
    text = format_text_report(metrics)
    assert "Overall accuracy" in text and "1.0000" in text
    assert "n/a" in text  # MCC, Kappa and the absent class' scores are undefined


def test_training_history(tmp_path):
    from vl3d_focal.training.callbacks import HistoryWriter  # the CSV the training writes (Keras)

    history = {"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7], "accuracy": [0.5, 0.7, 0.8]}
    folder = tmp_path / "h"
    folder.mkdir()
    rows = [{"epoch": e + 1, **{name: values[e] for name, values in history.items()}} for e in range(3)]
    HistoryWriter(folder / "history.csv", rows=rows).write()
    with open(folder / "history.csv", newline="") as handle:
        written = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in written] == [1, 2, 3]
    assert [float(r["val_loss"]) for r in written] == history["val_loss"]
    png = plot_training_history(csv_path=folder / "history.csv", png_path=folder / "history.png")
    height, width, _ = _png_shape(png)
    assert width > height  # one panel for loss (with val_loss), one for accuracy
    (folder / "empty.csv").write_text("epoch,loss\n", encoding="utf-8")
    with pytest.raises(DataError, match="has no epochs"):
        plot_training_history(csv_path=folder / "empty.csv", png_path=tmp_path / "x.png")


SVG = "{http://www.w3.org/2000/svg}"


def _svg_root(path_or_text):
    text = path_or_text if isinstance(path_or_text, str) else Path(path_or_text).read_text()
    root = ET.fromstring(text)  # well-formed XML, an SVG document
    assert root.tag == f"{SVG}svg"
    return root


def _texts(root):
    return [(float(t.get("x", "nan")), float(t.get("y", "nan")), t.text or "") for t in root.iter(f"{SVG}text")]


def _panels(svg):
    """Each top-down panel as (RGBA pixels with row 0 on top, extent read off the picture's axes)."""
    root = _svg_root(svg)
    images = root.findall(f"{SVG}image")
    texts = _texts(root)
    panels = []
    for image in images:
        x0, y0 = float(image.get("x")), float(image.get("y"))
        width, height = float(image.get("width")), float(image.get("height"))
        pixels = np.asarray(
            Image.open(io.BytesIO(base64.b64decode(image.get("href").split(",", 1)[1]))).convert("RGBA")
        )
        x_ticks = [(x, float(t)) for x, y, t in texts if abs(y - (y0 + height + 16)) < 0.2 and x0 <= x <= x0 + width]
        y_ticks = [(y - 4, float(t)) for x, y, t in texts if abs(x - (float(images[0].get("x")) - 6)) < 0.2]
        assert len(x_ticks) >= 2 and len(y_ticks) >= 2
        (px1, v1), (px2, v2) = x_ticks[0], x_ticks[-1]
        (py1, w1), (py2, w2) = y_ticks[0], y_ticks[-1]
        left = v1 - (px1 - x0) * (v2 - v1) / (px2 - px1)
        right = left + width * (v2 - v1) / (px2 - px1)
        slope = (w2 - w1) / (py2 - py1)  # metres per page pixel, negative: the page's y grows downwards
        top, bottom = w1 + (y0 - py1) * slope, w1 + (y0 + height - py1) * slope
        panels.append((pixels / 255.0, (left, right, bottom, top)))
    return panels


def _colours(panel, *, inside):
    """The colours of the non-empty pixels of a panel whose centres satisfy ``inside(x, y)``."""
    pixels, (left, right, bottom, top) = panel
    rows, cols = np.mgrid[0 : pixels.shape[0], 0 : pixels.shape[1]]
    x = left + (cols + 0.5) * (right - left) / pixels.shape[1]
    y = top - (rows + 0.5) * (top - bottom) / pixels.shape[0]
    chosen = inside(x, y) & (pixels[..., 3] > 0)
    return {tuple(np.round(c, 2)) for c in pixels[chosen]}


def _rgba(*names):
    return {tuple(np.round(np.round(np.asarray(to_rgba(name)) * 255) / 255, 2)) for name in names}


def test_topdown_has_three_panels_in_class_colours(scene):
    xyz, reference, predicted = scene
    svg = topdown_svg(xyz, reference, predicted, class_names=NAMES, colors=COLORS)
    panels = _panels(svg)
    assert len(panels) == 3
    texts = [t for _, _, t in _texts(_svg_root(svg))]
    wrong = int(((reference != -1) & (reference != predicted)).sum())
    assert wrong == 60 and "Reference" in texts and "Prediction" in texts
    assert f"Misclassified: {wrong} points (2.0%)" in texts
    for _, (left, right, bottom, top) in panels:  # the axes span the scene, in metres (0.1 pixel rounding)
        assert left == pytest.approx(xyz[:, 0].min(), abs=0.02) and right >= xyz[:, 0].max() - 0.02
        assert bottom == pytest.approx(xyz[:, 1].min(), abs=0.02) and top >= xyz[:, 1].max() - 0.02
    left = _colours(panels[0], inside=lambda x, y: x < 19)  # class 0 (and a few ignored points)
    assert _rgba("#a0785a") <= left <= _rgba("#a0785a", "#d9d9d9")
    right = _colours(panels[0], inside=lambda x, y: (x > 21) & ((x - 30) ** 2 + (y - 10) ** 2 > 9))
    assert _rgba("#2ca02c") <= right <= _rgba("#2ca02c", "#d9d9d9")
    pole = _colours(panels[0], inside=lambda x, y: (x - 30) ** 2 + (y - 10) ** 2 < 1.5**2)  # tab10's 3rd
    assert _rgba("tab:green") <= pole <= _rgba("tab:green", "#d9d9d9")
    errors = panels[2][0].reshape(-1, 4)
    red = np.all(np.isclose(errors, np.asarray(to_rgba("#d62728")), atol=1 / 255), axis=1).sum()
    assert 0 < red <= wrong  # misclassified points on top of their pixels
    assert texts[-len(NAMES) - 3 :] == [*NAMES, "ignored", "correct", "misclassified"]  # the legend


def test_topdown_pixels_show_the_highest_point():
    xyz = np.array([[0.0, 0.0, 5.0], [0.0, 0.0, 1.0], [10.0, 10.0, 0.0], [0.0, 10.0, 0.0], [10.0, 0.0, 0.0]])
    panels = _panels(
        topdown_svg(xyz, np.array([1, 0, 0, 0, 0]), np.array([1, 1, 0, 0, 0]), class_names=NAMES, colors=COLORS)
    )
    corner = lambda x, y: (x < 4) & (y < 4)  # noqa: E731
    assert _colours(panels[0], inside=corner) == _rgba("#2ca02c")  # the roof, not the ground below it
    assert _colours(panels[2], inside=corner) == _rgba("#d62728")  # but that ground point is wrong
    assert _colours(panels[0], inside=lambda x, y: (x > 6) & (y > 6)) == _rgba("#a0785a")  # the far corner


def test_plot_topdown_svg_and_subsampling(tmp_path, scene):
    xyz, reference, predicted = scene
    path = plot_topdown(xyz, reference, predicted, class_names=NAMES, colors=COLORS, path=tmp_path / "topdown.svg")
    root = _svg_root(path)
    assert float(root.get("width")) > 2.5 * float(root.get("height"))  # three square-ish panels side by side
    drawn = [topdown_svg(xyz, reference, predicted, class_names=NAMES, max_points=500) for _ in range(2)]
    pixels = [_panels(svg)[0][0] for svg in drawn]
    assert 0 < np.count_nonzero(pixels[0][..., 3]) <= 500
    assert _texts(_svg_root(drawn[0]))[0][2] == "Top-down view, 500 of 3000 points drawn"
    assert drawn[0] == drawn[1]  # same subsample every time
    with pytest.raises(DataError, match="reference"):
        plot_topdown(xyz, reference[:-1], predicted, class_names=NAMES, colors=None, path=tmp_path / "bad.svg")
    with pytest.raises(DataError, match="SVG"):
        plot_topdown(xyz, reference, predicted, class_names=NAMES, colors=None, path=tmp_path / "map.png")
    assert not list(tmp_path.glob("bad*")) and not list(tmp_path.glob("map*"))


def test_atomic_output_keeps_target_on_error(tmp_path):
    target = tmp_path / "out" / "file.txt"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".txt"
        tmp.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_write_evaluation_without_pictures(tmp_path, scene):
    """``pictures=False``: the numbers (JSON, text, CSV) and no picture, and only those paths returned."""
    paths = write_evaluation(_metrics(scene), report_path=tmp_path / "e" / "evaluation.json", pictures=False)
    written = sorted(p.name for p in (tmp_path / "e").iterdir())
    assert written == ["evaluation.json", "evaluation.txt", "evaluation_class_distribution.csv"]
    assert sorted(path.name for path in paths.values()) == written


def test_an_eval_step_without_pictures_declares_no_picture():
    """A survey resumed after an eval step with ``pictures: false`` must not wait for pictures."""
    step = {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"}
    drawn = cloud_output_patterns([step])
    spared = cloud_output_patterns([{**step, "pictures": False}])
    assert sorted(Path(p).name for p in drawn if p not in spared) == [
        "evaluation_class_distribution.svg",
        "evaluation_confusion.svg",
        "evaluation_topdown.svg",
    ]
    assert all(p in drawn for p in spared) and spared


def test_topdown_of_points_at_one_place_in_projected_float32_coordinates():
    """A cloud of copies of one point at a Lambert-93 northing: the axes' ticks once looped forever
    (a float32 coordinate does not advance by a tick step of 0.2 m)."""
    xyz = np.tile(np.array([[652_000.25, 6_280_000.5, 50.0]], dtype=np.float32), (20, 1))
    svg = topdown_svg(xyz, np.zeros(20, int), np.zeros(20, int), class_names=NAMES, colors=COLORS)
    labels = [text for _, _, text in _texts(_svg_root(svg))]
    assert "652000.25" in labels and "6280000.5" in labels and "Misclassified: 0 points (0.0%)" in labels, labels
