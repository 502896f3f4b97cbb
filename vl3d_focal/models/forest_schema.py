"""The arguments of ``RandomForestClassifier`` (VL3D's baseline, scikit-learn's forest): JSON schema.

Kept apart from scikit-learn so that specs are validated without importing it. The names and
meanings are scikit-learn's (``sklearn.ensemble.RandomForestClassifier``), as VL3D passes them;
``class_weight`` takes this project's forms (a list, ``{class: weight}``, a strategy such as
``balanced``: see ``vl3d-focal list class-weights``); ``max_training_points`` caps the training
points (a seeded random draw), which bounds memory and time on big clouds.

The train step's own keys of the forest (VL3D's held-out validation, importances, pictures of
trees) are :data:`FOREST_STEP_PROPERTIES`.

Example:
    >>> FOREST_SCHEMA["properties"]["n_estimators"]["default"], FOREST_STEP_PROPERTIES["num_folds"]["default"]
    (100, 5)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vl3d_focal.schema_annotations import PLOT_SUFFIXES, case_insensitive_pattern, optional_output_schema

BALANCED_SUBSAMPLE = "balanced_subsample"
"""scikit-learn's class weights balanced anew within each tree's bootstrap sample."""
_INT_OR_NULL = {"type": ["integer", "null"], "minimum": 1}

FOREST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "RandomForestClassifier arguments",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "n_estimators": {"type": "integer", "minimum": 1, "default": 100, "description": "Number of trees."},
        "criterion": {"enum": ["gini", "entropy", "log_loss"], "default": "gini", "description": "Split quality."},
        "max_depth": {**_INT_OR_NULL, "default": None, "description": "Maximum depth of a tree; null: unlimited."},
        "min_samples_split": {  # its bounds depend on the type: forest_args_issues says them
            "type": ["integer", "number"],
            "default": 2,
            "description": "Samples needed to split a node (a count, or a fraction <= 1).",
        },
        "min_samples_leaf": {  # its bounds depend on the type: forest_args_issues says them
            "type": ["integer", "number"],
            "default": 1,
            "description": "Samples needed in a leaf (a count, or a fraction < 1).",
        },
        "min_weight_fraction_leaf": {
            "type": "number",
            "minimum": 0,
            "maximum": 0.5,
            "default": 0.0,
            "description": "Minimum weighted fraction of the samples in a leaf.",
        },
        "max_features": {
            "default": "sqrt",
            "description": "Features tried per split: sqrt, log2, a count, a fraction, or null (all).",
            "anyOf": [
                {"enum": ["sqrt", "log2", None]},
                {"type": "integer", "minimum": 1},
                {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            ],
        },
        "max_leaf_nodes": {
            "type": ["integer", "null"],
            "minimum": 2,
            "default": None,
            "description": "Maximum leaves per tree; null: unlimited.",
        },
        "min_impurity_decrease": {
            "type": "number",
            "minimum": 0,
            "default": 0.0,
            "description": "A split must decrease the impurity by at least this.",
        },
        "bootstrap": {"type": "boolean", "default": True, "description": "Each tree learns from a bootstrap sample."},
        "oob_score": {
            "type": "boolean",
            "default": False,
            "description": "Estimate the accuracy on the out-of-bag samples (logged).",
        },
        "n_jobs": {"type": ["integer", "null"], "default": -1, "description": "Parallel jobs (-1: every core)."},
        "warm_start": {"const": False, "default": False, "description": "Only false: every training starts afresh."},
        "class_weight": {
            "default": None,
            "description": "Class weights (VL3D's place for the forest; model_handling.class_weight "
            "is used when this is null); scikit-learn's 'balanced_subsample': balanced within each tree's "
            "bootstrap sample.",
            "anyOf": [
                {"const": BALANCED_SUBSAMPLE, "title": "'balanced_subsample'"},
                {"$ref": "class_weight.schema.json"},
            ],
        },
        "ccp_alpha": {"type": "number", "minimum": 0, "default": 0.0, "description": "Cost-complexity pruning."},
        "max_samples": {
            "default": None,
            "description": "Samples drawn per tree with bootstrap: a count, a fraction, "
            "or null (as many as the training points).",
            "anyOf": [
                {"type": "null"},
                {"type": "integer", "minimum": 1},
                {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            ],
        },
        "random_state": {
            "type": ["integer", "null"],
            "minimum": 0,
            "maximum": 2**32 - 1,
            "default": None,
            "description": "Seed of the forest (its bootstrap samples and the features tried per split), as "
            "scikit-learn's; it takes precedence over the step's random_seed for the forest, which still seeds "
            "the draws of the points (max_training_points, autoval and k-fold splits, permutation importances); "
            "null: the step's random_seed (null too: a random forest each run).",
        },
        "max_training_points": {
            **_INT_OR_NULL,
            "default": None,
            "description": "Train on at most this many labelled points (a seeded random draw); "
            "null: every labelled point.",
        },
    },
}
"""JSON Schema (draft 2020-12) of the forest's part of ``model_args``."""

SKLEARN_ARGS: tuple[str, ...] = tuple(
    name for name in FOREST_SCHEMA["properties"] if name not in ("class_weight", "max_training_points")
)
"""The arguments passed to scikit-learn as they are."""


def _count_or_fraction(value: Any, *, least: int, whole: bool) -> bool:
    """Whether scikit-learn takes ``value``: an integer >= ``least``, or a float fraction in
    (0, 1] (``whole``) or (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True  # another type: the schema reports it
    if isinstance(value, int):
        return value >= least
    return 0 < value <= 1 if whole else 0 < value < 1


def forest_args_issues(model_args: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """What scikit-learn's forest refuses in ``model_args`` that :data:`FOREST_SCHEMA` does not say
    (the model registry's ``args_check``, run by validation; its builder raises them too): counts
    below scikit-learn's least, fractions out of range (a float ``2.0`` is no count for it), no
    jobs, out-of-bag scores or ``max_samples`` without bootstrap samples. Paths are below the
    train step.

    Example:
        >>> forest_args_issues({"bootstrap": False, "oob_score": True})[0][1][:46]
        'out-of-bag scores need bootstrap samples: set '
    """
    issues: list[tuple[tuple[str, ...], str]] = [
        (("model_args", key), f"expected {expected}, received {model_args[key]!r}")
        for key, least, whole, expected in (
            ("min_samples_split", 2, True, "an integer >= 2 (a count) or a number in (0, 1] (a fraction)"),
            ("min_samples_leaf", 1, False, "an integer >= 1 (a count) or a number in (0, 1) (a fraction)"),
            ("max_features", 1, True, "'sqrt', 'log2', null, an integer >= 1 or a number in (0, 1]"),
        )
        if key in model_args and not _count_or_fraction(model_args[key], least=least, whole=whole)
    ]
    if model_args.get("n_jobs") == 0 and not isinstance(model_args.get("n_jobs"), bool):
        issues.append((("model_args", "n_jobs"), "expected -1 (every core), null or a number of jobs; received 0"))
    if model_args.get("bootstrap") is False:
        if model_args.get("oob_score") is True:
            issues.append(
                (
                    ("model_args", "oob_score"),
                    "out-of-bag scores need bootstrap samples: set bootstrap to true or oob_score to false",
                )
            )
        if model_args.get("max_samples") is not None:
            issues.append(
                (
                    ("model_args", "max_samples"),
                    "max_samples sizes the bootstrap samples: set bootstrap to true or max_samples to null",
                )
            )
    return issues


def forest_step_issues(step: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """What the forest's held-out validation refuses in the train step's own keys
    (:data:`FOREST_STEP_PROPERTIES`) that their schema does not say: an ``autoval_size`` of 1 or
    more written as a float (an integer to JSON Schema, but a fraction, of every point or more, to
    scikit-learn, which refuses it). Paths are below the train step.

    Example:
        >>> forest_step_issues({"autoval_size": 1.0})[0][1]
        'autoval_size=1.0: a count of held-out points is written as an integer (1); a fraction of the labelled points is below 1'
    """
    size = step.get("autoval_size")
    if not (isinstance(size, float) and size >= 1 and size.is_integer()):  # 1.5: the schema's to report
        return []
    return [
        (
            ("autoval_size",),
            f"autoval_size={size!r}: a count of held-out points is written as an integer ({size:.0f}); a fraction of "
            "the labelled points is below 1",
        )
    ]


TUNERS = ("GridSearch", "RandomSearch")
"""VL3D's hyperparameter tuners (scikit-learn's ``GridSearchCV`` and ``RandomizedSearchCV``)."""


def _distribution(name: str, parameters: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["distribution", *parameters],
        "properties": {"distribution": {"const": name, "description": "The distribution."}, **parameters},
        "title": f"a {name} distribution",
        "description": description,
    }


def tuning_schema() -> dict[str, Any]:
    """VL3D's ``hyperparameter_tuning`` of the forest: a cross-validated search of ``model_args``.

    Example:
        >>> tuning_schema()["anyOf"][1]["required"]
        ['tuner']
    """

    def number(what: str, **bounds: Any) -> dict[str, Any]:
        return {"type": "number", "description": what, **bounds}

    values = {"type": "array", "minItems": 1, "description": "The values to try."}
    distributions = {
        "anyOf": [
            {**values, "title": "a list of values"},
            _distribution(
                "uniform",
                {"start": number("Lowest value."), "offset": number("Width of the interval.", exclusiveMinimum=0)},
                "Uniform in [start, start + offset].",
            ),
            _distribution(
                "normal",
                {"mean": number("Mean."), "stdev": number("Standard deviation.", exclusiveMinimum=0)},
                "Normal of mean and stdev.",
            ),
            _distribution(
                "randint",
                {
                    "start": {"type": "integer", "description": "Lowest value."},
                    "end": {"type": "integer", "description": "Highest value plus one."},
                },
                "Integers in [start, end).",
            ),
        ]
    }
    search: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["tuner"],
        "title": "a hyperparameter search",
        "properties": {
            "tuner": {
                "type": "string",
                "pattern": case_insensitive_pattern(TUNERS),
                "examples": list(TUNERS),
                "title": "a tuner",
                "description": "GridSearch: every combination of grid; RandomSearch: iterations draws of "
                "distributions (case-insensitive).",
            },
            "hyperparameters": {
                "type": "array",
                "uniqueItems": True,
                "items": {"type": "string"},
                "description": "The model_args searched (VL3D: the keys of grid or distributions, which they "
                "must equal when given).",
            },
            "grid": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": values,
                "description": "GridSearch: the values to try per model_args key.",
            },
            "distributions": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": distributions,
                "description": "RandomSearch: a list of values or a distribution per model_args key.",
            },
            "iterations": {"type": "integer", "minimum": 1, "default": 32, "description": "RandomSearch: draws."},
            "num_folds": {
                "type": "integer",
                "minimum": 2,
                "default": 5,
                "description": "Folds of each candidate's cross-validation (stratified, accuracy).",
            },
            "nthreads": {
                "type": "integer",
                "default": -1,
                "description": "Candidates fitted in parallel (-1: a process per core).",
            },
            "pre_dispatch": {
                "type": ["integer", "string"],
                "default": 8,
                "description": "scikit-learn's pre_dispatch: jobs dispatched ahead.",
            },
            "report_path": optional_output_schema(
                "Every candidate's arguments with its mean and deviation of the folds' accuracy and fit time, "
                "best last, as a text table."
            ),
        },
        "description": "VL3D's hyperparameter tuning: the model_args that score best in a cross-validated "
        "search on the training points replace the given ones before the forest is fitted.",
    }
    return {
        "default": None,
        "description": search["description"] + " null: none.",
        "anyOf": [{"type": "null", "title": "null"}, search],
    }


HELD_OUT_TRAINING_TYPES = ("autoval", "stratified_kfold")
"""VL3D's training types that score the forest on held-out training points (its deep models
train with ``"base"`` only)."""

FOREST_STEP_PROPERTIES: dict[str, Any] = {
    "hyperparameter_tuning": tuning_schema(),
    "shuffle_points": {
        "type": "boolean",
        "default": True,
        "description": "autoval and stratified_kfold: shuffle the points (seeded by random_seed) before "
        "they are split.",
    },
    "autoval_size": {
        "default": 0.2,
        "description": "autoval: the held-out share of the labelled points (a fraction), or their count (an "
        "integer, written without a decimal point); stratified by class.",
        "anyOf": [
            {
                "title": "a fraction of the labelled points in (0, 1)",
                "type": "number",
                "exclusiveMinimum": 0,
                "exclusiveMaximum": 1,
            },
            {"title": "a count of them (integer >= 1)", "type": "integer", "minimum": 1},
        ],
    },
    "num_folds": {
        "type": "integer",
        "minimum": 2,
        "default": 5,
        "description": "stratified_kfold: the number of folds; each is held out once while the forest "
        "learns from the others.",
    },
    "stratkfold_report_path": optional_output_schema(
        "stratified_kfold: mean, standard deviation and quartiles of autoval_metrics over the folds, as a text table."
    ),
    "stratkfold_plot_path": optional_output_schema(
        "stratified_kfold: autoval_metrics over the folds, one box per metric.", suffixes=PLOT_SUFFIXES
    ),
    "importance_report_path": optional_output_schema(
        "Each feature's importance (scikit-learn's impurity decrease) and, with "
        "importance_report_permutation, its permutation importance (mean and standard deviation), "
        "least important first, as a text table."
    ),
    "importance_report_permutation": {
        "type": "boolean",
        "default": True,
        "description": "Also compute the permutation importances of importance_report_path (on at most "
        "100,000 of the training points, a seeded draw).",
    },
    "decision_plot_path": optional_output_schema(
        "Pictures of the first decision_plot_trees trees (with several, each file gets _1, _2, ... before its "
        "suffix); their thresholds are on the normalised features the forest learns from.",
        suffixes=PLOT_SUFFIXES,
    ),
    "decision_plot_trees": {
        "type": "integer",
        "minimum": -1,
        "default": 0,
        "description": "How many trees decision_plot_path draws; -1: every tree; 0: none.",
    },
    "decision_plot_max_depth": {
        "type": "integer",
        "minimum": 1,
        "default": 5,
        "description": "The depth to which decision_plot_path draws each tree.",
    },
}
"""The train step's keys of VL3D's random forest (besides its ``model_args``): hyperparameter
tuning, held-out validation (``training_type`` ``autoval`` or ``stratified_kfold``), feature
importances and pictures of trees. Given to another model, each is an error (:mod:`vl3d_focal.steps.train_checks`)."""
