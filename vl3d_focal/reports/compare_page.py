"""The comparison of runs (:func:`vl3d_focal.reports.compare.compare_runs`) as a self-contained
HTML page: the runs' set-up and scores with a chart, then per class the training shares and, side
by side with the differences to the first run, IoU, recall, F1 and precision, and the class weights.

Example:
    >>> run = {"name": "r", "record": "r/report.json", "status": "finished", "model": "trained", "loss": "f",
    ...        "gamma": None, "class_weight": None, "weights": {}, "mIoU": 0.5, "OA": 0.9, "macro_F1": 0.6,
    ...        "train_seconds": 1.0, "epochs": 1, "per_class": {}}
    >>> write_comparison({"classes": [], "runs": [run]}, path=out / "compare.html").name
    'compare.html'
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.errors import DataError
from vl3d_focal.reports import svg_charts
from vl3d_focal.reports.compare import PER_CLASS, SCORES
from vl3d_focal.reports.compare_facts import short_list
from vl3d_focal.reports.compare_text import delta, share_label, weights_label
from vl3d_focal.reports.html_page import esc, fmt, generator_mark, link, page, table, write_page
from vl3d_focal.reports.run_summary import RARE_SHARE

GENERATOR = "vl3d-focal compare"
"""The generator of the comparison page (an existing page is replaced only when it says so)."""
ABSENT = "&mdash;"
"""A cell of a class the run does not have."""


def _signed(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) < 0.0005:  # shows as 0.000: no colour, no sign
        return "0.000"
    return f'<span class="{"up" if value > 0 else "down"}">{value:+.3f}</span>'


def _score(value: float | None, base: float | None, *, first: bool) -> str:
    """A score with its difference to the baseline's; ``n/a`` alone for a run without it."""
    if value is None:
        return "n/a"
    change = None if first else delta(value, base)
    return fmt(value) + ("" if change is None else " " + _signed(change))


def _overview(runs: Sequence[Mapping[str, Any]], *, folder: Path) -> str:
    base = runs[0]
    rows = [
        [
            link(Path(run["record"]).with_suffix(".html"), folder=folder, text=run["name"]),
            esc(run["status"]),
            esc(run.get("model") or ""),
            esc(run["loss"] or ""),
            fmt(run["gamma"], 2),
            esc(weights_label(run)),
            *(_score(run[key], base[key], first=k == 0) for key, _ in SCORES),
        ]
        for k, run in enumerate(runs)
    ]
    head = ["run", "status", "model", "loss", "gamma", "class weights"]
    text = table(head + ["mIoU", "OA", "macro F1"], rows, left=6)
    text += "".join(
        f'<p class="warn">{esc(run["name"])} {esc(run["status"])}: {esc(run["error"])}</p>'
        for run in runs
        if run.get("error")
    )
    setup = [
        [esc(run["name"]), esc(run.get("features") or "") or "n/a", esc(short_list(run.get("feature_names"))) or "n/a"]
        + [esc(", ".join(run.get("training_clouds") or [])) or "n/a", fmt(run.get("seed"))]
        + [fmt(run["train_seconds"], 1), fmt(run["epochs"])]
        for run in runs
    ]
    text += "<p class=\"muted\">The models' inputs and trainings (a loaded model's record keeps no training):</p>"
    head = ["run", "features", "feature names", "training clouds", "seed", "training (s)", "epochs"]
    text += table(head, setup, left=4)
    scored = {run["name"]: [run[key] for key, _ in SCORES] for run in runs if run["mIoU"] is not None}
    if scored:
        text += svg_charts.bar_chart(
            categories=[label for _, label in SCORES], y_max=1.0, title="Scores", groups=scored
        )
    return text + _unscored(runs, scored)


def _unscored(runs: Sequence[Mapping[str, Any]], scored: Mapping[str, Any]) -> str:
    missing = [run["name"] for run in runs if run["name"] not in scored]
    return f'<p class="muted">No scores (not in the charts): {esc(", ".join(missing))}.</p>' if missing else ""


def _per_class(runs: Sequence[Mapping[str, Any]], classes: Sequence[str], key: str, label: str) -> str:
    base = runs[0]
    groups = {run["name"]: [run["per_class"].get(name, {}).get(key) for name in classes] for run in runs}
    scored = {name: values for name, values in groups.items() if any(v is not None for v in values)}
    chart = (
        svg_charts.bar_chart(
            categories=list(classes), groups=scored, y_max=1.0, labels=len(scored) <= 2, title=f"Per-class {label}"
        )
        if scored
        else ""
    )
    header = [
        "class",
        *(esc(r["name"]) for r in runs),
        *(f"{esc(r['name'])} &minus; {esc(base['name'])}" for r in runs[1:]),
    ]
    body = [
        [
            esc(name),
            *(_cell(run, name, groups[run["name"]][c]) for run in runs),
            *(_signed(delta(groups[r["name"]][c], groups[base["name"]][c])) for r in runs[1:]),
        ]
        for c, name in enumerate(classes)
    ]
    return chart + table(header, body)


def _cell(run: Mapping[str, Any], name: str, value: float | None) -> str:
    """A per-class value; ``n/a`` for a class the run has but did not score, a dash for one it lacks."""
    if value is not None:
        return fmt(value)
    return "n/a" if name in run.get("classes", ()) else ABSENT


def render_comparison(comparison: Mapping[str, Any], *, folder: Path) -> str:
    """The comparison page; links to the runs' reports are relative to ``folder``.

    Example:
        >>> "<svg" in render_comparison({"classes": ["a"], "runs": [
        ...     {"name": "r", "record": "r/report.json", "status": "finished", "loss": "f", "gamma": None,
        ...      "class_weight": None, "weights": {}, "mIoU": 0.5, "OA": 0.9, "macro_F1": 0.6,
        ...      "train_seconds": 1.0, "epochs": 1, "per_class": {"a": {"IoU": 0.5, "R": 0.6}}}]}, folder=Path("."))
        True
    """
    runs, classes = comparison["runs"], comparison["classes"]
    notes = "".join(f'<p class="warn">Note: {esc(note)}.</p>' for note in comparison.get("notes") or [])
    differences = f'<p class="muted">Differences are to the first run, {esc(runs[0]["name"])}.</p>'
    sections = [("runs", "Runs", notes + _overview(runs, folder=folder) + differences)]
    shares = [[esc(name), *(share_label(run, name) or ABSENT for run in runs)] for name in classes]
    sections.append(
        (
            "shares",
            "Training share of each class",
            table(["class", *(esc(r["name"]) for r in runs)], shares)
            + '<p class="muted">Share of the run\'s training points (of its evaluated points where it recorded '
            f"none); rare: under {RARE_SHARE:.0%}, as the run reports mark them; {ABSENT}: the run has no such class.</p>",
        )
    )
    sections += [(key.lower(), f"Per-class {label}", _per_class(runs, classes, key, label)) for key, label in PER_CLASS]
    weights = [[esc(name), *(_weight(run, name) for run in runs)] for name in classes]
    sections.append(
        (
            "weights",
            "Class weights",
            table(["class", *(esc(r["name"]) for r in runs)], weights)
            + f'<p class="muted">n/a: the run used no class weight; {ABSENT}: the run has no such class.</p>',
        )
    )
    return page(
        title=f"vl3d_focal comparison of {len(runs)} runs",
        sections=sections,
        subtitle=" vs ".join(esc(run["name"]) for run in runs),
        generator=GENERATOR,
    )


def _weight(run: Mapping[str, Any], name: str) -> str:
    if name in run["weights"]:
        return fmt(run["weights"][name], 4)
    return "n/a" if name in run.get("classes", ()) or not run.get("classes") else ABSENT


def write_comparison(comparison: Mapping[str, Any], *, path: str | os.PathLike[str]) -> Path:
    """Writes :func:`render_comparison` to ``path`` (atomically; missing folders are created, as
    ``vl3d-focal run`` creates its output prefixes), an ``.html`` file that does not exist yet or
    an earlier comparison page: never a run's report or another file.

    Raises:
        DataError: ``path`` is not named ``.html``, is a file this command did not write, or
            cannot be written.

    Example:
        >>> write_comparison({"classes": [], "runs": []}, path=out / "scores.csv")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        vl3d_focal.errors.DataError: .../scores.csv: the comparison is a web page; give -o a name ending in .html
    """
    target = Path(path)
    if target.suffix.lower() not in (".html", ".htm"):
        raise DataError(f"{target}: the comparison is a web page; give -o a name ending in .html")
    if target.exists() and not _is_comparison_page(target):
        raise DataError(
            f"{target}: exists and is not a page written by vl3d-focal compare; it is kept. Give -o another file name"
        )
    try:
        return write_page(render_comparison(comparison, folder=target.parent), path=target)
    except OSError as error:
        raise DataError(f"{target}: cannot write the comparison page ({error.strerror or error})") from None


def _is_comparison_page(path: Path) -> bool:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
    except OSError:  # a folder, or unreadable
        return False
    return generator_mark(GENERATOR) in head or "<title>vl3d_focal comparison of " in head  # older pages
