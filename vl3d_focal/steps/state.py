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


class CloudRecord:
    """One input cloud and what the steps computed for it.

    The cloud may be read lazily: built with ``cloud=None`` and ``num_points`` (from the
    header), it is read whole (:func:`vl3d_focal.io.las.read_cloud`) the first time a step uses
    :attr:`cloud`; a step that streams the file instead (prediction, eval, writer of a cloud
    not trained on) never reads it whole. Likewise the labels of a ``class_mapping`` step are
    mapped when first used (:attr:`labels`).

    Attributes:
        path: where the cloud was read from.
        prefix: the output prefix of this cloud (``*`` in per-cloud paths).
        probabilities: ``(N, C)`` predicted class probabilities (in-memory prediction).
        predictions: ``(N,)`` predicted class indices (in-memory prediction).
        streamed: the on-disk predictions of a streamed prediction
            (:class:`~vl3d_focal.steps.streaming.StreamedPredictions`), else None.
        pending_mapping: the class mapping whose labels are mapped on first use.
        fields_cache: receptive fields already built, keyed by field configuration.
        features_cache: raw ``(N, F)`` features already extracted, keyed by feature names.

    Example:
        >>> record = CloudRecord(path=Path("a.las"), cloud=None, prefix="out/", num_points=10)
        >>> record.loaded, record.num_points
        (False, 10)
    """

    def __init__(
        self,
        *,
        path: Path,
        cloud: Any = None,
        prefix: str = "",
        labels: np.ndarray | None = None,
        num_points: int | None = None,
    ) -> None:
        self.path = Path(path)
        self._cloud = cloud
        self.prefix = prefix
        self._labels = labels
        self._num_points = num_points
        self.pending_mapping: Any = None
        self.probabilities: np.ndarray | None = None
        self.predictions: np.ndarray | None = None
        self.streamed: Any = None
        self.fields_cache: dict[str, Any] = {}
        self.features_cache: dict[tuple[str, ...], np.ndarray] = {}

    @property
    def loaded(self) -> bool:
        """Whether the whole cloud is in memory."""
        return self._cloud is not None

    @property
    def cloud(self) -> Any:
        """The ``PointCloud``, read whole on first use."""
        if self._cloud is None:
            from vl3d_focal.io.las import read_cloud

            self._cloud = read_cloud(self.path)
        return self._cloud

    @property
    def labels(self) -> np.ndarray | None:
        """Mapped reference classes (``-1`` = ignored), once a mapping is known; None when the
        cloud has no point of a mapped class."""
        if self._labels is None and self.pending_mapping is not None:
            mapping, self.pending_mapping = self.pending_mapping, None
            codes = np.asarray(self.cloud.las.classification)
            labels = np.asarray(mapping.map(codes, source=str(self.path)), dtype=np.int64)
            self._labels = labels if np.any(labels >= 0) else None
        return self._labels

    @labels.setter
    def labels(self, value: np.ndarray | None) -> None:
        self._labels = value
        self.pending_mapping = None

    @property
    def num_points(self) -> int:
        """Number of points of the cloud."""
        if self._cloud is None and self._num_points is not None:
            return int(self._num_points)
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
