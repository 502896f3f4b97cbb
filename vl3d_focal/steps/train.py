"""The ``train`` step: trains the registered model it names on the input clouds.

The step's value is any registered model (``vl3d-focal list models``); its ``model_args`` are
those of that model (``$defs/model_args.<model>`` of the pipeline schema). It trains on
``model_handling.training_pcloud`` when given (so the pipeline's own clouds are held out for
prediction and evaluation), else on the pipeline's clouds; the training itself is that of the
model entry's ``trainer`` (metadata): :class:`vl3d_focal.training.engine.Trainer` for the Keras
models, :class:`vl3d_focal.training.forest.ForestTrainer` for the random forest. Its classes and
features, in VL3D's vocabulary too (no class step: the classification values;
``fnames: ["AUTO"]``), are :mod:`vl3d_focal.steps.train_inputs`'; the feature transformers
before it choose among or project its features (:mod:`vl3d_focal.training.transformation`) and
the imputer steps before it apply to its clouds (:mod:`vl3d_focal.training.imputation`).

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> STEPS.get("train").metadata["gives"]
    ('model', 'trained_model', 'mapping')
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vl3d_focal.config.prefixes import expand_output
from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.config.training_reports_schema import training_reports_properties
from vl3d_focal.errors import DataError
from vl3d_focal.inference.field_clouds import FIELD_PATTERN, FIELDS_DIR, TRAINING_FIELDS_DIR
from vl3d_focal.models.forest_schema import FOREST_STEP_PROPERTIES
from vl3d_focal.registry import MODELS, STEPS
from vl3d_focal.schema_annotations import CLOUD_FOLDER_OUTPUT, FOLDER_OUTPUT
from vl3d_focal.steps.definition import step_entry
from vl3d_focal.steps.train_checks import check_train
from vl3d_focal.steps.train_inputs import (
    AUTO,
    pretrained_bundle,
    resolve_feature_names,
    step_mapping,
    train_input_properties,
)
from vl3d_focal.steps.train_outputs import step_outputs, training_outputs
from vl3d_focal.steps.training_facts import training_facts
from vl3d_focal.training.distribution_settings import COMMUNICATIONS, STRATEGIES
from vl3d_focal.training.files import TRAINING_FOLDER, TrainingFiles
from vl3d_focal.training.trainers import trainer_class

if TYPE_CHECKING:
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.data.records import CloudRecord
    from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)


def _distribution_schema() -> dict[str, Any]:
    """The train step's ``distribution``: the tf.distribute strategy training runs under."""
    schema = closed_object(
        {
            "strategy": {
                "enum": list(STRATEGIES),
                "title": "distribution strategy",
                "default": "one_device",
                "description": "one_device: one device; mirrored: synchronous replicas on the devices "
                "of this machine; multi_worker_mirrored: synchronous replicas on several machines "
                "(cluster from the TF_CONFIG environment variable, see docs/distributed.md). "
                "batch_size is the global batch, split between the replicas; the class-weighted "
                "mean stays global.",
            },
            "devices": {
                "description": "Devices of one_device (one) or mirrored (several), e.g. "
                "['/gpu:0', '/gpu:1']; null: every GPU, else the CPU.",
                "default": None,
                "anyOf": [
                    {"type": "null", "title": "null"},
                    {
                        "type": "array",
                        "title": "a list of device names",
                        "minItems": 1,
                        "uniqueItems": True,
                        "items": {"type": "string", "minLength": 1},
                    },
                ],
            },
            "communication": {
                "enum": list(COMMUNICATIONS),
                "title": "collective implementation",
                "default": "auto",
                "description": "Collective communication of multi_worker_mirrored (ring: gRPC, nccl: GPUs).",
            },
        },
        required=[],
        description="How training is distributed (tf.distribute); default: one device.",
        title="a distribution object",
    )
    schema["default"] = {"strategy": "one_device"}
    return schema


def _cloud_normalization_schema() -> dict[str, Any]:
    """The train step's ``cloud_normalization``: features scaled by each cloud's own statistics."""
    from vl3d_focal.data.normalization import CLOUD_SCALINGS

    method = closed_object(
        {
            "method": {
                "enum": list(CLOUD_SCALINGS),
                "title": "per-cloud scaling",
                "description": "percentile: divide by the cloud's percentile; robust: subtract the cloud's median, divide "
                "by its IQR; rank: the value's rank among the cloud's values, in [0, 1].",
            },
            "percentile": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 100,
                "default": 99.0,
                "description": "The percentile of method 'percentile'.",
            },
        },
        required=["method"],
        description="How one feature is scaled per cloud.",
    )
    return {
        "type": "object",
        "default": {},
        "additionalProperties": method,
        "description": "Features (of fnames) whose scale depends on the sensor or survey (intensity...), scaled by "
        "statistics of the cloud they belong to, in training and prediction alike, before the normalisation "
        'fitted on the training data; e.g. {"intensity": {"method": "percentile", "percentile": 99}}. '
        "Stored with the model.",
    }


def _schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Trains a point-wise classifier on the input clouds.",
        "additionalProperties": False,
        "required": ["train", "model_args"],
        "properties": {
            "train": {
                "$ref": "#/$defs/model_name",
                "description": "The registered model to train (vl3d-focal list models).",
            },
            **train_input_properties(),
            "cloud_normalization": _cloud_normalization_schema(),
            "random_seed": {
                "type": ["integer", "null"],
                "default": None,
                "description": "Seed of fields, initial weights and shuffling; null: random.",
            },
            "model_args": {"type": "object", "description": "Arguments of the model (see $defs/model_args.<model>)."},
            "distribution": _distribution_schema(),
            **training_reports_properties(),
            **FOREST_STEP_PROPERTIES,
        },
        "allOf": [{"$ref": "#/$defs/model_args_by_model"}],
    }


def _classification_values(handling: Mapping[str, Any], state: PipelineState) -> list[int]:
    """The classification values of the clouds to train on (VL3D's classes of a model told no
    ``num_classes``), read chunk by chunk."""
    import numpy as np

    from vl3d_focal.io.chunks import iter_chunks

    given = handling.get("training_pcloud")
    chunks = (
        (points for path in given for _, points in iter_chunks(path))
        if given
        else (points for record in state.clouds for _, points in record.point_chunks())
    )
    found: set[int] = set()
    for points in chunks:
        found.update(int(code) for code in np.unique(np.asarray(points.classification)))
    return sorted(found)


def _training_clouds(handling: Mapping[str, Any], state: PipelineState, *, mapping: ClassMapping) -> list[CloudRecord]:
    """The clouds to train on: ``model_handling.training_pcloud`` when given, else the pipeline's."""
    from vl3d_focal.data.records import reference_labels
    from vl3d_focal.training.fields import read_labelled_clouds

    if handling.get("training_pcloud"):
        return read_labelled_clouds(handling["training_pcloud"], mapping=mapping, role="training")
    for record in state.clouds:
        if record.labels is None:
            record.labels = reference_labels(record.cloud, mapping)
    return list(state.clouds)


def _expanded(paths: Mapping[str, str], prefix: str) -> dict[str, Path]:
    return {key: Path(expand_output(value, prefix=prefix)) for key, value in paths.items()}


def _reports(step: Mapping[str, Any], *, prefix: str, mapping: ClassMapping) -> Any:
    from vl3d_focal.training.evaluation import TrainingReports

    outputs = _expanded(step_outputs(step, scopes=("model-output", FOLDER_OUTPUT)), prefix)
    return TrainingReports(
        metrics=list(step["training_evaluation_metrics"]),
        class_metrics=list(step["training_class_evaluation_metrics"]),
        autoval=step["autoval_metrics"],
        outputs=outputs,
        field_reports=_expanded(
            step_outputs(step, scopes=("cloud-output",)), prefix
        ),  # VL3D's after-training prediction
        mapping=mapping,
    )


def _field_reports(step: Mapping[str, Any]) -> Callable[[str], dict[str, Path]] | None:
    """The prediction-time receptive-field reports (their files, and the folder of the fields'
    clouds), expanded under a cloud's prefix (None: none asked)."""
    paths = step_outputs(step, scopes=("cloud-output", CLOUD_FOLDER_OUTPUT))
    return functools.partial(_expanded, paths) if paths else None


def run_train(step: Mapping[str, Any], state: PipelineState) -> None:
    """Trains the step's model and stores it as ``state.bundle`` (outputs: see the engine).

    Example:
        >>> state.bundle = None
        >>> run_train(train_step, state)  # a tiny PointNet, one epoch on the tile
        >>> state.bundle.class_names[:2], len(state.facts.trainings[0].history)
        (['ground', 'vegetation'], 1)
    """
    from vl3d_focal.data.miners import mined_names, recipes_for
    from vl3d_focal.data.pca_projection import computed_features
    from vl3d_focal.training.distribution_settings import step_distribution
    from vl3d_focal.training.fields import read_labelled_clouds
    from vl3d_focal.training.imputation import imputed_clouds
    from vl3d_focal.training.job import TrainingJob, training_identity
    from vl3d_focal.training.transformation import transformed_features

    model_args = step["model_args"]
    handling = model_args["model_handling"]
    mapping = step_mapping(
        model_args,
        mapping=state.mapping,
        data_classes=(
            (lambda: _classification_values(handling, state))
            if MODELS.get(step["train"]).metadata.get("classes_from_data", False)
            else None
        ),
    )
    training = _training_clouds(handling, state, mapping=mapping)
    features = resolve_feature_names(step["fnames"], records=training, mined=mined_names(state.miners))
    if not features and not MODELS.get(step["train"]).metadata.get("coordinates_only", False):
        raise DataError(
            f"{step['train']} learns from features, but fnames {AUTO!r} found none: the training clouds share no extra "
            "dimension and no miner step comes before the train step; name the features in fnames or add a miner step"
        )
    features, projection, transformations, fitted, clip = transformed_features(
        training,
        feature_names=features,
        transformers=state.feature_transformers,
        imputers=state.imputers,
        miners=state.miners,
        cloud_scaling=step["cloud_normalization"],
        order_only=MODELS.get(step["train"]).metadata.get("order_only", False),
    )
    tensorboard = handling["tensorboard_dir"]
    training, validation, imputers = imputed_clouds(
        training,
        read_labelled_clouds(handling["validation_pcloud"], mapping=mapping, role="validation")
        if handling.get("validation_pcloud")
        else [],
        feature_names=features,
        imputers=state.imputers,
        miners=state.miners,
        projection=projection,
        fitted=fitted,
    )
    job = TrainingJob(
        model_name=step["train"],
        model_args=model_args,
        feature_names=features,
        seed=step["random_seed"],
        distribution=step_distribution(step),
        mapping=mapping,
        class_names=list(mapping.names),
        training=training,
        validation=validation,
        imputers=imputers,
        projection=projection,
        clip=clip,
        files=TrainingFiles.under(
            state.model_prefix,
            ordinal=len(state.facts.trainings) + 1,  # one per train step before this one
            tensorboard_dir=None if tensorboard is None else expand_output(tensorboard, prefix=state.model_prefix),
        ),
        resume=state.resume,
        identity=training_identity(step, imputers=imputers, projection=projection, clip=clip),
        miners=recipes_for(computed_features(features, projection), state.miners),
        cloud_scaling={name: how for name, how in step["cloud_normalization"].items() if name in features},
        pretrained=pretrained_bundle(step["pretrained_model"], class_names=mapping.names, feature_names=features),
        reports=_reports(step, prefix=state.model_prefix, mapping=mapping),
        field_reports=_field_reports(step),
        training_type=step["training_type"],
        forest={key: step[key] for key in FOREST_STEP_PROPERTIES},
    )
    trainer = trainer_class(MODELS.get(job.model_name).metadata)(job)
    state.bundle = trainer.run()
    state.facts.trainings.append(training_facts(trainer, state.bundle, transformations))
    state.model_file, state.model_training = None, len(state.facts.trainings) - 1  # trained, not loaded


def _field_cloud_files(step: Mapping[str, Any]) -> Sequence[tuple[str, str]]:
    """The clouds of the prediction fields in ``pre_processing.receptive_fields_dir``, one per field
    of each cloud a predict step predicts with the trained model, and of the training fields in
    ``pre_processing.training_receptive_fields_dir``, as glob patterns."""
    folders = step_outputs(step, scopes=(CLOUD_FOLDER_OUTPUT, FOLDER_OUTPUT))
    scopes = {FIELDS_DIR: "cloud", TRAINING_FIELDS_DIR: "model"}
    return [(scope, f"{folders[key].rstrip('/')}/{FIELD_PATTERN}") for key, scope in scopes.items() if folders.get(key)]


STEPS.register(
    step_entry(
        kind="train",
        name="train",
        handler=run_train,
        schema=_schema(),
        description=f"Trains a registered model; its outputs go to <first prefix>{TRAINING_FOLDER} "
        "(the k-th train step's: training_<k>/).",
        gives=("model", "trained_model", "mapping"),
        outputs=training_outputs,
        numbered_outputs=_field_cloud_files,
        check=check_train,
        values=MODELS.names,
    )
)
