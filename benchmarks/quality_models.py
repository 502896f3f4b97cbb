"""The models the quality benchmark compares on the same features: PointNet, the hierarchical
autoencoder (KPConv) and VL3D's random forest.

Each model's train step is the base's (``examples/ign_train.json``) with the model and its
architecture swapped: the same ``fnames`` (miner steps included), ``cloud_normalization``,
seed, classes and, for the deep models, the same ``model_handling`` and optimizer; the loss is
the variant's. The forest takes no loss: its class weights are the base loss's. A model the
base already trains keeps the base's architecture.

Example:
    >>> sorted(MODEL_KEYS)
    ['autoencoder', 'forest', 'pointnet']
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from benchmarks.configs import POINTNET, kpconv_autoencoder

MODEL_KEYS: dict[str, str] = {
    "pointnet": "PointNetPwiseClassifier",
    "autoencoder": "ConvolutionalAutoencoderPwiseClassifier",
    "forest": "RandomForestClassifier",
}
"""Benchmark names of the compared models."""

ARCHITECTURES: dict[str, dict[str, Any]] = {
    "PointNetPwiseClassifier": {
        "pre_processing": {
            "pre_processor": "furthest_point_subsampling",
            "neighborhood": {"type": "sphere", "radius": 5.0, "separation_factor": 0.8},
            "num_points": 384,
            "scale": True,
        },
        **POINTNET,
    },
    "ConvolutionalAutoencoderPwiseClassifier": kpconv_autoencoder(
        radius=5.0, points_per_depth=[384, 192, 96, 48], separation_factor=0.8
    ),
    "RandomForestClassifier": {"n_estimators": 100, "max_depth": 20, "min_samples_leaf": 2, "max_features": "sqrt"},
}
"""The architecture of each model where the base does not train it (sized for 2 CPU cores)."""

_SHARED = ("num_classes", "class_names")


def takes_loss(model: str) -> bool:
    """Whether a benchmark model (a :data:`MODEL_KEYS` name) is trained with a loss.

    Example:
        >>> takes_loss("pointnet"), takes_loss("forest")
        (True, False)
    """
    from vl3d_focal.registry import MODELS

    return bool(MODELS.get(MODEL_KEYS[model]).metadata.get("takes_loss", True))


def model_train_step(base_step: Mapping[str, Any], *, model: str, loss: Mapping[str, Any] | None) -> dict[str, Any]:
    """The base's train step with ``model`` (a :data:`MODEL_KEYS` name) and ``loss`` (None: none).

    Raises:
        ValueError: a deep model without a loss, or a base loss without class weights for the forest.

    Example:
        >>> base = {"train": "PointNetPwiseClassifier", "fnames": ["intensity"], "model_args": {"num_classes": 2,
        ...         "model_handling": {"batch_size": 8}, "compilation_args": {"loss": {"class_weight": "balanced"}}}}
        >>> model_train_step(base, model="forest", loss=None)["model_args"]["class_weight"]
        'balanced'
    """
    name = MODEL_KEYS[model]
    step = copy.deepcopy(dict(base_step))
    base_args = step["model_args"]
    if name == step["train"]:
        args = base_args
    else:
        args = {key: base_args[key] for key in _SHARED if key in base_args}
        args.update(copy.deepcopy(ARCHITECTURES[name]))
        if takes_loss(model):
            args["model_handling"] = copy.deepcopy(base_args.get("model_handling", {}))
            args["compilation_args"] = copy.deepcopy(base_args.get("compilation_args", {}))
        else:
            weights = base_args.get("compilation_args", {}).get("loss", {}).get("class_weight")
            if weights is None:
                raise ValueError("the forest takes the base loss's class_weight; the base loss has none")
            args["class_weight"] = weights
    if takes_loss(model):
        if loss is None:
            raise ValueError(f"the model {model!r} needs a loss")
        args.setdefault("compilation_args", {})["loss"] = copy.deepcopy(dict(loss))
    step["train"], step["model_args"] = name, args
    return step
