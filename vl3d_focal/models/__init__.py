"""Point-wise model builders; importing this package registers them in ``registry.MODELS``.

Example:
    >>> from vl3d_focal.registry import MODELS
    >>> import vl3d_focal.models
    >>> MODELS.get("PointNetPwiseClassifier").metadata["output"]
    'logits'
"""

from vl3d_focal.models.autoencoder import build_conv_autoencoder_pwise_classifier
from vl3d_focal.models.autoencoder_schema import AUTOENCODER_SCHEMA, hierarchical_fps_schema
from vl3d_focal.models.kpconv import KPConv
from vl3d_focal.models.neighborhoods import AppendOnes, GatherPoints, GroupNeighbors, NeighborPooling
from vl3d_focal.models.pointnet import POINTNET_ARCHITECTURE_ARGS, POINTNET_SCHEMA, build_pointnet_pwise_classifier
from vl3d_focal.models.tnet import FlatIdentity, OrthogonalityPenalty, OrthogonalTransformRegularizer

__all__ = [
    "AUTOENCODER_SCHEMA",
    "AppendOnes",
    "GatherPoints",
    "GroupNeighbors",
    "KPConv",
    "NeighborPooling",
    "POINTNET_ARCHITECTURE_ARGS",
    "POINTNET_SCHEMA",
    "FlatIdentity",
    "OrthogonalityPenalty",
    "OrthogonalTransformRegularizer",
    "build_conv_autoencoder_pwise_classifier",
    "build_pointnet_pwise_classifier",
    "hierarchical_fps_schema",
]
