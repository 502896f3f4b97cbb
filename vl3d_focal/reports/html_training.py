"""The training section of a run's HTML report (:mod:`vl3d_focal.reports.html_report`): the model,
its loss and epochs (planned, run, early stopping, the epoch kept), the history charts, the class
weights and how they came, its input features, the fitted imputers and feature transformers, what
the model applies to its features (with the fitted values), a forest's fit (the points, the arguments its
hyperparameter search chose, its held-out scores) and the training clouds; and the section of a
model a run loaded (:func:`loaded_model_section`): how it was trained, and its input features,
imputers and transformers.

Example:
    >>> "<h3>Class weights</h3>" in training_section({}, {"model": "M", "loss": {}, "class_names": ["a"],
    ...     "class_counts": [2]}, folder=Path("."))
    True
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vl3d_focal.losses.class_weights import TRAINING_CLOUDS
from vl3d_focal.reports import svg_charts
from vl3d_focal.reports.epochs_text import epochs_sentence
from vl3d_focal.reports.html_page import cloud_link, esc, fmt, link, table
from vl3d_focal.reports.run_summary import history_columns, model_label
from vl3d_focal.wording import counted


def training_title(record: Mapping[str, Any], number: int, *, folder: Path) -> str:
    """The heading of the ``number``-th training (from 1) of a run record: its model and train step,
    as the results sections name a model, and, where the run trained several models, the folder of
    its files (relative to ``folder``, where the page goes).

    Example:
        >>> record = {"steps": [{"kind": "train"}, {"kind": "train"}], "trainings": [{"model": "PointNet"},
        ...     {"model": "RandomForest", "files": {"class_weights": "out/training_2/class_weights.json"}}]}
        >>> training_title(record, 1, folder=Path("out")), training_title(record, 2, folder=Path("out"))
        ('Training: PointNet (step 1)', 'Training: RandomForest (step 2) \u2014 training_2/')
    """
    trainings = record.get("trainings") or []
    training = trainings[number - 1]
    title = f"Training: {model_label(record, {'model': training['model'], 'training': number - 1})}"
    files = training.get("files") or {}
    written = files.get("class_weights") or files.get("history_csv")  # in the training's folder
    if len(trainings) < 2 or written is None:
        return title
    return f"{title} \u2014 {Path(os.path.relpath(Path(written).parent, folder)).as_posix()}/"


def training_section(record: Mapping[str, Any], training: Mapping[str, Any], *, folder: Path) -> str:
    """One training of a run record as HTML: the model, the history charts, the class weights, a
    forest's fit and the training clouds.

    Example:
        >>> html = training_section({}, {"model": "RandomForestClassifier", "loss": {}, "class_names": ["a", "b"],
        ...     "class_counts": [3, 1], "validation": {"points": 4, "tuned": {}, "scores": []}}, folder=Path("."))
        >>> "fitted once (no loss, no epochs)" in html and "Fitted on 4 points" in html
        True
    """
    rows_history = training.get("history") or []
    resumed = bool(training.get("resumed_finished"))
    epochs = [int(row.get("epoch", k + 1)) for k, row in enumerate(rows_history)]  # from 1
    charts = []
    for base, columns in history_columns(rows_history).items():
        series = {
            ("validation" if c.startswith("val_") else "training") if len(columns) > 1 else c: [
                row.get(c) for row in rows_history
            ]
            for c in columns
        }
        log = base.endswith("loss") or base in ("learning_rate", "lr")
        charts.append(svg_charts.line_chart(x=epochs, series=series, title=base, x_label="epoch", log_y=log))
    names, counts, weights = training["class_names"], training["class_counts"], training.get("class_weight")
    counted_on = training.get("class_weight_counted_on")
    elsewhere = counted_on not in (None, "training points")  # else the training clouds' points, as the rule says
    fields = training.get("class_weight_counts") if elsewhere else None
    fitted = fields or counts  # the points the weights apply to: those of the fitted fields where counted there
    total = sum(counts) or 1
    pull = [w * c for w, c in zip(weights, fitted)] if weights else fitted
    rows = [
        [
            esc(name),
            fmt(int(c)),
            f"{100 * c / total:.2f}%",
            *([fmt(int(f)), f"{100 * f / (sum(fields) or 1):.2f}%"] if fields else []),
            fmt(w, 4) if weights else "1 (none)",
            f"{100 * p / (sum(pull) or 1):.2f}%",
        ]
        for name, c, f, w, p in zip(names, counts, fitted, weights or counts, pull)
    ]
    header = [
        "class",
        f"points in the {TRAINING_CLOUDS}",
        "share of those points",
        *([f"points in the {counted_on}", f"share of the {counted_on}"] if fields else []),
        "weight",
        "share of the weighted points" if weights else "share of the points",
    ]
    files = " ".join(
        link(path, folder=folder)
        for name, path in (training.get("files") or {}).items()
        if name != "tensorboard_dir" and Path(path).exists()
    )
    board = (training.get("files") or {}).get("tensorboard_dir")
    html = (
        f"<p>Model <b>{esc(training['model'])}</b>, "
        + (
            f"loss <code>{esc(json.dumps(training['loss']))}</code>, "
            + (esc(epochs_sentence(training["epochs"])) if training.get("epochs") else f"{len(rows_history)} epochs")
            if training["loss"] or rows_history
            else "fitted once (no loss, no epochs)"
        )
        + f", fit {fmt(training.get('fit_seconds'), 1)} s"
        + (" (by the earlier runs: this run resumed the finished training and did not fit)" if resumed else "")
        + f". {files}</p>"
        + (f"<p>TensorBoard logs: <code>tensorboard --logdir {esc(board)}</code></p>" if board else "")
        + '<div class="charts">'
        + "".join(charts)
        + "</div><h3>Class weights</h3>"
    )
    counted = f", counted on the {counted_on}" if elsewhere else ""
    html += (
        f"<p>{esc(training.get('class_weight_rule') or 'No class weights: every point weighs the same.')} "
        f"(from {esc(training.get('class_weight_source', 'none'))}{esc(counted)})</p>"
    )
    html += table(header, rows)
    if weights:
        html += svg_charts.bar_chart(
            categories=names,
            groups={"weight": weights},
            title="Class weights",
            bar_colors=_class_colors(record, len(names)),
        )
    clouds = [[cloud_link(c["path"], folder=folder), fmt(c["points"])] for c in training.get("clouds") or []]
    return (
        html
        + model_inputs(training)
        + _feature_transformers(training.get("model_transformers") or [], title="Applied by the model")
        + _fit_validation(training.get("validation") or {})
        + "<h3>Training clouds</h3>"
        + table(["cloud", "points"], clouds)
    )


def _imputers(imputers: list[Mapping[str, Any]]) -> str:
    """The fitted imputers of the features (``TrainingFacts.imputers``), one row each."""
    if not imputers:
        return ""
    left_out = "points left out (at prediction: their nearest kept point's class)"
    rows = [
        [
            esc(imputer["imputer"]),
            esc(", ".join(imputer["fnames"])),
            esc(imputer["target_val"]),
            esc(imputer["strategy"]) + ": " + ", ".join(f"{esc(k)} {v:.6g}" for k, v in imputer["fills"].items())
            if "fills" in imputer
            else esc(left_out),
        ]
        for imputer in imputers
    ]
    return "<h3>Imputers</h3>" + table(["imputer", "features", "target value", "fill values"], rows, left=4)


def model_inputs(facts: Mapping[str, Any]) -> str:
    """A trained or loaded model's input features, imputers and feature transformers (their
    ``feature_names``, ``imputers`` and ``feature_transformers`` facts) as HTML.

    Example:
        >>> model_inputs({"feature_names": ["i"], "feature_transformers": [{"transformer": "MinmaxNormalizer (clip)",
        ...     "considered": ["i"], "kept": ["i"], "values": {"i": [0.0, 2.5]}}]}).count("<h3>")
        2
    """
    names = facts.get("feature_names") or []
    listed = (
        f"<h3>Input features</h3><p>{counted(len(names), 'feature')}, in order: "
        + ", ".join(f"<code>{esc(name)}</code>" for name in names)
        + "</p>"
        if names
        else ""
    )
    return (
        listed + _imputers(facts.get("imputers") or []) + _feature_transformers(facts.get("feature_transformers") or [])
    )


def _feature_transformers(transformers: list[Mapping[str, Any]], *, title: str = "Feature transformers") -> str:
    """What each feature transformer did (``TrainingFacts.feature_transformers``) or what a model
    applies (``LoadedModelFacts.feature_transformers``, ``TrainingFacts.model_transformers``, with
    their ``values``), one row each, under ``title``."""
    if not transformers:
        return ""
    valued = any("values" in fact for fact in transformers)
    rows = [
        [esc(fact["transformer"]), esc(", ".join(fact["considered"])), esc(", ".join(fact["kept"]))]
        + ([esc(", ".join(f"{name} {_value(v)}" for name, v in (fact.get("values") or {}).items()))] if valued else [])
        for fact in transformers
    ]
    header = ["transformer", "chose among" if not valued else "applied to", "features kept"]
    header += ["fitted values"] if valued else []
    return f"<h3>{esc(title)}</h3>" + table(header, rows, left=len(header))


def _value(value: Any) -> str:
    """A fitted value as text: numbers to 6 significant digits, ``[low, high]``, ``center 1, scale 2``."""
    if isinstance(value, Mapping):
        return ", ".join(f"{key} {_value(v)}" for key, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def loaded_model_section(loaded: Mapping[str, Any], *, folder: Path) -> str:
    """A model a run loaded (``LoadedModelFacts``) as HTML: its file, how it was trained, its
    input features, imputers and feature transformers.

    Example:
        >>> html = loaded_model_section({"path": "m.model", "model": "RandomForestClassifier", "loss": {},
        ...     "class_names": ["a"], "class_counts": [3], "feature_names": ["intensity"]}, folder=Path("."))
        >>> "<b>RandomForestClassifier</b>" in html and "<code>intensity</code>" in html
        True
    """
    weights = loaded.get("class_weight")
    rows = [
        [esc(name), fmt(int(count)), fmt(weight, 4) if weights else "1 (none)"]
        for name, count, weight in zip(loaded["class_names"], loaded["class_counts"], weights or loaded["class_counts"])
    ]
    trained = f"loss <code>{esc(json.dumps(loaded['loss']))}</code>" if loaded["loss"] else "no loss"
    return (
        f"<p>Model <b>{esc(loaded['model'])}</b> loaded from {link(loaded['path'], folder=folder)}, trained with "
        f"{trained}, class weights from {esc(loaded.get('class_weight_source', 'none'))}.</p>"
        + table(["class", f"points in the {TRAINING_CLOUDS}", "weight"], rows)
        + model_inputs(loaded)
    )


def _fit_validation(validation: Mapping[str, Any]) -> str:
    """A forest's hyperparameter search and held-out scores (``TrainingFacts.validation``)."""
    if not validation:
        return ""
    tuned = validation.get("tuned") or {}
    html = "<h3>Fit</h3><p>" + f"Fitted on {fmt(validation.get('points'))} points"
    html += (
        "; arguments chosen by the hyperparameter search: "
        + ", ".join(f"<code>{esc(name)}</code> {esc(json.dumps(value))}" for name, value in tuned.items())
        if tuned
        else ""
    ) + ".</p>"
    scores = validation.get("scores") or []
    if scores:
        kind = validation.get("training_type")
        names = list(scores[0])
        label = "held-out share" if kind == "autoval" else "fold {}"
        rows = [
            [esc(label.format(number)), *(fmt(None if v is None else 100 * v, 2) for v in part.values())]
            for number, part in enumerate(scores, start=1)
        ]
        html += f"<p>Scores on held-out training points (<code>{esc(str(kind))}</code>, percent):</p>"
        html += table(["part", *names], rows)
    return html


def _class_colors(record: Mapping[str, Any], count: int) -> list[str]:
    for evaluation in record.get("evaluations") or []:
        if len(evaluation.get("class_colors") or []) == count:
            return list(evaluation["class_colors"])
    return [svg_charts.PALETTE[k % len(svg_charts.PALETTE)] for k in range(count)]
