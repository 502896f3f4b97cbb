"""Training of a model that learns from each point's features (``samples: points``): VL3D's random forest.

:class:`ForestTrainer` runs the same :class:`~vl3d_focal.training.job.TrainingJob` as the
Keras engine: the features of the training clouds (mined ones included, scaled per cloud and
normalised as for the deep models, so the shift check has its reference), the labelled points as
samples (at most ``max_training_points``, a seeded draw), class weights resolved from the spec
(``model_args.class_weight``, else ``model_handling.class_weight``) and honoured by the forest.
Outputs: ``class_weights.json`` under the training folder, and the training clouds' evaluation
and classified clouds the step asks for (``training_evaluation_report_path``...). There is no
loss, no epoch and no validation.

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
from vl3d_focal.models.bundle import LossInfo, ModelBundle
from vl3d_focal.models.forest import ForestModel
from vl3d_focal.models.forest_schema import SKLEARN_ARGS
from vl3d_focal.registry import MODELS
from vl3d_focal.training.evaluation import evaluate_training_clouds
from vl3d_focal.training.fields import fit_normalizer, training_labels
from vl3d_focal.training.targets import (
    LossPlan,
    class_counts,
    class_weight_value,
    resolve_spec_class_weight,
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

    def _class_weight(self, counts: np.ndarray) -> tuple[list[float] | None, str]:
        args = self.job.model_args
        if args["class_weight"] is not None:
            value, source = args["class_weight"], "model_args"
        else:
            value, source = class_weight_value(loss_spec={}, model_handling=args["model_handling"])
        if value is None:
            return None, source
        weights = resolve_spec_class_weight(value, source=source, class_names=list(self.job.class_names), counts=counts)
        logger.info(
            "class weights (from %s): %s",
            source,
            ", ".join(f"{name}={w:.4g}" for name, w in zip(self.job.class_names, weights)),
        )
        return weights, source

    def run(self) -> ModelBundle:
        """Fits the forest and returns its bundle."""
        job = self.job
        self.normalizer = fit_normalizer(
            job.training, feature_names=job.feature_names, miners=job.miners, cloud_scaling=job.cloud_scaling
        )
        x, y = self._samples()
        counts = class_counts([training_labels(record) for record in job.training], num_classes=len(job.class_names))
        weights, source = self._class_weight(counts)
        args = {key: job.model_args[key] for key in SKLEARN_ARGS}
        assert MODELS.key is not None  # models are named by their "train" key
        forest = MODELS.build({MODELS.key: job.model_name, **args}, class_weight=weights, random_seed=job.seed)
        start = time.perf_counter()
        forest.fit(x, y)
        self.fit_seconds = time.perf_counter() - start
        depth = max(estimator.tree_.max_depth for estimator in forest.estimators_)
        logger.info(
            "random forest of %d trees (depth up to %d) fitted on %d points, %d features (%.1f s)%s",
            len(forest.estimators_),
            depth,
            len(y),
            x.shape[1],
            self.fit_seconds,
            f"; out-of-bag accuracy {forest.oob_score_:.4f}" if args["oob_score"] else "",
        )
        plan = LossPlan(loss=None, label_format="sparse", class_weight=weights, class_weight_source=source)
        write_class_weights(
            job.files.class_weights, plan=plan, loss_spec={}, class_names=list(job.class_names), counts=counts
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
                class_weight=weights,
                class_weight_source=source,
                class_counts=[int(c) for c in counts],
            ),
            miners=tuple(job.miners),
            model_name=job.model_name,
        )
        evaluate_training_clouds(job.training, bundle, reports=job.reports)
        return bundle
