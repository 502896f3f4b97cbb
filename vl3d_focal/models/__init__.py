"""Point-wise model builders, registered in ``registry.MODELS`` by :mod:`vl3d_focal.models.entries`.

The public names below are imported on first use (PEP 562), so that the registry entries
under this package load without Keras.

Example:
    >>> from vl3d_focal.models import build_pointnet_pwise_classifier
    >>> model = build_pointnet_pwise_classifier(num_points=16, num_features=0, num_classes=2)
"""

from __future__ import annotations

from vl3d_focal.lazy import lazy_attributes

_PUBLIC = {
    "AUTOENCODER_SCHEMA": "autoencoder_schema",
    "hierarchical_fps_schema": "autoencoder_schema",
    "build_conv_autoencoder_pwise_classifier": "autoencoder",
    "KPConv": "kpconv",
    "AppendOnes": "neighborhoods",
    "GatherPoints": "neighborhoods",
    "GroupNeighbors": "neighborhoods",
    "NeighborPooling": "neighborhoods",
    "POINTNET_ARCHITECTURE_ARGS": "pointnet_schema",
    "POINTNET_SCHEMA": "pointnet_schema",
    "build_pointnet_pwise_classifier": "pointnet",
    "RBFFeatureExtraction": "rbf_layers",
    "RBFFeatureProcessing": "rbf_layers",
    "RBFNET_SCHEMA": "rbfnet_schema",
    "build_rbfnet_pwise_classifier": "rbfnet",
    "FlatIdentity": "tnet",
    "OrthogonalityPenalty": "tnet",
    "OrthogonalTransformRegularizer": "tnet",
}

__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC)
