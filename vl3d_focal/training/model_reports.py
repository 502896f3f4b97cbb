"""Reports on the network: VL3D's ``summary_report_path``, ``architecture_graph_path`` and
``training_history_dir``.

``architecture_graph_path`` is drawn by ``keras.utils.plot_model``, which needs pydot and the
graphviz programs; where they are missing a text summary goes beside it (same name, ``.txt``)
with one warning, and the training goes on.

Example:
    >>> import keras, tempfile
    >>> model = keras.Sequential([keras.Input((4, 3)), keras.layers.Dense(2, name="out")])
    >>> path = write_summary(model, Path(tempfile.mkdtemp()) / "summary.log")
    >>> "out (Dense)" in path.read_text()
    True
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras

from vl3d_focal.io.atomic import atomic_output, write_text
from vl3d_focal.training.files import HISTORY_FILES

logger = logging.getLogger(__name__)


def model_summary(model: keras.Model) -> str:
    """The text of ``model.summary()`` (layers, output shapes, parameters).

    Example:
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        >>> "Total params" in model_summary(model)
        True
    """
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=110)
    return "\n".join(lines) + "\n"


def write_summary(model: keras.Model, path: Path) -> Path:
    """Writes :func:`model_summary` to ``path`` (atomically).

    Example:
        >>> import tempfile
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="head")])
        >>> "head (Dense)" in write_summary(model, Path(tempfile.mkdtemp()) / "s.log").read_text()
        True
    """
    return write_text(path, model_summary(model))


def write_architecture_graph(model: keras.Model, path: Path, *, args: Mapping[str, Any]) -> Path:
    """Draws the network's graph to ``path`` (format from the suffix) with ``plot_model``'s
    ``args``; without pydot or graphviz, writes the text summary to ``path`` with ``.txt``
    instead, warns once, and returns that path.

    Example:
        >>> written = write_architecture_graph(bundle.model, out / "graph.png", args={})
        >>> written.name in ("graph.png", "graph.txt"), written.is_file()  # the text summary without graphviz
        (True, True)
    """
    path = Path(path)
    try:
        with atomic_output(path) as tmp:
            keras.utils.plot_model(model, to_file=str(tmp), **dict(args))
            if not tmp.is_file() or tmp.stat().st_size == 0:
                raise ImportError("keras.utils.plot_model wrote nothing")
    except (ImportError, OSError) as err:
        fallback = path.with_suffix(".txt")
        logger.warning(
            "architecture_graph_path: cannot draw %s (%s; install pydot and graphviz to get the "
            "picture); wrote the text summary %s instead",
            path,
            str(err).splitlines()[0],
            fallback,
        )
        return write_summary(model, fallback)
    logger.info("wrote %s", path)
    return path


def write_history_folder(*, csv_path: Path, folder: Path, kept: int | None = None) -> list[Path]:
    """``training_history_dir``: a copy of the history CSV and its plot as SVG, in ``folder``, the
    epoch whose weights the model keeps (``kept``, counted from 1) marked as in ``history.png``.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "h.csv").write_text("epoch,loss\\n1,0.9\\n2,0.5\\n")
        >>> [p.name for p in write_history_folder(csv_path=folder / "h.csv", folder=folder / "history", kept=2)]
        ['training_history.csv', 'training_history.svg']
    """
    from vl3d_focal.reports.history import plot_training_history

    table, picture = (Path(folder) / name for name in HISTORY_FILES)
    with atomic_output(table) as tmp:
        shutil.copyfile(csv_path, tmp)
    plot_training_history(csv_path=table, png_path=picture, kept=kept)
    logger.info("wrote the training history to %s", folder)
    return [table, picture]
