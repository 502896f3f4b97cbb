"""The comparison of runs (:func:`vl3d_focal.reports.compare.compare_runs`) as text: Markdown
tables (the rare classes' headline first), CSV (one row per run and class) or JSON.

Example:
    >>> run = {"name": "a", "record": "a/report.json", "status": "finished", "model": "trained",
    ...        "features": "2 features; MinmaxNormalizer", "loss": "f", "gamma": 2.0, "class_weight": "balanced",
    ...        "weights": {}, "mIoU": 0.5, "OA": 0.9, "macro_F1": 0.6,
    ...        "train_seconds": 10.0, "epochs": 3, "per_class": {"pole": {"IoU": 0.2, "R": 0.4}}}
    >>> print(format_comparison({"classes": ["pole"], "runs": [run]}, style="md").splitlines()[4])
    | a | finished | trained | 2 features; MinmaxNormalizer | f | 2 | balanced | 0.500 | 0.900 | 0.600 | 10.0 | 3 |
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from typing import Any

from vl3d_focal.errors import DataError
from vl3d_focal.reports.compare_deltas import (
    RARE_LABELS,
    group_difference,
    rare_headline,
    rare_names,
    reference_configuration,
    run_difference,
)
from vl3d_focal.reports.compare_facts import short_list
from vl3d_focal.reports.compare_groups import PER_CLASS, SCORES, SINGLE_RUN_FLOOR, SPREAD_FLOOR, has_repeats
from vl3d_focal.reports.html_page import fmt
from vl3d_focal.reports.run_summary import RARE_SHARE

FORMATS = ("md", "csv", "json")
SETUP = ("seed", "training_clouds", "feature_names")
"""A run's training set-up, listed apart from its scores."""
ABSENT = "—"
"""A per-class cell without a value: the run lacks the class, or has no score for it (the page's
and the charts' too)."""
NO_SCORES = "No run has scores."
"""The lead of a comparison where no run has scores (nothing to take differences to)."""


def signed(change: float | None) -> str:
    """A difference as the tables of Markdown and the page show it: signed with 3 decimals,
    ``0.000`` (no sign) where it rounds to 0, empty where unknown.

    Example:
        >>> signed(0.0123), signed(-0.0002), signed(None)
        ('+0.012', '0.000', '')
    """
    if change is None:
        return ""
    return "0.000" if abs(change) < 0.0005 else f"{change:+.3f}"


def mean_label(stat: Mapping[str, Any] | None) -> str:
    """A configuration's mean ± sd (the sd where it ran twice or more); :data:`ABSENT` for none.

    Example:
        >>> mean_label({"mean": 0.8842, "sd": 0.0071, "n": 2}), mean_label({"mean": 0.5, "sd": None, "n": 1})
        ('0.884 ± 0.007', '0.500')
    """
    if stat is None:
        return ABSENT
    return fmt(stat["mean"]) + ("" if stat["sd"] is None else f" ± {fmt(stat['sd'])}")


def lead(comparison: Mapping[str, Any], *, groups: bool, page: bool = False) -> str:
    """What the differences are to (in brackets in Markdown) and which are findings (bold in
    Markdown, coloured on the ``page``).

    Example:
        >>> lead({"runs": [{"name": "a", "mIoU": None}, {"name": "b", "mIoU": 0.5}], "reference": "b",
        ...       "groups": []}, groups=False)  # doctest: +ELLIPSIS
        'Differences (in brackets) are to b, the first run with scores (a has none); bold: 0.01 or more ...'
        >>> lead({"runs": [{"name": "a", "mIoU": None}], "reference": None, "groups": []}, groups=False)
        'No run has scores.'
    """
    runs, brackets = comparison["runs"], "" if page else " (in brackets)"
    if comparison.get("reference") is None:
        return NO_SCORES
    if groups:
        what = f"the first configuration with scores, {comparison.get('reference_configuration')}"
        text = f"Differences{brackets} are between the configurations' means, to {what}"
    else:
        text = f"Differences{brackets} are to {comparison.get('reference')}, the first run with scores"
        if runs and runs[0]["name"] != comparison.get("reference"):
            text += f" ({runs[0]['name']} has none)"
    if has_repeats(comparison.get("groups") or []):
        rule = (
            "at least the seed spread of the two configurations (their sd summed, each at least "
            f"{SPREAD_FLOOR:g}) where the scores compare"
        )
    else:
        rule = (
            f"{SINGLE_RUN_FLOOR} or more where the scores compare (each configuration ran once: less is within what "
            "a seed changes)"
        )
    return f"{text}; {'coloured' if page else 'bold'}: {rule}; {ABSENT}: no score for that class."


def share_label(run: Mapping[str, Any], name: str) -> str:
    """A class's share of a run's training points in percent, ``rare`` where the run's report
    marks it so; empty for a class the run does not have.

    Example:
        >>> share_label({"shares": {"pole": 0.02}, "rare": ["pole"]}, "pole")
        '2.00% rare'
    """
    share = (run.get("shares") or {}).get(name)
    if share is None:
        return ""
    return percent(share) + (" rare" if name in (run.get("rare") or []) else "")


def percent(share: float) -> str:
    """A share in percent, as the tables show it.

    Example:
        >>> percent(0.0063)
        '0.63%'
    """
    return f"{100 * share:.2f}%"


def bold(change: float | None, finding: bool) -> str:
    """A difference as Markdown shows it: :func:`signed`, bold where it is a finding (and not 0).

    Example:
        >>> bold(0.05, True), bold(0.0001, True), bold(0.05, False)
        ('**+0.050**', '0.000', '+0.050')
    """
    text = signed(change)
    return f"**{text}**" if finding and text not in ("", "0.000") else text


def rare_table(
    comparison: Mapping[str, Any],
    *,
    mark: Callable[[float | None, bool], str] = bold,
    name: Callable[[str], str] = str,
    page: bool = False,
) -> tuple[str, list[str], list[list[str]]] | None:
    """The rare classes' headline (:func:`~vl3d_focal.reports.compare_deltas.rare_headline`) as
    its lead, header and rows: per class rare in the reference its training share, the
    reference's recall / IoU / F1 and each other's differences to them (``mark``: a difference and
    whether it is a finding as text; ``name``: a run's or class's name as text); no rows where no
    class is rare; None where there is no headline.

    Example:
        >>> runs = [{"name": n, "mIoU": 0.5, "configuration": n, "shares": {"pole": 0.02}, "rare": ["pole"],
        ...          "per_class": {"pole": {"R": r, "IoU": 0.2}}} for n, r in (("ce", 0.4), ("focal", 0.45))]
        >>> text, header, rows = rare_table({"runs": runs, "reference": "ce", "groups": []})
        >>> header[2:], rows
        (['ce: recall / IoU / F1', 'focal'], [['pole', '2.00%', '0.400 / 0.200 / —', '**+0.050** / 0.000 / —']])
    """
    head = rare_headline(comparison)
    if head is None:
        return None
    whose = f"the training points of {head['reference']}"
    if not head["rows"]:
        return f"Rare classes: none (each class is {RARE_SHARE:.0%} or more of {whose}).", [], []
    scores, kind = " / ".join(RARE_LABELS), "configuration" if head["groups"] else "run"
    text = (
        f"Rare classes (under {RARE_SHARE:.0%} of {whose}): {scores} of {head['reference']}"
        f"{' (means)' if head['groups'] else ''} and each other {kind}'s difference to them; "
        f"{'coloured' if page else 'bold'}: a finding, by the rule of the tables below."
    )
    header = ["rare class", "training share", f"{name(head['reference'])}: {scores}", *map(name, head["others"])]
    rows = [
        [
            name(row["class"]),
            ABSENT if row["share"] is None else percent(row["share"]),
            " / ".join(ABSENT if value is None else fmt(value) for value in row["reference"]),
            *(" / ".join(ABSENT if c is None else mark(c, f) for c, f in cells) for cells in row["changes"]),
        ]
        for row in head["rows"]
    ]
    return text, header, rows


def _rare_lines(comparison: Mapping[str, Any]) -> list[str]:
    found = rare_table(comparison)
    if found is None:
        return []
    text, header, rows = found
    if not rows:
        return [text, ""]
    lines = [text, "", "| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    return [*lines, *("| " + " | ".join(row) + " |" for row in rows), ""]


def class_label(name: str, rare: list[str]) -> str:
    """A class's name in the per-class tables: ``(rare)`` where it is rare in the reference.

    Example:
        >>> class_label("pole", ["pole"]), class_label("ground", ["pole"])
        ('pole (rare)', 'ground')
    """
    return f"{name} (rare)" if name in rare else name


def weights_label(run: Mapping[str, Any]) -> str:
    """The class-weight spec; ``none`` only for a run whose model is known to use none.

    Example:
        >>> weights_label({"class_weight": None, "model": None})
        'n/a'
    """
    return run["class_weight"] or ("none" if run.get("model") else "n/a")


def _with_delta(value: float | None, change: float | None, finding: bool) -> str:
    shown = bold(change, finding)
    return fmt(value) + (f" ({shown})" if shown else "")


def _setup_value(run: Mapping[str, Any], key: str) -> str:
    value = run.get(key)
    if value is None:
        return ""
    return str(value) if key == "seed" else ", ".join(value) if key == "training_clouds" else short_list(value)


def format_comparison(comparison: Mapping[str, Any], *, style: str = "md") -> str:
    """The comparison as Markdown tables (``md``), one CSV row per run and class (``csv``), or JSON.

    Example:
        >>> format_comparison({"classes": [], "runs": []}, style="json").startswith("{")
        True
    """
    if style == "json":
        return json.dumps(comparison, indent=1) + "\n"
    if style == "csv":
        return _csv(comparison)
    if style != "md":
        raise DataError(f"compare --format: expected one of {', '.join(FORMATS)}; got {style!r}")
    return _markdown(comparison)


def _csv(comparison: Mapping[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    head = ["name", "configuration", "status", "error", "model", "features", "loss", "gamma", "class_weight", *SETUP]
    head += ["mIoU", "OA", "macro_F1", "train_seconds"]
    writer.writerow(
        ["run", *head[1:], "class", "training_share", "rare", "weight", "precision", "recall", "F1", "IoU", "support"]
    )
    for run in comparison["runs"]:
        for name in comparison["classes"]:
            row = run["per_class"].get(name, {})
            writer.writerow(
                [
                    *(";".join(run.get(key) or []) if key in SETUP[1:] else run.get(key) for key in head),
                    name,
                    run.get("shares", {}).get(name),
                    name in run.get("rare", []),
                    run["weights"].get(name),
                    *(row.get(k) for k in ("P", "R", "F1", "IoU", "support")),
                ]
            )
    return buffer.getvalue()


def evaluated_label(run: Mapping[str, Any]) -> str:
    """The clouds a run was scored on, each one it also trained on marked so.

    Example:
        >>> evaluated_label({"evaluated": ["a.las (5 points)"], "scored_on_training": ["a.las"]})
        'a.las (5 points, trained on it)'
    """
    marked = set(run.get("scored_on_training") or [])
    return ", ".join(
        cloud[:-1] + ", trained on it)" if cloud.split(" (")[0] in marked else cloud
        for cloud in run.get("evaluated") or []
    )


def _markdown(comparison: Mapping[str, Any]) -> str:
    runs, classes = comparison["runs"], comparison["classes"]
    groups = comparison.get("groups") or []
    configurations = _group_tables(comparison) if has_repeats(groups) else []
    lines = [
        *_rare_lines(comparison),
        *configurations,
        "Each run. " + lead(comparison, groups=False) if configurations else lead(comparison, groups=False),
        "",
        "| run | status | model | features | loss | gamma | class weights | mIoU | OA | macro F1 | training (s) "
        "| epochs |",
        "|---|---|---|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        scores = " | ".join(_with_delta(*run_difference(comparison, run, key)) for key, _ in SCORES)
        gamma = "" if run["gamma"] is None else f"{run['gamma']:g}"
        lines.append(
            f"| {run['name']} | {run['status'] or ''} | {run['model'] or ''} | {run.get('features') or ''} | "
            f"{run['loss'] or ''} | {gamma} | {weights_label(run)} | {scores} | "
            f"{'' if run['train_seconds'] is None else run['train_seconds']} | {run['epochs'] or ''} |"
        )
    lines += [f"\n{run['name']} {run['status']}: {run['error']}" for run in runs if run.get("error")]
    if any(run.get(key) is not None for run in runs for key in SETUP):
        lines += ["", "| run | seed | training clouds | feature names | evaluated on |", "|---|---:|---|---|---|"]
        lines += [
            f"| {run['name']} | " + " | ".join(_setup_value(run, key) for key in SETUP) + f" | {evaluated_label(run)} |"
            for run in runs
        ]
    if classes:
        lines += _class_tables(comparison)
    lines += [f"\nNote: {note}." for note in comparison.get("notes") or []]
    return "\n".join(lines) + "\n"


def _group_tables(comparison: Mapping[str, Any]) -> list[str]:
    """The configurations (runs alike but for their seed): mean ± sd of each score and per-class
    score, with the differences of the means to the reference configuration's."""
    groups, classes = comparison["groups"], comparison["classes"]
    base = reference_configuration(comparison)
    lines = [
        "Configurations: runs alike but for their random_seed, as mean ± sd over their n scored runs. "
        + lead(comparison, groups=True),
        "",
        "| configuration | n | seeds | loss | gamma | class weights | mIoU | OA | macro F1 |",
        "|---|---:|---|---|---:|---|---:|---:|---:|",
    ]
    for group in groups:
        cells = [_group_cell(comparison, group, base, key) for key, _ in SCORES]
        gamma = "" if group["gamma"] is None else f"{group['gamma']:g}"
        seeds = ", ".join(str(seed) for seed in group["seeds"] if seed is not None)
        lines.append(
            f"| {group['name']} | {group['n']} | {seeds} | {group['loss'] or ''} | {gamma} | "
            f"{weights_label(group)} | " + " | ".join(cells) + " |"
        )
    names, rare = " | ".join(group["name"] for group in groups), rare_names(comparison)
    for key, label in PER_CLASS:
        lines += ["", f"| class | {label}: {names} |", "|---|" + "---:|" * len(groups)]
        lines += [
            f"| {class_label(name, rare)} | "
            + " | ".join(_group_cell(comparison, g, base, key, name) for g in groups)
            + " |"
            for name in classes
        ]
    return [*lines, ""]


def _group_cell(
    comparison: Mapping[str, Any], group: Mapping[str, Any], base: Mapping[str, Any], key: str, name: str | None = None
) -> str:
    stat, change, finding = group_difference(comparison, group, base, key, name)
    text = bold(change, finding)
    return (mean_label(stat) if stat or name else fmt(None)) + (f" ({text})" if text else "")


def _class_tables(comparison: Mapping[str, Any]) -> list[str]:
    """The training share of each class per run (rare ones marked), the points scored, then a table
    per score (the classes rare in the reference marked)."""
    runs, classes, rare = comparison["runs"], comparison["classes"], rare_names(comparison)
    names = " | ".join(run["name"] for run in runs)
    lines = ["", f"| class | training share: {names} |", "|---|" + "---:|" * len(runs)]
    lines += [f"| {name} | " + " | ".join(share_label(run, name) or ABSENT for run in runs) + " |" for name in classes]
    lines += ["", f"| class | points scored: {names} |", "|---|" + "---:|" * len(runs)]
    lines += [f"| {name} | " + " | ".join(support_label(run, name) for run in runs) + " |" for name in classes]
    for key, label in PER_CLASS:
        lines += ["", f"| class | {label}: {names} |", "|---|" + "---:|" * len(runs)]
        for name in classes:
            cells = []
            for run in runs:
                value, change, finding = run_difference(comparison, run, key, name)
                cells.append(ABSENT if value is None else _with_delta(value, change, finding))
            lines.append(f"| {class_label(name, rare)} | " + " | ".join(cells) + " |")
    return lines


def support_label(run: Mapping[str, Any], name: str) -> str:
    """The points of a class a run was scored on (its ``support``); :data:`ABSENT` for none.

    Example:
        >>> support_label({"per_class": {"pole": {"support": 1234}}}, "pole"), support_label({"per_class": {}}, "x")
        ('1,234', '—')
    """
    support = run["per_class"].get(name, {}).get("support")
    return ABSENT if support is None else fmt(int(support))
