"""training/history.png: one legend above the panels (not over the curves, as on the report page's
charts), and the kept epoch marked by a line labelled "kept"."""

from __future__ import annotations

import pytest

from vl3d_focal.reports import history as history_module
from vl3d_focal.reports.figures import pyplot


def _figure(tmp_path, monkeypatch, **kwargs):
    figures = []
    monkeypatch.setattr(history_module, "save_figure", lambda fig, *, path: figures.append(fig))
    rows = "".join(f"{e},{1.0 / e},{1.2 / e},{0.5 + 0.1 * e},{0.4 + 0.1 * e}\n" for e in (1, 2, 3))
    (tmp_path / "h.csv").write_text(f"epoch,loss,val_loss,accuracy,val_accuracy\n{rows}", encoding="utf-8")
    history_module.plot_training_history(csv_path=tmp_path / "h.csv", png_path=tmp_path / "h.png", **kwargs)
    return figures[0]


@pytest.mark.parametrize(("kept", "names"), [(2, ["training", "validation", "kept (epoch 2)"]), (None, None)])
def test_the_history_png_has_its_legend_above_the_panels_and_marks_the_kept_epoch(tmp_path, monkeypatch, kept, names):
    fig = _figure(tmp_path, monkeypatch, kept=kept)
    fig.canvas.draw()  # lays the figure out
    (legend,) = fig.legends
    assert [text.get_text() for text in legend.get_texts()] == (names or ["training", "validation"])
    assert all(ax.get_legend() is None for ax in fig.axes)  # no legend inside a panel
    box = legend.get_window_extent()
    assert all(box.y0 >= ax.get_tightbbox().y1 for ax in fig.axes)  # above every panel, titles included
    for ax in fig.axes:
        marks = [line for line in ax.get_lines() if line.get_label().startswith("kept")]
        assert [list(line.get_xdata()) for line in marks] == ([[2, 2]] if kept else [])
    pyplot().close(fig)


def test_the_training_history_dir_copy_marks_the_kept_epoch_too(tmp_path, monkeypatch):
    from vl3d_focal.training.model_reports import write_history_folder

    figures = []
    monkeypatch.setattr(history_module, "save_figure", lambda fig, *, path: figures.append(fig))
    (tmp_path / "h.csv").write_text("epoch,loss,val_loss\n1,0.9,1.0\n2,0.5,0.7\n3,0.4,0.8\n", encoding="utf-8")
    table, _ = write_history_folder(csv_path=tmp_path / "h.csv", folder=tmp_path / "history", kept=2)
    assert table.read_text(encoding="utf-8") == (tmp_path / "h.csv").read_text(encoding="utf-8")
    (ax,) = figures[0].axes
    assert [list(line.get_xdata()) for line in ax.get_lines() if line.get_label().startswith("kept")] == [[2, 2]]
    pyplot().close(figures[0])
