"""Registry entries of the built-in models (their builders are imported when built).

Example:
    >>> from vl3d_focal.registry import MODELS
    >>> MODELS.get("PointNetPwiseClassifier").metadata["output"]
    'logits'
"""

from __future__ import annotations

from vl3d_focal.models.autoencoder_schema import AUTOENCODER_SCHEMA
from vl3d_focal.models.pointnet_schema import POINTNET_SCHEMA
from vl3d_focal.registry import MODELS

MODELS.register_lazy(
    "PointNetPwiseClassifier",
    builder="vl3d_focal.models.pointnet:build_pointnet_pwise_classifier",
    schema=POINTNET_SCHEMA,
    description="PointNet point-wise classifier emitting per-point logits (apply softmax to predict).",
    metadata={"output": "logits", "coordinates_only": True},
)

MODELS.register_lazy(
    "ConvolutionalAutoencoderPwiseClassifier",
    builder="vl3d_focal.models.autoencoder:build_conv_autoencoder_pwise_classifier",
    schema=AUTOENCODER_SCHEMA,
    description="Hierarchical autoencoder (KPConv or PointNet operations, hierarchical FPS fields) emitting per-point logits.",
    metadata={"output": "logits", "field_inputs": "hierarchical_fps", "coordinates_only": True},
)
