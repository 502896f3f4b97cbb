"""VL3D's components by kind, and the one clear error for a component this project does not have.

A step of a VL3D spec names its component with its kind key (``"eval":
"RasterGridEvaluator"``, ``"feature_transformer": "Standardizer"``). When that component is not
registered here, every key of the step would otherwise fail the schema on its own; instead
the step gets one issue, at its kind key, naming the component and what is available, and
every other issue inside that step is dropped (:func:`unavailable_steps`).

:data:`VL3D_COMPONENTS` lists the components VL3D documents (its documentation pages and
spec files), per kind; a component registered here (``vl3d-focal list steps``, ``list
models``) is simply accepted, whatever the list says.

Example:
    >>> found = unavailable_steps({"sequential_pipeline": [
    ...     {"eval": "RasterGridEvaluator", "grids": [{}]}]})
    >>> print(found[0][1])  # doctest: +ELLIPSIS
    'RasterGridEvaluator' is a VL3D evaluator this project does not have; available: ...'ClassificationEvaluator'...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from vl3d_focal.config.messages import did_you_mean
from vl3d_focal.config.schemas import steps_by_kind
from vl3d_focal.data.miner_kinds import MINER_KINDS


class Kind(NamedTuple):
    """What VL3D calls the components of one kind key, and which it documents."""

    noun: str
    names: tuple[str, ...]
    without: str = ""
    """What to do instead, for a kind this project has no step of."""


VL3D_COMPONENTS: dict[str, Kind] = {
    "train": Kind(
        "model",
        (
            "PointNetPwiseClassifier",
            "RBFNetPwiseClassifier",
            "ConvolutionalAutoencoderPwiseClassifier",
            "RandomForestClassifier",
        ),
    ),
    "predict": Kind("predictor", ("ModelLoader", "PredictivePipeline")),
    "eval": Kind(
        "evaluator",
        ("ClassificationEvaluator", "ClassificationUncertaintyEvaluator", "DLModelEvaluator", "RasterGridEvaluator"),
    ),
    "writer": Kind(
        "writer", ("Writer", "ModelWriter", "PredictionsWriter", "ClassifiedPcloudWriter", "PredictivePipelineWriter")
    ),
    "class_transformer": Kind("class transformer", ("ClassReducer",)),
    "miner": Kind("data miner", (*MINER_KINDS, "TakeClosestMiner")),  # this project's miners, and one more
    "imputer": Kind("imputer", ("RemovalImputer", "UnivariateImputer")),
    "feature_transformer": Kind(
        "feature transformer",
        (
            "KBestSelector",
            "PercentileSelector",
            "VarianceSelector",
            "ExplicitSelector",
            "PCATransformer",
            "Standardizer",
            "MinmaxNormalizer",
        ),
    ),
}
"""Kind key -> the components VL3D documents for it."""


def accepted_values(kind: str) -> list[str]:
    """The values of a registered step kind that this project accepts, in registration order.

    Example:
        >>> accepted_values("predict")[:2]
        ['PreviousModel', 'ModelLoader']
    """
    names: list[str] = []
    for entry in steps_by_kind().get(kind, []):
        values = entry.metadata.get("values")
        names += list(values()) if entry.name == kind and values is not None else [entry.name]
    return names


def _names(values: list[str]) -> str:
    return ", ".join(repr(value) for value in values) or "none"


def _issue(kind: str, value: Any) -> str | None:
    """The message for ``{kind: value}``, or None when this project has that component."""
    known = VL3D_COMPONENTS.get(kind)
    registered = steps_by_kind()
    if kind in registered:
        accepted = accepted_values(kind)
        if not isinstance(value, str) or value in accepted:
            return None  # a wrong type is the schema's to report
        if known is not None and value in known.names:
            return f"{value!r} is a VL3D {known.noun} this project does not have; available: {_names(accepted)}"
        noun = known.noun if known is not None else f"{kind} kind"
        return f"unknown {noun} {value!r}; available: {_names(accepted)}{did_you_mean(value, accepted)}"
    if known is None:
        return None
    what = f"{value!r} is a VL3D {known.noun}" if isinstance(value, str) else f"{kind!r} names a VL3D {known.noun}"
    return f"{what}; {known.without}"


def unavailable_steps(spec: Mapping[str, Any]) -> list[tuple[tuple, str, int]]:
    """``(json path parts, message, step index)`` of each step naming a component not available here.

    A step is reported when its only registered kind key has a value no registered step
    accepts, or when it has no registered kind key but a VL3D one (``feature_transformer``...).

    Example:
        >>> unavailable_steps({"sequential_pipeline": [{"miner": "TakeClosestMiner", "radius": 0.3}]})[0][:2]
        (('sequential_pipeline', 0, 'miner'), "'TakeClosestMiner' is a VL3D data miner this project does not have; available: 'GeometricFeatures', 'HeightFeatures', 'SmoothFeatures', 'HSVFromRGB', 'CovarianceFeatures'")
    """
    steps = spec.get("sequential_pipeline") if isinstance(spec, Mapping) else None
    found = []
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, Mapping):
            continue
        registered = [kind for kind in steps_by_kind() if kind in step]
        candidates = registered if registered else [kind for kind in VL3D_COMPONENTS if kind in step]
        if len(candidates) != 1:
            continue  # none, or several kind keys: the schema's message says which are allowed
        kind = candidates[0]
        message = _issue(kind, step[kind])
        if message is not None:
            found.append((("sequential_pipeline", index, kind), message, index))
    return found
