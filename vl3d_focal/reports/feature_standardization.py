"""The text report of a ``Standardizer`` (VL3D's ``report_path`` of it): each feature it
standardised: the offset subtracted (its training mean; 0 without ``center``) and the scale
it was divided by (its standard deviation; 1 without ``scale``).

Example:
    >>> from vl3d_focal.data.feature_standardization import Standardization
    >>> print(format_standardization_report("Standardizer (centred and scaled)",
    ...                                     Standardization({"a": 2.0}, {"a": 0.5})))
    Standardizer (centred and scaled)
    <BLANKLINE>
    FEATURE, OFFSET (MEAN), SCALE (STANDARD DEVIATION)
    a, 2, 0.5
    <BLANKLINE>
"""

from __future__ import annotations

from pathlib import Path

from vl3d_focal.data.feature_standardization import Standardization
from vl3d_focal.io.atomic import write_text


def format_standardization_report(title: str, fitted: Standardization) -> str:
    """The report's text (module docstring)."""
    rows = [f"{name}, {fitted.offsets[name]:.6g}, {fitted.scales[name]:.6g}" for name in fitted.offsets]
    return "\n".join([title, "", "FEATURE, OFFSET (MEAN), SCALE (STANDARD DEVIATION)", *rows]) + "\n"


def write_standardization_report(path: str | Path, title: str, fitted: Standardization) -> Path:
    """Writes :func:`format_standardization_report` to ``path`` (atomically; any suffix, text).

    Example:
        >>> import tempfile
        >>> from vl3d_focal.data.feature_standardization import Standardization
        >>> path = write_standardization_report(Path(tempfile.mkdtemp()) / "s.log", "S", Standardization({"a": 0.0}, {"a": 1.0}))
        >>> path.read_text().splitlines()[-1]
        'a, 0, 1'
    """
    return write_text(path, format_standardization_report(title, fitted))
