"""The ``train`` step: fields, features, class weights, loss, model, fit.

Example:
    >>> run_train(step, state)        # doctest: +SKIP
    >>> state.bundle.class_names                         # doctest: +SKIP
    ['ground', 'vegetation', 'building', 'vehicle', 'pole']
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import keras
import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.registry import MODELS
from vl3d_focal.steps import fitting
from vl3d_focal.steps.fields import FieldInputs, cloud_features, concatenate_inputs, field_inputs
from vl3d_focal.steps.checkpoints import (
    NonFiniteGuard, ResumeCheckpoint, fingerprint, raise_if_diverged, read_checkpoint_state, restore_checkpoint,
)
from vl3d_focal.steps.distribution import build_strategy, is_chief, step_distribution, training_model
from vl3d_focal.steps.paths import RESUME_CHECKPOINT, TRAINING_FOLDER
from vl3d_focal.steps.reading import log_class_histogram, reference_labels, require_points
from vl3d_focal.steps.state import CloudRecord, ModelBundle, PipelineState
from vl3d_focal.steps.targets import class_counts, format_targets, plan_loss, write_class_weights

logger = logging.getLogger(__name__)

@dataclass
class LabelledFields:
    """Model inputs and ``(M, P)`` labels of the fields of some clouds."""

    coordinates: np.ndarray
    features: np.ndarray
    labels: np.ndarray

    def subset(self, rows: np.ndarray) -> "LabelledFields":
        """The fields at ``rows``.

        Example:
            >>> f = LabelledFields(np.zeros((3, 2, 3)), np.zeros((3, 2, 0)), np.zeros((3, 2), int))
            >>> f.subset(np.array([0, 2])).labels.shape
            (2, 2)
        """
        return LabelledFields(self.coordinates[rows], self.features[rows], self.labels[rows])


def architecture_args(*, model_name: str, model_args: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``model_args`` the model entry's schema declares (its architecture).

    Example:
        >>> architecture_args(model_name="PointNetPwiseClassifier",
        ...                   model_args={"num_pwise_feats": 8, "model_handling": {}})  # doctest: +SKIP
        {'num_pwise_feats': 8}
    """
    declared = MODELS.get(model_name).schema.get("properties", {})
    return {key: value for key, value in model_args.items() if key in declared}


def fit_normalizer(records: Sequence[CloudRecord], *, feature_names: Sequence[str]) -> Any:
    """Fits the feature normaliser on the non-ignored points of the training clouds.

    Example:
        >>> fit_normalizer([], feature_names=[]) is None
        True
    """
    if not feature_names:
        return None
    from vl3d_focal.data.features import FeatureNormalizer

    parts = [cloud_features(r, feature_names=feature_names)[r.labels >= 0] for r in records]
    return FeatureNormalizer().fit(np.concatenate(parts, axis=0), fnames=list(feature_names))


def labelled_fields(
    records: Sequence[CloudRecord], *, field_spec: Any, seed: int | None,
    feature_names: Sequence[str], normalizer: Any,
) -> LabelledFields:
    """Fields of several labelled clouds; fields without any scored point are left out.

    Example:
        >>> data = labelled_fields(state.clouds, field_spec=spec, seed=0,
        ...                        feature_names=[], normalizer=None)   # doctest: +SKIP
    """
    parts: list[FieldInputs] = []
    labels = []
    for record in records:
        part = field_inputs(record, field_spec=field_spec, seed=seed,
                            feature_names=feature_names, normalizer=normalizer)
        field_labels = record.labels[part.indices]
        keep = np.any(field_labels >= 0, axis=1)
        parts.append(FieldInputs(part.coordinates[keep], part.features[keep], part.fields))
        labels.append(field_labels[keep])
    coordinates, features = concatenate_inputs(parts)
    return LabelledFields(coordinates, features, np.concatenate(labels, axis=0))


def split_fields(data: LabelledFields, *, fraction: float, seed: int | None) -> tuple[LabelledFields, LabelledFields | None]:
    """A seeded random split of the fields into training and validation sets.

    Example:
        >>> f = LabelledFields(np.zeros((10, 2, 3)), np.zeros((10, 2, 0)), np.zeros((10, 2), int))
        >>> [len(part.labels) for part in split_fields(f, fraction=0.2, seed=0)]
        [8, 2]
    """
    count = len(data.labels)
    n_val = int(round(fraction * count))
    if fraction <= 0 or count < 2:
        return data, None
    n_val = min(max(n_val, 1), count - 1)
    order = np.random.default_rng(seed).permutation(count)
    return data.subset(np.sort(order[n_val:])), data.subset(np.sort(order[:n_val]))


def _labelled_records(paths: Sequence[str], *, mapping: Any, role: str) -> list[CloudRecord]:
    """Reads and maps the clouds of ``model_handling.training_pcloud`` or ``validation_pcloud``."""
    from vl3d_focal.io.las import read_cloud

    records = []
    for path in paths:
        cloud = read_cloud(path)
        record = CloudRecord(path=Path(path), cloud=cloud, prefix="")
        record.labels = reference_labels(cloud, mapping)
        log_class_histogram(record.labels, class_names=list(mapping.names), what=f"{role} {record.path.name}")
        records.append(record)
    return records


def _training_records(handling: Mapping[str, Any], state: PipelineState, *, mapping: Any) -> list[CloudRecord]:
    """The clouds to train on: ``model_handling.training_pcloud`` when given, else the pipeline's."""
    if handling.get("training_pcloud"):
        return _labelled_records(handling["training_pcloud"], mapping=mapping, role="training")
    for record in state.clouds:
        if record.labels is None:
            record.labels = reference_labels(record.cloud, mapping)
    return list(state.clouds)


def _dataset(data: LabelledFields, *, label_format: str, num_classes: int, batch_size: int,
             shuffle: bool, seed: int | None) -> Any:
    targets, weights = format_targets(data.labels, num_classes=num_classes, label_format=label_format)
    return fitting.make_dataset([data.coordinates, data.features], targets=targets, sample_weight=weights,
                                batch_size=batch_size, shuffle=shuffle, seed=seed)


def _fingerprint(step: Mapping[str, Any], train: LabelledFields, val: LabelledFields | None) -> str:
    """Identifies a train step and its fields: a checkpoint only resumes the same training."""
    shapes = [list(train.coordinates.shape), list(train.features.shape), int(train.labels.sum())]
    if val is not None:
        shapes += [list(val.coordinates.shape), int(val.labels.sum())]
    return fingerprint({"step": step, "fields": shapes})


def _data_seed(seed: int | None) -> int:
    """The data-order seed: the step's ``random_seed``, else a fresh random one (kept in checkpoints)."""
    return int(seed) if seed is not None else int(np.random.SeedSequence().entropy % (2**31 - 1))


def _checkpoint_to_resume(state: PipelineState, *, path: Path, expected_fingerprint: str) -> dict[str, Any] | None:
    """The checkpoint state to resume from (``--resume``), or None to start from the first epoch."""
    if not state.resume:
        return None
    saved = read_checkpoint_state(path)
    if saved is None:
        logger.warning("--resume: no checkpoint at %s; training from the first epoch", path)
        return None
    if saved.get("fingerprint") != expected_fingerprint:
        raise DataError(
            f"--resume: the checkpoint {path} belongs to another train step or other data "
            f"(fingerprint {saved.get('fingerprint')}, expected {expected_fingerprint}); run without --resume "
            "to start afresh"
        )
    return saved


def _class_names(model_args: Mapping[str, Any], mapping: Any) -> list[str]:
    names = list(model_args.get("class_names") or mapping.names)
    if list(mapping.names) != names:
        raise DataError(
            f"train step class_names: expected the class mapping's names {list(mapping.names)}, got {names}"
        )
    if int(model_args.get("num_classes", len(names))) != len(names):
        raise DataError(
            f"train step num_classes: expected {len(names)} (the number of classes), "
            f"got {model_args['num_classes']}"
        )
    return names


def run_train(step: Mapping[str, Any], state: PipelineState) -> None:
    """Trains the step's model and stores it as ``state.bundle``.

    It trains on ``model_handling.training_pcloud`` when given (so the pipeline's own clouds
    are held out for prediction and evaluation), else on the pipeline's clouds. ``step`` comes
    from a normalised spec (:func:`vl3d_focal.spec.load_spec`): every key with a schema
    default is present.

    Outputs (under the first output prefix, each written atomically):
    ``training/class_weights.json``, ``training/history.csv``, ``training/history.png``,
    ``training/resume/checkpoint.npz`` (after every good epoch, for ``--resume``) and, with
    ``checkpoint``, ``training/best.weights.h5`` (restored into the model after fitting).
    The model, optimizer and loss are created under the step's distribution strategy
    (:mod:`vl3d_focal.steps.distribution`); ``batch_size`` is the global batch. Of the
    workers of a multi-worker training, only the chief writes these outputs.

    Example:
        >>> run_train({"train": "PointNetPwiseClassifier", "fnames": [], "random_seed": 1,
        ...            "model_args": model_args}, state)                      # doctest: +SKIP
    """
    from vl3d_focal.data.receptive_fields import FieldSpec

    model_args = step["model_args"]
    seed = step["random_seed"]
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    mapping = state.require_mapping(step="train")
    class_names = _class_names(model_args, mapping)
    num_classes = len(class_names)
    handling = dict(model_args["model_handling"])
    compilation = dict(model_args["compilation_args"])
    field_spec = FieldSpec.from_config(model_args["pre_processing"])
    feature_names = list(step["fnames"])
    training_records = _training_records(handling, state, mapping=mapping)
    val_records = (_labelled_records(handling["validation_pcloud"], mapping=mapping, role="validation")
                   if handling.get("validation_pcloud") else [])
    for record in [*training_records, *val_records]:
        require_points(record, minimum=field_spec.num_points, what="a receptive field (pre_processing.num_points)")

    normalizer = fit_normalizer(training_records, feature_names=feature_names)
    data = labelled_fields(training_records, field_spec=field_spec, seed=seed,
                           feature_names=feature_names, normalizer=normalizer)
    if val_records:
        train_data = data
        val_data = labelled_fields(val_records, field_spec=field_spec, seed=seed,
                                   feature_names=feature_names, normalizer=normalizer)
    else:
        train_data, val_data = split_fields(data, fraction=float(handling["validation_split"]), seed=seed)
    logger.info("training fields: %d, validation fields: %d", len(train_data.labels),
                0 if val_data is None else len(val_data.labels))

    counts = class_counts([record.labels for record in training_records], num_classes=num_classes)
    loss_spec = dict(compilation["loss"])
    folder = f"{state.model_prefix}{TRAINING_FOLDER}"
    epochs = int(handling["training_epochs"])
    batch_size = int(handling["batch_size"])
    resume_path = Path(f"{folder}{RESUME_CHECKPOINT}")
    run_fingerprint = _fingerprint(step, train_data, val_data)
    restore = _checkpoint_to_resume(state, path=resume_path, expected_fingerprint=run_fingerprint)
    data_seed = int(restore["data_seed"]) if restore else _data_seed(seed)
    first_epoch = int(restore["epoch"]) + 1 if restore else 0

    strategy = build_strategy(step_distribution(step))
    optimizer_spec = dict(compilation["optimizer"])
    with strategy.scope():
        plan = plan_loss(loss_spec=loss_spec, model_handling=handling, class_names=class_names, counts=counts)
        model = MODELS.build(
            {MODELS.key: step["train"], **architecture_args(model_name=step["train"], model_args=model_args)},
            num_points=int(train_data.coordinates.shape[1]), num_features=len(feature_names),
            num_classes=num_classes, random_seed=seed,
            synchronized_batch_norm=strategy.num_replicas_in_sync > 1,
        )
        trainer = training_model(model)
        trainer.compile(optimizer=fitting.build_optimizer(optimizer_spec), loss=plan.loss,
                        weighted_metrics=list(compilation["metrics"]))
        if restore:
            restore_checkpoint(resume_path, model=trainer)
            logger.info("resuming from %s after epoch %d of %d", resume_path, first_epoch, epochs)
    chief = is_chief()  # the other workers of a multi-worker training write nothing
    if chief:
        write_class_weights(f"{folder}class_weights.json", plan=plan, loss_spec=loss_spec,
                            class_names=class_names, counts=counts)

    train_targets, train_weights = format_targets(train_data.labels, num_classes=num_classes,
                                                  label_format=plan.label_format)
    train_ds = fitting.epoch_dataset([train_data.coordinates, train_data.features], targets=train_targets,
                                     sample_weight=train_weights, batch_size=batch_size, seed=data_seed,
                                     first_epoch=first_epoch, epochs=epochs)
    val_ds = None if val_data is None else _dataset(
        val_data, label_format=plan.label_format, num_classes=num_classes,
        batch_size=batch_size, shuffle=False, seed=seed)
    history_csv = Path(f"{folder}history.csv")
    checkpoint = Path(f"{folder}best.weights.h5") if handling["checkpoint"] else None
    callbacks = fitting.build_callbacks(
        model_handling=handling, has_validation=val_ds is not None, history_csv=history_csv,
        checkpoint_path=checkpoint, network=model, history_rows=restore["history"] if restore else (),
        schedule_in_use=isinstance(optimizer_spec["learning_rate"], Mapping) or "schedule" in optimizer_spec,
    )
    guard = NonFiniteGuard()
    resumer = ResumeCheckpoint(resume_path, fingerprint=run_fingerprint,
                               data_seed=data_seed, guard=guard, history=callbacks[0],
                               stateful=callbacks[1:], restore=restore, epochs=epochs)
    start = time.perf_counter()
    if restore and restore.get("finished"):
        logger.info("the checkpoint %s is of a finished training: not fitting again", resume_path)
    elif first_epoch < epochs:
        trainer.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=first_epoch,
                    steps_per_epoch=fitting.steps_per_epoch(count=len(train_targets), batch_size=batch_size),
                    callbacks=[guard, *callbacks, resumer], verbose=fitting.fit_verbosity(), shuffle=False)
    raise_if_diverged(guard, checkpoint=resume_path, last_epoch=resumer.last_epoch)
    logger.info("training took %.1f s", time.perf_counter() - start)
    if chief:
        if checkpoint is not None and checkpoint.is_file():
            model.load_weights(str(checkpoint))
            logger.info("restored the best weights from %s", checkpoint)
        from vl3d_focal.reports import plot_training_history

        plot_training_history(csv_path=history_csv, png_path=history_csv.with_suffix(".png"))
    state.bundle = ModelBundle(
        model=model, feature_names=feature_names, normalizer=normalizer, field_spec=field_spec,
        mapping=mapping, class_names=class_names, random_seed=seed,
        predict_batch_size=int(handling["predict_batch_size"]),
        loss_info={"loss": loss_spec, "label_format": plan.label_format,
                   "class_weight": plan.class_weight, "class_weight_source": plan.class_weight_source,
                   "class_counts": [int(c) for c in counts]},
    )
