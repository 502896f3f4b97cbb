"""The report and plot of a fitted ``PCATransformer`` (VL3D's ``report_path`` and ``plot_path``).

The report lists each principal component's explained variance ratio and the cumulative ratio
(the components the model kept marked), in percent; the plot draws both against the number of
components.

Example:
    >>> from vl3d_focal.data.pca_projection import PCATransformer
    >>> print(format_pca_report(PCATransformer(inputs=("a", "b"), components=((1.0, 0.0),), variances=(3.0, 1.0))))
    PCATransformer (components explaining 0.99 of the variance): 1 of 2 components kept (a, b)
    <BLANKLINE>
    COMPONENT, EXPLAINED VAR. (%), CUMULATIVE (%), KEPT
    PCA_1, 75.0000, 75.0000, yes
    PCA_2, 25.0000, 100.0000, no
    <BLANKLINE>
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vl3d_focal.data.pca_projection import OUTPUT_PREFIX, PCATransformer
from vl3d_focal.io.atomic import write_text
from vl3d_focal.reports.figures import pyplot, save_figure


def format_pca_report(pca: PCATransformer) -> str:
    """The report's text (module docstring)."""
    ratios = pca.ratios * 100.0
    kept = len(pca.components)
    lines = [
        f"{pca.describe()}: {kept} of {len(ratios)} components kept ({', '.join(pca.inputs)})",
        "",
        "COMPONENT, EXPLAINED VAR. (%), CUMULATIVE (%), KEPT",
    ]
    for i, (ratio, total) in enumerate(zip(ratios, np.cumsum(ratios)), start=1):
        lines.append(f"{OUTPUT_PREFIX}{i}, {ratio:.4f}, {total:.4f}, {'yes' if i <= kept else 'no'}")
    return "\n".join(lines) + "\n"


def write_pca_report(path: str | Path, pca: PCATransformer) -> Path:
    """Writes :func:`format_pca_report` to ``path`` (atomically; any suffix, text).

    Example:
        >>> import tempfile
        >>> pca = PCATransformer(inputs=("a",), components=((1.0,),), variances=(1.0,))
        >>> write_pca_report(Path(tempfile.mkdtemp()) / "pca.log", pca).read_text().splitlines()[-1]
        'PCA_1, 100.0000, 100.0000, yes'
    """
    return write_text(path, format_pca_report(pca))


def plot_pca(path: str | Path, pca: PCATransformer) -> Path:
    """The explained variance ratio of each component and the cumulative ratio against the number
    of components; the suffix (``.svg``, ``.png``) is the format.

    Example:
        >>> import tempfile
        >>> pca = PCATransformer(inputs=("a", "b"), components=((1.0, 0.0),), variances=(3.0, 1.0))
        >>> plot_pca(Path(tempfile.mkdtemp()) / "pca.svg", pca).read_text().lstrip().startswith("<?xml")
        True
    """
    plt = pyplot()
    ratios = pca.ratios
    counts = np.arange(1, len(ratios) + 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.4 * len(ratios) + 3), 4.5), layout="constrained")
    ax.bar(counts, ratios, color="#4c72b0", edgecolor="black", linewidth=0.5, label="explained variance ratio")
    ax.plot(counts, np.cumsum(ratios), color="#c44e52", marker="o", label="cumulative")
    ax.axvline(len(pca.components) + 0.5, color="gray", linestyle="--", label=f"{len(pca.components)} kept")
    ax.set(xlabel="number of components", ylabel="explained variance ratio", ylim=(0, 1.05), xticks=counts)
    ax.set_title(pca.describe())
    ax.legend(loc="center right")
    out = Path(path)
    save_figure(fig, path=out)
    return out
