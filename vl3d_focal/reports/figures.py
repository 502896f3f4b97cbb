"""Figures of the reports: matplotlib on the Agg backend, saved atomically; class colours.

Example:
    >>> class_rgba(["#ff0000"], count=2)[0]
    (1.0, 0.0, 0.0, 1.0)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vl3d_focal.errors import DataError  # noqa: E402
from vl3d_focal.io.atomic import atomic_output  # noqa: E402

logger = logging.getLogger(__name__)


def save_figure(fig: Figure, *, path: Path, dpi: int = 120) -> None:
    """Saves ``fig`` to ``path`` (format from the suffix) atomic write, then closes it.

    Example:
        >>> save_figure(plt.figure(), path=out / "empty.png")
        >>> (out / "empty.png").read_bytes()[:4]
        b'\x89PNG'
    """
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    logger.info("wrote %s", path)


def class_rgba(colors: Sequence[str | None] | None, *, count: int) -> list[tuple[float, ...]]:
    """The given colours as RGBA, with matplotlib's tab10/tab20 colours where none is given.

    Raises:
        DataError: more colours than classes, or a colour matplotlib does not know.

    Example:
        >>> class_rgba(["#ff0000"], count=2)[0]
        (1.0, 0.0, 0.0, 1.0)
    """
    palette = plt.get_cmap("tab10" if count <= 10 else "tab20")
    given = list(colors or [])
    if len(given) > count:
        raise DataError(f"got {len(given)} class colours for {count} classes")
    given += [None] * (count - len(given))
    out: list[tuple[float, ...]] = []
    for k, color in enumerate(given):
        try:
            out.append(to_rgba(color) if color else palette(k % palette.N))
        except ValueError:
            raise DataError(f"class colour {k} must be a matplotlib colour such as '#a0785a'; got {color!r}") from None
    return out
