"""Runs side by side (``vl3d-focal compare``): how each run's model was set up (seed, training
clouds, input features and their transformers, loss, gamma, class weights), how the run ended,
its scores and per-class scores, each class's share of the run's training points, training time.

A run is found by its run record (``report.json``, :mod:`vl3d_focal.runner.run_record`): a
folder holding one, or the file itself. Only the records are read, never the clouds. The
comparison (:func:`compare_runs`: the runs, their configurations (seed repeats grouped,
:mod:`vl3d_focal.reports.compare_groups`) and notes (:mod:`vl3d_focal.reports.compare_notes`), the
first run with scores the reference) is printed as Markdown, CSV or JSON
(:mod:`vl3d_focal.reports.compare_text`) and drawn as an HTML page
(:mod:`vl3d_focal.reports.compare_page`).

Example:
    >>> compare_runs(["no/such/run"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vl3d_focal.errors.DataError: no/such/run: no such run folder or report.json; ...
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.errors import DataError
from vl3d_focal.io.prefix_lock import recorded_status
from vl3d_focal.reports.compare_facts import (
    class_codes,
    error_line,
    model_inputs,
    record_spec,
    spec_model,
    train_step,
    training_paths,
    training_setup,
)
from vl3d_focal.reports.compare_groups import SCORES, configuration, group_runs
from vl3d_focal.reports.compare_notes import comparison_notes
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
    spec = whole = record_spec(record, path=path)
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
    planned = trained or bool(source.get("from_spec"))
    evaluations = group["evaluations"] if group else []
    trained_on = {os.path.normpath(p) for p in _trained_on(source, spec=spec, planned=planned)}
    report = path.with_suffix(".html")
    return {
        "name": name,
        "record": str(path),
        "report": str(report) if report.is_file() else None,
        "status": _status(record),
        "error": error_line(record),
        "model": _model_label(source, trained=trained) if source else None,
        "features": model_inputs(source or None, spec=spec, trained=trained),
        **training_setup(source or None, spec=spec, trained=planned),
        **loss_summary(source or None),
        "classes": list(source.get("class_names") or metrics.get("class_names") or []),
        "weights": weights,
        "shares": dict(zip(*shares)) if shares else {},
        "rare": rare_classes(record, source=source or None, metrics=metrics or None),
        **{key: metrics.get(key) for key, _ in SCORES},
        "train_seconds": round(fit_seconds, 1) if trained else None,
        "epochs": len(source.get("history") or []) if trained else None,
        "evaluated": sorted(_evaluated_clouds(evaluations)),
        "scored_on_training": sorted(
            Path(str(e.get("cloud"))).name for e in evaluations if os.path.normpath(str(e.get("cloud"))) in trained_on
        ),
        "class_codes": class_codes(whole),
        "configuration": None,  # named by compare_runs
        "_setup": configuration(train_step(spec)) if planned else None,
        "per_class": {
            name: {key: row.get(key) for key in ("P", "R", "F1", "IoU", "support")}
            for name, row in (metrics.get("per_class") or {}).items()
        },
    }


def _trained_on(source: Mapping[str, Any], *, spec: Mapping[str, Any] | None, planned: bool) -> list[str]:
    """The paths of the clouds the model was trained on: its training's (:func:`training_paths`),
    or, for a loaded model, those its file recorded (``training_clouds``; none in older models).

    Example:
        >>> _trained_on({"loaded": True, "training_clouds": ["/d/a.las"]}, spec=None, planned=False)
        ['/d/a.las']
    """
    if planned:
        return training_paths(source, spec=spec) or []
    clouds = source.get("training_clouds")
    return [str(path) for path in clouds] if isinstance(clouds, list) else []


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


def _names(paths: Sequence[Path]) -> list[str]:
    """Short distinct names of the runs: their folders (resolved: ``.`` is named), with parents
    where two are alike."""
    folders = [p.resolve().parent for p in paths]
    distinct = list(dict.fromkeys(folders))  # a run given twice is numbered, not named by its parents
    named = {folder: folder.name or str(folder) for folder in distinct}
    for depth in (2, 3):
        if len(set(named.values())) == len(named):
            break
        named = {folder: "/".join(folder.parts[-depth:]) for folder in distinct}
    names = [named[folder] for folder in folders]
    return [
        name if names.count(name) == 1 else f"{name} ({names[: k + 1].count(name)})" for k, name in enumerate(names)
    ]


def compare_runs(paths: Sequence[str | os.PathLike[str]]) -> dict[str, Any]:
    """The comparison of runs: ``classes`` (of them all, in order), ``runs`` (one row per run and
    model, each with its ``configuration``), ``groups`` (the configurations: runs alike but for
    their seed, :func:`~vl3d_focal.reports.compare_groups.group_runs`; a run given twice, or runs
    that share a seed, count once), ``reference`` and ``reference_configuration`` (the first run and configuration with
    scores: the differences are to them), ``notes`` (what makes them hard to compare) and
    ``averages_compare`` (whether the scored runs score the same classes). A run's ``shares`` are each
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
    rows = [
        (path.resolve(), row)
        for name, path, record in zip(_names(files), files, records)
        for row in _run_rows(name, path, record)
    ]
    runs = [row for _, row in rows]
    classes: list[str] = []
    for name in (name for run in runs for name in [*run["per_class"], *run["classes"]]):
        classes += [] if name in classes else [name]
    setups = {run["name"]: run.pop("_setup") for run in runs}
    once, duplicates = _once(rows)
    groups = group_runs(once, [_configuration_key(run, setups[run["name"]]) for run in once])
    named = {name: group["name"] for group in groups for name in group["runs"]}
    named.update({name: named[first] for name, first in duplicates})
    for run in runs:
        run["configuration"] = named[run["name"]]
    comparison = {
        "classes": classes,
        "runs": runs,
        "groups": groups,
        "reference": next((run["name"] for run in runs if run["mIoU"] is not None), None),
        "reference_configuration": next((group["name"] for group in groups if group["n"]), None),
    }
    return {**comparison, **comparison_notes(comparison, setups=setups, duplicates=duplicates)}


def _once(rows: Sequence[tuple[Path, dict[str, Any]]]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The rows of runs given once, and ``(name, name of its first)`` of each given again (the
    same record, the same model)."""
    seen: dict[tuple[Path, str], str] = {}
    once, again = [], []
    for path, run in rows:
        key = (path, run["name"].partition(": ")[2])
        if key in seen:
            again.append((run["name"], seen[key]))
        else:
            seen[key] = run["name"]
            once.append(run)
    return once, again


def _configuration_key(run: Mapping[str, Any], setup: Mapping[str, Any] | None) -> str:
    """What runs of one configuration share: the train step but its seed and output paths (a run
    that loaded its model is one of its own: empty), the loss its record names, its model's input
    features and what is applied to them (the miners and transformers before the train step), its
    training clouds, the classes' LAS codes and the evaluated clouds.

    Example:
        >>> _configuration_key({"evaluated": ["t.las (5 points)"]}, None)
        ''
    """
    if setup is None:
        return ""
    facts = [
        run.get(key)
        for key in ("loss", "gamma", "class_weight", "features", "feature_names", "training_clouds", "class_codes")
    ] + [run.get("evaluated")]
    return json.dumps([setup, *facts], sort_keys=True, default=str)
