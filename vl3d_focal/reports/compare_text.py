"""The comparison of runs (:func:`vl3d_focal.reports.compare.compare_runs`) as text: Markdown
tables, CSV (one row per run and class) or JSON.

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
from collections.abc import Mapping, Sequence
from typing import Any

from vl3d_focal.errors import DataError
from vl3d_focal.reports.compare import PER_CLASS, SCORES
from vl3d_focal.reports.compare_facts import short_list
from vl3d_focal.reports.html_page import fmt

FORMATS = ("md", "csv", "json")
SETUP = ("seed", "training_clouds", "feature_names")
"""A run's training set-up, listed apart from its scores."""


def delta(value: float | None, base: float | None) -> float | None:
    """``value - base``, or None where either is missing.

    Example:
        >>> delta(0.75, 0.5), delta(None, 0.5)
        (0.25, None)
    """
    return None if value is None or base is None else value - base


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
    return f"{100 * share:.2f}%" + (" rare" if name in (run.get("rare") or []) else "")


def weights_label(run: Mapping[str, Any]) -> str:
    """The class-weight spec; ``none`` only for a run whose model is known to use none.

    Example:
        >>> weights_label({"class_weight": None, "model": None})
        'n/a'
    """
    return run["class_weight"] or ("none" if run.get("model") else "n/a")


def _with_delta(value: float | None, base: float | None, *, first: bool) -> str:
    change = delta(value, base)
    return fmt(value) + ("" if first or change is None else f" ({change:+.3f})")


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
    head = ["name", "status", "error", "model", "features", "loss", "gamma", "class_weight", *SETUP]
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


def _markdown(comparison: Mapping[str, Any]) -> str:
    runs, classes = comparison["runs"], comparison["classes"]
    base = runs[0] if runs else {}
    lines = [
        f"Differences (in brackets) are to the first run, {base.get('name', '')}.",
        "",
        "| run | status | model | features | loss | gamma | class weights | mIoU | OA | macro F1 | training (s) "
        "| epochs |",
        "|---|---|---|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for k, run in enumerate(runs):
        scores = " | ".join(_with_delta(run[key], base[key], first=k == 0) for key, _ in SCORES)
        gamma = "" if run["gamma"] is None else f"{run['gamma']:g}"
        lines.append(
            f"| {run['name']} | {run['status'] or ''} | {run['model'] or ''} | {run.get('features') or ''} | "
            f"{run['loss'] or ''} | {gamma} | {weights_label(run)} | {scores} | "
            f"{'' if run['train_seconds'] is None else run['train_seconds']} | {run['epochs'] or ''} |"
        )
    lines += [f"\n{run['name']} {run['status']}: {run['error']}" for run in runs if run.get("error")]
    if any(run.get(key) is not None for run in runs for key in SETUP):
        lines += ["", "| run | seed | training clouds | feature names |", "|---|---:|---|---|"]
        lines += [f"| {run['name']} | " + " | ".join(_setup_value(run, key) for key in SETUP) + " |" for run in runs]
    if classes:
        lines += _class_tables(runs, classes)
    lines += [f"\nNote: {note}." for note in comparison.get("notes") or []]
    return "\n".join(lines) + "\n"


def _class_tables(runs: Sequence[Mapping[str, Any]], classes: Sequence[str]) -> list[str]:
    """The training share of each class per run (rare ones marked), then a table per score."""
    base = runs[0]
    names = " | ".join(run["name"] for run in runs)
    lines = ["", f"| class | training share: {names} |", "|---|" + "---:|" * len(runs)]
    lines += [f"| {name} | " + " | ".join(share_label(run, name) for run in runs) + " |" for name in classes]
    for key, label in PER_CLASS:
        lines += ["", f"| class | {label}: {names} |", "|---|" + "---:|" * len(runs)]
        for name in classes:
            cells = [
                _with_delta(
                    run["per_class"].get(name, {}).get(key), base["per_class"].get(name, {}).get(key), first=k == 0
                )
                for k, run in enumerate(runs)
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines
