"""Runs side by side (``vl3d-focal compare``): the model's input features and transformers, loss,
gamma, class weights, scores, per-class IoU and recall with the differences to the first run,
training time.

A run is found by its run record (``report.json``, :mod:`vl3d_focal.runner.run_record`): a
folder holding one, or the file itself. Only the records are read, never the clouds. The
comparison is printed as Markdown, CSV or JSON (:func:`format_comparison`) and drawn as a
self-contained HTML page (:func:`render_comparison`).

Example:
    >>> run = {"name": "a", "record": "a/report.json", "status": "finished", "model": "trained",
    ...        "features": "2 features; MinmaxNormalizer", "loss": "f", "gamma": 2.0, "class_weight": "balanced",
    ...        "weights": {}, "mIoU": 0.5, "OA": 0.9, "macro_F1": 0.6,
    ...        "train_seconds": 10.0, "epochs": 3, "per_class": {"pole": {"IoU": 0.2, "R": 0.4}}}
    >>> print(format_comparison({"classes": ["pole"], "shares": {"pole": 0.01}, "runs": [run]}, style="md")
    ...       .splitlines()[2])
    | a | finished | trained | 2 features; MinmaxNormalizer | f | 2 | balanced | 0.500 | 0.900 | 0.600 | 10.0 | 3 |
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.errors import DataError
from vl3d_focal.reports import svg_charts
from vl3d_focal.reports.html_page import esc, fmt, generator_mark, link, page, table, write_page
from vl3d_focal.reports.run_summary import (
    RECORD_FORMAT,
    class_shares,
    feature_summary,
    loss_summary,
    model_source,
    read_record,
    summed_metrics,
)

FORMATS = ("md", "csv", "json")
GENERATOR = "vl3d-focal compare"
"""The generator of the comparison page (an existing page is replaced only when it says so)."""
SCORES = (("mIoU", "mIoU"), ("OA", "OA"), ("macro_F1", "macro F1"))


def find_record(path: str | os.PathLike[str]) -> Path:
    """The run record of a run folder (its ``report.json``, or its only ``*report.json``) or the file itself.

    Raises:
        DataError: no such folder or file, or no single run record in the folder.

    Example:
        >>> find_record("no/such/run")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        vl3d_focal.errors.DataError: no/such/run: no such run folder or report.json; ...
    """
    target = Path(path)
    if target.is_file():
        return target
    if not target.is_dir():
        raise DataError(f"{path}: no such run folder or report.json; expected the folder of a run's report.html")
    if (target / "report.json").is_file():
        return target / "report.json"
    found = [p for p in sorted(target.glob("*report.json")) if RECORD_FORMAT in p.read_text(encoding="utf-8")[:200]]
    if len(found) == 1:
        return found[0]
    if not found:
        raise DataError(
            f"{path}: no run record (report.json) in this folder; expected the folder where a run "
            "wrote report.html (its first output prefix), e.g. out/demo"
        )
    raise DataError(f"{path}: several run records ({', '.join(p.name for p in found)}); pass the one to compare")


def _run_summary(name: str, path: Path, record: Mapping[str, Any]) -> dict[str, Any]:
    metrics = summed_metrics(record) or {}
    source = model_source(record) or {}
    trained = bool(source) and not source.get("loaded")
    weights = dict(zip(source.get("class_names") or [], source.get("class_weight") or []))
    fit_seconds = sum(t.get("fit_seconds") or 0.0 for t in record.get("trainings") or [])
    return {
        "name": name,
        "record": str(path),
        "status": record.get("status"),
        "model": _model_label(source, trained=trained) if source else None,
        "features": feature_summary(source or None),
        **loss_summary(source or None),
        "weights": weights,
        **{key: metrics.get(key) for key, _ in SCORES},
        "train_seconds": round(fit_seconds, 1) if trained else None,
        "epochs": len(source.get("history") or []) if trained else None,
        "evaluated": sorted(_evaluated_clouds(record)),
        "per_class": {
            name: {key: row.get(key) for key in ("P", "R", "F1", "IoU", "support")}
            for name, row in (metrics.get("per_class") or {}).items()
        },
    }


def _model_label(source: Mapping[str, Any], *, trained: bool) -> str:
    """The model's kind and where it came from: ``PointNetPwiseClassifier (trained)`` or
    ``RandomForestClassifier (loaded model.keras)``.

    Example:
        >>> _model_label({"model": "RandomForestClassifier", "path": "out/model.keras"}, trained=False)
        'RandomForestClassifier (loaded model.keras)'
    """
    how = "trained" if trained else f"loaded {Path(str(source.get('path'))).name}"
    return f"{source['model']} ({how})" if source.get("model") else how


def _evaluated_clouds(record: Mapping[str, Any]) -> list[str]:
    """``name (points)`` of each cloud a run evaluated: what its scores are computed on."""
    found = []
    for evaluation in record.get("evaluations") or []:
        rows = (evaluation.get("metrics") or {}).get("per_class") or {}
        points = sum(int(row.get("support") or 0) for row in rows.values())
        found.append(f"{Path(str(evaluation.get('cloud', '?'))).name} ({points:,} points)")
    return found


def _scoring_notes(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Notes when the runs that were scored were not scored on the same clouds, or not on the
    same classes (their scores then do not compare; a run without evaluation shows none)."""
    scored = [run for run in runs if run["evaluated"]]
    notes = []
    if any(run["evaluated"] != scored[0]["evaluated"] for run in scored[1:]):
        listed = "; ".join(f"{run['name']}: {', '.join(run['evaluated'])}" for run in scored)
        notes.append(f"the runs were not evaluated on the same clouds, so their scores do not compare ({listed})")
    if any(list(run["per_class"]) != list(scored[0]["per_class"]) for run in scored[1:]):
        listed = "; ".join(f"{run['name']}: {', '.join(run['per_class'])}" for run in scored)
        notes.append(
            "the runs do not score the same classes, so their mIoU and other averages over the classes do not "
            f"compare; compare the classes they share ({listed})"
        )
    return notes


def _names(paths: Sequence[Path]) -> list[str]:
    """Short distinct names of the runs: their folders, with parents where two are alike."""
    names = [p.parent.name or str(p.parent) for p in paths]
    for depth in (2, 3):
        if len(set(names)) == len(names):
            break
        names = ["/".join(p.parent.parts[-depth:]) for p in paths]
    return [name if names.count(name) == 1 else f"{name} ({k + 1})" for k, name in enumerate(names)]


def compare_runs(paths: Sequence[str | os.PathLike[str]]) -> dict[str, Any]:
    """The comparison of runs (``classes``, ``shares`` of the training points, ``runs``, and
    ``notes``: what makes them hard to compare), first run the baseline. A run's ``train_seconds``
    is the time its trainings spent fitting; a run that loaded its model reports that model's loss
    and class weights.

    Raises:
        DataError: a path is not a run (see :func:`find_record`).

    Example:
        >>> compare_runs([])
        Traceback (most recent call last):
        ...
        vl3d_focal.errors.DataError: compare: expected at least one run folder (RUN_DIR); got none
    """
    if not paths:
        raise DataError("compare: expected at least one run folder (RUN_DIR); got none")
    files = [find_record(path) for path in paths]
    records = [read_record(path) for path in files]
    runs = [_run_summary(name, path, record) for name, path, record in zip(_names(files), files, records)]
    classes: list[str] = []
    for run in runs:
        classes += [name for name in run["per_class"] if name not in classes]
    shares = next((dict(zip(*found)) for found in map(class_shares, records) if found), {})
    return {"classes": classes, "shares": shares, "runs": runs, "notes": _scoring_notes(runs)}


def _delta(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None else value - base


def _with_delta(value: float | None, base: float | None, *, first: bool) -> str:
    delta = _delta(value, base)
    return fmt(value) + ("" if first or delta is None else f" ({delta:+.3f})")


def format_comparison(comparison: Mapping[str, Any], *, style: str = "md") -> str:
    """The comparison as Markdown tables (``md``), one CSV row per run and class (``csv``), or JSON.

    Example:
        >>> format_comparison({"classes": [], "shares": {}, "runs": []}, style="json").startswith("{")
        True
    """
    runs, classes = comparison["runs"], comparison["classes"]
    if style == "json":
        return json.dumps(comparison, indent=1) + "\n"
    if style == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        head = ["name", "status", "model", "features", "loss", "gamma", "class_weight"]
        head += ["mIoU", "OA", "macro_F1", "train_seconds"]
        writer.writerow(
            ["run", *head[1:], "class", "training_share", "weight", "precision", "recall", "F1", "IoU", "support"]
        )
        for run in runs:
            for name in classes:
                row = run["per_class"].get(name, {})
                writer.writerow(
                    [
                        *(run[key] for key in head),
                        name,
                        comparison["shares"].get(name),
                        run["weights"].get(name),
                        *(row.get(k) for k in ("P", "R", "F1", "IoU", "support")),
                    ]
                )
        return buffer.getvalue()
    if style != "md":
        raise DataError(f"compare --format: expected one of {', '.join(FORMATS)}; got {style!r}")
    base = runs[0] if runs else {}
    lines = [
        "| run | status | model | features | loss | gamma | class weights | mIoU | OA | macro F1 | training (s) "
        "| epochs |",
        "|---|---|---|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for k, run in enumerate(runs):
        scores = " | ".join(_with_delta(run[key], base[key], first=k == 0) for key, _ in SCORES)
        gamma = "" if run["gamma"] is None else f"{run['gamma']:g}"
        lines.append(
            f"| {run['name']} | {run['status'] or ''} | {run['model'] or ''} | {run.get('features') or ''} | "
            f"{run['loss'] or ''} | {gamma} | "
            f"{_weights_label(run)} | {scores} | "
            f"{'' if run['train_seconds'] is None else run['train_seconds']} | {run['epochs'] or ''} |"
        )
    if classes:
        names = [run["name"] for run in runs]
        lines += [
            "",
            "| class | training share | "
            + " | ".join(f"IoU {n}" for n in names)
            + " | "
            + " | ".join(f"recall {n}" for n in names)
            + " |",
            "|---|---:|" + "---:|" * (2 * len(runs)),
        ]
        for name in classes:
            share = comparison["shares"].get(name)
            cells = [
                _with_delta(
                    run["per_class"].get(name, {}).get(key), base["per_class"].get(name, {}).get(key), first=k == 0
                )
                for key in ("IoU", "R")
                for k, run in enumerate(runs)
            ]
            lines.append(f"| {name} | {'' if share is None else f'{100 * share:.2f}%'} | " + " | ".join(cells) + " |")
    lines += [f"\nNote: {note}." for note in comparison.get("notes") or []]
    return "\n".join(lines) + "\n"


def _weights_label(run: Mapping[str, Any]) -> str:
    """The class-weight spec; ``none`` only for a run whose model is known to use none."""
    return run["class_weight"] or ("none" if run.get("model") else "n/a")


def _signed(value: float | None) -> str:
    if value is None:
        return "n/a"
    if abs(value) < 0.0005:  # shows as 0.000: no colour, no sign
        return "0.000"
    return f'<span class="{"up" if value > 0 else "down"}">{value:+.3f}</span>'


def render_comparison(comparison: Mapping[str, Any], *, folder: Path) -> str:
    """The comparison page; links to the runs' reports are relative to ``folder``.

    Example:
        >>> "<svg" in render_comparison({"classes": ["a"], "shares": {}, "runs": [
        ...     {"name": "r", "record": "r/report.json", "status": "finished", "loss": "f", "gamma": None,
        ...      "class_weight": None, "weights": {}, "mIoU": 0.5, "OA": 0.9, "macro_F1": 0.6,
        ...      "train_seconds": 1.0, "epochs": 1, "per_class": {"a": {"IoU": 0.5, "R": 0.6}}}]}, folder=Path("."))
        True
    """
    runs, classes = comparison["runs"], comparison["classes"]
    base = runs[0]
    rows = [
        [
            link(Path(run["record"]).with_suffix(".html"), folder=folder, text=run["name"]),
            esc(run["status"]),
            esc(run.get("model") or ""),
            esc(run.get("features") or ""),
            esc(run["loss"] or ""),
            fmt(run["gamma"], 2),
            esc(_weights_label(run)),
            *(fmt(run[key]) + ("" if k == 0 else " " + _signed(_delta(run[key], base[key]))) for key, _ in SCORES),
            fmt(run["train_seconds"], 1),
            fmt(run["epochs"]),
        ]
        for k, run in enumerate(runs)
    ]
    overview = table(
        ["run", "status", "model", "features", "loss", "gamma", "class weights"]
        + ["mIoU", "OA", "macro F1", "training (s)", "epochs"],
        rows,
        left=7,
    )
    overview = "".join(f'<p class="warn">Note: {esc(note)}.</p>' for note in comparison.get("notes") or []) + overview
    overview += svg_charts.bar_chart(
        categories=[label for _, label in SCORES],
        y_max=1.0,
        title="Scores",
        groups={run["name"]: [run[key] for key, _ in SCORES] for run in runs},
    )
    sections = [
        ("runs", "Runs", overview + f'<p class="muted">Differences are to the first run, {esc(base["name"])}.</p>')
    ]
    for key, label in (("IoU", "IoU"), ("R", "recall")):
        groups = {run["name"]: [run["per_class"].get(name, {}).get(key) for name in classes] for run in runs}
        chart = svg_charts.bar_chart(
            categories=classes, groups=groups, y_max=1.0, labels=len(runs) <= 2, title=f"Per-class {label}"
        )
        header = [
            "class",
            "training share",
            *(esc(r["name"]) for r in runs),
            *(f"{esc(r['name'])} &minus; {esc(base['name'])}" for r in runs[1:]),
        ]
        body = [
            [
                esc(name),
                "n/a" if comparison["shares"].get(name) is None else f"{100 * comparison['shares'][name]:.2f}%",
                *(fmt(value) for value in (groups[r["name"]][c] for r in runs)),
                *(_signed(_delta(groups[r["name"]][c], groups[base["name"]][c])) for r in runs[1:]),
            ]
            for c, name in enumerate(classes)
        ]
        sections.append((key.lower(), f"Per-class {label}", chart + table(header, body)))
    weights = [[esc(name), *(fmt(run["weights"].get(name), 4) for run in runs)] for name in classes]
    sections.append(
        (
            "weights",
            "Class weights",
            table(["class", *(esc(r["name"]) for r in runs)], weights)
            + '<p class="muted">n/a: the run used no class weight.</p>',
        )
    )
    return page(
        title=f"vl3d_focal comparison of {len(runs)} runs",
        sections=sections,
        subtitle=" vs ".join(esc(run["name"]) for run in runs),
        generator=GENERATOR,
    )


def write_comparison(comparison: Mapping[str, Any], *, path: str | os.PathLike[str]) -> Path:
    """Writes :func:`render_comparison` to ``path`` (atomically), an ``.html`` file that does not
    exist yet or an earlier comparison page: never a run's report or another file.

    Raises:
        DataError: ``path`` is not named ``.html``, or is a file this command did not write.

    Example:
        >>> run = {"name": "r", "record": "r/report.json", "status": "finished", "model": "trained", "loss": "f",
        ...        "gamma": None, "class_weight": None, "weights": {}, "mIoU": 0.5, "OA": 0.9, "macro_F1": 0.6,
        ...        "train_seconds": 1.0, "epochs": 1, "per_class": {}}
        >>> write_comparison({"classes": [], "shares": {}, "runs": [run]}, path=out / "compare.html").name
        'compare.html'
    """
    target = Path(path)
    if target.suffix.lower() not in (".html", ".htm"):
        raise DataError(f"{target}: the comparison is a web page; give -o a name ending in .html")
    if target.exists() and not _is_comparison_page(target):
        raise DataError(
            f"{target}: exists and is not a page written by vl3d-focal compare; it is kept. Give -o another file name"
        )
    return write_page(render_comparison(comparison, folder=target.parent), path=target)


def _is_comparison_page(path: Path) -> bool:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
    except OSError:  # a folder, or unreadable
        return False
    return generator_mark(GENERATOR) in head or "<title>vl3d_focal comparison of " in head  # older pages
