"""The ``imputer`` steps: VL3D's ``UnivariateImputer`` and ``RemovalImputer``.

An imputer step keeps its recipe (:class:`~vl3d_focal.data.imputers.Imputer`); the next train
step applies the recipes kept so far to its features (``fnames: ["AUTO"]``: all of them),
fits the ``UnivariateImputer`` fill values on its training clouds, and the model keeps them, so
that its predictions impute as its training did. VL3D's single-component train form writes
the imputer inside the train step (``"imputer": {...}``): :mod:`vl3d_focal.config.forms`
makes it a step before the train step.

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> STEPS.get("UnivariateImputer").metadata["kind"]
    'imputer'
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from vl3d_focal.config.checks import Issue, as_dict, as_list
from vl3d_focal.config.notes import NOTE_PREFIX
from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.data.imputers import AUTO, REMOVAL, STRATEGIES, UNIVARIATE
from vl3d_focal.registry import STEPS
from vl3d_focal.schema_annotations import case_insensitive_pattern
from vl3d_focal.steps.definition import step_entry
from vl3d_focal.steps.feature_messages import missing_by_cloud, missing_features_issue

if TYPE_CHECKING:
    from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)

TRAINED_MODEL = "trained_model"
"""What a train step gives (its registry entry's ``gives``): the model an imputer applies to."""


def _properties(kind: str, description: str) -> dict[str, Any]:
    return {
        "imputer": {"const": kind, "description": description},
        "fnames": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string", "minLength": 1},
            "default": [AUTO],
            "description": "The features imputed; ['AUTO']: every feature of the model trained after it.",
        },
        "target_val": {
            "default": "NaN",
            "description": "The value imputed: 'NaN' (NaN values; infinities still stop the run) or a number.",
            "anyOf": [
                {"type": "string", "title": "'NaN' or a number", "pattern": case_insensitive_pattern(["NaN"])},
                {"type": "number"},
            ],
        },
    }


def _univariate_schema() -> dict[str, Any]:
    properties = _properties(
        UNIVARIATE, "Fills each target value with a value of its feature fitted on the training clouds."
    )
    properties["strategy"] = {
        "enum": list(STRATEGIES),
        "default": "mean",
        "description": "The fill value: the mean, median or most frequent of the feature's other training values "
        "(scikit-learn's SimpleImputer), or constant_val.",
    }
    properties["constant_val"] = {"type": "number", "default": 0, "description": "The fill value of 'constant'."}
    return closed_object(
        properties,
        required=["imputer"],
        description="Univariate imputer: target values filled with a value fitted on the training data.",
    )


def _removal_schema() -> dict[str, Any]:
    properties = _properties(REMOVAL, "Leaves out the points holding the target value in a feature it names.")
    return closed_object(
        properties,
        required=["imputer"],
        description="Removal imputer: points holding the target value left out of training (at prediction, "
        "they take their nearest kept point's class).",
    )


def run_imputer(step: Mapping[str, Any], state: PipelineState) -> None:
    """Keeps the step's recipe: the train steps after it apply it.

    Example:
        >>> from vl3d_focal.steps.state import PipelineState
        >>> state = PipelineState(clouds=[], model_prefix="out/")
        >>> run_imputer({"imputer": "UnivariateImputer", "fnames": ["AUTO"], "target_val": "NaN"}, state)
        >>> state.imputers[0].describe()
        'UnivariateImputer (mean in place of NaN)'
    """
    from vl3d_focal.data.imputers import Imputer

    recipe = Imputer.from_step(step)
    state.imputers.append(recipe)
    logger.info("%s of %s (applied to the models trained after it)", recipe.describe(), ", ".join(recipe.fnames))


NO_TRAINING_AFTER = (
    f"{NOTE_PREFIX}an imputer applies to the models trained after it, and no train step follows it (a model "
    "a predict step loads imputes as it was trained: with its own imputers, or none)"
)
"""The note of an imputer step no train step follows."""


def check_imputer(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> Iterator[Issue]:
    """A note when no train step follows it (``known["later_gives"]``); ``"AUTO"`` alone; every
    named feature offered by every input cloud (``known["cloud_features"]``) or by a miner step
    before it.

    Example:
        >>> [m.splitlines() for _, m in check_imputer({"fnames": ["a"]}, (), {"cloud_features": {"a.las": ["intensity"]}})]
        [["'a' is not a feature of a.las nor of a miner step before the imputer", '  in the file: intensity']]
        >>> [m == NO_TRAINING_AFTER for _, m in check_imputer({}, (), {"later_gives": frozenset({"predictions"})})]
        [True]
    """
    if TRAINED_MODEL not in known.get("later_gives", {TRAINED_MODEL}):
        yield at, NO_TRAINING_AFTER
    yield from feature_name_issues(as_list(step.get("fnames")), at, known, owner="the imputer")


def feature_name_issues(names: list[Any], at: tuple, known: dict[str, Any], *, owner: str) -> Iterator[Issue]:
    """The issues of the ``fnames`` of a step acting on a model's features (``owner``: "the
    imputer"...): ``"AUTO"`` alone; every named feature offered by every input cloud
    (``known["cloud_features"]``) or by a miner step before it.

    Example:
        >>> [m for _, m in feature_name_issues(["AUTO", "a"], (), {}, owner="the imputer")]
        ["'AUTO' takes every feature of the model: give it alone"]
    """
    if AUTO in names and len(names) > 1:
        yield at + ("fnames", names.index(AUTO)), f"{AUTO!r} takes every feature of the model: give it alone"
        return
    clouds = as_dict(known.get("cloud_features"))
    skipped = {AUTO, *known.get("mined_features", [])}
    entries = [(index, name) for index, name in enumerate(names) if isinstance(name, str) and name not in skipped]
    for path, lacked in missing_by_cloud(entries, clouds).items():
        offered = list(dict.fromkeys([*clouds[path], *known.get("mined_features", [])]))
        yield missing_features_issue(at, "fnames", lacked, path, offered, known, owner=owner)


for _name, _schema in ((UNIVARIATE, _univariate_schema()), (REMOVAL, _removal_schema())):
    STEPS.register(
        step_entry(
            kind="imputer", name=_name, handler=run_imputer, schema=_schema, gives=("imputation",), check=check_imputer
        )
    )
