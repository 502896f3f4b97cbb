"""The training history: CSV (one row per epoch) and its plot.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> paths = write_training_history({"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]},
    ...                                csv_path=folder / "h.csv", png_path=folder / "h.png")
    >>> paths["png"].is_file()
    True
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.reports.figures import pyplot, save_figure
from vl3d_focal.reports.files import write_csv

logger = logging.getLogger(__name__)


def plot_training_history(*, csv_path: str | os.PathLike[str], png_path: str | os.PathLike[str]) -> Path:
    """Plots a training history CSV (an ``epoch`` column, then one column per quantity).

    Each quantity gets a panel; ``val_<name>`` is drawn in the panel of ``<name>``.

    Args:
        csv_path: the CSV, as written by :func:`write_training_history`.
        png_path: the picture to write (returned as a Path).

    Example:
        >>> _ = (out / "history.csv").write_text("epoch,loss,val_loss\\n1,0.9,1.0\\n2,0.5,0.7\\n", encoding="utf-8")
        >>> plot_training_history(csv_path=out / "history.csv", png_path=out / "history.png").is_file()
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
            ax.plot(
                epochs,
                history[column],
                marker="o",
                markersize=3,
                label="validation" if column.startswith("val_") else "training",
            )
        if base in ("learning_rate", "lr") or base.endswith("loss"):
            values = np.asarray([history[c] for c in members], dtype=np.float64)
            if np.all(values[np.isfinite(values)] > 0):
                ax.set_yscale("log")
        ax.set(title=base, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if len(members) > 1:
            ax.legend()
    fig.suptitle("Training history")
    path = Path(png_path)
    save_figure(fig, path=path)
    return path


def write_training_history(
    history: Mapping[str, Sequence[float]], *, csv_path: str | os.PathLike[str], png_path: str | os.PathLike[str]
) -> dict[str, Path]:
    """Writes a Keras ``History.history`` dictionary as CSV (epochs from 1) and plots it.

    Args:
        history: quantity name -> one value per epoch (all the same length).
        csv_path: the CSV to write.
        png_path: the picture to write (see :func:`plot_training_history`).

    Returns:
        ``{"csv", "png"}`` paths.

    Raises:
        DataError: the history is empty or its lists differ in length.

    Example:
        >>> written = write_training_history({"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]},
        ...                                  csv_path=out / "h.csv", png_path=out / "h.png")
        >>> written["csv"].read_text(encoding="utf-8").splitlines()[0], written["png"].is_file()
        ('epoch,loss,val_loss', True)
    """
    lengths = {name: len(values) for name, values in history.items()}
    if not lengths or max(lengths.values()) == 0:
        raise DataError("training history has no epochs")
    if len(set(lengths.values())) != 1:
        raise DataError(f"training history lists must have one value per epoch; got lengths {lengths}")
    epochs = next(iter(lengths.values()))
    names = list(history)
    rows = [[epoch + 1, *(float(history[name][epoch]) for name in names)] for epoch in range(epochs)]
    write_csv(Path(csv_path), ["epoch", *names], rows)
    return {"csv": Path(csv_path), "png": plot_training_history(csv_path=csv_path, png_path=png_path)}
