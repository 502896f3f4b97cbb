"""The training history: CSV (one row per epoch) and its plot.

The CSV is written during training by :class:`~vl3d_focal.training.callbacks.HistoryWriter`;
:func:`plot_training_history` draws it.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.reports.figures import pyplot, save_figure

logger = logging.getLogger(__name__)


def plot_training_history(
    *, csv_path: str | os.PathLike[str], png_path: str | os.PathLike[str], kept: int | None = None
) -> Path:
    """Plots a training history CSV (an ``epoch`` column, then one column per quantity).

    Each quantity gets a panel; ``val_<name>`` is drawn in the panel of ``<name>``. One legend
    above the panels (outside them, as on the report page's charts) names the lines.

    Args:
        csv_path: the CSV, as written by :class:`~vl3d_focal.training.callbacks.HistoryWriter`.
        png_path: the picture to write (returned as a Path).
        kept: the epoch whose weights the model keeps (counted from 1;
            :func:`~vl3d_focal.training.kept_epoch.epoch_facts`), marked by a thin vertical line
            labelled "kept" in every panel; None marks none.

    Example:
        >>> _ = (out / "history.csv").write_text("epoch,loss,val_loss\\n1,0.9,1.0\\n2,0.5,0.7\\n", encoding="utf-8")
        >>> plot_training_history(csv_path=out / "history.csv", png_path=out / "history.png", kept=2).is_file()
        True
    """
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise DataError(f"training history {csv_path} has no epochs")
    columns = [c for c in rows[0] if c != "epoch"]
    epochs = [int(row["epoch"]) for row in rows] if "epoch" in rows[0] else list(range(1, len(rows) + 1))
    history = {c: [float(row[c]) if row[c] not in ("", None) else np.nan for row in rows] for c in columns}
    groups: dict[str, list[str]] = {}
    for column in columns:
        base = column[4:] if column.startswith("val_") and column[4:] in columns else column
        groups.setdefault(base, []).append(column)
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.8), layout="constrained", squeeze=False)
    for ax, (base, members) in zip(axes[0], groups.items()):
        for column in members:
            validation = column.startswith("val_")
            ax.plot(
                epochs,
                history[column],
                marker="o",
                markersize=3,
                color="C1" if validation else "C0",
                label="validation" if validation else "training",
            )
        if kept is not None:
            ax.axvline(kept, color="0.35", linewidth=0.8, linestyle="--", label=f"kept (epoch {kept})")
        if base in ("learning_rate", "lr") or base.endswith("loss"):
            values = np.asarray([history[c] for c in members], dtype=np.float64)
            if np.all(values[np.isfinite(values)] > 0):
                ax.set_yscale("log")
        ax.set(title=base, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs, even just one
        ax.grid(alpha=0.3)
    lines = {line.get_label(): line for ax in axes[0] for line in ax.get_lines()}  # one entry per name
    names = sorted(lines, key=lambda name: name.startswith("kept"))  # the kept epoch's line last
    # the figure's title heads the legend: constrained layout would draw a suptitle over an outside legend
    fig.legend(
        [lines[name] for name in names],
        names,
        loc="outside upper center",
        ncol=len(names),
        frameon=False,
        title="Training history",
        title_fontsize="large",
    )
    path = Path(png_path)
    save_figure(fig, path=path)
    return path
