"""Training of a model that learns from each point's features (``samples: points``): VL3D's random forest.

:class:`ForestTrainer` runs the same :class:`~vl3d_focal.training.job.TrainingJob` as the
Keras engine: the features of the training clouds (mined ones included, scaled per cloud and
normalised as for the deep models, so the shift check has its reference), the labelled points as
samples (at most ``max_training_points``, a seeded draw), class weights resolved from the spec
(``model_args.class_weight``, else ``model_handling.class_weight``) and honoured by the forest.
Outputs: ``class_weights.json`` under the training folder, and the training clouds' evaluation
and classified clouds the step asks for (``training_evaluation_report_path``...). There is no
loss and no epoch; VL3D's ``hyperparameter_tuning`` searches its arguments first
(:mod:`~vl3d_focal.training.forest_tuning`), and ``training_type`` ``autoval`` and ``stratified_kfold`` score the forest
on held-out training points (:mod:`~vl3d_focal.training.forest_validation`). VL3D's feature
importance report and pictures of trees are written where asked
(:mod:`~vl3d_focal.training.forest_reports`); the most important features are logged.

Example:
    >>> from vl3d_focal.steps.train import run_train  # builds the TrainingJob of a train step, runs its trainer
    >>> run_train(forest_step, state)
    >>> type(state.bundle.model).__name__, state.bundle.learns_from_points
    ('ForestModel', True)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vl3d_focal.data.field_inputs import cloud_features
from vl3d_focal.io.atomic import write_text
from vl3d_focal.models.bundle import LossInfo, ModelBundle
from vl3d_focal.models.forest import ForestModel
from vl3d_focal.models.forest_schema import BALANCED_SUBSAMPLE, SKLEARN_ARGS
from vl3d_focal.registry import MODELS
from vl3d_focal.training.evaluation import evaluate_training_clouds
from vl3d_focal.training.fields import fit_normalizer, training_labels
from vl3d_focal.training.forest_reports import importance_table, permutation_importances, write_tree_pictures
from vl3d_focal.training.forest_tuning import tune_forest
from vl3d_focal.training.forest_validation import HeldOutValidation
from vl3d_focal.training.imbalance import imbalance_note
from vl3d_focal.training.targets import (
    TRAINING_POINTS,
    LossPlan,
    class_counts,
    class_weight_value,
    is_strategy,
    resolve_spec_class_weight,
    weight_label,
    write_class_weights,
)

logger = logging.getLogger(__name__)


@dataclass
class _NoHistory:
    """A forest has no epochs: an empty history for the run report."""

    rows: list[dict[str, Any]] = field(default_factory=list)


class ForestTrainer:
    """Trains a ``samples: points`` model from a :class:`~vl3d_focal.training.job.TrainingJob`."""

    def __init__(self, job: Any) -> None:
        self.job = job
        self.history = _NoHistory()
        self.fit_seconds = 0.0
        self.validation: dict[str, Any] = {}  # for the run report (TrainingFacts.validation)
        self.plan: LossPlan | None = None  # the class weights and what a strategy counted them on

    def _samples(self) -> tuple[np.ndarray, np.ndarray]:
        """Normalised features and labels of the labelled training points (capped, seeded)."""
        job, normalizer = self.job, self.normalizer
        assert normalizer is not None  # a forest learns from features: its fnames are not empty (train_checks)
        features, labels = [], []
        for record in job.training:
            raw = cloud_features(record, feature_names=job.feature_names, miners=job.miners)
            cloud_labels = training_labels(record)
            kept = cloud_labels >= 0
            features.append(normalizer.transform(raw)[kept])
            labels.append(cloud_labels[kept])
        x, y = np.concatenate(features), np.concatenate(labels)
        cap = job.model_args["max_training_points"]
        if cap is not None and len(y) > cap:
            rows = np.sort(np.random.default_rng(job.seed).choice(len(y), size=int(cap), replace=False))
            logger.info("training on %d of the %d labelled points (max_training_points)", cap, len(y))
            x, y = x[rows], y[rows]
        return x, y

    def _class_weight(self, counts: np.ndarray) -> tuple[list[float] | str | None, str, bool]:
        """The weights (scikit-learn's ``class_weight``), where they come from, and whether a
        strategy computed them from ``counts`` (the training points)."""
        args = self.job.model_args
        if args["class_weight"] is not None:
            value, source = args["class_weight"], "model_args"
        else:
            value, source = class_weight_value(loss_spec={}, model_handling=args["model_handling"])
        note = (
            None
            if value is not None
            else imbalance_note(class_names=self.job.class_names, counts=counts, where="model_args")
        )
        if note is not None:
            logger.info("%s", note)
        if value is None or value == BALANCED_SUBSAMPLE:
            if value is not None:
                logger.info("class weights (from %s): balanced within each tree's bootstrap sample", source)
            return value, source, False
        weights = resolve_spec_class_weight(value, source=source, class_names=list(self.job.class_names), counts=counts)
        logger.info(
            "class weights (%s, from %s): %s",
            weight_label(value),
            source,
            ", ".join(f"{name}={w:.4g}" for name, w in zip(self.job.class_names, weights)),
        )
        return weights, source, is_strategy(value)

    def _new_forest(self, weights: list[float] | str | None, tuned: dict[str, Any]) -> Any:
        """An unfitted forest of the step's arguments, the ``tuned`` ones replacing theirs."""
        job = self.job
        args = {**{key: job.model_args[key] for key in SKLEARN_ARGS}, **tuned}
        assert MODELS.key is not None  # models are named by their "train" key
        return MODELS.build({MODELS.key: job.model_name, **args}, class_weight=weights, random_seed=job.seed)

    def _write_reports(self, forest: Any, x: np.ndarray, y: np.ndarray) -> None:
        """Logs the most important features; writes the importance report and the tree pictures asked for."""
        job, outputs, settings = self.job, self.job.reports.outputs, self.job.forest
        importance = np.asarray(forest.feature_importances_)
        ranked = np.argsort(-importance, kind="stable")[:5]
        logger.info(
            "most important features: %s", ", ".join(f"{job.feature_names[i]} {importance[i]:.3f}" for i in ranked)
        )
        permutation_wanted, trees = settings["importance_report_permutation"], settings["decision_plot_trees"]
        if outputs.get("decision_plot_path") is not None and trees == 0:
            logger.warning("decision_plot_path: decision_plot_trees is 0 (the default): no tree is drawn")
        if job.training_type != "stratified_kfold":
            for key in ("stratkfold_report_path", "stratkfold_plot_path"):
                if outputs.get(key) is not None:
                    logger.warning("%s: written only with training_type 'stratified_kfold' (as VL3D)", key)
        if outputs.get("importance_report_path") is not None:
            if permutation_wanted:
                logger.info("permutation importances of %d features (5 shuffles each)...", len(job.feature_names))
            permutation = permutation_importances(forest, x, y, seed=job.seed) if permutation_wanted else None
            write_text(
                outputs["importance_report_path"], importance_table(job.feature_names, importance, permutation) + "\n"
            )
        if outputs.get("decision_plot_path") is not None and trees != 0:
            write_tree_pictures(
                forest,
                path=outputs["decision_plot_path"],
                trees=int(trees),
                max_depth=int(settings["decision_plot_max_depth"]),
                feature_names=job.feature_names,
                class_names=job.class_names,
            )

    def run(self) -> ModelBundle:
        """Fits the forest (after its held-out validation, if any) and returns its bundle."""
        job = self.job
        self.normalizer = fit_normalizer(
            job.training,
            feature_names=job.feature_names,
            miners=job.miners,
            cloud_scaling=job.cloud_scaling,
            clip=job.clip,
        )
        x, y = self._samples()
        counts = class_counts([training_labels(record) for record in job.training], num_classes=len(job.class_names))
        weights, source, counted = self._class_weight(counts)
        validation = HeldOutValidation.from_job(job)
        start = time.perf_counter()
        tuning = job.forest["hyperparameter_tuning"]
        tuned = (
            {}
            if tuning is None
            else tune_forest(  # its report_path is the step's only output so named
                self._new_forest(weights, {}),
                x,
                y,
                settings=tuning,
                seed=job.seed,
                report_path=job.reports.outputs.get("report_path"),
                shuffle=bool(job.forest["shuffle_points"]),
            )
        )
        forest, fitted = validation.fit(
            lambda: self._new_forest(weights, tuned), x, y, num_classes=len(job.class_names)
        )
        self.fit_seconds = time.perf_counter() - start
        depth = max(estimator.tree_.max_depth for estimator in forest.estimators_)
        logger.info(
            "random forest of %d trees (depth up to %d) fitted on %d points, %d features (%.1f s)%s",
            len(forest.estimators_),
            depth,
            fitted,
            x.shape[1],
            self.fit_seconds,
            f"; out-of-bag accuracy {forest.oob_score_:.4f}" if forest.oob_score else "",
        )
        self._write_reports(forest, x, y)
        self.validation = {
            "training_type": job.training_type,
            "scores": validation.scores,
            "tuned": tuned,
            "points": fitted,
        }
        listed = None if isinstance(weights, str) else weights
        self.plan = LossPlan(
            loss=None,
            label_format="sparse",
            class_weight=listed,
            class_weight_source=source,
            counted_on=TRAINING_POINTS if counted else None,  # every labelled training point, before any cap
            weight_counts=[int(c) for c in counts] if counted else None,
        )
        write_class_weights(
            job.files.class_weights, plan=self.plan, loss_spec={}, class_names=list(job.class_names), counts=counts
        )
        bundle = ModelBundle(
            model=ForestModel.from_sklearn(forest, num_classes=len(job.class_names)),
            feature_names=list(job.feature_names),
            normalizer=self.normalizer,
            field_spec=None,
            mapping=job.mapping,
            class_names=list(job.class_names),
            random_seed=job.seed,
            predict_batch_size=int(job.model_args["model_handling"]["predict_batch_size"]),
            loss_info=LossInfo(
                loss={},
                label_format="sparse",
                class_weight=listed,
                class_weight_source=source,
                class_counts=[int(c) for c in counts],
                training_clouds=[str(record.path.resolve()) for record in job.training],
            ),
            miners=tuple(job.miners),
            imputers=tuple(job.imputers),
            projection=job.projection,
            model_name=job.model_name,
        )
        evaluate_training_clouds(job.training, bundle, reports=job.reports)
        return bundle
