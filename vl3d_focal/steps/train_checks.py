"""Semantic checks of a ``train`` step (run by validation, before any work).

- ``class_names`` has ``num_classes`` names, the class step's names in its order (without a
  class step, they name the classification values 0..num_classes-1, as in VL3D);
- ``class_weight`` (loss or ``model_handling``) has one weight per class, or names every class;
  the loss takes class weights, and is made for this many classes (registry metadata);
- ``from_logits`` is not false for a model whose metadata says it emits logits;
- no validation split together with validation clouds;
- ``pre_processing.training_class_distribution`` has one count per class;
- what the model's build refuses that its schema does not say (the model registry's
  ``args_check``): the autoencoder's per-depth and per-operation lists of the wrong length,
  ``strided_kpconv`` with PointNet operations; a PointNet's empty list of shared layers; Keras
  names Keras does not have (:mod:`~vl3d_focal.models.keras_names`); the forest's values
  scikit-learn refuses (``min_samples_split`` 1, ``max_samples`` without bootstrap...);
- ``model_args.fnames`` and the per-feature arguments against the features the model learns from
  (:mod:`~vl3d_focal.steps.model_features`);
- ``pretrained_model`` (its file's metadata) has the step's classes and ``fnames``;
- ``distribution.devices`` fits its strategy (one for ``one_device``, none for multi-worker);
- one of ``learning_rate_on_plateau`` (VL3D's name) and ``reduce_lr_on_plateau``, not both;
- ``fnames``: not empty unless the model works from coordinates alone (registry metadata
  ``coordinates_only``); with the input clouds' headers at hand (``known["cloud_features"]``),
  every name is a feature of every cloud the step trains on or predicts (or a miner step's before
  it), "did you mean" for typos (VL3D's ``["AUTO"]``, the extra dimensions the training clouds
  share, is resolved by the run); ``cloud_normalization`` names features of ``fnames``;
- ``"AUTO"`` alone in ``fnames``; the feature transformers before it fit on them
  (:func:`~vl3d_focal.steps.transformer_checks.transformer_issues`);
- the monitors of ``model_handling`` (checkpoint, early stopping, plateau) name quantities the
  training gives its callbacks (its loss and ``compilation_args.metrics``, ``val_*`` too);
- ``model_handling.tensorboard_dir`` only where the ``tensorboard`` package is installed;
- none of the keys a model fitted once on each point's features (the forest) cannot honour
  (:data:`ONE_FIT_UNUSED`; its ``autoval_metrics`` without held-out points: :data:`UNSCORED_AUTOVAL`),
  and none of the forest's own keys for another model; the forest's
  ``autoval_size`` of 1 or more written as a float (``1.0``: a count to JSON Schema, every point to
  scikit-learn);
- ``training_classified_point_cloud_path``: each class's name can name its probability
  dimension (VL3D's layout: not a standard LAS dimension, ``Prediction`` or ``Success``, nor
  another class's name cut to 32 bytes); the cloud keeps its classification, so any LAS code fits.

The class mapping the model is trained with (``known["mapping"]``) is recorded as
``known["trained_mapping"]``, which a ``PreviousModel`` step compares with the mapping it predicts with.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping
from typing import Any

from vl3d_focal.config.checks import Issue, as_dict, as_list
from vl3d_focal.config.compilation_schema import DEFAULT_TRAINING_METRICS, logged_quantities
from vl3d_focal.config.messages import did_you_mean
from vl3d_focal.config.notes import NOTE_PREFIX
from vl3d_focal.config.pre_processing_schema import layout_issues
from vl3d_focal.data.feature_names import header_feature_names
from vl3d_focal.lazy import load_reference
from vl3d_focal.losses.arguments import class_count_problem, ignored_class_problem
from vl3d_focal.models.forest_schema import FOREST_STEP_PROPERTIES, HELD_OUT_TRAINING_TYPES, forest_step_issues
from vl3d_focal.registry import LOSSES, MODELS
from vl3d_focal.steps.feature_messages import missing_by_cloud, missing_features_issue
from vl3d_focal.steps.loss_value_checks import loss_value_issues
from vl3d_focal.steps.model_features import model_features_issues
from vl3d_focal.steps.train_inputs import AUTO, check_fnames, header_auto_features, pretrained_issues
from vl3d_focal.steps.transformer_checks import transformer_issues
from vl3d_focal.training.distribution_settings import DistributionSettings, devices_problem
from vl3d_focal.training.forest_tuning import tuning_problems


def _loss_issues(loss: dict, handling: dict, at: tuple, *, model: Any, num_classes: int | None) -> Iterator[Issue]:
    entry = LOSSES.find(loss.get("function"))
    expected = entry.metadata.get("num_classes") if entry is not None else None
    problem = class_count_problem(loss["function"], expected=expected, num_classes=num_classes) if expected else None
    if problem:
        yield at + ("compilation_args", "loss", "function"), problem
    problem = (
        ignored_class_problem(entry.name, expected=expected, ignore_class=loss.get("ignore_class")) if entry else None
    )
    if problem:
        yield at + ("compilation_args", "loss", "ignore_class"), problem
    if entry is not None and handling.get("class_weight") is not None:
        if loss.get("class_weight") is not None:
            yield (
                at + ("model_handling", "class_weight"),
                "class weights are given in compilation_args.loss too; keep one",
            )
        elif not entry.metadata.get("takes_class_weight", False):
            yield at + ("model_handling", "class_weight"), f"the loss {entry.name!r} does not take class weights"
    model_entry = MODELS.find(model)
    if model_entry is not None and model_entry.metadata.get("output") == "logits" and loss.get("from_logits") is False:
        yield (
            at + ("compilation_args", "loss", "from_logits"),
            (
                f"{model_entry.name} emits logits (registry metadata output='logits'); from_logits must be "
                "true or left out"
            ),
        )


def _feature_issues(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> Iterator[Issue]:
    fnames = step.get("fnames")
    model = MODELS.find(step.get("train"))
    if fnames == [] and model is not None and not model.metadata.get("coordinates_only", False):
        yield (
            at + ("fnames",),
            (
                f"{model.name} needs point features, got none; list some, e.g. "
                "['intensity', 'height_above_ground'] (vl3d-focal validate lists a cloud's)"
            ),
        )
    for name in as_dict(step.get("cloud_normalization")):
        if isinstance(fnames, list) and name not in fnames and AUTO not in fnames:
            yield at + ("cloud_normalization", name), f"{name!r} is not in fnames {fnames}{did_you_mean(name, fnames)}"
    if "cloud_features" not in known or not isinstance(fnames, list):
        return
    clouds = dict(known["cloud_features"])
    handling = as_dict(as_dict(step.get("model_args")).get("model_handling"))
    if AUTO in fnames:
        known[AUTO_GAPS] = _auto_gaps(as_list(handling.get("training_pcloud")), clouds, at + ("fnames",))
        return
    mined = list(known.get("mined_features", []))
    for key in ("training_pcloud", "validation_pcloud"):
        clouds.update(
            {
                path: None if offered is None else list(dict.fromkeys(offered + mined))
                for path, offered in (
                    (path, header_feature_names(path)) for path in as_list(handling.get(key)) if isinstance(path, str)
                )
            }
        )
    for path, lacked in missing_by_cloud(enumerate(fnames), clouds).items():
        yield missing_features_issue(at, "fnames", lacked, path, clouds[path], known, owner="the train step")


AUTO_GAPS = "auto_gaps"
"""``known`` key: the issues of clouds to predict that lack a dimension ``fnames: AUTO`` takes,
reported by the step that would predict them with the trained model."""


def _auto_gaps(training: list[Any], predicted: Mapping[str, list[str] | None], at: tuple) -> list[Issue]:
    """Clouds to predict (their features, None where unreadable) that lack an extra dimension
    ``AUTO`` takes from the training clouds (a ``PreviousModel`` step after the training reports
    them: it would fail there)."""
    read = [header_auto_features(path) for path in training if isinstance(path, str)]
    found = [names for names in read if names is not None]
    if not found or len(found) < len(read):  # an unreadable training cloud: its reader explains
        return []
    taken = [name for name in found[0] if all(name in names for names in found[1:])]
    gaps = []
    for path, offered in predicted.items():
        lacking = [name for name in taken if offered is not None and name not in offered]
        if lacking:
            gaps.append(
                (
                    at,
                    f"AUTO takes {', '.join(taken)} from the training clouds, but {path} lacks "
                    f"{', '.join(lacking)}: predicting it with this model would fail after the training; "
                    "name the features every cloud has instead of AUTO",
                )
            )
    return gaps


UNSCORED_AUTOVAL = (
    f"{NOTE_PREFIX}training_type {{training_type!r}} fits the {{model}} on every point and scores no held-out "
    "point (training_type 'autoval' or 'stratified_kfold' does), as in VL3D, whose 'base' training never "
    "reads these metrics"
)
"""The note of a forest's ``autoval_metrics`` without a held-out training type."""

ONE_FIT_UNUSED: dict[tuple[str, ...], str] = {
    ("training_activations_path",): "no hidden activations",
    ("pretrained_model",): "no weights to start from (every fit starts afresh)",
    **{
        ("model_args", "model_handling", key): "no epochs, batches, validation, checkpoints, callbacks or logs"
        for key in (
            "training_epochs",
            "batch_size",
            "validation_split",
            "validation_pcloud",
            "checkpoint",
            "checkpoint_monitor",
            "checkpoint_path",
            "early_stopping",
            "learning_rate_on_plateau",
            "reduce_lr_on_plateau",
            "fit_verbose",
            "training_sequencer",
            "tensorboard_dir",
            "training_history_dir",
            "summary_report_path",
        )
    },
}
"""Train step keys a model fitted in one go on each point's features (``samples: points``: the
forest) cannot honour, and what it lacks; given to such a model, each is an error."""


def _value_at(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The value under nested ``keys`` (None where a level is missing or no object)."""
    node: Any = mapping
    for key in keys:
        node = as_dict(node).get(key)
    return node


def _one_fit_issues(step: Mapping[str, Any], at: tuple) -> Iterator[Issue]:
    model = step.get("train")
    entry = MODELS.find(model)
    if entry is None or not entry.learns_from_points:
        return
    tuning = step.get("hyperparameter_tuning")
    if isinstance(tuning, dict):
        for parts, problem in tuning_problems(tuning, as_dict(step.get("model_args"))):
            yield at + ("hyperparameter_tuning", *parts), problem
    for parts, problem in forest_step_issues(step):
        yield at + parts, problem
    training_type = step.get("training_type", "base")
    if step.get("autoval_metrics") is not None and training_type not in HELD_OUT_TRAINING_TYPES:
        yield at + ("autoval_metrics",), UNSCORED_AUTOVAL.format(training_type=training_type, model=model)
    for keys, lacks in ONE_FIT_UNUSED.items():
        if _value_at(step, keys) is not None:
            yield at + keys, f"a {model} is fitted once on each point's features: {lacks}; remove {keys[-1]}"


def _forest_only_issues(step: Mapping[str, Any], at: tuple) -> Iterator[Issue]:
    """VL3D's random-forest keys (:data:`~vl3d_focal.models.forest_schema.FOREST_STEP_PROPERTIES`,
    the held-out training types) given other values than their defaults for a model that learns
    from receptive fields."""
    model = step.get("train")
    entry = MODELS.find(model)
    if entry is None or entry.learns_from_points:
        return
    if step.get("training_type") in HELD_OUT_TRAINING_TYPES:
        yield (
            at + ("training_type",),
            f"{step['training_type']!r} is VL3D's random forest's (RandomForestClassifier); a {model} trains "
            "with 'base' and validates on validation_split or validation_pcloud",
        )
    for key, schema in FOREST_STEP_PROPERTIES.items():
        if key in step and step[key] != schema["default"]:  # a normalised spec holds every default
            yield at + (key,), f"{key} is VL3D's random forest's (RandomForestClassifier), not a {model}'s; remove it"


MONITORS = (
    ("checkpoint_monitor",),
    ("early_stopping", "monitor"),
    ("reduce_lr_on_plateau", "monitor"),
    ("learning_rate_on_plateau", "monitor"),
)
"""Where ``model_handling`` names a logged quantity to watch."""


def _monitor_issues(handling: Mapping[str, Any], compilation: Mapping[str, Any], at: tuple) -> Iterator[Issue]:
    """Monitors that name no quantity the training logs (Keras would ignore them, epoch after epoch)."""
    metrics = compilation.get("metrics", list(DEFAULT_TRAINING_METRICS))
    if not isinstance(metrics, list) or not all(isinstance(name, str) for name in metrics):
        return
    logged = logged_quantities(metrics)
    for keys in MONITORS:
        node = _value_at(handling, keys)
        if isinstance(node, str) and node not in logged:
            hint = did_you_mean(node, logged) or "."
            yield (
                at + keys,
                f"{node!r} is not logged by this training{hint} It logs {', '.join(logged)} (val_*: with "
                "validation data); add a metric to compilation_args.metrics to watch it",
            )


def _classified_cloud_issues(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> Iterator[Issue]:
    """The class names ``training_classified_point_cloud_path``, ``pre_processing.receptive_fields_dir`` or
    ``pre_processing.training_receptive_fields_dir`` cannot name their probability dimensions by (:func:`~vl3d_focal.inference.classified_output.report_name_problems`)."""
    pre_processing = as_dict(as_dict(step.get("model_args")).get("pre_processing"))
    outputs = {
        ("training_classified_point_cloud_path",): step.get("training_classified_point_cloud_path"),
        ("model_args", "pre_processing", "receptive_fields_dir"): pre_processing.get("receptive_fields_dir"),
        ("model_args", "pre_processing", "training_receptive_fields_dir"): pre_processing.get(
            "training_receptive_fields_dir"
        ),
    }
    output = next((key for key, value in outputs.items() if value), None)
    if output is None:
        return
    from vl3d_focal.inference.classified_output import report_name_problems

    given = as_dict(step.get("model_args")).get("class_names")
    names = given if isinstance(given, list) else known.get("class_names")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return
    for index, problem in report_name_problems(names):  # at the name given, else at the output's key
        given_at = ("model_args", "class_names", index)
        yield at + (given_at if isinstance(given, list) else output), problem


def _model_args_issues(step: Mapping[str, Any], at: tuple) -> Iterator[Issue]:
    """What the model's build would refuse in ``model_args`` (its registry ``args_check``), a
    ``pre_processing`` mixing VL3D's ``grid_subsampling`` layout and ``neighborhood`` (or giving
    neither), and a ``distribution`` device list that does not fit its strategy."""
    model = MODELS.find(step.get("train"))
    reference = model.metadata.get("args_check") if model is not None else None
    if reference:
        for path, message in load_reference(reference)(as_dict(step.get("model_args"))):
            yield at + tuple(path), message
    if model is not None and model.metadata.get("samples", "fields") == "fields" and "field_spec" not in model.metadata:
        for parts, message in layout_issues(as_dict(as_dict(step.get("model_args")).get("pre_processing"))):
            yield at + ("model_args", *parts), message
    distribution = as_dict(step.get("distribution"))
    devices = distribution.get("devices")
    if isinstance(devices, list):
        problem = devices_problem(distribution.get("strategy", DistributionSettings.strategy), devices)
        if problem:
            yield at + ("distribution", "devices"), problem


def check_train(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> Iterator[Issue]:
    """The train step's class names, class weights, loss and validation data against each other.

    Example:
        >>> [m for _, m in check_train({"model_args": {"num_classes": 2, "class_names": ["a"]}}, (), {})]
        ['expected num_classes (2) names; got 1']
    """
    known["model_name"] = step.get("train") if isinstance(step.get("train"), str) else None
    known["trained_mapping"], known["model_fnames"] = known.get("mapping"), step.get("fnames")
    yield from check_fnames(step, at)
    yield from _feature_issues(step, at, known)
    yield from transformer_issues(step, at, known)
    yield from _one_fit_issues(step, at)
    yield from _forest_only_issues(step, at)
    yield from _classified_cloud_issues(step, at, known)
    mapping = known.get("class_names")
    args = as_dict(step.get("model_args"))
    yield from _model_args_issues(step, at)
    yield from model_features_issues(step, at, known)
    step_at, at = at, at + ("model_args",)
    num = args.get("num_classes")
    num = num if isinstance(num, int) and not isinstance(num, bool) else None
    names = args.get("class_names") if isinstance(args.get("class_names"), list) else None
    if names is not None and num is not None and len(names) != num:
        yield at + ("class_names",), f"expected num_classes ({num}) names; got {len(names)}"
    if mapping is not None:
        if num is not None and len(mapping) != num:
            yield (
                at + ("num_classes",),
                f"the class step before it defines {len(mapping)} classes {mapping}; got num_classes {num}",
            )
        if names is not None and names != mapping:
            yield at + ("class_names",), f"expected the class step's names in its order {mapping}; got {names}"
    classes = names if names is not None and all(isinstance(n, str) for n in names) else mapping
    if mapping is None:  # VL3D: the classes are the classification values, named here
        known["class_names"] = (
            classes if classes is not None else ([f"class_{i}" for i in range(num)] if num is not None else None)
        )
    transformed = "feature_transformation" in known.get("given", ())
    yield from pretrained_issues(step, step_at, class_names=classes, transformed=transformed)
    compilation = as_dict(args.get("compilation_args"))
    loss, handling = as_dict(compilation.get("loss")), as_dict(args.get("model_handling"))
    yield from loss_value_issues(loss, handling, at, num_classes=num, class_names=classes)
    class_count = num if num is not None or classes is None else len(classes)
    yield from _loss_issues(loss, handling, at, model=step.get("train"), num_classes=class_count)
    yield from _monitor_issues(handling, compilation, at + ("model_handling",))
    if args.get("class_weight") is not None and handling.get("class_weight") is not None:
        yield at + ("class_weight",), "class weights are given in model_handling.class_weight too; keep one"
    split = handling.get("validation_split")
    if handling.get("validation_pcloud") and isinstance(split, (int, float)) and split > 0:
        yield at + ("model_handling", "validation_split"), "give validation_split or validation_pcloud, not both"
    if handling.get("learning_rate_on_plateau") is not None and handling.get("reduce_lr_on_plateau") is not None:
        yield (
            at + ("model_handling", "reduce_lr_on_plateau"),
            ("learning_rate_on_plateau (VL3D's name) is given too; keep one of the two"),
        )
    distribution = as_dict(args.get("pre_processing")).get("training_class_distribution")
    count = num if num is not None else (len(known) if known is not None else None)
    if isinstance(distribution, list) and count is not None and len(distribution) != count:
        yield (
            at + ("pre_processing", "training_class_distribution"),
            (f"expected one count per class ({count}); got {len(distribution)}"),
        )
    if handling.get("tensorboard_dir") and importlib.util.find_spec("tensorboard") is None:
        yield (
            at + ("model_handling", "tensorboard_dir"),
            (
                "TensorBoard logs need the tensorboard package, which is not installed; install it "
                "(pip install tensorboard, or vl3d_focal[tensorboard]) or set tensorboard_dir to null"
            ),
        )
