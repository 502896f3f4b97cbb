"""Figures of the reports: matplotlib on the Agg backend, saved atomically; class colours.

matplotlib is imported when a figure is drawn or a colour read (:func:`pyplot`,
:func:`class_rgba`), not with this module: its import (0.3-0.9 s per process, pyplot most of
it) is then paid only by a process that draws a PNG, not by a survey worker that writes the
evaluation's SVG pictures and text (:mod:`vl3d_focal.reports.svg_pictures`).

Example:
    >>> class_rgba(["#ff0000"], count=2)[0]
    (1.0, 0.0, 0.0, 1.0)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import atomic_output

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)


CHAR_EM = 0.62
"""Average advance of a character of matplotlib's default font (DejaVu Sans), in em: what
:func:`text_inches` assumes to size margins without measuring the text (a draw)."""


def pyplot() -> ModuleType:
    """matplotlib's ``pyplot`` on the Agg backend (no screen needed), imported on the first call.

    Example:
        >>> pyplot().get_backend().lower()
        'agg'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


def text_inches(chars: int, *, fontsize: float = 10.0) -> float:
    """Approximate width in inches of ``chars`` characters at ``fontsize`` points.

    Example:
        >>> round(text_inches(10), 2)
        0.86
    """
    return chars * CHAR_EM * fontsize / 72.0


def set_margins(fig: Figure, *, left: float, right: float, bottom: float, top: float, gap: float = 0.0) -> None:
    """Places the subplots with fixed margins and gaps between columns, in inches.

    Figures laid out this way are drawn once when saved; a layout engine (constrained or tight)
    or ``bbox_inches="tight"`` draws them twice (once to measure), which doubles their cost.

    Example:
        >>> fig, axes = pyplot().subplots(1, 2, figsize=(8, 4))
        >>> set_margins(fig, left=0.8, right=0.2, bottom=0.6, top=0.5, gap=1.0)
        >>> round(float(axes[1].get_position().x0 - axes[0].get_position().x1) * 8, 6)
        1.0
        >>> pyplot().close(fig)
    """
    width, height = fig.get_size_inches()
    # axes placed by position have no subplot spec
    specs = [spec for spec in (ax.get_subplotspec() for ax in fig.axes) if spec is not None]
    columns = max((spec.get_geometry()[1] for spec in specs), default=1)
    span = width - left - right
    axis = (span - gap * (columns - 1)) / columns
    fig.subplots_adjust(
        left=left / width,
        right=1.0 - right / width,
        bottom=bottom / height,
        top=1.0 - top / height,
        wspace=gap / axis if axis > 0 else 0.2,
    )


PNG_COMPRESS_LEVEL = 1
"""zlib level of the PNG pictures matplotlib draws (training history, VL3D's ``.png`` plot paths):
against the default level 6, level 1 saved about 0.07 s on three pictures of an evaluation's
size, for files 1.2-1.5x as large (50-280 KB)."""


def save_figure(fig: Figure, *, path: Path, dpi: int = 120, tight: bool = True) -> None:
    """Saves ``fig`` to ``path`` (format from the suffix) atomic write, then closes it.

    ``tight``: crop to what is drawn (``bbox_inches="tight"``: nothing clipped, one more draw);
    figures placed by :func:`set_margins` pass False and are saved as laid out. PNG files are
    compressed at :data:`PNG_COMPRESS_LEVEL`.

    Example:
        >>> save_figure(pyplot().figure(), path=out / "empty.png")
        >>> (out / "empty.png").read_bytes()[:4]
        b'\x89PNG'
    """
    try:
        with atomic_output(path) as tmp:
            png: dict[str, Any] = (
                {"pil_kwargs": {"compress_level": PNG_COMPRESS_LEVEL}} if Path(path).suffix.lower() == ".png" else {}
            )
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight" if tight else None, **png)
    finally:
        pyplot().close(fig)
    logger.info("wrote %s", path)


def class_rgba(colors: Sequence[str | None] | None, *, count: int) -> list[tuple[float, ...]]:
    """The given colours as RGBA, with matplotlib's tab10/tab20 colours where none is given.

    Raises:
        DataError: more colours than classes, or a colour matplotlib does not know.

    Example:
        >>> class_rgba(["#ff0000"], count=2)[0]
        (1.0, 0.0, 0.0, 1.0)
    """
    import matplotlib
    from matplotlib.colors import to_rgba

    palette = matplotlib.colormaps["tab10" if count <= 10 else "tab20"]
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
