"""Tests of vl3d_focal.reports and vl3d_focal.reports.topdown: every file written, readable, and saying
what the numbers say."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.reports.evaluation_report import format_text_report, write_evaluation
from vl3d_focal.reports.history import write_training_history
from vl3d_focal.reports.metrics import METRIC_KEYS, classification_metrics, confusion_matrix
from vl3d_focal.reports.topdown import make_topdown_figure, plot_topdown
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
        "evaluation_class_distribution.png",
        "evaluation_confusion.png",
    ]  # and no temporary file left behind
    loaded = json.loads(report.read_text())
    assert tuple(loaded) == METRIC_KEYS
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

    height, width, _ = _png_shape(paths["confusion_png"])
    assert width > 1.5 * height  # counts and row-normalised side by side
    _png_shape(paths["distribution_png"])


def test_write_evaluation_rejects_bad_counts(tmp_path, scene):
    with pytest.raises(DataError, match="3 counts"):
        write_evaluation(_metrics(scene), report_path=tmp_path / "e.json", class_counts={"training": [1, 2]})


def test_text_report_marks_undefined_values():
    metrics = classification_metrics([[4, 0], [0, 0]], class_names=["a", "b"])
    text = format_text_report(metrics)
    assert "Overall accuracy" in text and "1.0000" in text
    assert "n/a" in text  # MCC, Kappa and the absent class' scores are undefined


def test_training_history(tmp_path):
    history = {"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7], "accuracy": [0.5, 0.7, 0.8]}
    folder = tmp_path / "h"
    paths = write_training_history(history, csv_path=folder / "history.csv", png_path=folder / "history.png")
    with open(paths["csv"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["val_loss"]) for r in rows] == history["val_loss"]
    height, width, _ = _png_shape(paths["png"])
    assert width > height  # one panel for loss (with val_loss), one for accuracy
    with pytest.raises(DataError, match="one value per epoch"):
        write_training_history(
            {"loss": [1.0], "val_loss": []}, csv_path=tmp_path / "x.csv", png_path=tmp_path / "x.png"
        )


def _colours(ax, *, inside):
    """The colours of the non-empty pixels of an axes' image whose centres satisfy ``inside(x, y)``."""
    image = ax.images[0]
    left, right, bottom, top = image.get_extent()
    pixels = np.asarray(image.get_array())
    rows, cols = np.mgrid[0 : pixels.shape[0], 0 : pixels.shape[1]]
    x = left + (cols + 0.5) * (right - left) / pixels.shape[1]
    y = bottom + (rows + 0.5) * (top - bottom) / pixels.shape[0]
    chosen = inside(x, y) & (pixels[..., 3] > 0)
    return {tuple(np.round(c, 6)) for c in pixels[chosen]}


def _rgba(*names):
    return {tuple(np.round(to_rgba(name), 6)) for name in names}


def test_topdown_has_three_panels_in_class_colours(scene):
    xyz, reference, predicted = scene
    fig = make_topdown_figure(xyz, reference, predicted, class_names=NAMES, colors=COLORS)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes[:2]] == ["Reference", "Prediction"]
    wrong = int(((reference != -1) & (reference != predicted)).sum())
    assert wrong == 60 and fig.axes[2].get_title().startswith(f"Misclassified: {wrong} points")
    assert all(ax.get_aspect() == 1.0 for ax in fig.axes)
    left = _colours(fig.axes[0], inside=lambda x, y: x < 19)  # class 0 (and a few ignored points)
    assert _rgba("#a0785a") <= left <= _rgba("#a0785a", "#d9d9d9")
    right = _colours(fig.axes[0], inside=lambda x, y: (x > 21) & ((x - 30) ** 2 + (y - 10) ** 2 > 9))
    assert _rgba("#2ca02c") <= right <= _rgba("#2ca02c", "#d9d9d9")
    pole = _colours(fig.axes[0], inside=lambda x, y: (x - 30) ** 2 + (y - 10) ** 2 < 1.5**2)  # tab10's 3rd
    assert _rgba("tab:green") <= pole <= _rgba("tab:green", "#d9d9d9")
    errors = np.asarray(fig.axes[2].images[0].get_array()).reshape(-1, 4)
    red = np.all(np.isclose(errors, to_rgba("#d62728")), axis=1).sum()
    assert 0 < red <= wrong  # misclassified points on top of their pixels
    assert len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [*NAMES, "ignored"]


def test_topdown_pixels_show_the_highest_point():
    xyz = np.array([[0.0, 0.0, 5.0], [0.0, 0.0, 1.0], [10.0, 10.0, 0.0], [0.0, 10.0, 0.0], [10.0, 0.0, 0.0]])
    fig = make_topdown_figure(
        xyz, np.array([1, 0, 0, 0, 0]), np.array([1, 1, 0, 0, 0]), class_names=NAMES, colors=COLORS
    )
    corner = lambda x, y: (x < 4) & (y < 4)  # noqa: E731
    assert _colours(fig.axes[0], inside=corner) == _rgba("#2ca02c")  # the roof, not the ground below it
    assert _colours(fig.axes[2], inside=corner) == _rgba("#d62728")  # but that ground point is wrong


def test_plot_topdown_png_and_subsampling(tmp_path, scene):
    xyz, reference, predicted = scene
    path = plot_topdown(xyz, reference, predicted, class_names=NAMES, colors=COLORS, path=tmp_path / "topdown.png")
    height, width, _ = _png_shape(path)
    assert width > 2.5 * height  # three square-ish panels side by side
    figs = [make_topdown_figure(xyz, reference, predicted, class_names=NAMES, max_points=500) for _ in range(2)]
    images = [fig.axes[0].images[0].get_array() for fig in figs]
    assert 0 < np.count_nonzero(images[0][..., 3]) <= 500 and figs[0]._suptitle.get_text().endswith(
        "500 of 3000 points drawn"
    )
    np.testing.assert_array_equal(images[0], images[1])  # same subsample every time
    with pytest.raises(DataError, match="reference"):
        plot_topdown(xyz, reference[:-1], predicted, class_names=NAMES, colors=None, path=tmp_path / "bad.png")


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
    """``pictures=False``: the numbers (JSON, text, CSV) and no PNG, and only those paths returned."""
    paths = write_evaluation(_metrics(scene), report_path=tmp_path / "e" / "evaluation.json", pictures=False)
    written = sorted(p.name for p in (tmp_path / "e").iterdir())
    assert written == ["evaluation.json", "evaluation.txt", "evaluation_class_distribution.csv"]
    assert sorted(path.name for path in paths.values()) == written


def test_an_eval_step_without_pictures_declares_no_picture():
    """A survey resumed after an eval step with ``pictures: false`` must not wait for PNGs."""
    step = {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"}
    drawn = cloud_output_patterns([step])
    spared = cloud_output_patterns([{**step, "pictures": False}])
    assert sorted(Path(p).name for p in drawn if p not in spared) == [
        "evaluation_class_distribution.png",
        "evaluation_confusion.png",
        "evaluation_topdown.png",
    ]
    assert all(p in drawn for p in spared) and spared
