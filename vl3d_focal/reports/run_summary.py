"""What a run record says in a few numbers: its scores, its loss, its class weights, its rare classes.

A run record is the JSON dict of :mod:`vl3d_focal.runner.run_record`; the run report and
``vl3d-focal compare`` both read it through these functions.

Example:
    >>> one = {"metrics": {"class_names": ["a", "b"], "confusion_matrix": [[3, 1], [0, 4]]}}
    >>> summed_metrics({"evaluations": [one, one]})["OA"]
    0.875
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.reports.metrics import classification_metrics

RECORD_FORMAT = "vl3d_focal run record"
"""The ``format`` member of a run record."""
RARE_SHARE = 0.05
"""A class with less than this share of the points is marked rare."""


def summed_metrics(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The metrics of the run's evaluations together (their confusion matrices summed), or None.

    Evaluations of other classes than the first one's are left out.

    Example:
        >>> summed_metrics({"evaluations": []}) is None
        True
    """
    evaluations = [e["metrics"] for e in record.get("evaluations") or [] if e.get("metrics")]
    if not evaluations:
        return None
    names = list(evaluations[0]["class_names"])
    if len(evaluations) == 1:
        return dict(evaluations[0])
    matrices = [
        np.asarray(m["confusion_matrix"], dtype=np.int64) for m in evaluations if list(m["class_names"]) == names
    ]
    return classification_metrics(np.sum(matrices, axis=0), class_names=names)


def first_training(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first training of the run, or None (a run that loaded a model).

    Example:
        >>> first_training({"trainings": []}) is None
        True
    """
    trainings = record.get("trainings") or []
    return dict(trainings[0]) if trainings else None


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
    """The loss function, its gamma (None for a loss without one) and the class-weight spec
    (``"given"`` for weights without a strategy's name, as a loaded model's).

    Example:
        >>> loss_summary({"loss": {"function": "f", "gamma": 2.0}, "class_weight_spec": "balanced"})
        {'loss': 'f', 'gamma': 2.0, 'class_weight': 'balanced'}
    """
    if not training:
        return {"loss": None, "gamma": None, "class_weight": None}
    spec = training.get("class_weight_spec")
    if isinstance(spec, Mapping) and "strategy" in spec:
        spec = spec["strategy"]
    elif (spec is not None and not isinstance(spec, str)) or (spec is None and training.get("class_weight")):
        spec = "given"
    loss = training.get("loss") or {}
    return {"loss": loss.get("function"), "gamma": loss.get("gamma"), "class_weight": spec}


def feature_summary(training: Mapping[str, Any] | None) -> str | None:
    """A trained or loaded model's inputs (:func:`model_source`): its number of features and the
    names of the feature transformers of its facts, in order (None where its record tells
    neither: a run without a model, or a record written before).

    Example:
        >>> feature_summary({"feature_names": ["height", "PCA_1"], "feature_transformers": [
        ...     {"transformer": "MinmaxNormalizer (to [0, 1], clipped)", "kept": ["height", "a", "b"]},
        ...     {"transformer": "PCATransformer (1 component)", "kept": ["height", "PCA_1"]}]})
        '2 features; MinmaxNormalizer, PCATransformer'
        >>> feature_summary({"feature_names": ["i"]}), feature_summary({"loss": {}})
        ('1 feature', None)
    """
    transformers = (training or {}).get("feature_transformers") or []
    names = (training or {}).get("feature_names")
    if not names and transformers:  # a record written before feature_names: the last transformer's
        names = transformers[-1]["kept"]
    if names is None:
        return None
    chain = ", ".join(fact["transformer"].split(" (")[0] for fact in transformers)
    return f"{len(names)} feature{'s' if len(names) != 1 else ''}" + (f"; {chain}" if chain else "")


def class_shares(record: Mapping[str, Any]) -> tuple[list[str], list[float]] | None:
    """The class names and each class's share of the training points of the run's model (trained
    or loaded), else of the evaluated points.

    Example:
        >>> class_shares({"trainings": [{"class_names": ["a", "b"], "class_counts": [3, 1]}]})
        (['a', 'b'], [0.75, 0.25])
    """
    training = model_source(record)
    if training and sum(training.get("class_counts") or []) > 0:
        names, counts = training["class_names"], training["class_counts"]
    else:
        metrics = summed_metrics(record)
        if metrics is None:
            return None
        names = metrics["class_names"]
        counts = [int(v) for v in np.asarray(metrics["confusion_matrix"]).sum(axis=1)]
    total = float(sum(counts)) or 1.0
    return list(names), [count / total for count in counts]


def rare_classes(record: Mapping[str, Any]) -> list[str]:
    """The classes under :data:`RARE_SHARE` of the points (training points when the run trained).

    Example:
        >>> rare_classes({"trainings": [{"class_names": ["a", "b"], "class_counts": [99, 1]}]})
        ['b']
    """
    shares = class_shares(record)
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
        DataError: not a readable JSON file, or not a run record.

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
    return document
