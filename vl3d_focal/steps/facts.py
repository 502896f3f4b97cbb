"""What the steps tell the run report: small typed records the handlers add to the state.

A step handler appends what it did to ``state.facts`` (a :class:`RunFacts`); the runner copies
them into the run record (:mod:`vl3d_focal.runner.run_record`) after each step, so it never
needs to know which step does what.

Example:
    >>> facts = RunFacts()
    >>> facts.notes.append("read 2 clouds")
    >>> facts.to_dict()["notes"]
    ['read 2 clouds']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vl3d_focal.models.bundle import ModelBundle


@dataclass
class TrainingFacts:
    """One training: the model, the loss, the class weights and how they came, the history.

    Attributes:
        model: the registered model trained.
        class_names: the classes, in output order.
        loss: the loss object of the spec, as run (defaults filled in).
        label_format: the loss's label format.
        class_weight: the resolved class weights, or None.
        class_weight_spec: the ``class_weight`` the spec gave (a strategy name, a list, or None).
        class_weight_source: where it was given (``loss``, ``model_handling``, ``none``).
        class_weight_rule: how a strategy computes the weights (its formula), or "".
        class_counts: training points per class (ignored points left out).
        clouds: the training clouds, ``{"path", "points"}`` each.
        history: one row per epoch (``epoch``, the losses, the metrics, ``learning_rate``).
        fit_seconds: seconds spent fitting, over every run that trained the model (a resumed
            training's include those of the runs before); None where unknown.
        files: what the training wrote, by name (``history_csv``, ``class_weights``...).
        validation: what a model fitted on points (the forest) did besides its fit:
            ``training_type``, ``scores`` (the metrics of each held-out part: one, or one per
            fold), ``tuned`` (the arguments a hyperparameter search chose) and ``points`` (the
            points of the final fit); empty for a network.
        imputers: the fitted imputers of its features (:func:`imputer_facts`), in order.
        feature_transformers: what each feature transformer before it did: its ``transformer``,
            the features it ``considered`` and those ``kept`` (the last one's: the model's).
        feature_names: the model's input features, in order (empty in records written before).
        class_weight_counted_on: what a strategy counted the classes on (``"training points"``,
            or ``"training receptive fields"`` for ``model_handling.class_weight``, as VL3D);
            None where no strategy computed the weights.
        class_weight_counts: those per-class counts, or None.
        resumed_finished: the run resumed a finished training: it did not fit (the history and
            ``fit_seconds`` are the earlier runs').
        epochs: a network's epochs (:func:`~vl3d_focal.training.kept_epoch.epoch_facts`):
            ``planned``, ``run``, ``early_stopping`` (its ``monitor``, ``patience``, whether it
            ``stopped`` the training and after which ``epoch``) and ``kept`` (the ``epoch`` whose
            weights the model keeps, ``by`` what, with its ``monitor`` and ``value``); empty for
            a model fitted once (the forest) and in records written before.
        model_transformers: what the trained model applies to its imputed features, with their
            fitted values (:func:`model_transform_facts`, as ``LoadedModelFacts.feature_transformers``);
            empty in records written before.
    """

    model: str
    class_names: list[str]
    loss: dict[str, Any]
    label_format: str
    class_weight: list[float] | None
    class_weight_spec: Any
    class_weight_source: str
    class_weight_rule: str
    class_counts: list[int]
    clouds: list[dict[str, Any]]
    history: list[dict[str, Any]]
    fit_seconds: float | None
    files: dict[str, str] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    imputers: list[dict[str, Any]] = field(default_factory=list)
    feature_transformers: list[dict[str, Any]] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    class_weight_counted_on: str | None = None
    class_weight_counts: list[int] | None = None
    resumed_finished: bool = False
    epochs: dict[str, Any] = field(default_factory=dict)
    model_transformers: list[dict[str, Any]] = field(default_factory=list)


def imputer_facts(configs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Fitted imputers (their ``Imputer.to_config()``) as a run record shows them: each one's
    ``imputer``, ``fnames`` and ``target_val``, and a ``UnivariateImputer``'s ``strategy`` and
    ``fills`` (each feature's fill value).

    Example:
        >>> imputer_facts([{"imputer": "UnivariateImputer", "fnames": ["i"], "target_val": "NaN",
        ...                 "strategy": "mean", "constant_val": 0.0, "fills": [2.5]}])
        [{'imputer': 'UnivariateImputer', 'fnames': ['i'], 'target_val': 'NaN', 'strategy': 'mean', 'fills': {'i': 2.5}}]
    """
    facts = []
    for config in configs:
        fact = {key: config[key] for key in ("imputer", "fnames", "target_val")}
        if config.get("fills") is not None:
            fact.update(strategy=config["strategy"], fills=dict(zip(config["fnames"], config["fills"])))
        facts.append(fact)
    return facts


@dataclass
class LoadedModelFacts:
    """A model a run loaded from a file instead of training it, with how it was trained and what
    it applies to a cloud's features before the network.

    Attributes:
        path: the model file.
        model: the registered model.
        class_names: the classes, in output order.
        loss: the loss object it was trained with (as run).
        class_weight: its resolved class weights, or None.
        class_weight_source: where they were given (``loss``, ``model_handling``, ``none``).
        class_counts: its training points per class.
        feature_names: its input features, in order.
        imputers: its fitted imputers (:func:`imputer_facts`), in order.
        feature_transformers: what it applies to the imputed features, in order
            (:func:`model_transform_facts`), as ``TrainingFacts.feature_transformers`` with the
            fitted ``values``; empty in records written before.
        training_clouds: the resolved paths of the clouds it was trained on, as its file records
            them; empty where it records none (the run record then leaves the key out).
    """

    path: str
    model: str
    class_names: list[str]
    loss: dict[str, Any]
    class_weight: list[float] | None
    class_weight_source: str
    class_counts: list[int]
    feature_names: list[str] = field(default_factory=list)
    imputers: list[dict[str, Any]] = field(default_factory=list)
    feature_transformers: list[dict[str, Any]] = field(default_factory=list)
    training_clouds: list[str] = field(default_factory=list)


def loaded_model_facts(*, path: str, bundle: ModelBundle) -> LoadedModelFacts:
    """What a run record shows of the model of ``path``, described by ``bundle``.

    Example:
        >>> facts = loaded_model_facts(path="m.model", bundle=bundle)
        >>> facts.feature_names == bundle.feature_names, facts.imputers
        (True, [])
        >>> from dataclasses import replace
        >>> trained = replace(bundle, loss_info=replace(bundle.loss_info, training_clouds=["/d/a.las"]))
        >>> loaded_model_facts(path="m.model", bundle=trained).training_clouds
        ['/d/a.las']
    """
    trained = bundle.loss_info
    return LoadedModelFacts(
        path=path,
        model=bundle.model_name,
        class_names=list(bundle.class_names),
        loss=dict(trained.loss),
        class_weight=None if trained.class_weight is None else list(trained.class_weight),
        class_weight_source=trained.class_weight_source,
        class_counts=list(trained.class_counts),
        feature_names=list(bundle.feature_names),
        imputers=imputer_facts(imputer.to_config() for imputer in bundle.imputers),
        feature_transformers=model_transform_facts(bundle),
        training_clouds=list(trained.training_clouds),
    )


MINMAX_CLIP = "MinmaxNormalizer (clip)"
"""A loaded model's clip bounds: those a ``MinmaxNormalizer`` with ``clip`` fitted."""


def model_transform_facts(bundle: ModelBundle) -> list[dict[str, Any]]:
    """What a model applies to its imputed features, in order, as the run record's feature
    transformers (``transformer``, the features it ``considered``, those ``kept``) with their
    fitted ``values`` per feature: its projection's input clip bounds (a ``MinmaxNormalizer``'s)
    and explained variance ratios, then its normaliser's per-cloud scaling
    (``cloud_normalization``), clip bounds in units of the scaled values, and robust
    standardisation (``center``, ``scale``).

    Example:
        >>> from dataclasses import replace
        >>> from vl3d_focal.data.normalization import FeatureNormalizer
        >>> norm = FeatureNormalizer(fnames=["i"], center=[2.0], scale=[0.5], clip={"i": (0.0, 1.0)},
        ...                          cloud_scaling={"i": {"method": "percentile", "percentile": 99.0}})
        >>> [(f["transformer"], f["values"]) for f in model_transform_facts(replace(bundle, normalizer=norm))]
        [('cloud_normalization', {'i': 'percentile 99'}), ('MinmaxNormalizer (clip)', {'i': [0.0, 1.0]}), ('robust standardization', {'i': {'center': 2.0, 'scale': 0.5}})]
    """
    names, facts = list(bundle.feature_names), []
    projection, norm = bundle.projection, bundle.normalizer
    if projection is not None:
        if projection.clip:
            clipped = {name: [low, high] for name, low, high in projection.clip}
            facts.append(_transform_fact(MINMAX_CLIP, list(clipped), clipped, kept=list(projection.inputs)))
        ratios = dict(zip(projection.names, (float(r) for r in projection.ratios)))
        facts.append(_transform_fact(projection.describe(), list(projection.inputs), ratios, kept=names))
    if norm is None:
        return facts
    scaled = {
        name: " ".join([how["method"], *([f"{float(how['percentile']):g}"] if how["method"] == "percentile" else [])])
        for name, how in norm.cloud_scaling.items()
    }
    if scaled:
        facts.append(_transform_fact("cloud_normalization", list(scaled), scaled, kept=names))
    if norm.clip:
        facts.append(
            _transform_fact(MINMAX_CLIP, list(norm.clip), {n: list(b) for n, b in norm.clip.items()}, kept=names)
        )
    if norm.center is not None and norm.scale is not None and norm.fnames:
        standard = {
            name: {"center": float(c), "scale": float(s)} for name, c, s in zip(norm.fnames, norm.center, norm.scale)
        }
        facts.append(_transform_fact("robust standardization", list(norm.fnames), standard, kept=names))
    return facts


def _transform_fact(
    transformer: str, considered: list[str], values: dict[str, Any], *, kept: list[str]
) -> dict[str, Any]:
    return {"transformer": transformer, "considered": considered, "kept": kept, "values": values}


@dataclass
class EvaluationFacts:
    """The evaluation of one cloud.

    Attributes:
        cloud: the cloud's path.
        report_path: the evaluation JSON written.
        metrics: the metrics (:func:`vl3d_focal.reports.metrics.classification_metrics`).
        class_colors: the classes' colours (``#rrggbb``, or None where the spec gives none).
        pictures: the pictures written, by name (``topdown_png``, ``confusion_png``...).
        earlier_run: evaluated by an earlier run of the same spec (a tile a resumed survey skipped).
        model: the model whose predictions were scored: ``model`` (its registered kind) and
            ``training`` (its index in the run's trainings) or ``file`` (the model file loaded);
            empty in records written before.
    """

    cloud: str
    report_path: str
    metrics: dict[str, Any]
    class_colors: list[str | None] = field(default_factory=list)
    pictures: dict[str, str] = field(default_factory=dict)
    earlier_run: bool = False
    model: dict[str, Any] = field(default_factory=dict)


@dataclass
class UncertaintyFacts:
    """The uncertainty evaluation of one cloud (``ClassificationUncertaintyEvaluator``).

    Attributes:
        cloud: the cloud's path.
        report_path: the LAS report written, or None.
        summary: the means of the measures and the mean entropy per predicted class
            (:class:`~vl3d_focal.inference.uncertainty_output.UncertaintyResult`).
        figures: the figures written, by measure.
    """

    cloud: str
    report_path: str | None
    summary: dict[str, Any]
    figures: dict[str, str] = field(default_factory=dict)


@dataclass
class RunFacts:
    """Everything the steps of a run told, in the order they told it.

    Attributes:
        trainings: one per ``train`` step.
        loaded_models: one per model loaded from a file (``ModelLoader``, ``PredictivePipeline``).
        evaluations: one per evaluated cloud.
        uncertainties: one per cloud an uncertainty evaluator evaluated.
        notes: free-form lines worth showing (e.g. a model loaded from a file).
    """

    trainings: list[TrainingFacts] = field(default_factory=list)
    loaded_models: list[LoadedModelFacts] = field(default_factory=list)
    evaluations: list[EvaluationFacts] = field(default_factory=list)
    uncertainties: list[UncertaintyFacts] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (lists of dicts); a loaded model's ``training_clouds`` only where known.

        Example:
            >>> facts = RunFacts(loaded_models=[LoadedModelFacts("m.keras", "X", [], {}, None, "none", [])])
            >>> "training_clouds" in facts.to_dict()["loaded_models"][0]
            False
            >>> facts.loaded_models[0].training_clouds = ["/d/a.las"]
            >>> facts.to_dict()["loaded_models"][0]["training_clouds"]
            ['/d/a.las']
        """
        found = asdict(self)
        for loaded in found["loaded_models"]:
            if not loaded["training_clouds"]:
                del loaded["training_clouds"]
        return found
