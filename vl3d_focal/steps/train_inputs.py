"""What a ``train`` step trains on, in VL3D's vocabulary: features, training type, classes.

- ``fnames``: point features by name (:mod:`vl3d_focal.data.features`), including VL3D's
  ``"ones"`` (a constant 1); ``["AUTO"]`` takes every extra dimension (extra bytes) the
  training clouds share, in the first cloud's order, except the ones this project writes
  (``prediction``, ``Prediction``, ``Success``, ``prob_<class>``): the features a VL3D
  pipeline's data miners stored in the cloud; then the features of the miner steps before the
  train step. Neither: no features, the coordinates only (an error for a model that needs
  features).
- ``training_type``: VL3D's ``"base"`` (one training on the training clouds), the only one its
  deep-learning models use; the random forest also takes ``"autoval"`` and ``"stratified_kfold"``
  (:mod:`vl3d_focal.training.forest`).
- ``pretrained_model``: VL3D's further training: the training starts from the weights (and
  the feature normalisation) of a model file written earlier, with the same classes and
  features;
- the classes: the class step before the train step (``class_mapping``, ``ClassReducer``)
  when there is one; else, as in VL3D, the clouds' classification values 0..num_classes-1,
  named by ``model_args.class_names`` (default ``class_<i>``). A model whose registry
  metadata says ``classes_from_data`` (VL3D's forest, whose ``model_args`` are scikit-learn's)
  may leave ``num_classes`` out: the classes are then the classification values present in the
  training clouds, as scikit-learn's.

Example:
    >>> step_mapping({"num_classes": 2, "class_names": ["wood", "leaf"]}, mapping=None).names
    ['wood', 'leaf']
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from vl3d_focal.config.checks import Issue, as_list
from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.errors import DataError
from vl3d_focal.io.las_header import header_extra_dimensions
from vl3d_focal.models.forest_schema import HELD_OUT_TRAINING_TYPES
from vl3d_focal.schema_annotations import PATH_ANNOTATION

logger = logging.getLogger(__name__)

AUTO = "AUTO"
"""``fnames: ["AUTO"]``: the features the training clouds carry (see the module docstring)."""
WRITTEN_DIMENSIONS = ("prediction", "Prediction", "Success")
WRITTEN_PREFIXES = ("prob_",)
"""Extra dimensions this project writes into clouds; never taken as features by ``AUTO``."""
TRAINING_TYPES = ("base", *HELD_OUT_TRAINING_TYPES)


def train_input_properties() -> dict[str, Any]:
    """The train step's ``fnames`` and ``training_type`` properties.

    Example:
        >>> train_input_properties()["training_type"]["default"]
        'base'
    """
    return {
        "fnames": {
            "type": "array",
            "uniqueItems": True,
            "items": {"type": "string", "minLength": 1},
            "default": [],
            "description": "Point features fed besides the coordinates (intensity, return_number, "
            "number_of_returns, scan_angle, red, green, blue, extra dimensions, derived features, 'ones'...); "
            "['AUTO']: every extra dimension of the training clouds.",
        },
        "training_type": {
            "enum": list(TRAINING_TYPES),
            "title": "training type",
            "default": TRAINING_TYPES[0],
            "description": "VL3D's training type; 'base': one training on the training clouds; the random "
            "forest's 'autoval': scored on a held-out share of the points (autoval_size), then trained on the "
            "rest; 'stratified_kfold': scored over num_folds folds, then trained on every point.",
        },
        "pretrained_model": {
            "type": ["string", "null"],
            "minLength": 1,
            "default": None,
            PATH_ANNOTATION: "input",
            "description": "A model file written earlier (PredictiveModelWriter, any file name) to train further: "
            "its weights and feature normalisation are the starting point; null: a new model.",
        },
    }


def check_fnames(step: Mapping[str, Any], at: tuple) -> Iterator[Issue]:
    """``"AUTO"`` stands alone in ``fnames``.

    Example:
        >>> [m for _, m in check_fnames({"fnames": ["AUTO", "intensity"]}, ())]
        ["'AUTO' takes every extra dimension of the training clouds: give it alone, or name the features"]
    """
    names = as_list(step.get("fnames"))
    if AUTO in names and len(names) > 1:
        yield (
            at + ("fnames", names.index(AUTO)),
            f"{AUTO!r} takes every extra dimension of the training clouds: give it alone, or name the features",
        )


def _auto_candidates(names: Sequence[str]) -> list[str]:
    """The extra dimensions ``AUTO`` may take: not those our writers add (predictions, probabilities)."""
    return [n for n in names if n not in WRITTEN_DIMENSIONS and not n.startswith(WRITTEN_PREFIXES)]


def _extra_dimensions(record: Any) -> list[str]:
    return _auto_candidates(list(record.cloud.las.point_format.extra_dimension_names))


def header_auto_features(path: str) -> list[str] | None:
    """The extra dimensions ``fnames: ["AUTO"]`` would take from a LAS/LAZ file, from its header;
    None when it cannot be read (the reader step explains why).

    Example:
        >>> header_auto_features("no/such.laz") is None
        True
    """
    found = header_extra_dimensions(path)
    return None if found is None else _auto_candidates(found)


def resolve_feature_names(fnames: Sequence[str], *, records: Sequence[Any], mined: Sequence[str] = ()) -> list[str]:
    """``fnames`` with ``["AUTO"]`` replaced by the extra dimensions every training cloud has,
    then the ``mined`` features of the miner steps before (the pipeline's features, as VL3D).

    Example:
        >>> resolve_feature_names(["intensity"], records=[]), resolve_feature_names(["AUTO"], records=[], mined=["p_k8"])
        (['intensity'], ['p_k8'])
    """
    if list(fnames) != [AUTO]:
        return list(fnames)
    shared = _extra_dimensions(records[0]) if records else []
    for record in records[1:]:
        present = set(_extra_dimensions(record))
        dropped = [name for name in shared if name not in present]
        if dropped:
            logger.warning("fnames AUTO: %s lacks %s; those are not used", record.path, dropped)
        shared = [name for name in shared if name in present]
    shared += [name for name in dict.fromkeys(mined) if name not in shared]
    logger.info("fnames AUTO: %s", ", ".join(shared) if shared else "no extra dimension nor mined feature")
    return shared


def step_mapping(
    model_args: Mapping[str, Any],
    *,
    mapping: ClassMapping | None,
    data_classes: Callable[[], Sequence[int]] | None = None,
) -> ClassMapping:
    """The classes a train step learns: ``mapping`` (a class step before it), else VL3D's values.

    Args:
        model_args: the step's; without ``num_classes``, the count is the class step's or the
            number of ``class_names``; without either, the classes are the classification values
            ``data_classes`` finds (one class per value present, named ``class_<value>``).
        mapping: the class step's mapping, or None.
        data_classes: the classification values of the training clouds.

    Raises:
        DataError: ``class_names`` or ``num_classes`` disagree with ``mapping``.

    Example:
        >>> step_mapping({"num_classes": 3}, mapping=None).names, step_mapping({}, mapping=None, data_classes=lambda: [6, 2]).names
        (['class_0', 'class_1', 'class_2'], ['class_2', 'class_6'])
    """
    given = model_args.get("num_classes")
    if given is None and mapping is None and model_args.get("class_names") is None:
        if data_classes is None:
            raise DataError("train step model_args: give num_classes (or class_names, or a class step before it)")
        found = ClassMapping.from_codes(np.asarray(data_classes()))
        logger.info("train step: one class per classification value of the training clouds: %s", ", ".join(found.names))
        return found
    if given is None:
        given = len(mapping.names) if mapping is not None else len(model_args["class_names"])
    count = int(given)
    if mapping is None:
        return ClassMapping.from_values(model_args.get("class_names") or [f"class_{i}" for i in range(count)])
    names = list(model_args.get("class_names") or mapping.names)
    if list(mapping.names) != names:
        raise DataError(f"train step class_names: expected the class step's names {list(mapping.names)}, got {names}")
    if count != len(names):
        raise DataError(f"train step num_classes: expected {len(names)} (the number of classes), got {count}")
    return mapping


def pretrained_bundle(path: str | None, *, class_names: Sequence[str], feature_names: Sequence[str]) -> Any:
    """The model a further training starts from (``pretrained_model``), or None.

    Raises:
        DataError: its classes or features differ from the step's.

    Example:
        >>> pretrained_bundle(None, class_names=["a"], feature_names=[]) is None
        True
    """
    if path is None:
        return None
    from vl3d_focal.models.model_file import load_bundle

    bundle = load_bundle(path)
    problem = pretrained_mismatch(
        model_classes=bundle.class_names,
        model_features=bundle.feature_names,
        class_names=class_names,
        feature_names=feature_names,
    )
    if problem:
        raise DataError(f"pretrained_model {path}: {problem}")
    return bundle


def pretrained_mismatch(
    *,
    model_classes: Sequence[str],
    model_features: Sequence[str],
    class_names: Sequence[str] | None,
    feature_names: Sequence[str] | None,
) -> str | None:
    """Why a further training cannot start from a model of ``model_classes`` and ``model_features``
    (validation reports it too, from the model file's metadata); None: not known.

    Example:
        >>> pretrained_mismatch(model_classes=["a"], model_features=["i"], class_names=["a"], feature_names=["z"])
        "its features are ['i'], this train step's ['z']; further training keeps the features"
    """
    for what, theirs, ours in (("classes", model_classes, class_names), ("features", model_features, feature_names)):
        if ours is not None and list(theirs) != list(ours):
            return f"its {what} are {list(theirs)}, this train step's {list(ours)}; further training keeps the {what}"
    return None


def pretrained_issues(
    step: Mapping[str, Any], at: tuple, *, class_names: Sequence[str] | None, transformed: bool
) -> Iterator[Issue]:
    """A ``pretrained_model`` (its file's metadata) of other classes than ``class_names`` (None: not
    known) or other features than ``fnames`` (unless ``AUTO`` or a feature transformer before the
    step, ``transformed``, chooses them): what :func:`pretrained_bundle` refuses when the training
    starts.

    Example:
        >>> step = {"pretrained_model": str(model_file), "fnames": ["z"]}
        >>> list(pretrained_issues(step, (), class_names=None, transformed=False))[0][1].split(": ", 1)[1]
        "its features are [...], this train step's ['z']; further training keeps the features"
    """
    from vl3d_focal.steps.model_file_checks import model_metadata

    path, fnames = step.get("pretrained_model"), step.get("fnames")
    metadata, problems = model_metadata(path, at=at + ("pretrained_model",))  # not a model file: an issue
    yield from problems
    if metadata is None:
        return
    chosen = isinstance(fnames, list) and AUTO not in fnames and not transformed
    problem = pretrained_mismatch(
        model_classes=metadata["class_names"],
        model_features=metadata["feature_names"],
        class_names=class_names,
        feature_names=fnames if chosen else None,
    )
    if problem:
        yield at + ("pretrained_model",), f"model {path}: {problem}"
