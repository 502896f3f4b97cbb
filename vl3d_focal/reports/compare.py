"""Runs side by side (``vl3d-focal compare``): how each run's model was set up (seed, training
clouds, input features and their transformers, loss, gamma, class weights), how the run ended,
its scores and per-class scores, each class's share of the run's training points, training time.

A run is found by its run record (``report.json``, :mod:`vl3d_focal.runner.run_record`): a
folder holding one, or the file itself. Only the records are read, never the clouds. The
comparison (:func:`compare_runs`, the first run the baseline) is printed as Markdown, CSV or JSON
(:mod:`vl3d_focal.reports.compare_text`) and drawn as an HTML page
(:mod:`vl3d_focal.reports.compare_page`).

Example:
    >>> compare_runs(["no/such/run"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vl3d_focal.errors.DataError: no/such/run: no such run folder or report.json; ...
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.errors import DataError
from vl3d_focal.io.prefix_lock import recorded_status
from vl3d_focal.reports.compare_facts import error_line, model_inputs, record_spec, spec_model, training_setup
from vl3d_focal.reports.run_summary import (
    RECORD_FORMAT,
    class_shares,
    evaluated_model_source,
    fitted_seconds,
    loss_summary,
    model_evaluations,
    model_source,
    rare_classes,
    read_record,
)

SCORES = (("mIoU", "mIoU"), ("OA", "OA"), ("macro_F1", "macro F1"))
"""The scores compared: (key in a run's summary, label)."""
PER_CLASS = (("IoU", "IoU"), ("R", "recall"), ("F1", "F1"), ("P", "precision"))
"""The per-class scores compared: (key in a run's ``per_class``, label)."""


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


def _run_rows(name: str, path: Path, record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of a run: one, or one per model where it evaluated several (each named
    ``<run>: <model>``, with that model's setup and scores; never their scores summed)."""
    groups = model_evaluations(record)
    if len(groups) < 2:
        return [_run_summary(name, path, record, group=groups[0] if groups else None)]
    return [_run_summary(f"{name}: {group['label']}", path, record, group=group) for group in groups]


def _train_steps(spec: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    steps = (spec or {}).get("sequential_pipeline") or []
    return [step for step in steps if isinstance(step, Mapping) and "train" in step]


def _run_summary(
    name: str, path: Path, record: Mapping[str, Any], *, group: Mapping[str, Any] | None
) -> dict[str, Any]:
    metrics = dict(group["metrics"]) if group else {}
    spec = record_spec(record, path=path)
    model = dict(group["model"]) if group else {}
    source = (evaluated_model_source(record, model) if model else model_source(record)) or spec_model(spec) or {}
    trained = bool(source) and not source.get("loaded") and not source.get("from_spec")
    trains = _train_steps(spec)
    if isinstance(model.get("training"), int) and model["training"] < len(trains):
        spec = {
            **(spec or {}),
            "sequential_pipeline": [trains[model["training"]]],
        }  # its own train step (seed, scaling)
    weights = dict(zip(source.get("class_names") or [], source.get("class_weight") or []))
    fits = [source] if model.get("training") is not None else record.get("trainings") or []
    fit_seconds = fitted_seconds(fits) or 0.0
    shares = class_shares(record, source=source or None, metrics=metrics or None)
    return {
        "name": name,
        "record": str(path),
        "status": _status(record),
        "error": error_line(record),
        "model": _model_label(source, trained=trained) if source else None,
        "features": model_inputs(source or None, spec=spec, trained=trained),
        **training_setup(source or None, spec=spec, trained=trained),
        **loss_summary(source or None),
        "classes": list(source.get("class_names") or metrics.get("class_names") or []),
        "weights": weights,
        "shares": dict(zip(*shares)) if shares else {},
        "rare": rare_classes(record, source=source or None, metrics=metrics or None),
        **{key: metrics.get(key) for key, _ in SCORES},
        "train_seconds": round(fit_seconds, 1) if trained else None,
        "epochs": len(source.get("history") or []) if trained else None,
        "evaluated": sorted(_evaluated_clouds(group["evaluations"] if group else [])),
        "per_class": {
            name: {key: row.get(key) for key in ("P", "R", "F1", "IoU", "support")}
            for name, row in (metrics.get("per_class") or {}).items()
        },
    }


def _status(record: Mapping[str, Any]) -> str | None:
    """The run's status; ``running`` when its process is gone (the record's ``lock`` held by none)
    reads :data:`~vl3d_focal.io.prefix_lock.INTERRUPTED_SILENTLY` (a killed run never says so itself)."""
    status = record.get("status")
    lock = record.get("lock")
    return recorded_status(status, lock=lock if isinstance(lock, str) else None) if isinstance(status, str) else status


def _model_label(source: Mapping[str, Any], *, trained: bool) -> str:
    """The model's kind and where it came from: ``PointNetPwiseClassifier (trained)``,
    ``RandomForestClassifier (loaded model.keras)``, or ``... (in the spec)`` for a run that ended
    before it recorded its model.

    Example:
        >>> _model_label({"model": "RandomForestClassifier", "path": "out/model.keras"}, trained=False)
        'RandomForestClassifier (loaded model.keras)'
    """
    if source.get("from_spec"):
        how = "in the spec"
    else:
        how = "trained" if trained else f"loaded {Path(str(source.get('path'))).name}"
    return f"{source['model']} ({how})" if source.get("model") else how


def _evaluated_clouds(evaluations: Sequence[Mapping[str, Any]]) -> list[str]:
    """``name (points)`` of each cloud of ``evaluations`` (a run's, of one model): what its scores
    are computed on."""
    found = []
    for evaluation in evaluations:
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


def _training_notes(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Notes when the runs that trained their model did not train on the same clouds or with the
    same random seed (their differences then are not the loss's alone)."""
    notes = []
    for key, what in (("training_clouds", "trained on the same clouds"), ("seed", "trained with the same seed")):
        known = [run for run in runs if run[key] is not None]
        values = [sorted(run[key]) if key == "training_clouds" else run[key] for run in known]
        if any(value != values[0] for value in values[1:]):
            listed = "; ".join(
                f"{run['name']}: {', '.join(value) if key == 'training_clouds' else value}"
                for run, value in zip(known, values)
            )
            notes.append(f"the runs were not {what}, so their differences are not the loss's alone ({listed})")
    return notes


def _names(paths: Sequence[Path]) -> list[str]:
    """Short distinct names of the runs: their folders (resolved: ``.`` is named), with parents
    where two are alike."""
    folders = [p.resolve().parent for p in paths]
    names = [folder.name or str(folder) for folder in folders]
    for depth in (2, 3):
        if len(set(names)) == len(names):
            break
        names = ["/".join(folder.parts[-depth:]) for folder in folders]
    return [name if names.count(name) == 1 else f"{name} ({k + 1})" for k, name in enumerate(names)]


def compare_runs(paths: Sequence[str | os.PathLike[str]]) -> dict[str, Any]:
    """The comparison of runs: ``classes`` (of them all, in order), ``runs`` (the first the
    baseline) and ``notes`` (what makes them hard to compare). A run's ``shares`` are each
    class's share of its training points (of its evaluated points when it recorded none), its
    ``rare`` classes those under :data:`~vl3d_focal.reports.run_summary.RARE_SHARE`, as its
    report marks them; its ``train_seconds`` the time its trainings spent fitting. A run that
    loaded its model reports that model's loss and class weights; one that ended before it
    recorded its model, those its spec names.

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
    runs = [row for name, path, record in zip(_names(files), files, records) for row in _run_rows(name, path, record)]
    classes: list[str] = []
    for name in (name for run in runs for name in [*run["per_class"], *run["classes"]]):
        classes += [] if name in classes else [name]
    return {"classes": classes, "runs": runs, "notes": _scoring_notes(runs) + _training_notes(runs)}
