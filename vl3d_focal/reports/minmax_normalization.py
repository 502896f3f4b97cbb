"""The text report of a ``MinmaxNormalizer`` (VL3D's ``report_path`` of it): each feature it
normalised, its minimum, maximum and range (max - min) on the training points (or as given by
``minmax``), in the values it was fitted on.

Example:
    >>> from vl3d_focal.data.minmax_normalization import MinmaxScaling
    >>> print(format_minmax_report(MinmaxScaling({"a": 1.0}, {"a": 5.0})))
    Min-max normalization of 1 feature to [0, 1], clipped
    <BLANKLINE>
    FEATURE, MIN, MAX, RANGE
    a, 1, 5, 4
    <BLANKLINE>
"""

from __future__ import annotations

from pathlib import Path

from vl3d_focal.data.minmax_normalization import MinmaxScaling
from vl3d_focal.io.atomic import write_text
from vl3d_focal.wording import counted


def format_minmax_report(fitted: MinmaxScaling) -> str:
    """The report's text (module docstring)."""
    count = len(fitted.mins)
    low, high = fitted.target_range
    title = f"Min-max normalization of {counted(count, 'feature')} to [{low:g}, {high:g}]" + (
        ", clipped" if fitted.clip else ""
    )
    rows = [
        f"{name}, {low:.6g}, {fitted.maxs[name]:.6g}, {fitted.maxs[name] - low:.6g}"
        for name, low in fitted.mins.items()
    ]
    return "\n".join([title, "", "FEATURE, MIN, MAX, RANGE", *rows]) + "\n"


def write_minmax_report(path: str | Path, fitted: MinmaxScaling) -> Path:
    """Writes :func:`format_minmax_report` to ``path`` (atomically; any suffix, text).

    Example:
        >>> import tempfile
        >>> path = write_minmax_report(Path(tempfile.mkdtemp()) / "m.log", MinmaxScaling({"a": 0.0}, {"a": 2.0}))
        >>> path.read_text().splitlines()[-1]
        'a, 0, 2, 2'
    """
    return write_text(path, format_minmax_report(fitted))
