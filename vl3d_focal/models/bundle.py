"""A trained model with everything needed to apply it to a new cloud.

Example:
    >>> info = LossInfo(loss={"function": "class_weighted_focal_categorical_crossentropy"},
    ...                 label_format="sparse", class_weight=[1.0, 2.0],
    ...                 class_weight_source="model_handling", class_counts=[10, 5])
    >>> LossInfo.from_config(info.to_config()) == info
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vl3d_focal.data.imputers import Imputer
from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.miners import MinedFeatures
from vl3d_focal.data.normalization import FeatureNormalizer
from vl3d_focal.data.pca_projection import PCATransformer, computed_features
from vl3d_focal.data.receptive_fields import FieldSpec
from vl3d_focal.models.inputs import field_inputs_for
from vl3d_focal.registry import MODELS

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class LossInfo:
    """The loss a model was trained with and the data it was trained on, for the record (model
    file, reports).

    Attributes:
        loss: the loss object of the spec, as run.
        label_format: ``"sparse"`` or ``"one_hot"`` (the loss's registry metadata).
        class_weight: the resolved class weights, or None.
        class_weight_source: where they came from (the spec key, or ``"none"``).
        class_counts: the training clouds' points per class (before a validation split).
        training_clouds: the resolved paths of the training clouds, so that a run scoring the
            model on one of them can say so; empty where unknown (a model file written before,
            whose metadata, as its fingerprint, has no such key).
    """

    loss: Mapping[str, Any] = field(default_factory=dict)
    label_format: str = "sparse"
    class_weight: list[float] | None = None
    class_weight_source: str = "none"
    class_counts: list[int] = field(default_factory=list)
    training_clouds: list[str] = field(default_factory=list)

    def to_config(self) -> dict[str, Any]:
        """A JSON-ready dict (without ``training_clouds`` where there are none).

        Example:
            >>> sorted(LossInfo(training_clouds=["/d/a.las"]).to_config())[-1], "training_clouds" in LossInfo().to_config()
            ('training_clouds', False)
        """
        config = {**asdict(self), "loss": dict(self.loss)}
        return config if self.training_clouds else {k: v for k, v in config.items() if k != "training_clouds"}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LossInfo:
        """The inverse of :meth:`to_config` (unknown keys ignored)."""
        known = {name: config[name] for name in cls.__dataclass_fields__ if name in config}
        return cls(**known)


@dataclass
class ModelBundle:
    """A trained model with everything needed to apply it to a new cloud.

    Attributes:
        model: the Keras model (inputs: coordinates and features, or what the model entry's
            ``field_inputs`` builds; output: logits), or what its ``trainer`` made (a forest);
            None where the bundle only describes the model of its file (not loaded yet).
        feature_names: the ``fnames`` the model was trained with, in order.
        normalizer: the fitted feature normaliser, or None without features.
        field_spec: the receptive-field parameters (None for a model that learns from points).
        mapping: the class mapping from LAS codes to classes.
        class_names: the class names, in the model's output order.
        random_seed: the seed fields are built with.
        predict_batch_size: number of fields per prediction chunk.
        loss_info: the loss and resolved class weights, for the record.
        miners: the recipes of the mined features among ``feature_names``.
        model_name: the registered model (its registry metadata says how to train, load and
            feed it).
        pre_processing: the training's ``model_args.pre_processing`` (what the model's field
            inputs are built from: a hierarchy's depths).
        predict_verbose: ``model_handling.predict_verbose`` of the training (None: default logs).
        field_reports: the prediction-time receptive-field reports of the training's
            ``pre_processing``, for a cloud's output prefix (None: none). Neither of these two
            is kept in the model file; a loaded model's fields' folder comes from its stored
            ``pre_processing`` (:mod:`vl3d_focal.steps.loaded_fields`).
        predict_rotations: how many turns about the vertical axis each field is predicted in,
            their probabilities averaged (a predict step's ``rotations``; not kept either).
        imputers: the fitted imputers of the features, applied in order before the finite check
            and the normalisation (:mod:`vl3d_focal.data.imputers`, :mod:`vl3d_focal.data.model_view`).
        projection: the fitted ``PCATransformer`` whose outputs are among ``feature_names``
            (:mod:`vl3d_focal.data.pca_projection`): its inputs are computed and imputed, then
            projected; None without one.
    """

    model: keras.Model | Any
    feature_names: list[str]
    normalizer: FeatureNormalizer | None
    field_spec: FieldSpec | None
    mapping: ClassMapping
    class_names: list[str]
    random_seed: int | None = None
    predict_batch_size: int = 32
    loss_info: LossInfo = field(default_factory=LossInfo)
    miners: tuple[MinedFeatures, ...] = ()
    model_name: str = "PointNetPwiseClassifier"
    pre_processing: Mapping[str, Any] = field(default_factory=dict)
    predict_verbose: int | str | None = None
    field_reports: Callable[[str], dict[str, Path]] | None = None
    predict_rotations: int = 1
    imputers: tuple[Imputer, ...] = ()
    projection: PCATransformer | None = None

    @property
    def computed_features(self) -> list[str]:
        """The features computed from a cloud (then imputed): ``feature_names``, a projection's
        inputs in place of its outputs.

        Example:
            >>> bundle.computed_features == bundle.feature_names  # no projection
            True
        """
        return computed_features(self.feature_names, self.projection)

    @property
    def num_classes(self) -> int:
        """Number of classes the model predicts."""
        return len(self.class_names)

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The model entry's registry metadata (what the pipeline reads instead of its name).

        Example:
            >>> ModelBundle(model=None, feature_names=[], normalizer=None, field_spec=None, mapping=None,
            ...             class_names=[], model_name="RandomForestClassifier").metadata["samples"]
            'points'
        """
        return MODELS.get(self.model_name).metadata

    def model_inputs(self, coordinates: np.ndarray, features: np.ndarray) -> list[np.ndarray]:
        """The model's inputs for a batch of fields (its entry's ``field_inputs``).

        Example:
            >>> b = ModelBundle(model=None, feature_names=[], normalizer=None, field_spec=None, mapping=None, class_names=[])
            >>> len(b.model_inputs(np.zeros((1, 4, 3)), np.zeros((1, 4, 0))))
            2
        """
        return field_inputs_for(self.model_name, self.pre_processing)(coordinates=coordinates, features=features)

    def with_field_separation(self, separation_factor: float | None) -> ModelBundle:
        """This bundle with its receptive fields ``separation_factor`` radii apart (the same
        model, weights and features); itself for None or a model without fields.

        Example:
            >>> b = ModelBundle(model=None, feature_names=[], normalizer=None, mapping=None, class_names=[],
            ...                 field_spec=FieldSpec(radius=2.0, separation_factor=0.8))
            >>> b.with_field_separation(0.4).field_spec.separation_factor, b.field_spec.separation_factor
            (0.4, 0.8)
        """
        if separation_factor is None or self.field_spec is None:
            return self
        return replace(self, field_spec=replace(self.field_spec, separation_factor=float(separation_factor)))

    @property
    def learns_from_points(self) -> bool:
        """Whether the model predicts each point from its features alone (no receptive fields)."""
        return MODELS.get(self.model_name).learns_from_points

    @property
    def identity(self) -> ModelBundle:
        """The bundle less where it was trained (its training clouds' paths): what its fingerprint
        hashes, so that a model trained from a copy of its clouds elsewhere is the same model.

        Example:
            >>> replace(bundle, loss_info=LossInfo(training_clouds=["/d/a.las"])).identity.loss_info.training_clouds
            []
        """
        return replace(self, loss_info=replace(self.loss_info, training_clouds=[]))
