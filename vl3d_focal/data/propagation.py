"""Propagating per-field predictions back to every point of the cloud.

Each point takes the mean of the probabilities predicted for it by every field that contains
it; a field counts once per point even when padding repeated the point in that field (its
repeated predictions are averaged first). Points that are in no field take the probabilities
of their nearest covered point (cKDTree). Fields are processed in chunks to bound memory.

Example:
    >>> probs = propagate(field_probs, fields, len(xyz))          # doctest: +SKIP
    >>> probs.shape
    (N, C)
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.spatial import cKDTree

from vl3d_focal.data.receptive_fields import ReceptiveFields
from vl3d_focal.errors import DataError

logger = logging.getLogger(__name__)

_CHUNK_FIELDS = 2048


def propagate(
    probabilities: np.ndarray,
    fields: ReceptiveFields,
    num_points_total: int,
    *,
    xyz: np.ndarray | None = None,
    chunk_fields: int = _CHUNK_FIELDS,
) -> np.ndarray:
    """Average field-wise probabilities onto the points of the cloud.

    Args:
        probabilities: (M, num_points, C) predicted probabilities, one row per field.
        fields: The fields they were predicted on.
        num_points_total: N, the number of points of the cloud.
        xyz: (N, 3) coordinates for the nearest-neighbour fallback; default ``fields.xyz``.
        chunk_fields: Fields processed at a time.

    Returns:
        (N, C) float32 probabilities.

    Raises:
        DataError: Shapes that do not match, or points in no field without coordinates to
            find their nearest covered neighbour.

    Example:
        >>> fields = ReceptiveFields(indices=np.array([[0, 1], [1, 1]]), centers=np.zeros((2, 3)))
        >>> p = np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 0.0]]])
        >>> propagate(p, fields, 2).tolist()
        [[1.0, 0.0], [0.5, 0.5]]
    """
    probabilities = np.asarray(probabilities)
    indices = fields.indices
    if probabilities.ndim != 3 or probabilities.shape[:2] != indices.shape:
        raise DataError(
            f"propagation: expected probabilities of shape {indices.shape + ('C',)}, "
            f"received {probabilities.shape}"
        )
    n, num_classes = int(num_points_total), probabilities.shape[2]
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise DataError(f"propagation: field indices out of range for {n} points")
    sums = np.zeros((n, num_classes), dtype=np.float64)
    weights = np.zeros(n, dtype=np.float64)
    width = indices.shape[1]
    for start in range(0, indices.shape[0], chunk_fields):
        idx = indices[start:start + chunk_fields]
        prob = probabilities[start:start + chunk_fields].reshape(-1, num_classes)
        field = np.repeat(np.arange(idx.shape[0], dtype=np.int64), width)
        pair = field * n + idx.ravel()
        _, inverse, multiplicity = np.unique(pair, return_inverse=True, return_counts=True)
        weight = 1.0 / multiplicity[inverse.ravel()]
        flat = idx.ravel()
        weights += np.bincount(flat, weights=weight, minlength=n)
        for c in range(num_classes):
            sums[:, c] += np.bincount(flat, weights=weight * prob[:, c], minlength=n)
    covered = weights > 0
    out = np.zeros((n, num_classes), dtype=np.float32)
    out[covered] = sums[covered] / weights[covered, None]
    missing = np.flatnonzero(~covered)
    if missing.size:
        if not covered.any():
            raise DataError("propagation: no point of the cloud is in any field")
        coords = fields.xyz if xyz is None else np.asarray(xyz, dtype=np.float64)
        if coords is None or len(coords) != n:
            raise DataError(
                f"propagation: {missing.size} points are in no field and no (N, 3) coordinates "
                "were given to find their nearest covered neighbour"
            )
        source = np.flatnonzero(covered)
        _, nearest = cKDTree(coords[source]).query(coords[missing], k=1, workers=-1)
        out[missing] = out[source[nearest]]
        logger.info("propagation: %d points in no field took their nearest neighbour's prediction",
                    missing.size)
    return out
