"""The state the pipeline steps share while a spec runs.

Example:
    >>> state = PipelineState(clouds=[], model_prefix="out/")
    >>> state.bundle is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.errors import DataError


@dataclass
class ModelBundle:
    """A trained model with everything needed to apply it to a new cloud.

    Attributes:
        model: the Keras model (inputs: coordinates and features; output: logits).
        feature_names: the ``fnames`` the model was trained with, in order.
        normalizer: the fitted feature normaliser (``FeatureNormalizer``).
        field_spec: the receptive-field parameters (``FieldSpec``).
        mapping: the class mapping (``ClassMapping``) from LAS codes to classes.
        class_names: the class names, in the model's output order.
        random_seed: the seed fields are built with.
        predict_batch_size: number of fields per prediction chunk.
        loss_info: the loss spec and resolved class weights, for the record.
    """

    model: Any
    feature_names: list[str]
    normalizer: Any
    field_spec: Any
    mapping: Any
    class_names: list[str]
    random_seed: int | None = None
    predict_batch_size: int = 32
    loss_info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of classes the model predicts."""
        return len(self.class_names)


@dataclass
class CloudRecord:
    """One input cloud and what the steps computed for it.

    Attributes:
        path: where the cloud was read from.
        cloud: the ``PointCloud`` read by :func:`vl3d_focal.io.las.read_cloud`.
        prefix: the output prefix of this cloud (``*`` in per-cloud paths).
        labels: mapped reference classes (``-1`` = ignored), once a mapping is known.
        probabilities: ``(N, C)`` predicted class probabilities.
        predictions: ``(N,)`` predicted class indices.
        fields_cache: receptive fields already built, keyed by field configuration.
        features_cache: raw ``(N, F)`` features already extracted, keyed by feature names.
    """

    path: Path
    cloud: Any
    prefix: str
    labels: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    predictions: np.ndarray | None = None
    fields_cache: dict[str, Any] = field(default_factory=dict)
    features_cache: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict)

    @property
    def num_points(self) -> int:
        """Number of points of the cloud."""
        return int(self.cloud.xyz.shape[0])


@dataclass
class PipelineState:
    """Everything the steps pass to each other, in one place.

    Attributes:
        clouds: the input clouds, in ``in_pcloud`` order.
        model_prefix: where model-level outputs go (the first output prefix).
        mapping: the class mapping of the last ``class_mapping`` step.
        bundle: the model trained or loaded by the last ``train`` or ``predict`` step.
        resume: whether ``train`` steps continue from their last checkpoint (``--resume``).
    """

    clouds: list[CloudRecord]
    model_prefix: str
    mapping: Any = None
    bundle: ModelBundle | None = None
    resume: bool = False

    def require_bundle(self, *, step: str) -> ModelBundle:
        """The current model; a clear error when no step produced one yet.

        Example:
            >>> PipelineState(clouds=[], model_prefix="").require_bundle(step="writer")
            Traceback (most recent call last):
            ...
            vl3d_focal.errors.DataError: step 'writer' needs a model: ...
        """
        if self.bundle is None:
            raise DataError(
                f"step {step!r} needs a model: expected a 'train' step or a "
                "'predict': 'ModelLoader' step before it, found none"
            )
        return self.bundle

    def require_mapping(self, *, step: str) -> Any:
        """The class mapping of the spec, else the one stored with the model.

        Example:
            >>> PipelineState(clouds=[], model_prefix="", mapping="m").require_mapping(step="eval")
            'm'
        """
        if self.mapping is not None:
            return self.mapping
        if self.bundle is not None and self.bundle.mapping is not None:
            return self.bundle.mapping
        raise DataError(
            f"step {step!r} needs a class mapping: expected a 'class_mapping' step or a "
            "model that stores one, found neither"
        )
