"""The uncertainty part of a run report: what each ``ClassificationUncertaintyEvaluator`` found.

It reads the run record's ``uncertainties`` (one per evaluated cloud: ``cloud``,
``report_path``, ``summary`` with the means of the measures and the mean entropy of the points
predicted as each class, ``figures``) and shows the means in one table and the per-class
entropies in another, with links to the LAS report and the figures. A survey shows its first
:data:`MAX_ROWS` clouds; report.json holds them all.

Example:
    >>> html = uncertainty_section([{"cloud": "a.laz", "report_path": None, "figures": {}, "summary": {
    ...     "points": 4, "weights_by": "reference", "mean_entropy": 0.5, "mean_ambiguity": 0.25,
    ...     "class_entropy": {"ground": 0.1, "roof": None}}}], folder=Path("."))
    >>> "0.500" in html, "ground" in html
    (True, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.reports.html_page import esc, fmt, link, table

MAX_ROWS = 50
"""The clouds listed on the page (a survey may evaluate thousands)."""
MEANS = (
    ("mean_entropy", "mean entropy (bits)"),
    ("mean_weighted_entropy", "mean weighted entropy (bits)"),
    ("mean_ambiguity", "mean class ambiguity"),
)


def _files(entry: Mapping[str, Any], folder: Path) -> str:
    found = [link(entry.get("report_path"), folder=folder, text="LAS report")]
    found += [link(path, folder=folder, text=measure) for measure, path in (entry.get("figures") or {}).items()]
    return ", ".join(text for text in found if text)


def uncertainty_section(entries: Sequence[Mapping[str, Any]], *, folder: Path) -> str:
    """The section's HTML for the run record's ``uncertainties``; links relative to ``folder``.

    Example:
        >>> uncertainty_section([], folder=Path(".")).startswith("<table>")
        True
    """
    shown = list(entries)[:MAX_ROWS]
    means = [
        [esc(Path(e["cloud"]).name), fmt(e["summary"].get("points")), esc(e["summary"].get("weights_by", ""))]
        + [fmt(e["summary"].get(key)) for key, _ in MEANS]
        + [_files(e, folder)]
        for e in shown
    ]
    html = table(["cloud", "points", "classes weighted by", *(title for _, title in MEANS), "files"], means)
    classes = list(dict.fromkeys(name for e in shown for name in e["summary"].get("class_entropy") or {}))
    if classes:
        rows = [
            [esc(Path(e["cloud"]).name)] + [fmt((e["summary"].get("class_entropy") or {}).get(c)) for c in classes]
            for e in shown
        ]
        html += '<p class="muted">Mean entropy (bits) of the points predicted as each class:</p>'
        html += table(["cloud", *(esc(c) for c in classes)], rows)
    if len(entries) > len(shown):
        html += f'<p class="muted">{len(shown)} of {len(entries)} clouds shown; report.json lists them all.</p>'
    return html
