"""What a training is given (:class:`TrainingJob`, built by the ``train`` step) and the small
helpers of its start: the architecture part of ``model_args``, a pretrained start, the data seed.

Example:
    >>> architecture_args(model_name="PointNetPwiseClassifier", model_args={"num_pwise_feats": 8, "model_handling": {}})
    {'num_pwise_feats': 8}
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from vl3d_focal.data.imputers import Imputer
from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.miners import MinedFeatures
from vl3d_focal.data.pca_projection import PCATransformer
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.errors import DataError
from vl3d_focal.models.bundle import ModelBundle
from vl3d_focal.registry import MODELS
from vl3d_focal.training.distribution import DistributionSettings
from vl3d_focal.training.evaluation import TrainingReports
from vl3d_focal.training.files import TrainingFiles

logger = logging.getLogger(__name__)


@dataclass
class TrainingJob:
    """Everything a training needs, taken from a normalised ``train`` step.

    Attributes:
        model_name: the registered model (``train`` value).
        model_args: the step's ``model_args`` (schema defaults filled in).
        feature_names: ``fnames``.
        seed: ``random_seed`` (None: random).
        distribution: the step's ``distribution``.
        mapping: the class mapping; ``class_names`` its names.
        training: the clouds to train on (read and labelled).
        validation: the validation clouds (may be empty).
        files: where the training outputs go.
        resume: continue from the last resumable checkpoint.
        identity: what identifies the step for the checkpoint fingerprint (the step itself).
        miners: the recipes of the mined features among ``feature_names``.
        cloud_scaling: the per-cloud scaling of features (``cloud_normalization``).
        pretrained: the model a further training starts from (VL3D's ``pretrained_model``):
            its weights and its feature normaliser are the starting point.
        reports: the VL3D reports and outputs the step asks for (paths expanded).
        field_reports: the prediction-time receptive-field report paths for a cloud's prefix.
        training_type: VL3D's ``training_type`` (``"base"``; the forest's held-out validations).
        forest: the step's random-forest keys
            (:data:`~vl3d_focal.models.forest_schema.FOREST_STEP_PROPERTIES`), defaults filled in.
        imputers: the fitted imputers of the features (``training`` and ``validation`` are the
            clouds as the model sees them: :mod:`vl3d_focal.training.imputation`).
        projection: the fitted ``PCATransformer`` whose outputs are among ``feature_names``, or None.
        clip: the bounds its features are clipped to (a ``MinmaxNormalizer``'s with ``clip``).
    """

    model_name: str
    model_args: Mapping[str, Any]
    feature_names: list[str]
    seed: int | None
    distribution: DistributionSettings
    mapping: ClassMapping
    class_names: list[str]
    training: list[CloudRecord]
    validation: list[CloudRecord]
    files: TrainingFiles
    resume: bool = False
    identity: Mapping[str, Any] = field(default_factory=dict)
    miners: tuple[MinedFeatures, ...] = ()
    cloud_scaling: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    pretrained: ModelBundle | None = None
    reports: TrainingReports = field(default_factory=TrainingReports)
    field_reports: Callable[[str], dict[str, Path]] | None = None
    training_type: str = "base"
    forest: Mapping[str, Any] = field(default_factory=dict)
    imputers: tuple[Imputer, ...] = ()
    projection: PCATransformer | None = None
    clip: Mapping[str, tuple[float, float]] = field(default_factory=dict)


def training_identity(
    step: Mapping[str, Any],
    *,
    imputers: Sequence[Imputer],
    projection: PCATransformer | None,
    clip: Mapping[str, tuple[float, float]] | None = None,
) -> Mapping[str, Any]:
    """What identifies a training for its checkpoints (``TrainingJob.identity``): its step, with
    its fitted imputers, projection and clip bounds when it has them.

    Example:
        >>> training_identity({"train": "M"}, imputers=(), projection=None)
        {'train': 'M'}
    """
    fitted: dict[str, Any] = {"imputers": [imputer.to_config() for imputer in imputers]} if imputers else {}
    if projection is not None:
        fitted["projection"] = projection.to_config()
    if clip:
        fitted["clip"] = {name: list(bounds) for name, bounds in clip.items()}
    return {**step, **fitted}


def architecture_args(*, model_name: str, model_args: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``model_args`` the model entry's schema declares (its architecture).

    Example:
        >>> architecture_args(model_name="PointNetPwiseClassifier",
        ...                   model_args={"num_pwise_feats": 8, "model_handling": {}})
        {'num_pwise_feats': 8}
    """
    declared = MODELS.get(model_name).schema.get("properties", {})
    return {key: value for key, value in model_args.items() if key in declared}


def start_from(model: keras.Model, *, pretrained: keras.Model) -> None:
    """Sets ``model``'s weights to those of ``pretrained`` (a further training).

    Raises:
        DataError: the two networks differ (another architecture, class or feature count).

    Example:
        >>> a = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> b = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> start_from(a, pretrained=b); bool(np.array_equal(a.get_weights()[0], b.get_weights()[0]))
        True
    """
    source = pretrained.get_weights()
    shapes = [tuple(w.shape) for w in model.get_weights()]
    if [tuple(w.shape) for w in source] != shapes:
        raise DataError(
            "pretrained_model: its network differs from the one model_args builds (other layers or "
            "widths); give the architecture arguments it was trained with"
        )
    model.set_weights(source)
    logger.info("training starts from the pretrained model's weights")


def data_seed(seed: int | None) -> int:
    """The data-order seed: the step's ``random_seed``, else a fresh random one (kept in checkpoints)."""
    if seed is not None:
        return int(seed)
    entropy = np.random.SeedSequence().entropy  # an int when drawn fresh (not given)
    assert isinstance(entropy, int)
    return entropy % (2**31 - 1)
