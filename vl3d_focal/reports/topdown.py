"""The top-down picture of an evaluated cloud: reference, predicted and misclassified points.

Each panel is a raster image (:func:`topdown_raster`): a pixel takes the colour of the highest
point that falls in it, so the picture shows what is seen from above; in the third panel a
pixel holding a misclassified point is red. Binning is a sort of the points, so the picture
of a survey tile costs a fraction of a second, where drawing one marker per point took seconds.

Example:
    >>> xyz = np.random.default_rng(0).uniform(0, 10, (100, 3)); ref = (xyz[:, 0] > 5).astype(int)
    >>> plot_topdown(xyz, ref, 1 - ref, class_names=["ground", "building"], colors=None, path=out / "topdown.png").name
    'topdown.png'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from vl3d_focal.errors import DataError  # noqa: E402
from vl3d_focal.reports.figures import class_rgba, save_figure, set_margins, text_inches  # noqa: E402

TOPDOWN_MAX_POINTS = 300_000
"""Above this many points, :func:`plot_topdown` draws a deterministic random subsample."""
PANEL_PIXELS = 600
"""Most pixels along a panel's longer side."""
POINTS_PER_PIXEL = 2.25
"""A pixel holds at least this many points on average (so that few pixels among points are empty)."""

IGNORED_COLOR = "#d9d9d9"
CORRECT_COLOR = "#c8c8c8"
WRONG_COLOR = "#d62728"


def _subsample(count: int, max_points: int) -> np.ndarray:
    if count <= max_points:
        return np.arange(count)
    return np.sort(np.random.default_rng(0).choice(count, size=max_points, replace=False))


def topdown_raster(
    x: np.ndarray, y: np.ndarray, colors: np.ndarray, *, key: Sequence[np.ndarray], pixels: int = PANEL_PIXELS
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """An RGBA image of points seen from above: each pixel the colour of its point of largest
    ``key`` (lexicographic, last array first: e.g. ``(z,)`` or ``(z, wrong)``), transparent where
    no point falls; and its extent ``(left, right, bottom, top)`` for ``imshow``.

    Example:
        >>> image, extent = topdown_raster(np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 1.0]),
        ...     np.eye(4)[:3], key=(np.array([1.0, 2.0, 0.0]),), pixels=2)
        >>> image[0, 0].tolist(), image[1, 1].tolist(), image[0, 1].tolist(), [round(v, 2) for v in extent]
        ([0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 1.73, 0.0, 1.73])
    """
    low, high = np.array([x.min(), y.min()]), np.array([x.max(), y.max()])
    size = np.maximum(high - low, 1e-9)
    cell = max(float(size.max()) / pixels, float(np.sqrt(POINTS_PER_PIXEL * size[0] * size[1] / max(len(x), 1))))
    shape = np.minimum(np.ceil(size / cell).astype(np.int64), pixels).clip(1)
    cols = np.minimum(((x - low[0]) / cell).astype(np.int64), shape[0] - 1)
    rows = np.minimum(((y - low[1]) / cell).astype(np.int64), shape[1] - 1)
    pixel = rows * shape[0] + cols
    order = np.lexsort((*key, pixel))
    last = np.ones(len(order), dtype=bool)
    last[:-1] = pixel[order][1:] != pixel[order][:-1]
    image = np.zeros((int(shape[1]) * int(shape[0]), 4))
    image[pixel[order][last]] = colors[order][last]
    extent = (float(low[0]), float(low[0] + shape[0] * cell), float(low[1]), float(low[1] + shape[1] * cell))
    return image.reshape(int(shape[1]), int(shape[0]), 4), extent


def make_topdown_figure(
    xyz: np.ndarray,
    reference: np.ndarray,
    predicted: np.ndarray,
    *,
    class_names: Sequence[str],
    colors: Sequence[str | None] | None = None,
    ignore_label: int = -1,
    max_points: int = TOPDOWN_MAX_POINTS,
) -> Figure:
    """The figure of :func:`plot_topdown` (three axes), for callers that want to adjust it.

    Example:
        >>> fig = make_topdown_figure(np.zeros((2, 3)), np.array([0, 1]), np.array([0, 0]),
        ...                           class_names=["a", "b"])
        >>> len(fig.axes), fig.axes[0].images[0].get_array().shape[2]
        (3, 4)
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    reference = np.asarray(reference).reshape(-1)
    predicted = np.asarray(predicted).reshape(-1)
    if xyz.ndim != 2 or xyz.shape[1] < 2 or not (len(xyz) == reference.size == predicted.size):
        raise DataError(
            f"xyz must be (N, 3) with N reference and predicted labels; got xyz {xyz.shape}, "
            f"{reference.size} reference and {predicted.size} predicted labels"
        )
    count = len(class_names)
    palette = np.asarray(class_rgba(colors, count=count))
    lut = np.vstack([palette, to_rgba(IGNORED_COLOR)])  # row `count`: ignored or unknown labels
    keep = _subsample(len(xyz), max_points)
    x, y = xyz[keep, 0], xyz[keep, 1]
    z = xyz[keep, 2] if xyz.shape[1] > 2 else np.zeros(keep.size)
    ref, pred = reference[keep], predicted[keep]
    ignored = ref == ignore_label
    wrong = ~ignored & (ref != pred)
    ref_colors = lut[np.where(ignored | (ref < 0) | (ref >= count), count, ref)]
    pred_colors = lut[np.where(ignored | (pred < 0) | (pred >= count), count, pred)]
    error_colors = np.tile(np.asarray(to_rgba(CORRECT_COLOR)), (keep.size, 1))
    error_colors[ignored] = to_rgba(IGNORED_COLOR, alpha=0.4)
    error_colors[wrong] = to_rgba(WRONG_COLOR)
    scored = int((~ignored).sum())
    share = f"{100.0 * wrong.sum() / scored:.1f}%" if scored else "n/a"

    width, height = float(np.ptp(x)) or 1.0, float(np.ptp(y)) or 1.0
    panel = 6.0
    fig, axes = plt.subplots(
        1, 3, figsize=(3 * panel, panel * min(1.5, max(0.5, height / width)) + 1.2), sharex=True, sharey=True
    )
    panels = (
        (axes[0], ref_colors, (z,), "Reference"),
        (axes[1], pred_colors, (z,), "Prediction"),
        (axes[2], error_colors, (z, wrong), f"Misclassified: {int(wrong.sum())} points ({share})"),
    )
    for ax, point_colors, key, title in panels:  # misclassified points on top in the third panel
        image, extent = topdown_raster(x, y, point_colors, key=key)
        ax.imshow(image, origin="lower", extent=extent, interpolation="nearest")
        ax.set_aspect("equal", adjustable="box")
        ax.set(title=title, xlabel="x (m)")
        ax.ticklabel_format(useOffset=False, style="plain")
        ax.tick_params(axis="x", labelrotation=30)
    axes[0].set_ylabel("y (m)")
    handles = [Patch(color=palette[k], label=name) for k, name in enumerate(class_names)]
    if ignored.any():
        handles.append(Patch(color=IGNORED_COLOR, label="ignored"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), frameon=False)
    marks = [Patch(color=CORRECT_COLOR, label="correct"), Patch(color=WRONG_COLOR, label="misclassified")]
    axes[2].legend(handles=marks, loc="upper right", fontsize=8)
    subsampled = f", {keep.size} of {len(xyz)} points drawn" if keep.size < len(xyz) else ""
    fig.suptitle(f"Top-down view{subsampled}")
    ticks = text_inches(len(f"{max(abs(float(np.max(xyz[:, :2]))), abs(float(np.min(xyz[:, :2])))):.0f}") + 1)
    legend_rows = -(-len(handles) // 8)
    set_margins(fig, left=ticks + 0.6, right=0.2, bottom=0.5 * ticks + 0.55 + 0.3 * legend_rows, top=0.75, gap=0.25)
    return fig


def plot_topdown(
    xyz: np.ndarray,
    reference: np.ndarray,
    predicted: np.ndarray,
    *,
    class_names: Sequence[str],
    colors: Sequence[str | None] | None,
    path: str | os.PathLike[str],
    ignore_label: int = -1,
    max_points: int = TOPDOWN_MAX_POINTS,
) -> Path:
    """Writes a top-down PNG: reference classes, predicted classes and misclassified points.

    Three panels side by side with equal aspect, in the classes' colours (ignored points grey),
    each pixel the colour of its highest point; the third panel shows correct points grey and
    misclassified ones red. Clouds above ``max_points`` are drawn from a fixed-seed random
    subsample (same picture every run).

    Args:
        xyz: ``(N, 3)`` coordinates.
        reference: N reference class indices (``ignore_label`` for ignored points).
        predicted: N predicted class indices.
        class_names: the class names, in index order.
        colors: one matplotlib colour per class (None, or None entries, take defaults).
        path: the PNG to write.
        ignore_label: reference label of points not scored.
        max_points: most points drawn.

    Returns:
        ``path`` as a Path.

    Example:
        >>> plot_topdown(cloud.xyz, np.zeros(cloud.num_points, int), np.ones(cloud.num_points, int),
        ...              class_names=["ground", "building"], colors=["#a0785a", None], path=out / "topdown.png").is_file()
        True
    """
    fig = make_topdown_figure(
        xyz,
        reference,
        predicted,
        class_names=class_names,
        colors=colors,
        ignore_label=ignore_label,
        max_points=max_points,
    )
    target = Path(path)
    save_figure(fig, path=target, dpi=110, tight=False)
    return target
