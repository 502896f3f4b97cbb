"""The training engine: fields, class weights, loss, model, callbacks and fit, one part each.

:class:`Trainer` runs a :class:`TrainingJob` (what a ``train`` step asks for, with its clouds
already read and mapped) in short stages (``build_data``, ``build_model``, ``build_inputs``,
``build_callbacks``, ``fit``, ``finish``, ``report``) and returns the
:class:`~vl3d_focal.models.bundle.ModelBundle`.

Outputs, under ``job.folder`` (each written atomically, by the chief only in a multi-worker
training): ``class_weights.json``, ``history.csv``/``history.png``, ``resume/checkpoint.npz``
(after every good epoch, for ``--resume``) and, with ``checkpoint`` or ``checkpoint_path``,
``best.weights.h5`` (restored into the model after fitting). The VL3D outputs the step names go
where it says: ``checkpoint_path`` (the best model at each improvement), ``summary_report_path``,
``architecture_graph_path``, ``training_history_dir`` and the reports of :mod:`~vl3d_focal.training.evaluation`.
The model, optimizer and loss are created under the job's distribution strategy; ``batch_size`` is the global batch.

Example:
    >>> from vl3d_focal.steps.train import run_train  # builds the TrainingJob of a train step, runs a Trainer
    >>> run_train(train_step, state)
    >>> sorted(path.name for path in (out / "training").iterdir())[:2]
    ['class_weights.json', 'history.csv']
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import keras

from vl3d_focal.data.records import CloudRecord, require_points
from vl3d_focal.models.bundle import LossInfo, ModelBundle
from vl3d_focal.models.inputs import field_inputs_for, field_spec_for
from vl3d_focal.registry import MODELS
from vl3d_focal.training import datasets
from vl3d_focal.training.augmentation import Sequencer
from vl3d_focal.training.callbacks import NonFiniteGuard, TrainingProgress, build_callbacks, checkpoint_writer
from vl3d_focal.training.checkpoint_match import checkpoint_fingerprint, earlier_fingerprints
from vl3d_focal.training.checkpoints import (
    ResumeCheckpoint,
    earlier_fit_seconds,
    not_fitting_reason,
    raise_if_diverged,
    restore_checkpoint,
    restored_history,
    resume_state,
)
from vl3d_focal.training.distribution import build_strategy, is_chief, training_model
from vl3d_focal.training.evaluation import autovalidate, evaluate_training_clouds, report_training_fields
from vl3d_focal.training.fields import (
    LabelledFields,
    class_distribution_fields,
    fit_normalizer,
    labelled_fields,
    split_fields,
    training_labels,
)
from vl3d_focal.training.job import TrainingJob, architecture_args, data_seed, start_from
from vl3d_focal.training.kept_epoch import epoch_facts
from vl3d_focal.training.metrics import build_metrics
from vl3d_focal.training.model_reports import write_architecture_graph, write_history_folder, write_summary
from vl3d_focal.training.optimizers import build_optimizer
from vl3d_focal.training.targets import class_counts, format_targets, plan_loss, write_class_weights

logger = logging.getLogger(__name__)


class Trainer:
    """Runs a :class:`TrainingJob` (see the module docstring)."""

    def __init__(self, job: TrainingJob) -> None:
        self.job = job
        handling = job.model_args["model_handling"]
        self.handling = dict(handling)
        self.compilation = dict(job.model_args["compilation_args"])
        self.field_spec = field_spec_for(job.model_name, job.model_args["pre_processing"])
        self.model_inputs = field_inputs_for(job.model_name, job.model_args["pre_processing"])
        self.epochs = int(handling["training_epochs"])
        self.batch_size = int(handling["batch_size"])
        self.sequencer = Sequencer.from_config(handling["training_sequencer"])
        self.outputs = job.reports.outputs
        self.keep_best = bool(handling["checkpoint"]) or "checkpoint_path" in self.outputs

    def build_data(self) -> None:
        """Normaliser, labelled fields, validation split and class counts."""
        job = self.job
        for record in [*job.training, *job.validation]:
            require_points(
                record, minimum=self.field_spec.num_points, what="a receptive field (pre_processing.num_points)"
            )
        if not job.feature_names:
            logger.warning("fnames is empty: %s learns from the coordinates alone", job.model_name)
        self.normalizer = (
            job.pretrained.normalizer
            if job.pretrained is not None
            else fit_normalizer(
                job.training,
                feature_names=job.feature_names,
                miners=job.miners,
                cloud_scaling=job.cloud_scaling,
                clip=job.clip,
            )
        )
        fields = self._fields(job.training, training=True)
        self.all_fields = fields  # before the validation split: the training support points
        self.val_data: LabelledFields | None
        if job.validation:
            self.train_data, self.val_data = fields, self._fields(job.validation)
        else:
            self.train_data, self.val_data = split_fields(
                fields, fraction=float(self.handling["validation_split"]), seed=job.seed
            )
        logger.info(
            "training fields: %d, validation fields: %d",
            len(self.train_data.labels),
            0 if self.val_data is None else len(self.val_data.labels),
        )
        self.counts = class_counts([training_labels(r) for r in job.training], num_classes=len(job.class_names))

    def _fields(self, records: list[CloudRecord], *, training: bool = False) -> LabelledFields:
        counts = self.job.model_args["pre_processing"].get("training_class_distribution")
        drawn = None
        if training and counts is not None:  # VL3D: training fields centred on points drawn per class
            drawn = class_distribution_fields(records, field_spec=self.field_spec, counts=counts, seed=self.job.seed)
        return labelled_fields(
            records,
            field_spec=self.field_spec,
            seed=self.job.seed,
            fields=drawn,
            feature_names=self.job.feature_names,
            normalizer=self.normalizer,
            miners=self.job.miners,
        )

    def _restore_state(self) -> dict[str, Any] | None:
        """The checkpoint state to resume from (``--resume``), or None to start afresh."""
        shapes = [
            list(self.train_data.coordinates.shape),
            list(self.train_data.features.shape),
            int(self.train_data.labels.sum()),
        ]
        if self.val_data is not None:
            shapes += [list(self.val_data.coordinates.shape), int(self.val_data.labels.sum())]
        self.fingerprint = checkpoint_fingerprint(self.job.identity, fields=shapes)
        if not self.job.resume:
            return None
        earlier = earlier_fingerprints(self.job.identity, fields=shapes)  # an older version's checkpoint
        return resume_state(self.job.files.resume_checkpoint, expected=self.fingerprint, earlier=earlier)

    def build_model(self) -> None:
        """Loss, model and optimizer under the distribution strategy; restores a checkpoint."""
        job = self.job
        self.restore = self._restore_state()
        self.data_seed = int(self.restore["data_seed"]) if self.restore else data_seed(job.seed)
        self.first_epoch = int(self.restore["epoch"]) + 1 if self.restore else 0
        strategy = build_strategy(job.distribution)
        entry = MODELS.get(job.model_name)
        self.optimizer_spec = dict(self.compilation["optimizer"])
        with strategy.scope():
            self.plan = plan_loss(
                loss_spec=dict(self.compilation["loss"]),
                model_handling=self.handling,
                class_names=job.class_names,
                counts=self.counts,
                from_logits=entry.metadata.get("output") == "logits",
                field_counts=class_counts([self.train_data.labels], num_classes=len(job.class_names)),
            )
            assert MODELS.key is not None  # models are named by their "train" key
            self.model = MODELS.build(
                {MODELS.key: job.model_name, **architecture_args(model_name=job.model_name, model_args=job.model_args)},
                num_points=int(self.train_data.coordinates.shape[1]),
                num_features=len(job.feature_names),
                num_classes=len(job.class_names),
                random_seed=job.seed,
                synchronized_batch_norm=strategy.num_replicas_in_sync > 1,
            )
            if job.pretrained is not None and not self.restore:
                start_from(self.model, pretrained=job.pretrained.model)
            self.trainer = training_model(self.model)
            metrics = build_metrics(
                self.compilation["metrics"],
                label_format=self.plan.label_format,
                num_classes=len(job.class_names),
                from_logits=entry.metadata.get("output") == "logits",
                positive_class=self.plan.positive_class,
            )
            self.trainer.compile(
                optimizer=build_optimizer(self.optimizer_spec), loss=self.plan.loss, weighted_metrics=metrics
            )
            if self.restore:
                restore_checkpoint(job.files.resume_checkpoint, model=self.trainer)
                logger.info(
                    "resuming from %s after epoch %d (training_epochs: %d)",
                    job.files.resume_checkpoint,
                    self.first_epoch,
                    self.epochs,
                )
        if is_chief():  # the other workers of a multi-worker training write nothing
            write_class_weights(
                job.files.class_weights,
                plan=self.plan,
                loss_spec=dict(self.compilation["loss"]),
                class_names=job.class_names,
                counts=self.counts,
            )
            self._describe_model()

    def _describe_model(self) -> None:
        """``summary_report_path`` and ``architecture_graph_path``."""
        if "summary_report_path" in self.outputs:
            write_summary(self.model, self.outputs["summary_report_path"])
        if "architecture_graph_path" in self.outputs:
            write_architecture_graph(
                self.model, self.outputs["architecture_graph_path"], args=self.job.model_args["architecture_graph_args"]
            )

    def build_inputs(self) -> None:
        """The training batches of the remaining epochs and the validation batches."""
        num_classes = len(self.job.class_names)
        data = self.train_data
        targets, weights = format_targets(data.labels, num_classes=num_classes, label_format=self.plan.label_format)
        self.steps_per_epoch = datasets.steps_per_epoch(count=len(targets), batch_size=self.batch_size)
        self.train_ds = datasets.epoch_dataset(
            self.model_inputs(coordinates=data.coordinates, features=data.features),
            targets=targets,
            sample_weight=weights,
            batch_size=self.batch_size,
            seed=self.data_seed,
            first_epoch=self.first_epoch,
            epochs=self.epochs,
            shuffle=self.sequencer.shuffle,
            transformations=self.sequencer.transformations,
        )
        self.val_ds = None
        if self.val_data is not None:
            val_targets, val_weights = format_targets(
                self.val_data.labels, num_classes=num_classes, label_format=self.plan.label_format
            )
            self.val_ds = datasets.make_dataset(
                self.model_inputs(coordinates=self.val_data.coordinates, features=self.val_data.features),
                targets=val_targets,
                sample_weight=val_weights,
                batch_size=self.batch_size,
                shuffle=False,
                seed=self.job.seed,
            )

    def build_callbacks(self) -> None:
        """History, best epoch, early stopping, plateau, the NaN guard and the resumable checkpoint."""
        files = self.job.files
        given = self.outputs.get("checkpoint_path")
        callbacks = build_callbacks(
            model_handling=self.handling,
            has_validation=self.val_ds is not None,
            history_csv=files.history_csv,
            checkpoint_path=files.best_weights if self.keep_best else None,
            network=self.model,
            history_rows=restored_history(self.restore),
            schedule_in_use=isinstance(self.optimizer_spec["learning_rate"], Mapping)
            or "schedule" in self.optimizer_spec,
            on_best=None if given is None else checkpoint_writer(given, bundle=self.bundle),
            tensorboard_dir=files.tensorboard_dir,
        )
        self.history = callbacks[-1]
        self.guard = NonFiniteGuard()
        self.resumer = ResumeCheckpoint(
            files.resume_checkpoint,
            fingerprint=self.fingerprint,
            data_seed=self.data_seed,
            guard=self.guard,
            history=callbacks[-1],
            stateful=callbacks[:-1],
            restore=self.restore,
            epochs=self.epochs,
        )
        self.callbacks = [self.guard, *callbacks, self.resumer, TrainingProgress.of(self.handling)]

    def fit(self) -> None:
        """Fits the remaining epochs; a NaN or infinite loss ends with the divergence error.

        ``fit_seconds`` is the fitting time of every run that trained the model: a resumed training's
        adds the checkpoint's; a finished training resumed (``resumed_finished``: same or fewer
        ``training_epochs`` than its checkpoint holds) is not fitted again, keeps the model the
        training kept and the checkpoint's fit time (None for a checkpoint written before it was
        kept); one resumed with more ``training_epochs`` fits the extra epochs. It ends as Keras ends the
        training, not after it releases its data iterators (a wait of up to tens of seconds, idle)."""
        start = self.resumer.fit_start = time.perf_counter()
        earlier = earlier_fit_seconds(self.restore)
        reason = not_fitting_reason(self.restore, epochs=self.epochs, path=self.job.files.resume_checkpoint)
        self.resumed_finished = reason is not None
        if reason is not None:
            logger.info("%s", reason)
            self.resumer.keep_finished(self.trainer)
        else:
            self.trainer.fit(
                self.train_ds,
                validation_data=self.val_ds,
                epochs=self.epochs,
                initial_epoch=self.first_epoch,
                steps_per_epoch=self.steps_per_epoch,
                callbacks=self.callbacks,
                verbose=datasets.fit_verbosity(self.handling["fit_verbose"]),
                shuffle=False,
            )
        raise_if_diverged(self.guard, checkpoint=self.job.files.resume_checkpoint, last_epoch=self.resumer.last_epoch)
        if self.resumed_finished:
            self.fit_seconds = earlier if "fit_seconds" in (self.restore or {}) else None
            return
        self.fit_seconds = earlier + (self.resumer.fit_end or time.perf_counter()) - start  # Keras's teardown left out
        self.resumer.keep_fit_seconds(self.fit_seconds)
        logger.info("training took %.1f s%s", self.fit_seconds, " (with the earlier runs')" if earlier else "")

    def bundle(self) -> ModelBundle:
        """The model (as it is now) with everything needed to apply it."""
        job = self.job
        return ModelBundle(
            model=self.model,
            feature_names=list(job.feature_names),
            normalizer=self.normalizer,
            field_spec=self.field_spec,
            mapping=job.mapping,
            class_names=list(job.class_names),
            random_seed=job.seed,
            predict_batch_size=int(self.handling["predict_batch_size"]),
            loss_info=LossInfo(
                loss=dict(self.compilation["loss"]),
                label_format=self.plan.label_format,
                class_weight=self.plan.class_weight,
                class_weight_source=self.plan.class_weight_source,
                class_counts=[int(c) for c in self.counts],
                training_clouds=[str(record.path.resolve()) for record in job.training],
            ),
            miners=tuple(job.miners),
            imputers=tuple(job.imputers),
            projection=job.projection,
            model_name=job.model_name,
            pre_processing=dict(job.model_args["pre_processing"]),
            predict_verbose=self.handling["predict_verbose"],
            field_reports=job.field_reports,
        )

    def finish(self) -> ModelBundle:
        """Restores the best weights, plots the history and returns the trained model's bundle."""
        files = self.job.files
        if is_chief():
            if self.keep_best and files.best_weights.is_file():
                self.model.load_weights(str(files.best_weights))
                logger.info("restored the best weights from %s", files.best_weights)
            from vl3d_focal.reports.epochs_text import epochs_sentence
            from vl3d_focal.reports.history import plot_training_history

            kept = epoch_facts(model_handling=self.handling, callbacks=self.callbacks, rows=self.history.rows)
            logger.info("%s", epochs_sentence(kept))
            epoch, history_dir = kept["kept"]["epoch"], self.outputs.get("training_history_dir")
            plot_training_history(csv_path=files.history_csv, png_path=files.history_png, kept=epoch)
            if history_dir is not None:
                write_history_folder(csv_path=files.history_csv, folder=history_dir, kept=epoch)
        return self.bundle()

    def report(self, bundle: ModelBundle) -> None:
        """VL3D's reports of the training (chief only): auto-validation, training fields, training clouds."""
        if not is_chief():
            return
        size = int(self.handling["predict_batch_size"])
        names = list(self.job.class_names)
        autovalidate(
            self.model,
            self.val_data,
            names=self.job.reports.autoval,
            num_classes=len(names),
            batch_size=size,
            model_inputs=self.model_inputs,
        )
        centres = self.all_fields.centres
        assert centres is not None  # labelled_fields gives every field's centre
        report_training_fields(
            self.model,
            self.train_data,
            centres=centres,
            reports=self.job.reports,
            class_names=names,
            template=self.job.training[0],
            batch_size=size,
            model_inputs=self.model_inputs,
        )
        evaluate_training_clouds(self.job.training, bundle, reports=self.job.reports)

    def run(self) -> ModelBundle:
        """All stages in order."""
        if self.job.seed is not None:
            keras.utils.set_random_seed(int(self.job.seed))
        self.build_data()
        self.build_model()
        self.build_inputs()
        self.build_callbacks()
        self.fit()
        bundle = self.finish()
        self.report(bundle)
        return bundle
