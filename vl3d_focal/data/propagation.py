"""Propagating per-field predictions back to every point of the cloud.

Each point takes the mean of the probabilities predicted for it by every field that contains
it; a field counts once per point even when padding repeated the point in that field (its
repeated predictions are averaged first). Points that are in no field take the probabilities
of their nearest covered point, the lowest index among equidistant ones
(:func:`~vl3d_focal.data.point_tree.nearest_values`, as a streamed tile does). Fields are
processed in chunks to bound memory, and :class:`PropagationSums` accumulates blocks of fields
one at a time (chunked prediction).

Example:
    >>> fields = ReceptiveFields(indices=np.array([[0, 1], [1, 2]]), centers=np.zeros((2, 3)))
    >>> propagate(np.array([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]]), fields, 3).tolist()
    [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
"""

from __future__ import annotations

import logging

import numpy as np

from vl3d_focal.data.point_tree import nearest_values
from vl3d_focal.data.receptive_fields import ReceptiveFields
from vl3d_focal.errors import DataError

logger = logging.getLogger(__name__)

_CHUNK_FIELDS = 2048


class PropagationSums:
    """Running per-point sums of field probabilities, filled field block by field block.

    ``propagate`` in pieces: :meth:`add` the probabilities of any subset of the fields (each
    field once), then :meth:`finish`. Work and temporary memory of :meth:`add` are proportional
    to the block, not to the cloud; the sums are ``(N, C)`` plus ``(N,)`` weights, float32 (4
    bytes per class and point: the running sums of a few fields per point lose nothing a
    float32 result keeps).

    Example:
        >>> sums = PropagationSums(num_points_total=3, num_classes=2)
        >>> sums.add(np.array([[[1.0, 0.0], [0.0, 1.0]]]), np.array([[0, 1]]))
        >>> sums.add(np.array([[[0.0, 1.0], [0.0, 1.0]]]), np.array([[1, 2]]))
        >>> sums.finish(xyz=np.zeros((3, 3))).tolist()
        [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
    """

    def __init__(self, *, num_points_total: int, num_classes: int) -> None:
        self.num_points_total = int(num_points_total)
        self.sums: np.ndarray | None = np.zeros((self.num_points_total, int(num_classes)), dtype=np.float32)
        self.weights: np.ndarray | None = np.zeros(self.num_points_total, dtype=np.float32)

    def add(self, probabilities: np.ndarray, indices: np.ndarray, *, chunk_fields: int = _CHUNK_FIELDS) -> None:
        """Adds the ``(m, P, C)`` probabilities of ``m`` fields with ``(m, P)`` point indices.

        A point repeated in one field (padding) counts once, with its mean probability.

        Raises:
            DataError: Shapes that do not match or indices out of range.

        Example:
            >>> sums = PropagationSums(num_points_total=2, num_classes=2)
            >>> sums.add(np.array([[[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]]), np.array([[0, 0, 1]]))  # point 0 twice
            >>> sums.sums.tolist(), sums.weights.tolist()
            ([[0.75, 0.25], [0.0, 1.0]], [1.0, 1.0])
        """
        sums, weights = self.sums, self.weights
        if sums is None or weights is None:
            raise DataError("propagation: sums already finished; expected add() before finish()")
        probabilities = np.asarray(probabilities)
        indices = np.asarray(indices)
        n, num_classes = sums.shape
        if probabilities.ndim != 3 or probabilities.shape[:2] != indices.shape or probabilities.shape[2] != num_classes:
            raise DataError(
                f"propagation: expected probabilities of shape {indices.shape + (num_classes,)}, "
                f"received {probabilities.shape}"
            )
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise DataError(f"propagation: field indices out of range for {n} points")
        width = indices.shape[1]
        for start in range(0, indices.shape[0], max(int(chunk_fields), 1)):
            idx = indices[start : start + chunk_fields]
            prob = probabilities[start : start + chunk_fields].reshape(-1, num_classes)
            flat = idx.ravel()
            points, local = np.unique(flat, return_inverse=True)
            local = local.ravel()
            field = np.repeat(np.arange(idx.shape[0], dtype=np.int64), width)
            _, pair, multiplicity = np.unique(field * len(points) + local, return_inverse=True, return_counts=True)
            weight = 1.0 / multiplicity[pair.ravel()]
            weights[points] += np.bincount(local, weights=weight, minlength=len(points))
            for c in range(num_classes):
                sums[points, c] += np.bincount(local, weights=weight * prob[:, c], minlength=len(points))

    def finish(self, *, xyz: np.ndarray | None) -> np.ndarray:
        """The ``(N, C)`` float32 mean probabilities; points in no field take their nearest
        covered point's (needs the ``(N, 3)`` coordinates when there are such points).

        Raises:
            DataError: No point covered, or uncovered points without coordinates.

        Example:
            >>> s = PropagationSums(num_points_total=2, num_classes=1)
            >>> s.add(np.ones((1, 1, 1)), np.zeros((1, 1), int))
            >>> s.finish(xyz=np.array([[0.0, 0, 0], [1, 0, 0]])).tolist()
            [[1.0], [1.0]]
        """
        sums, weights = self.sums, self.weights
        if sums is None or weights is None:
            raise DataError("propagation: sums already finished; finish() returns the result once")
        n, num_classes = sums.shape
        covered = weights > 0
        out = np.zeros((n, num_classes), dtype=np.float32)
        out[covered] = sums[covered] / weights[covered, None]
        self.sums = self.weights = None  # the result replaces them
        missing = np.flatnonzero(~covered)
        if missing.size:
            if not covered.any():
                raise DataError("propagation: no point of the cloud is in any field")
            if xyz is None or len(xyz) != n:
                raise DataError(
                    f"propagation: {missing.size} points are in no field and no (N, 3) coordinates "
                    "were given to find their nearest covered neighbour"
                )
            coords = np.asarray(xyz, dtype=np.float64)
            out[missing] = nearest_values(out[covered], coords[covered], coords[missing])
            logger.info("propagation: %d points in no field took their nearest neighbour's prediction", missing.size)
        return out


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
    if probabilities.ndim != 3 or probabilities.shape[:2] != fields.indices.shape:
        raise DataError(
            f"propagation: expected probabilities of shape {fields.indices.shape + ('C',)}, "
            f"received {probabilities.shape}"
        )
    sums = PropagationSums(num_points_total=num_points_total, num_classes=probabilities.shape[2])
    sums.add(probabilities, fields.indices, chunk_fields=chunk_fields)
    return sums.finish(xyz=fields.xyz if xyz is None else xyz)
