"""The comparison of runs (:func:`vl3d_focal.reports.compare.compare_runs`) as a self-contained
HTML page: first the rare classes' headline (how each run or configuration changed the recall,
IoU and F1 of the classes rare in the reference), with seed repeats then the configurations (mean
± sd of their runs), then the runs' set-up and scores with a chart, then per class the training
shares, the points scored and, side by side with the differences to the reference run, IoU,
recall, F1 and precision (rare classes badged), and the class weights. Highlighted differences follow :mod:`vl3d_focal.reports.compare_groups`' rule.

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
from vl3d_focal.losses.class_weights import TRAINING_CLOUDS
from vl3d_focal.reports import svg_charts
from vl3d_focal.reports.compare_deltas import (
    group_difference,
    rare_names,
    reference_configuration,
    reference_run,
    run_difference,
)
from vl3d_focal.reports.compare_facts import short_list
from vl3d_focal.reports.compare_groups import PER_CLASS, SCORES, has_repeats
from vl3d_focal.reports.compare_text import (
    ABSENT,
    evaluated_label,
    lead,
    mean_label,
    rare_table,
    share_label,
    signed,
    support_label,
    weights_label,
)
from vl3d_focal.reports.html_page import esc, fmt, generator_mark, link, page, table, write_page
from vl3d_focal.reports.run_summary import RARE_SHARE

GENERATOR = "vl3d-focal compare"
"""The generator of the comparison page (an existing page is replaced only when it says so)."""


def _signed(value: float | None, *, finding: bool) -> str:
    text = signed(value)
    if not finding or text in ("", "0.000"):
        return text
    return f'<span class="{"up" if (value or 0) > 0 else "down"}">{text}</span>'


def _class(name: str, rare: Sequence[str]) -> str:
    """A class's name in the per-class tables, badged ``rare`` where it is rare in the reference."""
    return esc(name) + (' <span class="badge rare">rare</span>' if name in rare else "")


def _rare(comparison: Mapping[str, Any]) -> str | None:
    """The rare classes' headline (:func:`~vl3d_focal.reports.compare_text.rare_table`); None
    where the comparison has none."""
    found = rare_table(comparison, mark=lambda change, finding: _signed(change, finding=finding), name=esc, page=True)
    if found is None:
        return None
    text, header, rows = found
    return f'<p class="muted">{esc(text)}</p>' + (table(header, rows, left=1) if rows else "")


def _overview(comparison: Mapping[str, Any], *, folder: Path) -> str:
    runs = comparison["runs"]

    def score(run: Mapping[str, Any], key: str) -> str:
        value, change, finding = run_difference(comparison, run, key)
        if value is None:
            return "n/a"
        shown = _signed(change, finding=finding)
        return fmt(value) + (" " + shown if shown else "")

    rows = [
        [
            link(run["report"], folder=folder, text=run["name"]) if run.get("report") else esc(run["name"]),
            esc(run["status"]),
            esc(run.get("model") or ""),
            esc(run["loss"] or ""),
            fmt(run["gamma"], 2),
            esc(weights_label(run)),
            *(score(run, key) for key, _ in SCORES),
        ]
        for run in runs
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
        + [esc(evaluated_label(run)) or "n/a", fmt(run["train_seconds"], 1), fmt(run["epochs"])]
        for run in runs
    ]
    text += (
        "<p class=\"muted\">The models' inputs, trainings and the clouds they were scored on (a loaded model's record "
        "keeps no training):</p>"
    )
    head = ["run", "features", "feature names", "training clouds", "seed", "evaluated on", "training (s)", "epochs"]
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


def _per_class(comparison: Mapping[str, Any], key: str, label: str) -> str:
    runs, classes, base = comparison["runs"], comparison["classes"], reference_run(comparison)
    others = [run for run in runs if run is not base]
    groups = {run["name"]: [run["per_class"].get(name, {}).get(key) for name in classes] for run in runs}
    scored = {name: values for name, values in groups.items() if any(v is not None for v in values)}
    chart = (
        svg_charts.bar_chart(
            categories=list(classes),
            groups=scored,
            y_max=1.0,
            labels=len(scored) <= 2,
            title=f"Per-class {label}",
            missing=ABSENT,
        )
        if scored
        else ""
    )
    header = [
        "class",
        *(esc(r["name"]) for r in runs),
        *(f"{esc(r['name'])} &minus; {esc(base['name'])}" for r in others),
    ]
    body = []
    rare = rare_names(comparison)
    for c, name in enumerate(classes):
        differences = [run_difference(comparison, r, key, name) for r in others]
        body.append(
            [
                _class(name, rare),
                *(ABSENT if groups[run["name"]][c] is None else fmt(groups[run["name"]][c]) for run in runs),
                *(_signed(change, finding=finding) for _, change, finding in differences),
            ]
        )
    return chart + table(header, body)


def _configurations(comparison: Mapping[str, Any]) -> str:
    """The configurations' table and their per-class means, with the differences to the reference's."""
    groups = comparison["groups"]
    base = reference_configuration(comparison)

    def cell(group: Mapping[str, Any], key: str, name: str | None = None) -> str:
        stat, change, finding = group_difference(comparison, group, base, key, name)
        if stat is None:
            return ABSENT if name else "n/a"
        shown = _signed(change, finding=finding)
        return esc(mean_label(stat)) + (" " + shown if shown else "")

    rows = [
        [esc(g["name"]), fmt(g["n"]), esc(", ".join(str(s) for s in g["seeds"] if s is not None))]
        + [esc(g["loss"] or ""), fmt(g["gamma"], 2), esc(weights_label(g))]
        + [cell(g, key) for key, _ in SCORES]
        for g in groups
    ]
    text = f'<p class="muted">Runs alike but for their random_seed, as mean ± sd over their n scored runs. {esc(lead(comparison, groups=True, page=True))}</p>'
    text += table(
        ["configuration", "n", "seeds", "loss", "gamma", "class weights", "mIoU", "OA", "macro F1"], rows, left=6
    )
    rare = rare_names(comparison)
    for key, label in PER_CLASS:
        body = [[_class(name, rare), *(cell(g, key, name) for g in groups)] for name in comparison["classes"]]
        text += f"<h3>Per-class {esc(label)}</h3>" + table(["class", *(esc(g["name"]) for g in groups)], body)
    return text


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
    differences = f'<p class="muted">{esc(lead(comparison, groups=False, page=True))}</p>'
    sections = [("runs", "Runs", differences + _overview(comparison, folder=folder))]
    if has_repeats(comparison.get("groups") or []):
        sections.insert(0, ("configurations", "Configurations (seed repeats)", _configurations(comparison)))
    sections[0] = (sections[0][0], sections[0][1], notes + sections[0][2])
    rare = _rare(comparison)
    if rare is not None:
        sections.insert(0, ("rare", "Rare classes", rare))
    shares = [[esc(name), *(share_label(run, name) or ABSENT for run in runs)] for name in classes]
    support = [[esc(name), *(support_label(run, name) for run in runs)] for name in classes]
    sections.append(
        (
            "shares",
            "Training share of each class",
            table(["class", *(esc(r["name"]) for r in runs)], shares)
            + f'<p class="muted">Share of the points of the run\'s {TRAINING_CLOUDS} (of its evaluated points where '
            f"it recorded none); rare: under {RARE_SHARE:.0%}, as the run reports mark them; {ABSENT}: the run has no such class.</p>",
        )
    )
    sections.append(
        (
            "support",
            "Points scored of each class",
            table(["class", *(esc(r["name"]) for r in runs)], support)
            + f'<p class="muted">The points of each class the run was scored on; {ABSENT}: none.</p>',
        )
    )
    sections += [(key.lower(), f"Per-class {label}", _per_class(comparison, key, label)) for key, label in PER_CLASS]
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
