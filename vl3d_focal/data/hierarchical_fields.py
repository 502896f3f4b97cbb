"""Hierarchical receptive fields (VL3D's ``hierarchical_fps`` pre-processor) as model inputs.

A hierarchical field is a receptive field of ``P_0 = num_points_per_depth[0]`` points (built by
:mod:`vl3d_focal.data.receptive_fields` with furthest point sampling) and, for each deeper
depth ``d``, the ``P_d`` points furthest point sampling keeps of depth ``d - 1``. Entry ``d``
of VL3D's lists applies to depth ``d``:

* ``num_pwise_neighbors[d]``: the nearest depth-``d`` points of each depth-``d`` point (the
  neighbourhood a feature extraction operation at depth ``d`` convolves over);
* ``num_downsampling_neighbors[d]``, ``d >= 1``: the nearest depth-``d-1`` points of each
  depth-``d`` point (the downsampling into depth ``d``);
* ``num_upsampling_neighbors[d]``, ``d >= 1``: the nearest depth-``d`` points of each
  depth-``d-1`` point (the upsampling back to depth ``d - 1``).

Entry 0 of the last two maps VL3D's original neighbourhood to depth 0 and back, which is not
part of the network: here the field builder samples depth 0 (each of its points is a cloud
point, VL3D's one nearest neighbour) and the propagation step maps predictions back.

Every index is computed once per field on the CPU: one cKDTree per depth and batch of fields
(each field shifted far from the others along x, so that a point's nearest neighbours are
always points of its own field), sorted by distance, int32.

Example:
    >>> spec = HierarchySpec(num_points_per_depth=(8, 4), num_pwise_neighbors=(3, 2),
    ...                      num_downsampling_neighbors=(1, 2), num_upsampling_neighbors=(1, 1))
    >>> coords = np.random.default_rng(0).normal(size=(5, 8, 3)).astype(np.float32)
    >>> {name: a.shape for name, a in build_hierarchy(coords, spec).arrays().items()}
    ... # doctest: +NORMALIZE_WHITESPACE
    {'pwise_neighbors_0': (5, 8, 3), 'subsample_1': (5, 4), 'downsampling_neighbors_1': (5, 4, 2),
     'upsampling_neighbors_1': (5, 8, 1), 'pwise_neighbors_1': (5, 4, 2)}
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from vl3d_focal.data.hierarchy_defaults import DEFAULT_NUM_POINTS_PER_DEPTH
from vl3d_focal.data.hierarchy_spec import HierarchySpec
from vl3d_focal.data.parallel import cpu_threads
from vl3d_focal.data.receptive_fields import FieldSpec
from vl3d_focal.data.subsampling import furthest_point_order
from vl3d_focal.errors import DataError

logger = logging.getLogger(__name__)

_CHUNK_FIELDS = 1024


@dataclass(frozen=True)
class FieldHierarchy:
    """The index arrays of a batch of ``M`` hierarchical fields (int32, see the module docstring).

    Attributes:
        subsample: for ``d = 1..D-1``, ``(M, P_d)`` indices into depth ``d - 1`` of the points
            kept at depth ``d`` (in furthest point sampling order).
        pwise: for ``d = 0..D-1``, ``(M, P_d, k)`` depth-``d`` neighbours of depth-``d`` points.
        downsampling: for ``d = 1..D-1``, ``(M, P_d, k)`` depth-``d-1`` neighbours of depth-``d`` points.
        upsampling: for ``d = 1..D-1``, ``(M, P_{d-1}, k)`` depth-``d`` neighbours of depth-``d-1`` points.
    """

    subsample: tuple[np.ndarray, ...]
    pwise: tuple[np.ndarray, ...]
    downsampling: tuple[np.ndarray, ...]
    upsampling: tuple[np.ndarray, ...]

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays by input name, in :meth:`HierarchySpec.index_shapes` order."""
        out = {"pwise_neighbors_0": self.pwise[0]}
        for d in range(1, len(self.pwise)):
            out[f"subsample_{d}"] = self.subsample[d - 1]
            out[f"downsampling_neighbors_{d}"] = self.downsampling[d - 1]
            out[f"upsampling_neighbors_{d}"] = self.upsampling[d - 1]
            out[f"pwise_neighbors_{d}"] = self.pwise[d]
        return out


def nearest_in_fields(query: np.ndarray, support: np.ndarray, *, k: int) -> np.ndarray:
    """The ``k`` nearest support points of every query point, field by field, nearest first.

    One cKDTree over the whole batch: field ``m`` is shifted by ``m`` times a power of two
    larger than twice the batch's diameter along x, so no point of another field can be
    nearer than a point of the same field (``k`` is at most the support size).

    Args:
        query: ``(M, Q, 3)`` query points of each field.
        support: ``(M, S, 3)`` support points of the same fields.
        k: neighbours per query point, ``1 <= k <= S``.

    Returns:
        ``(M, Q, k)`` int32 indices into each field's support points.

    Example:
        >>> pts = np.array([[[0.0, 0, 0], [1.0, 0, 0], [3.0, 0, 0]]])
        >>> nearest_in_fields(pts, pts, k=2).tolist()
        [[[0, 1], [1, 0], [2, 1]]]
    """
    fields, num_query = query.shape[:2]
    num_support = support.shape[1]
    extent = float(max(np.abs(query).max(initial=0.0), np.abs(support).max(initial=0.0)))
    shift = np.zeros((fields, 1, 3))
    shift[:, 0, 0] = np.arange(fields) * 2.0 ** math.ceil(math.log2(4.0 * extent + 1.0))
    tree = cKDTree((support.astype(np.float64) + shift).reshape(-1, 3))
    _, found = tree.query((query.astype(np.float64) + shift).reshape(-1, 3), k=k, workers=cpu_threads())
    found = found.reshape(fields, num_query, k) - (np.arange(fields) * num_support)[:, None, None]
    return found.astype(np.int32)


def build_hierarchy(coordinates: np.ndarray, spec: HierarchySpec) -> FieldHierarchy:
    """The index arrays of a batch of fields, from their depth-0 coordinates.

    Deterministic, and a field's arrays do not depend on the other fields of the batch
    (except where two neighbours lie at equal distances up to rounding).

    Args:
        coordinates: ``(M, P_0, 3)`` field coordinates (centred, as
            :func:`~vl3d_focal.data.receptive_fields.field_coordinates` gives them).
        spec: the depths.

    Returns:
        The :class:`FieldHierarchy`.

    Raises:
        DataError: coordinates of the wrong shape or not finite.

    Example:
        >>> spec = HierarchySpec(num_points_per_depth=(4, 2), num_pwise_neighbors=(2, 1),
        ...                      num_downsampling_neighbors=(1, 1), num_upsampling_neighbors=(1, 1))
        >>> xyz = np.array([[[0.0, 0, 0], [1.0, 0, 0], [-3.0, 0, 0], [0.0, 0.5, 0]]])
        >>> h = build_hierarchy(xyz, spec)
        >>> h.subsample[0].tolist(), h.upsampling[0][0, :, 0].tolist()
        ([[0, 2]], [0, 0, 1, 0])
    """
    coordinates = np.asarray(coordinates)
    expected = spec.num_points_per_depth[0]
    if coordinates.ndim != 3 or coordinates.shape[1:] != (expected, 3):
        raise DataError(
            f"hierarchical fields: expected coordinates of shape (M, {expected}, 3) "
            f"(num_points_per_depth[0] = {expected}), received {coordinates.shape}"
        )
    if not np.isfinite(coordinates).all():
        raise DataError("hierarchical fields: coordinates contain NaN or infinite values")
    start_time = time.perf_counter()
    chunks = [
        _hierarchy_of_chunk(coordinates[start : start + _CHUNK_FIELDS].astype(np.float32), spec)
        for start in range(0, max(len(coordinates), 1), _CHUNK_FIELDS)
    ]
    logger.debug(
        "hierarchical fields: indices of %d fields, %d depths (%.2f s)",
        len(coordinates),
        spec.depth,
        time.perf_counter() - start_time,
    )
    return FieldHierarchy(
        *(
            tuple(np.concatenate(arrays) for arrays in zip(*(getattr(c, part) for c in chunks)))
            for part in ("subsample", "pwise", "downsampling", "upsampling")
        )
    )


def _hierarchy_of_chunk(coordinates: np.ndarray, spec: HierarchySpec) -> FieldHierarchy:
    points = [coordinates]
    subsample = []
    for count in spec.num_points_per_depth[1:]:
        kept = furthest_point_order(points[-1], k=count)
        subsample.append(kept.astype(np.int32))
        points.append(np.take_along_axis(points[-1], kept[..., None], axis=1))
    d_range = range(1, spec.depth)
    return FieldHierarchy(
        subsample=tuple(subsample),
        pwise=tuple(nearest_in_fields(p, p, k=k) for p, k in zip(points, spec.num_pwise_neighbors)),
        downsampling=tuple(
            nearest_in_fields(points[d], points[d - 1], k=spec.num_downsampling_neighbors[d]) for d in d_range
        ),
        upsampling=tuple(
            nearest_in_fields(points[d - 1], points[d], k=spec.num_upsampling_neighbors[d]) for d in d_range
        ),
    )


def depth0_field_spec(config: Mapping[str, Any]) -> FieldSpec:
    """The depth-0 receptive fields of a ``hierarchical_fps`` pre-processing config.

    Furthest point sampling of ``num_points_per_depth[0]`` points in the neighbourhood;
    ``to_unit_sphere`` (VL3D, default false) divides the centred coordinates by the radius;
    ``support_strategy``, ``support_strategy_num_points`` and ``center_on_pcloud`` choose the
    field centres as for the other pre-processors.

    Example:
        >>> spec = depth0_field_spec({"neighborhood": {"type": "sphere", "radius": 2.0},
        ...                           "num_points_per_depth": [64, 16], "support_strategy": "FPS"})
        >>> spec.num_points, spec.support_strategy
        (64, 'fps')
    """
    # VL3D's to_unit_sphere here is what FieldSpec calls scale (its own to_unit_sphere stays false)
    vl3d_keys = {key: value for key, value in config.items() if key != "to_unit_sphere"}
    return FieldSpec.from_config(
        {
            **vl3d_keys,
            "pre_processor": "furthest_point_subsampling",
            "num_points": int(config.get("num_points_per_depth", DEFAULT_NUM_POINTS_PER_DEPTH)[0]),
            "scale": bool(config.get("to_unit_sphere", False)),
        }
    )


def hierarchical_model_inputs(
    pre_processing: Mapping[str, Any], *, coordinates: np.ndarray, features: np.ndarray
) -> list[np.ndarray]:
    """The model inputs of a batch of fields, in the order the autoencoder takes them.

    ``[coordinates (M, P_0, 3) float32, features (M, P_0, F) float32, *index arrays]``, the
    index arrays named and ordered as :meth:`HierarchySpec.index_shapes` lists them.

    Example:
        >>> config = {"num_points_per_depth": [4, 2], "num_pwise_neighbors": [2, 1],
        ...           "num_downsampling_neighbors": [1, 2], "num_upsampling_neighbors": [1, 2]}
        >>> xyz = np.random.default_rng(0).normal(size=(3, 4, 3))
        >>> [a.shape for a in hierarchical_model_inputs(config, coordinates=xyz, features=np.zeros((3, 4, 0)))]
        [(3, 4, 3), (3, 4, 0), (3, 4, 2), (3, 2), (3, 2, 2), (3, 4, 2), (3, 2, 1)]
    """
    hierarchy = build_hierarchy(coordinates, HierarchySpec.from_config(pre_processing))
    return [
        np.asarray(coordinates, dtype=np.float32),
        np.asarray(features, dtype=np.float32),
        *hierarchy.arrays().values(),
    ]
