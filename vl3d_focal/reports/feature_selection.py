"""The text report of a feature selector (VL3D's ``report_path`` of its selectors).

A table of each feature the selector chose among, with its score (F-value and p-value of the
F-tests, or variance), in increasing score as VL3D lists them, then the features selected.

Example:
    >>> from vl3d_focal.data.feature_selection import Selection
    >>> print(format_selection_report(Selection("VarianceSelector (features of variance above 0.1)", ("a", "b"),
    ...                                         ("b",), (0.0, 2.5), score_name="VARIANCE")))
    VarianceSelector (features of variance above 0.1)
    <BLANKLINE>
    FEATURE, VARIANCE
    a, 0
    b, 2.5
    <BLANKLINE>
    SELECTED FEATURES
    b
    <BLANKLINE>
"""

from __future__ import annotations

import math
from pathlib import Path

from vl3d_focal.data.feature_selection import Selection
from vl3d_focal.io.atomic import write_text


def format_selection_report(selection: Selection) -> str:
    """The report's text (module docstring); a NaN F-value (a constant feature) is listed first."""
    lines = [selection.selector, ""]
    if selection.scores is not None:
        header = ["FEATURE", selection.score_name] + (["P-VALUE"] if selection.pvalues is not None else [])
        lines.append(", ".join(header))
        pvalues = selection.pvalues or (None,) * len(selection.scores)
        rows = sorted(
            zip(selection.considered, selection.scores, pvalues),
            key=lambda row: -math.inf if math.isnan(row[1]) else row[1],
        )
        for name, score, pvalue in rows:
            lines.append(", ".join([name, f"{score:.6g}"] + ([] if pvalue is None else [f"{pvalue:.6g}"])))
        lines.append("")
    else:
        lines += ["FEATURES CONSIDERED", *selection.considered, ""]
    lines += ["SELECTED FEATURES", *selection.kept]
    return "\n".join(lines) + "\n"


def write_selection_report(path: str | Path, selection: Selection) -> Path:
    """Writes :func:`format_selection_report` to ``path`` (atomically; any suffix, text).

    Example:
        >>> import tempfile
        >>> from vl3d_focal.data.feature_selection import Selection
        >>> path = write_selection_report(Path(tempfile.mkdtemp()) / "s.log", Selection("S", ("a",), ("a",)))
        >>> path.read_text().splitlines()[-1]
        'a'
    """
    return write_text(path, format_selection_report(selection))
