"""The ``feature_transformer`` steps: VL3D's feature selectors, ``Standardizer``, ``MinmaxNormalizer``
and ``PCATransformer``.

A selector step (``KBestSelector``, ``PercentileSelector``, ``VarianceSelector``,
``ExplicitSelector``) keeps its recipe (:class:`~vl3d_focal.data.feature_selection.FeatureSelector`);
the next train step fits the recipes kept so far on its training points and trains on the
features they keep (:mod:`vl3d_focal.training.transformation`); the model keeps those features
as its ``fnames``, so a prediction computes only them. A ``PCATransformer``
(:mod:`vl3d_focal.data.pca_projection`), the last transformer of a pipeline, is fitted likewise
and its projection kept with the model, which applies it at prediction. A ``Standardizer``
(:mod:`vl3d_focal.data.feature_standardization`) standardises the values the transformers after
it are fitted on; a model learns from the features as computed and standardises them itself (a
projection fitted after a Standardizer is kept with the standardisation folded in). A
``MinmaxNormalizer`` (:mod:`vl3d_focal.data.minmax_normalization`) is an affine map as well, and
with ``clip`` the model keeps the bounds it clips its features to.

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> STEPS.get("KBestSelector").metadata["kind"]
    'feature_transformer'
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from vl3d_focal.config.checks import Issue, as_list
from vl3d_focal.config.notes import NOTE_PREFIX
from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.data.feature_selection import AUTO, EXPLICIT, KBEST, PERCENTILE, TASKS, VARIANCE
from vl3d_focal.data.feature_standardization import STANDARDIZER
from vl3d_focal.data.minmax_normalization import MINMAX
from vl3d_focal.data.pca_projection import PCA
from vl3d_focal.registry import STEPS
from vl3d_focal.schema_annotations import PLOT_SUFFIXES, no_effect, optional_output_schema
from vl3d_focal.steps.definition import step_entry
from vl3d_focal.steps.imputers import TRAINED_MODEL, feature_name_issues
from vl3d_focal.steps.transformer_checks import KIND, TRANSFORMERS, count_issues

if TYPE_CHECKING:
    from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)


def _fnames(what: str, *, auto: bool = True) -> dict[str, Any]:
    """The ``fnames`` of a transformer: ``what`` it does with them."""
    schema: dict[str, Any] = {
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "items": {"type": "string", "minLength": 1},
        "description": f"The features it {what}"
        + ("; ['AUTO']: every feature of the model trained after it." if auto else "."),
    }
    if auto:
        schema["default"] = [AUTO]
    return schema


def _report(what: str) -> dict[str, Any]:
    return optional_output_schema(f"Text report: {what} (written by the train step).")


def _f_test_properties() -> dict[str, Any]:
    return {
        "type": {
            "enum": list(TASKS),
            "default": "classification",
            "description": "classification: ANOVA F-values against the classes (scikit-learn's f_classif); regression: "
            "f_regression, with the class indices taken as numbers.",
        },
        "report_path": _report("each feature's F-value and p-value, and the features selected"),
    }


def _pca_properties() -> dict[str, Any]:
    return {
        "out_dim": {
            "anyOf": [
                {"title": "a number of components (integer >= 1)", "type": "integer", "minimum": 1},
                {
                    "title": "a fraction of the variance in (0, 1]",
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": 1,
                },
            ],
            "default": 0.99,
            "description": "An integer: the number of components kept (VL3D's, scikit-learn's n_components); a "
            "fraction in (0, 1]: that of the variance the components kept explain (the fewest whose cumulative ratio "
            "exceeds it); 1.0: every component of non-zero variance.",
        },
        "whiten": {
            "type": "boolean",
            "default": False,
            "description": "Divide each projection by its standard deviation on the training points (unit variance).",
        },
        "random_seed": no_effect(
            {"type": ["integer", "null"], "description": "VL3D's seed of a randomised solver."},
            why="the principal components are computed exactly here (no randomised solver)",
        ),
        "report_path": _report("each component's explained variance ratio and the cumulative ratio, in percent"),
        "plot_path": optional_output_schema(
            "Plot of the explained variance ratio against the number of components (.svg, .png or .pdf; written "
            "by the train step).",
            suffixes=PLOT_SUFFIXES,
        ),
    }


def _minmax_properties() -> dict[str, Any]:
    number = {"type": "number"}
    return {
        "target_range": {
            "type": "array",
            "items": number,
            "minItems": 2,
            "maxItems": 2,
            "default": [0, 1],
            "description": "[a, b], a < b: where each feature's training minimum and maximum go.",
        },
        "clip": {
            "type": "boolean",
            "default": True,
            "description": "Clip values outside the training range to it (target_range after the map): the model "
            "keeps the bounds and clips its features at training and prediction, those of the train step's "
            "cloud_normalization after their per-cloud scaling (the range is then fitted on the scaled values); a "
            "model that splits between training values (RandomForestClassifier) keeps no fitted bounds: clipping "
            "changes none of its predictions.",
        },
        "minmax": {
            "type": "array",
            "items": {"type": "array", "items": number, "minItems": 2, "maxItems": 2},
            "minItems": 1,
            "description": "VL3D's explicit [min, max] of each feature of fnames, in its order, in place of the "
            "training minima and maxima.",
        },
        "frenames": no_effect(
            {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "description": "VL3D's names of the normalised features in the cloud it transforms.",
            },
            why="the normalised values are handed to the transformers after it under the features' own names; no "
            "cloud is transformed",
        ),
        "report_path": _report("each feature's minimum, maximum and range"),
    }


def _schemas() -> dict[str, dict[str, Any]]:
    """The schema of each selector step."""
    kbest = {
        "k": {"type": "integer", "minimum": 1, "description": "How many features of highest F-value it keeps."},
        **_f_test_properties(),
    }
    percentile = {
        "percentile": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 100,
            "description": "The percentage of the features of highest F-value it keeps (scikit-learn's "
            "SelectPercentile).",
        },
        **_f_test_properties(),
    }
    variance = {
        "variance_threshold": {
            "type": "number",
            "minimum": 0,
            "default": 0,
            "description": "Features whose variance on the training points is not above it are dropped.",
        },
        "report_path": _report("each feature's variance, and the features selected"),
    }
    explicit = {
        "preserve": {
            "type": "boolean",
            "default": True,
            "description": "true: the model keeps only the features named; false: it drops them.",
        }
    }
    standardizer = {
        "center": {"type": "boolean", "default": True, "description": "Subtract each feature's training mean."},
        "scale": {
            "type": "boolean",
            "default": True,
            "description": "Divide each feature by its training standard deviation (1 for a constant feature).",
        },
        "report_path": _report("each feature's mean and standard deviation"),
    }
    found = {}
    for name, extra, required, description in (
        (
            MINMAX,
            _minmax_properties(),
            [],
            "Maps each feature linearly from its training [min, max] onto target_range for the feature transformers "
            "after it; with clip, the model clips the features it computes to the training range.",
        ),
        (KBEST, kbest, ["k"], "Keeps the k features of highest ANOVA F-value."),
        (PERCENTILE, percentile, ["percentile"], "Keeps a percentage of the features by ANOVA F-value."),
        (VARIANCE, variance, [], "Drops the features whose variance is not above a threshold."),
        (EXPLICIT, explicit, ["fnames"], "Keeps (or drops) the features it names."),
        (
            STANDARDIZER,
            standardizer,
            [],
            "Standardises the features for the feature transformers after it (a VarianceSelector's variances, a "
            "PCATransformer's axes); a model standardises its own features itself.",
        ),
        (PCA, _pca_properties(), [], "Projects the features on their principal components (PCA_1, PCA_2...)."),
    ):
        properties = {
            KIND: {"const": name, "description": description},
            "fnames": _fnames(
                {
                    EXPLICIT: "keeps (preserve: true) or drops (false)",
                    PCA: "projects",
                    STANDARDIZER: "standardises",
                    MINMAX: "normalises",
                }.get(name, "chooses among"),
                auto=name != EXPLICIT,
            ),
            **extra,
        }
        found[name] = closed_object(
            properties,
            required=[KIND, *required],
            description=f"{description} Fitted on the training points of the models trained after it.",
        )
    return found


def run_feature_transformer(step: Mapping[str, Any], state: PipelineState) -> None:
    """Keeps the step's recipe: the train steps after it fit and apply it.

    Example:
        >>> from vl3d_focal.steps.state import PipelineState
        >>> state = PipelineState(clouds=[], model_prefix="out/")
        >>> run_feature_transformer({"feature_transformer": "KBestSelector", "k": 2}, state)
        >>> state.feature_transformers[0].describe()
        'KBestSelector (the 2 features of highest classification F-value)'
    """
    import dataclasses

    from vl3d_focal.config.prefixes import expand_output
    from vl3d_focal.data.feature_selection import FeatureSelector
    from vl3d_focal.data.feature_standardization import Standardizer
    from vl3d_focal.data.minmax_normalization import MinmaxNormalizer
    from vl3d_focal.data.pca_projection import PCATransformer

    def expanded(path: str | None) -> str | None:  # written by the train steps after it, under the first prefix
        return expand_output(path, prefix=state.model_prefix) if path else path

    recipe: PCATransformer | Standardizer | MinmaxNormalizer | FeatureSelector
    if step[KIND] == PCA:
        pca = PCATransformer.from_step(step)
        recipe = dataclasses.replace(pca, report_path=expanded(pca.report_path), plot_path=expanded(pca.plot_path))
    elif step[KIND] == STANDARDIZER:
        standardizer = Standardizer.from_step(step)
        recipe = dataclasses.replace(standardizer, report_path=expanded(standardizer.report_path))
    elif step[KIND] == MINMAX:
        normalizer = MinmaxNormalizer.from_step(step)
        recipe = dataclasses.replace(normalizer, report_path=expanded(normalizer.report_path))
    else:
        selector = FeatureSelector.from_step(step)
        recipe = dataclasses.replace(selector, report_path=expanded(selector.report_path))
    state.feature_transformers.append(recipe)
    logger.info("%s of %s (applied to the models trained after it)", recipe.describe(), ", ".join(recipe.fnames))


NO_TRAINING_AFTER = (
    f"{NOTE_PREFIX}a feature transformer applies to the models trained after it, and no train step follows it (a "
    "model a predict step loads takes the features it was trained with)"
)
"""The note of a feature transformer step no train step follows."""


UNSCALED_STANDARDIZER = {
    False: f"{NOTE_PREFIX}with center and scale false, a {STANDARDIZER} leaves its features unchanged",
    True: f"{NOTE_PREFIX}with scale false, a {STANDARDIZER} only centres its features, which changes nothing: a {PCA} "
    "centres its inputs itself, variances and F-values ignore offsets, and a model standardises its features itself",
}
"""The note of a ``Standardizer`` with scale false, by its ``center``: it changes nothing the pipeline does."""


def _minmax_issues(step: Mapping[str, Any], at: tuple, names: list[Any]) -> Iterator[Issue]:
    """A ``MinmaxNormalizer``'s ``target_range`` not increasing, and ``minmax`` pairs that do not
    match its ``fnames`` (one ``[min, max]`` per feature named, min <= max).

    Example:
        >>> [m for _, m in _minmax_issues({"target_range": [1, 0], "minmax": [[0, 1]]}, (), ["AUTO"])]
        ['target_range [1, 0]: expected [a, b] with a < b', "minmax gives the [min, max] of each feature fnames names, and fnames is ['AUTO']: name the features"]
    """
    low_high = step.get("target_range")
    if isinstance(low_high, list) and len(low_high) == 2 and all(isinstance(v, int | float) for v in low_high):
        if not low_high[0] < low_high[1]:
            yield at + ("target_range",), f"target_range {low_high}: expected [a, b] with a < b"
    pairs = step.get("minmax")
    if not isinstance(pairs, list):
        return
    if AUTO in names:
        yield (
            at + ("minmax",),
            f"minmax gives the [min, max] of each feature fnames names, and fnames is {names}: name the features",
        )
    elif len(pairs) != len(names):
        yield (
            at + ("minmax",),
            f"minmax gives {len(pairs)} [min, max] pairs for the {len(names)} features of fnames; give one per feature",
        )
    for index, pair in enumerate(pairs):
        if (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(v, int | float) for v in pair)
            and pair[0] > pair[1]
        ):
            yield at + ("minmax", index), f"{pair}: a [min, max] pair with min > max"


def check_feature_transformer(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> Iterator[Issue]:
    """A note when no train step follows it, else on a ``Standardizer`` that changes nothing (scale
    false: it centres at most, and nothing after it depends on an offset); its ``fnames`` as an imputer's
    (:func:`~vl3d_focal.steps.imputers.feature_name_issues`); an ``ExplicitSelector`` names its
    features; a ``k`` (an integer ``out_dim``) above the number of features named; a fractional
    ``out_dim`` not above 1; no transformer after a ``PCATransformer`` (``known["pca_step"]``); no
    report or plot when several train steps follow (each would write it over the last,
    ``known["later_givers"]``). The step is recorded for the train steps' checks
    (:mod:`vl3d_focal.steps.transformer_checks`).

    Example:
        >>> [m for _, m in check_feature_transformer({"feature_transformer": "KBestSelector", "k": 3,
        ...                                            "fnames": ["a", "b"]}, (), {})]
        ['k=3 is more than the 2 features it chooses among (a, b)']
    """
    known.setdefault(TRANSFORMERS, []).append((at, step))
    trained_after = TRAINED_MODEL in known.get("later_gives", {TRAINED_MODEL})
    if not trained_after:
        yield at, NO_TRAINING_AFTER
    trainings = known.get("later_givers", {}).get(TRAINED_MODEL, 0)
    for key in ("report_path", "plot_path"):
        if step.get(key) and trainings > 1:
            yield (
                at + (key,),
                f"each of the {trainings} train steps after it fits it and writes its {key}, the last one over the "
                f"others; with several train steps after it, leave {key} out",
            )
    if step.get(KIND) == STANDARDIZER and step.get("scale") is False and trained_after:  # one note a step
        yield at, UNSCALED_STANDARDIZER[step.get("center") is not False]
    if "pca_step" in known:
        yield at, f"a feature transformer after the {PCA} of {known['pca_step']}: a {PCA} must be the last one"
    if step.get(KIND) == PCA:
        known["pca_step"] = "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in at)
    names = as_list(step.get("fnames", [AUTO]))
    yield from feature_name_issues(names, at, known, owner="the feature transformer")
    if step.get(KIND) == MINMAX:
        yield from _minmax_issues(step, at, names)
    if step.get(KIND) == EXPLICIT and AUTO in names:
        yield at + ("fnames", names.index(AUTO)), f"an {EXPLICIT} names the features it keeps or drops, not {AUTO!r}"
    if AUTO not in names:
        yield from count_issues(step, at, names)
    out_dim = step.get("out_dim")
    if isinstance(out_dim, float) and out_dim > 1 and out_dim.is_integer():  # an integer to the schema
        yield (
            at + ("out_dim",),
            f"out_dim={out_dim!r}: a number of components is written as an integer ({out_dim:.0f}), as in VL3D; a "
            "fraction of the variance is at most 1",
        )


for _name, _schema in _schemas().items():
    STEPS.register(
        step_entry(
            kind=KIND,
            name=_name,
            handler=run_feature_transformer,
            schema=_schema,
            gives=("feature_transformation",),
            check=check_feature_transformer,
        )
    )
