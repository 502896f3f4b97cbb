"""Model configurations several benchmarks share: the PointNet of the IGN example and the demo,
the KPConv autoencoder sized for 2 CPU cores, and issue 14's IGN features.

Example:
    >>> kpconv_autoencoder(radius=5.0, points_per_depth=[384, 192, 96, 48])["pre_processing"]["neighborhood"]
    {'type': 'sphere', 'radius': 5.0}
"""

from __future__ import annotations

from typing import Any

POINTNET: dict[str, Any] = {
    "num_pwise_feats": 32,
    "pretransf_feats_spec": [{"filters": 32}, {"filters": 64}],
    "postransf_feats_spec": [{"filters": 64}, {"filters": 128}],
    "tnet_pre_filters_spec": [],
    "tnet_post_filters_spec": [],
    "kernel_initializer": "he_normal",
}
"""The PointNet of the IGN example: two shared MLPs of two layers each, no T-Net."""

IGN_FNAMES = [
    "intensity",
    "return_number",
    "number_of_returns",
    "height_above_ground",
    "planarity",
    "scattering",
    "verticality",
]
"""The IGN example's features when issue 14 measured it (four of them of a neighbourhood)."""


def kpconv_autoencoder(
    *, radius: float, points_per_depth: list[int], separation_factor: float | None = None, bn_momentum: float = 0.9
) -> dict[str, Any]:
    """``model_args`` of the hierarchical autoencoder with KPConv sized for 2 CPU cores
    ("cpu_small"): four depths, one operation each, 32 to 128 features, 15 kernel points whose
    radii grow with depth, strided KPConv down, mean up.

    Example:
        >>> kpconv_autoencoder(radius=3.0, points_per_depth=[256, 128, 64, 32])["feature_extraction"]["bn_momentum"]
        0.9
    """
    neighborhood: dict[str, Any] = {"type": "sphere", "radius": radius}
    if separation_factor is not None:
        neighborhood["separation_factor"] = separation_factor
    return {
        "pre_processing": {
            "pre_processor": "hierarchical_fps",
            "neighborhood": neighborhood,
            "num_points_per_depth": list(points_per_depth),
            "num_pwise_neighbors": [16, 12, 8, 8],
            "num_downsampling_neighbors": [1, 12, 8, 8],
            "num_upsampling_neighbors": [1, 8, 8, 8],
        },
        "feature_extraction": {
            "type": "KPConv",
            "operations_per_depth": [1, 1, 1, 1],
            "feature_space_dims": [32, 64, 96, 128],
            "bn": True,
            "bn_momentum": bn_momentum,
            "activate": True,
            "sigma": [0.5, 0.8, 1.2, 1.8],
            "kernel_radius": [0.6, 1.0, 1.5, 2.2],
            "num_kernel_points": [15] * 4,
        },
        "downsampling_filter": "strided_kpconv",
        "upsampling_filter": "mean",
    }
