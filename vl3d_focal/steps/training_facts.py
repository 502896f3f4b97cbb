"""What a run record keeps of a training (:class:`~vl3d_focal.steps.facts.TrainingFacts`): the
model, its loss and class weights with how they were counted, the history and a network's epochs
(planned, run, early stopping, the epoch kept), the files written, a forest's validation, the
fitted imputers and feature transformers, the input features and what the model applies to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vl3d_focal.models.forest_schema import BALANCED_SUBSAMPLE
from vl3d_focal.steps.facts import TrainingFacts, imputer_facts, model_transform_facts

if TYPE_CHECKING:
    from vl3d_focal.models.bundle import ModelBundle


def training_facts(trainer: Any, bundle: ModelBundle, transformations: list[dict[str, Any]]) -> TrainingFacts:
    """What the run report shows of a training done by ``trainer`` (a network's or a forest's),
    whose model ``bundle`` holds, after the feature transformers' ``transformations``.

    Example:
        >>> from types import SimpleNamespace as Fake
        >>> files = Fake(history_csv=None, history_png=None, class_weights=None, tensorboard_dir=None)
        >>> job = Fake(model_name="PointNetPwiseClassifier", class_names=bundle.class_names, training=[],
        ...            model_args={"model_handling": {}}, files=files)
        >>> facts = training_facts(Fake(job=job, history=Fake(rows=[]), fit_seconds=1.25), bundle, [])
        >>> facts.fit_seconds, facts.feature_names == list(bundle.feature_names), facts.files, facts.epochs
        (1.25, True, {}, {})
    """
    from vl3d_focal.losses.class_weights import TRAINING_CLOUDS, describe_class_weight
    from vl3d_focal.training.kept_epoch import epoch_facts
    from vl3d_focal.training.targets import TRAINING_POINTS, class_weight_value

    job, info = trainer.job, bundle.loss_info
    if info.class_weight_source == "model_args":  # a model that takes its weights itself (the forest)
        spec_value = job.model_args["class_weight"]
    else:
        spec_value, _ = class_weight_value(loss_spec=info.loss, model_handling=job.model_args["model_handling"])
    plan = getattr(trainer, "plan", None)  # a network's loss plan, a forest's class weights
    counted_on, counts = (None, None) if plan is None else (plan.counted_on, plan.weight_counts)
    weights, rule = (
        info.class_weight,
        describe_class_weight(spec_value, counted_on=None if counted_on == TRAINING_POINTS else counted_on)
        if info.class_weight is not None
        else "",
    )
    if spec_value == BALANCED_SUBSAMPLE:  # scikit-learn weighs each tree's bootstrap sample anew
        total, present = sum(info.class_counts), sum(1 for count in info.class_counts if count)  # scikit-learn's C
        weights = [total / (present * count) if count else 0.0 for count in info.class_counts]
        rule = (
            "balanced_subsample (scikit-learn): balanced within each tree's bootstrap sample, N / (C n_c) of its "
            "points; shown: the same over every point of the training clouds. n_c: points of class c in the "
            f"{TRAINING_CLOUDS}, N: all of them, C: classes."
        )
    files = {
        "history_csv": job.files.history_csv,
        "history_png": job.files.history_png,
        "class_weights": job.files.class_weights,
        "tensorboard_dir": job.files.tensorboard_dir,
    }  # those the training wrote: a forest has no history
    return TrainingFacts(
        model=job.model_name,
        class_names=list(job.class_names),
        loss=dict(info.loss),
        label_format=info.label_format,
        class_weight=weights,
        class_weight_spec=spec_value,
        class_weight_source=info.class_weight_source,
        class_weight_rule=rule,
        class_counts=list(info.class_counts),
        clouds=[{"path": str(record.path), "points": int(record.num_points)} for record in job.training],
        history=[dict(row) for row in trainer.history.rows],
        fit_seconds=None if trainer.fit_seconds is None else round(trainer.fit_seconds, 3),
        files={name: str(path) for name, path in files.items() if path is not None and Path(path).exists()},
        validation=dict(getattr(trainer, "validation", {})),  # a forest's (a network has none)
        imputers=imputer_facts(imputer.to_config() for imputer in bundle.imputers),
        feature_transformers=transformations,
        feature_names=list(bundle.feature_names),
        class_weight_counted_on=counted_on,
        class_weight_counts=counts,
        resumed_finished=bool(getattr(trainer, "resumed_finished", False)),  # a network's (a forest never resumes)
        epochs=epoch_facts(model_handling=trainer.handling, callbacks=trainer.callbacks, rows=trainer.history.rows)
        if hasattr(trainer, "callbacks")  # a network's (a forest is fitted once)
        else {},
        model_transformers=model_transform_facts(bundle),
    )
