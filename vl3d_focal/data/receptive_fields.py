"""Receptive fields: fixed-size point sets that together cover every point of a cloud.

Field centres are the mean positions of the points in each occupied cell of a grid of spacing
``separation_factor * radius`` (cells in 3D for ``sphere``/``rectangular3D``, in the xy plane
for ``cylinder``/``rectangular2D``). Any point farther than ``radius`` from every such centre
gets an extra centre from a finer grid whose cells fit inside the neighbourhood, so every point
lies in the neighbourhood of at least one field. Each neighbourhood (cKDTree ball query:
Euclidean for sphere/cylinder, Chebyshev for the rectangular ones, ``radius`` = half side) is
then brought to exactly ``num_points`` points: furthest-point subsampling (exact, float32,
batched over fields of similar sizes in numpy, the batches spread over the CPU cores, started
at the point nearest the centre) or grid subsampling (one seeded-random point per voxel first,
see :func:`point_priorities`), and fields with fewer points are padded by repeating their
points in order. A field depends only on the points near its centre and their ids in the cloud
(:func:`fields_at_centers`), so a cloud can be processed tile by tile with the same fields.

Example:
    >>> spec = FieldSpec(neighborhood="sphere", radius=3.0, num_points=256)
    >>> fields = build_fields(cloud.xyz, spec, seed=0)              # doctest: +SKIP
    >>> coords = field_coordinates(cloud.xyz, fields, spec)         # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from scipy.spatial import cKDTree

from vl3d_focal.data.subsampling import furthest_point_subsample, grid_subsample, point_priorities
from vl3d_focal.errors import DataError, SpecError, SpecIssue
from vl3d_focal.progress import Progress

logger = logging.getLogger(__name__)

PRE_PROCESSORS = ("furthest_point_subsampling", "grid_subsampling")
# neighbourhood type -> (dimensions used for distances, Minkowski p of the distance)
NEIGHBORHOODS: dict[str, tuple[int, float]] = {
    "sphere": (3, 2.0),
    "cylinder": (2, 2.0),
    "rectangular3D": (3, math.inf),
    "rectangular2D": (2, math.inf),
}
_CENTRE_CHUNK = 4096


@dataclass(frozen=True)
class FieldSpec:
    """Parameters of the receptive fields (the ``pre_processing`` object of a train step).

    Example:
        >>> FieldSpec.from_config({"pre_processor": "grid_subsampling", "num_points": 64,
        ...     "neighborhood": {"type": "cylinder", "radius": 2.0}}).neighborhood
        'cylinder'
    """

    pre_processor: str = "furthest_point_subsampling"
    neighborhood: str = "sphere"
    radius: float = 3.0
    separation_factor: float = 0.8
    num_points: int = 512
    scale: bool = True

    def __post_init__(self) -> None:
        issues = []
        if self.pre_processor not in PRE_PROCESSORS:
            issues.append(SpecIssue("$.pre_processor",
                                    f"expected one of {list(PRE_PROCESSORS)}, received {self.pre_processor!r}"))
        if self.neighborhood not in NEIGHBORHOODS:
            issues.append(SpecIssue("$.neighborhood.type",
                                    f"expected one of {list(NEIGHBORHOODS)}, received {self.neighborhood!r}"))
        if not self.radius > 0:
            issues.append(SpecIssue("$.neighborhood.radius", f"expected > 0, received {self.radius}"))
        if not self.separation_factor > 0:
            issues.append(SpecIssue("$.neighborhood.separation_factor",
                                    f"expected > 0, received {self.separation_factor}"))
        if int(self.num_points) != self.num_points or self.num_points < 1:
            issues.append(SpecIssue("$.num_points", f"expected an integer >= 1, received {self.num_points}"))
        if issues:
            raise SpecError(issues)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "FieldSpec":
        """Build from a ``pre_processing`` dict (missing keys take the defaults).

        Example:
            >>> FieldSpec.from_config({}).num_points
            512
        """
        hood = dict(config.get("neighborhood", {}))
        return cls(
            pre_processor=config.get("pre_processor", cls.pre_processor),
            neighborhood=hood.get("type", cls.neighborhood),
            radius=float(hood.get("radius", cls.radius)),
            separation_factor=float(hood.get("separation_factor", cls.separation_factor)),
            num_points=int(config.get("num_points", cls.num_points)),
            scale=bool(config.get("scale", cls.scale)),
        )

    def to_config(self) -> dict[str, Any]:
        """The ``pre_processing`` dict (JSON-able) that :meth:`from_config` reads.

        Example:
            >>> FieldSpec().to_config()["neighborhood"]["type"]
            'sphere'
        """
        return {
            "pre_processor": self.pre_processor,
            "neighborhood": {"type": self.neighborhood, "radius": self.radius,
                             "separation_factor": self.separation_factor},
            "num_points": self.num_points,
            "scale": self.scale,
        }


@dataclass
class ReceptiveFields:
    """Fields built over a cloud.

    Attributes:
        indices: (M, num_points) int64 indices into the cloud.
        centers: (M, 3) float64 field centres.
        xyz: The (N, 3) coordinates the fields were built on (used for nearest-neighbour
            propagation to points in no field).
    """

    indices: np.ndarray
    centers: np.ndarray
    xyz: np.ndarray | None = None

    @property
    def num_fields(self) -> int:
        """Number of fields M."""
        return int(self.indices.shape[0])

    def covered_mask(self, num_points_total: int) -> np.ndarray:
        """Boolean (N,) mask of the points that appear in at least one field.

        Example:
            >>> fields.covered_mask(len(xyz)).all()               # doctest: +SKIP
            True
        """
        mask = np.zeros(num_points_total, dtype=bool)
        mask[self.indices.ravel()] = True
        return mask


def _cell_means(xyz: np.ndarray, *, cell: float, dims: int) -> np.ndarray:
    """Mean position of the points of each occupied grid cell, in cell-key order."""
    cells = np.floor((xyz[:, :dims] - xyz[:, :dims].min(axis=0)) / cell).astype(np.int64)
    extent = cells.max(axis=0) + 1
    if float(np.prod(extent.astype(np.float64))) < 2.0**62:
        key = cells[:, 0]
        for axis in range(1, dims):
            key = key * extent[axis] + cells[:, axis]
        _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    else:  # astronomically many cells: compare rows instead of packed keys
        _, inverse, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    sums = np.stack([np.bincount(inverse, weights=xyz[:, k], minlength=len(counts)) for k in range(3)], axis=1)
    return sums / counts[:, None]


def field_centers(xyz: np.ndarray, spec: FieldSpec) -> np.ndarray:
    """Field centres whose neighbourhoods together contain every point, (M, 3).

    Example:
        >>> field_centers(np.zeros((5, 3)), FieldSpec()).tolist()
        [[0.0, 0.0, 0.0]]
    """
    dims, p = NEIGHBORHOODS[spec.neighborhood]
    centers = _cell_means(xyz, cell=spec.separation_factor * spec.radius, dims=dims)
    distance, _ = cKDTree(centers[:, :dims]).query(xyz[:, :dims], k=1, p=p, workers=-1)
    uncovered = distance > spec.radius * (1.0 - 1e-6)
    if uncovered.any():
        # cells this small lie inside the neighbourhood of the mean of their points
        fine = spec.radius * (0.99 / math.sqrt(dims) if p == 2.0 else 0.99)
        extra = _cell_means(xyz[uncovered], cell=fine, dims=dims)
        logger.debug("%d points beyond the grid centres: %d extra fields", int(uncovered.sum()), len(extra))
        centers = np.concatenate([centers, extra])
    return centers


def _fields_of_chunk(xyz, tree, centers, spec, priority):
    dims, p = NEIGHBORHOODS[spec.neighborhood]
    k = spec.num_points
    lists = tree.query_ball_point(centers[:, :dims], r=spec.radius, p=p, workers=-1, return_sorted=True)
    counts = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    if counts.min(initial=1) == 0:
        raise DataError("receptive fields: a field centre has no point within the radius")
    flat = np.concatenate([np.asarray(x, dtype=np.int64) for x in lists])
    del lists
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    indices = np.empty((len(counts), k), dtype=np.int64)
    small = counts <= k
    # pad by repeating the field's points in order
    slots = np.arange(k)[None, :] % counts[small, None]
    indices[small] = flat[starts[small, None] + slots]
    big = np.flatnonzero(~small)
    if big.size:
        if spec.pre_processor == "furthest_point_subsampling":
            indices[big] = furthest_point_subsample(xyz, centers=centers[big], members=flat, starts=starts[big],
                                                     counts=counts[big], k=k)
        else:
            keep = np.repeat(~small, counts)
            field_of = np.repeat(np.arange(big.size), counts[big])
            indices[big] = grid_subsample(xyz, centers=centers[big], members=flat[keep], field_of=field_of,
                                          counts=counts[big], k=k, radius=spec.radius, priority=priority)
    return indices


def fields_at_centers(
    xyz: np.ndarray,
    centers: np.ndarray,
    spec: FieldSpec,
    *,
    seed: int | None = 0,
    point_ids: np.ndarray | None = None,
) -> np.ndarray:
    """Indices ``(M, num_points)`` into ``xyz`` of the fields centred at given centres.

    A field depends only on the points within its neighbourhood, their order and their ids:
    called on a subset of a cloud that holds every point within ``radius`` of the centres (in
    the cloud's order, with ``point_ids`` their indices in the whole cloud), it returns the same
    fields as on the whole cloud (mapped to the subset's indices). This is what lets prediction
    work block by block.

    Args:
        xyz: (n, 3) coordinates (a whole cloud or a subset of it, in the cloud's order).
        centers: (M, 3) field centres.
        spec: The field parameters.
        seed: Seed of grid subsampling's random choice.
        point_ids: (n,) indices of the points in the whole cloud; default ``arange(n)``.

    Raises:
        DataError: A centre with no point within ``radius``.

    Example:
        >>> xyz = np.random.default_rng(0).uniform(0, 10, (500, 3))
        >>> fields_at_centers(xyz, xyz[:2], FieldSpec(radius=3.0, num_points=16)).shape
        (2, 16)
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 3)
    dims, _ = NEIGHBORHOODS[spec.neighborhood]
    ids = np.arange(len(xyz)) if point_ids is None else np.asarray(point_ids)
    priority = point_priorities(ids, seed=seed) if spec.pre_processor == "grid_subsampling" else None
    tree = cKDTree(xyz[:, :dims])
    chunks = [np.zeros((0, spec.num_points), dtype=np.int64)]
    with Progress("receptive fields", total=len(centers), unit="fields") as progress:
        for start in range(0, len(centers), _CENTRE_CHUNK):
            chunks.append(_fields_of_chunk(xyz, tree, centers[start:start + _CENTRE_CHUNK], spec, priority))
            progress.update(start + len(chunks[-1]))
    return np.concatenate(chunks)


def build_fields(xyz: np.ndarray, spec: FieldSpec, *, seed: int | None = 0) -> ReceptiveFields:
    """Build receptive fields of exactly ``spec.num_points`` points covering a cloud.

    Args:
        xyz: (N, 3) coordinates.
        spec: The field parameters.
        seed: Random seed (grid subsampling picks random points per voxel, by
            :func:`point_priorities`); same seed, same fields.

    Returns:
        The :class:`ReceptiveFields` (indices (M, num_points) int64, centres (M, 3)).

    Raises:
        DataError: Empty or malformed coordinates.

    Example:
        >>> xyz = np.random.default_rng(0).uniform(0, 10, (2000, 3))
        >>> build_fields(xyz, FieldSpec(radius=3.0, num_points=64), seed=0).indices.shape[1]
        64
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or xyz.shape[0] == 0:
        raise DataError(f"receptive fields: expected (N, 3) coordinates with N > 0, received {xyz.shape}")
    if not np.isfinite(xyz).all():
        raise DataError("receptive fields: coordinates contain NaN or infinite values")
    centers = field_centers(xyz, spec)
    indices = fields_at_centers(xyz, centers, spec, seed=seed)
    logger.info("receptive fields: %d fields of %d points", len(centers), spec.num_points)
    return ReceptiveFields(indices=indices, centers=centers, xyz=xyz)


def field_coordinates(xyz: np.ndarray, fields: ReceptiveFields, spec: FieldSpec) -> np.ndarray:
    """Coordinates of each field's points relative to its centre (divided by the radius when
    ``spec.scale``), float32 array of shape (M, num_points, 3).

    Example:
        >>> field_coordinates(xyz, fields, spec).shape            # doctest: +SKIP
        (120, 64, 3)
    """
    coords = np.asarray(xyz, dtype=np.float64)[fields.indices] - fields.centers[:, None, :]
    if spec.scale:
        coords /= spec.radius
    return coords.astype(np.float32)
