"""What a run record says in a few numbers: its scores, its loss, its class weights, its rare classes.

A run record is the JSON dict of :mod:`vl3d_focal.runner.run_record`; the run report and
``vl3d-focal compare`` both read it through these functions (and the survey record sums its
tiles' scores with :func:`summed_metrics`, its tiles as the evaluations).

Example:
    >>> one = {"metrics": {"class_names": ["a", "b"], "confusion_matrix": [[3, 1], [0, 4]]}}
    >>> summed_metrics({"evaluations": [one, one]})["OA"]
    0.875
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.losses.class_weights import TRAINING_CLOUDS
from vl3d_focal.reports.metrics import classification_metrics

RECORD_FORMAT = "vl3d_focal run record"
"""The ``format`` member of a run record."""
RARE_SHARE = 0.05
"""A class with less than this share of the points is marked rare."""


def summed_metrics(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The metrics of the run's evaluations together (their confusion matrices summed) when they
    all score one model on the same classes (:func:`model_evaluations`), else None: the scores of
    different models are never summed (:func:`unsummed_note` says why). A survey's record
    (:mod:`vl3d_focal.runner.survey`) sums its tiles with it too, so both say the same.

    Example:
        >>> summed_metrics({"evaluations": []}) is None
        True
        >>> one = {"metrics": {"class_names": ["a", "b"], "confusion_matrix": [[3, 1], [0, 4]]}}
        >>> two = [{**one, "model": {"model": "RandomForestClassifier", "training": k}} for k in (0, 1)]
        >>> summed_metrics({"evaluations": two}) is None
        True
    """
    groups = model_evaluations(record)
    return groups[0]["metrics"] if len(groups) == 1 else None


def unsummed_note(record: Mapping[str, Any]) -> str | None:
    """Why :func:`summed_metrics` is None although the run's evaluations scored points: they
    score several models or class sets (each group's clouds counted); None when they are summed.

    Example:
        >>> one = {"metrics": {"class_names": ["a", "b"], "confusion_matrix": [[3, 1], [0, 4]]}}
        >>> three = {"metrics": {"class_names": ["a", "b", "c"], "confusion_matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}}
        >>> unsummed_note({"evaluations": [one, one, three]})
        'the 3 evaluated clouds score 2 different models or class sets (2 classes: 2, 3 classes: 1): their confusion matrices are not summed'
        >>> unsummed_note({"evaluations": [one, one]}) is None
        True
    """
    groups = model_evaluations(record)
    if len(groups) < 2:
        return None
    clouds = sum(len(group["evaluations"]) for group in groups)
    counts = ", ".join(f"{group['label'] or 'model not recorded'}: {len(group['evaluations'])}" for group in groups)
    return (
        f"the {clouds} evaluated clouds score {len(groups)} different models or class sets ({counts}): "
        "their confusion matrices are not summed"
    )


def _summed(evaluations: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The metrics of evaluations of one model on the same classes (confusion matrices summed;
    a class absent from the sum is absent from each evaluation, whose scoring said so: quiet)."""
    names = list(evaluations[0]["metrics"]["class_names"])
    matrices = [np.asarray(e["metrics"]["confusion_matrix"], dtype=np.int64) for e in evaluations]
    return classification_metrics(np.sum(matrices, axis=0), class_names=names, quiet=True)


def model_evaluations(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The run's evaluations grouped by the model that was scored and the classes it was scored
    on, in the order of the first of each: ``model`` (the evaluations' ``model``: its kind and its
    ``training`` or ``file``; empty in records written before, whose evaluations form one group),
    ``label`` (:func:`model_label`, with the classes' count where one model was scored on several
    class sets), ``evaluations`` and ``metrics`` (their confusion matrices summed: one model over
    several clouds, as a survey).

    Example:
        >>> one = {"metrics": {"class_names": ["a", "b"], "confusion_matrix": [[3, 1], [0, 4]]}}
        >>> ae = {**one, "model": {"model": "ConvolutionalAutoencoderPwiseClassifier", "training": 0}}
        >>> rf = {**one, "model": {"model": "RandomForestClassifier", "training": 1}}
        >>> steps = [{"kind": "train"}, {"kind": "eval"}, {"kind": "train"}, {"kind": "eval"}]
        >>> [g["label"] for g in model_evaluations({"steps": steps, "evaluations": [ae, rf, ae]})]
        ['ConvolutionalAutoencoderPwiseClassifier (step 1)', 'RandomForestClassifier (step 3)']
    """
    groups: dict[tuple, dict[str, Any]] = {}
    for evaluation in record.get("evaluations") or []:
        if not evaluation.get("metrics"):
            continue
        model = dict(evaluation.get("model") or {})
        key = (tuple(sorted(model.items())), tuple(evaluation["metrics"]["class_names"]))
        group = groups.setdefault(key, {"model": model, "label": model_label(record, model), "evaluations": []})
        group["evaluations"].append(evaluation)
    found = list(groups.values())
    labels = Counter(group["label"] for group in found)  # counted before any is changed
    for group in found:
        group["metrics"] = _summed(group["evaluations"])
        if labels[group["label"]] > 1:
            classes = f"{len(group['metrics']['class_names'])} classes"
            group["label"] = f"{group['label']}, {classes}" if group["label"] else classes
    return found


def model_label(record: Mapping[str, Any], model: Mapping[str, Any]) -> str:
    """An evaluated model in words: its kind and its train step (numbered from 1, as the report's
    steps), or the file it was loaded from; "" for an evaluation that does not say.

    Example:
        >>> model_label({"steps": [{"kind": "train"}]}, {"model": "RandomForestClassifier", "training": 0})
        'RandomForestClassifier (step 1)'
        >>> model_label({}, {"model": "RandomForestClassifier", "file": "out/rf.model"})
        'RandomForestClassifier (loaded rf.model)'
    """
    if not model:
        return ""
    if model.get("file") is not None:
        return f"{model['model']} (loaded {Path(str(model['file'])).name})"
    trains = [number for number, step in enumerate(record.get("steps") or [], start=1) if step.get("kind") == "train"]
    training = model.get("training")
    if isinstance(training, int) and training < len(trains):
        return f"{model['model']} (step {trains[training]})"
    return str(model["model"])


def evaluated_model_source(record: Mapping[str, Any], model: Mapping[str, Any]) -> dict[str, Any] | None:
    """How an evaluated model (an evaluation's ``model``) was trained: its training, or the
    facts of the file it was loaded from (with ``loaded`` true); the run's model
    (:func:`model_source`) for an evaluation that does not say.

    Example:
        >>> evaluated_model_source({"trainings": [{"model": "a"}, {"model": "b"}]}, {"model": "b", "training": 1})
        {'model': 'b'}
    """
    if model.get("file") is not None:
        loaded = [m for m in record.get("loaded_models") or [] if str(m.get("path")) == str(model["file"])]
        return {**loaded[-1], "loaded": True} if loaded else None
    trainings = record.get("trainings") or []
    training = model.get("training")
    if isinstance(training, int) and training < len(trainings):
        return dict(trainings[training])
    return model_source(record)


def first_training(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first training of the run, or None (a run that loaded a model).

    Example:
        >>> first_training({"trainings": []}) is None
        True
    """
    trainings = record.get("trainings") or []
    return dict(trainings[0]) if trainings else None


def fitted_seconds(trainings: Sequence[Mapping[str, Any]]) -> float | None:
    """The seconds the trainings spent fitting, together; None when none records them (a loaded
    model, a training that fitted nothing).

    Example:
        >>> fitted_seconds([{"fit_seconds": 1.5}, {"fit_seconds": None}, {"fit_seconds": 2.0}]), fitted_seconds([])
        (3.5, None)
    """
    fits = [training["fit_seconds"] for training in trainings if training.get("fit_seconds") is not None]
    return sum(fits) if fits else None


def model_source(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """How the run's model was trained: its first training, else the first model it loaded
    (its facts, with ``loaded`` true), else None.

    Example:
        >>> model_source({"trainings": [], "loaded_models": [{"path": "m.keras"}]})
        {'path': 'm.keras', 'loaded': True}
    """
    training = first_training(record)
    if training is not None:
        return training
    loaded = record.get("loaded_models") or []
    return {**loaded[0], "loaded": True} if loaded else None


def loss_summary(training: Mapping[str, Any] | None) -> dict[str, Any]:
    """The loss function, its gamma (None for a loss without one) and the class-weight spec: the
    training's, else the one its loss object names (a loaded model's), else ``"given"`` for
    weights without a strategy's name.

    Example:
        >>> loss_summary({"loss": {"function": "f", "gamma": 2.0}, "class_weight_spec": "balanced"})
        {'loss': 'f', 'gamma': 2.0, 'class_weight': 'balanced'}
        >>> loss_summary({"loss": {"function": "f", "class_weight": "balanced"}, "class_weight": [0.5, 2.0]})
        {'loss': 'f', 'gamma': None, 'class_weight': 'balanced'}
    """
    if not training:
        return {"loss": None, "gamma": None, "class_weight": None}
    spec = training.get("class_weight_spec")
    if spec is None and isinstance((training.get("loss") or {}).get("class_weight"), (str, Mapping)):
        spec = training["loss"]["class_weight"]
    if isinstance(spec, Mapping) and "strategy" in spec:
        spec = spec["strategy"]
    elif (spec is not None and not isinstance(spec, str)) or (spec is None and training.get("class_weight")):
        spec = "given"
    loss = training.get("loss") or {}
    return {"loss": loss.get("function"), "gamma": loss.get("gamma"), "class_weight": spec}


def class_shares(
    record: Mapping[str, Any], *, source: Mapping[str, Any] | None = None, metrics: Mapping[str, Any] | None = None
) -> tuple[list[str], list[float]] | None:
    """The class names and each class's share of the points of the training clouds of ``source``
    (a model's training or loaded facts; by default the run's model, trained or loaded;
    :data:`~vl3d_focal.losses.class_weights.TRAINING_CLOUDS`), else of the evaluated points (``metrics``; by default the run's :func:`summed_metrics`).

    Example:
        >>> class_shares({"trainings": [{"class_names": ["a", "b"], "class_counts": [3, 1]}]})
        (['a', 'b'], [0.75, 0.25])
    """
    training = model_source(record) if source is None else source
    if training and sum(training.get("class_counts") or []) > 0:
        names, counts = training["class_names"], training["class_counts"]
    else:
        metrics = summed_metrics(record) if metrics is None else metrics
        if metrics is None:
            return None
        names = metrics["class_names"]
        counts = [int(v) for v in np.asarray(metrics["confusion_matrix"]).sum(axis=1)]
    total = float(sum(counts)) or 1.0
    return list(names), [count / total for count in counts]


def share_basis(record: Mapping[str, Any], *, source: Mapping[str, Any] | None = None) -> str:
    """The points :func:`class_shares` (so :func:`rare_classes`) counts the classes on, in words
    (``source`` as theirs).

    Example:
        >>> share_basis({"trainings": [{"class_names": ["a", "b"], "class_counts": [3, 1]}]})
        "points of the model's training clouds (before any validation split)"
        >>> share_basis({"trainings": [], "evaluations": [{}, {}]})
        'scored points of the 2 evaluated clouds together'
    """
    training = model_source(record) if source is None else source
    if training and sum(training.get("class_counts") or []) > 0:
        return f"points of the model's {TRAINING_CLOUDS}"
    clouds = len(record.get("evaluations") or [])
    return "scored points of the cloud" if clouds == 1 else f"scored points of the {clouds} evaluated clouds together"


def rare_classes(
    record: Mapping[str, Any], *, source: Mapping[str, Any] | None = None, metrics: Mapping[str, Any] | None = None
) -> list[str]:
    """The classes under :data:`RARE_SHARE` of the points (those of the training clouds when the run trained;
    ``source`` and ``metrics`` as :func:`class_shares`'s).

    Example:
        >>> rare_classes({"trainings": [{"class_names": ["a", "b"], "class_counts": [99, 1]}]})
        ['b']
    """
    shares = class_shares(record, source=source, metrics=metrics)
    return [name for name, share in zip(*shares) if share < RARE_SHARE] if shares else []


def history_columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The history's quantities grouped for plotting: ``{"loss": ["loss", "val_loss"], ...}``.

    Example:
        >>> history_columns([{"epoch": 0, "loss": 1.0, "val_loss": 1.2, "learning_rate": 0.01}])
        {'loss': ['loss', 'val_loss'], 'learning_rate': ['learning_rate']}
    """
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key != "epoch" and key not in columns]
    groups: dict[str, list[str]] = {}
    for column in columns:
        base = column[4:] if column.startswith("val_") and column[4:] in columns else column
        groups.setdefault(base, []).append(column)
    return groups


def read_record(path: str | Path) -> dict[str, Any]:
    """Reads a run record; a clear error for anything else.

    Raises:
        DataError: not a readable JSON file, not a run record, or a record whose fields are not
            as a run writes them (:func:`malformed`).

    Example:
        >>> read_record("no/such/report.json")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        vl3d_focal.errors.DataError: run record no/such/report.json: cannot be read ...
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(
            f"run record {path}: cannot be read ({error}); expected the report.json "
            "a run writes under its first output prefix"
        ) from None
    if not isinstance(document, dict) or document.get("format") != RECORD_FORMAT:
        raise DataError(
            f'run record {path}: not a vl3d_focal run record (no "format": '
            f'"{RECORD_FORMAT}"); expected the report.json a run writes beside report.html'
        )
    wrong = malformed(document)
    if wrong:
        raise DataError(f"run record {path}: {wrong}; expected the report.json a run writes beside report.html")
    return document


_KINDS = {
    "a list of objects": lambda v: isinstance(v, list) and all(isinstance(item, Mapping) for item in v),
    "a list of names": lambda v: isinstance(v, list) and all(isinstance(item, str) for item in v),
    "a list of numbers": lambda v: isinstance(v, list) and all(_is_number(item) for item in v),
    "an object": lambda v: isinstance(v, Mapping),
    "a number": lambda v: _is_number(v),
}
"""Each kind of field the readers of a record expect, and its test."""
_OBJECTS, _NAMES, _NUMBERS = "a list of objects", "a list of names", "a list of numbers"
_MODEL_FIELDS = {
    **dict.fromkeys(("class_names", "feature_names"), _NAMES),
    **dict.fromkeys(("class_counts", "class_weight"), _NUMBERS),
    **dict.fromkeys(("clouds", "history", "feature_transformers", "model_transformers"), _OBJECTS),
    "loss": "an object",
    "fit_seconds": "a number",
}
"""The fields of a training, and of a loaded model's facts, that the readers use and their kinds."""
_ENTRIES = {
    "trainings": ("training", _MODEL_FIELDS),
    "loaded_models": ("loaded model", _MODEL_FIELDS),
    "evaluations": ("evaluation", {"metrics": "an object", "model": "an object"}),
    "steps": ("step", {}),
}
"""The record's lists of objects: what each entry is called and its fields that the readers use."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _wrong_field(entry: Mapping[str, Any], fields: Mapping[str, str]) -> str | None:
    """The first of ``fields`` that ``entry`` holds (not null) and that is not of its kind, in words."""
    for key, kind in fields.items():
        if entry.get(key) is not None and not _KINDS[kind](entry[key]):
            return f'"{key}" is not {kind}'
    return None


def malformed(record: Mapping[str, Any]) -> str | None:
    """What in a run record's fields that these readers use is not as a run writes it (the first
    such field, in words), else None: the one check where a record is read, so that the readers
    may trust its shapes.

    Example:
        >>> malformed({"evaluations": "oops"})
        '"evaluations" is not a list of objects'
        >>> malformed({"evaluations": [{"metrics": {"OA": "x"}}]})
        'evaluation 1: "metrics" holds no "class_names" (a list of names) with their "confusion_matrix" (rows of counts)'
        >>> malformed({"trainings": [{"class_counts": [3, "1"]}]}), malformed({"evaluations": [{"metrics": None}]})
        ('training 1: "class_counts" is not a list of numbers', None)
    """
    wrong = _wrong_field(record, dict.fromkeys(_ENTRIES, _OBJECTS))
    if wrong:
        return wrong
    for key, (what, fields) in _ENTRIES.items():
        for number, entry in enumerate(record.get(key) or [], start=1):
            wrong = _wrong_field(entry, fields)
            if not wrong and key == "evaluations" and entry.get("metrics") and not _is_confusion(entry["metrics"]):
                wrong = (
                    '"metrics" holds no "class_names" (a list of names) with their "confusion_matrix" (rows of counts)'
                )
            if wrong:
                return f"{what} {number}: {wrong}"
    return None


def _is_confusion(metrics: Mapping[str, Any]) -> bool:
    """Whether ``metrics`` holds class names and a square table of counts, one row per class."""
    names, matrix = metrics.get("class_names"), metrics.get("confusion_matrix")
    if not (_KINDS[_NAMES](names) and isinstance(names, list) and isinstance(matrix, list)):
        return False
    return len(matrix) == len(names) and all(_KINDS[_NUMBERS](row) and len(row) == len(names) for row in matrix)
