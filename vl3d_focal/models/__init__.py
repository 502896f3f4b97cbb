"""Point-wise model builders; importing this package registers them in ``registry.MODELS``.

Example:
    >>> from vl3d_focal.registry import MODELS
    >>> import vl3d_focal.models
    >>> MODELS.get("PointNetPwiseClassifier").metadata["output"]
    'logits'
"""

from vl3d_focal.models.pointnet import POINTNET_ARCHITECTURE_ARGS, POINTNET_SCHEMA, build_pointnet_pwise_classifier
from vl3d_focal.models.tnet import FlatIdentity, OrthogonalityPenalty, OrthogonalTransformRegularizer

__all__ = [
    "POINTNET_ARCHITECTURE_ARGS",
    "POINTNET_SCHEMA",
    "FlatIdentity",
    "OrthogonalityPenalty",
    "OrthogonalTransformRegularizer",
    "build_pointnet_pwise_classifier",
]
