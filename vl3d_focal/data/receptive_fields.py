"""Receptive fields: fixed-size point sets that together cover every point of a cloud.

Field centres are the mean positions of the points in each occupied cell of a grid of spacing
``separation_factor * radius`` (cells in 3D for ``sphere``/``rectangular3D``, in the xy plane
for ``cylinder``/``rectangular2D``). Any point farther than ``radius`` from every such centre
gets an extra centre from a finer grid whose cells fit inside the neighbourhood, so every point
lies in the neighbourhood of at least one field. Each neighbourhood (cKDTree ball query:
Euclidean for sphere/cylinder, Chebyshev for the rectangular ones, ``radius`` = half side) is
then brought to exactly ``num_points`` points: furthest-point subsampling (exact, batched over
fields in numpy, started at the point nearest the centre) or grid subsampling (one random point
per voxel first), and fields with fewer points are padded by repeating their points in order.

Example:
    >>> spec = FieldSpec(neighborhood="sphere", radius=3.0, num_points=256)
    >>> fields = build_fields(cloud.xyz, spec, seed=0)              # doctest: +SKIP
    >>> coords = field_coordinates(cloud.xyz, fields, spec)         # (M, 256, 3) float32
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from scipy.spatial import cKDTree

from vl3d_focal.errors import DataError, SpecError, SpecIssue

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
_FPS_BATCH_ELEMENTS = 1 << 17


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


def _fps(points: np.ndarray, count: np.ndarray, start: np.ndarray, k: int) -> np.ndarray:
    """Exact furthest-point sampling of k slots for a batch of padded fields (B, n, 3)."""
    batch = np.arange(points.shape[0])
    coords = [np.ascontiguousarray(points[:, :, a], dtype=np.float32) for a in range(3)]
    dist = np.full(points.shape[:2], np.inf, dtype=np.float32)
    dist[np.arange(points.shape[1])[None, :] >= count[:, None]] = -1.0  # padding never chosen
    chosen = np.empty((points.shape[0], k), dtype=np.int64)
    tmp = np.empty_like(dist)
    acc = np.empty_like(dist)
    current = start
    for i in range(k):
        chosen[:, i] = current
        np.subtract(coords[0], coords[0][batch, current][:, None], out=acc)
        np.square(acc, out=acc)
        for a in (1, 2):
            np.subtract(coords[a], coords[a][batch, current][:, None], out=tmp)
            np.square(tmp, out=tmp)
            acc += tmp
        np.minimum(dist, acc, out=dist)
        current = dist.argmax(axis=1)
    return chosen


def _subsample_fps(xyz, centers, flat, starts, counts, k):
    """Furthest-point subsampling of the fields that hold more than k points.

    Fields are sorted by size and processed in padded batches of similar sizes.
    """
    out = np.empty((len(counts), k), dtype=np.int64)
    order = np.argsort(counts, kind="stable")
    groups = []
    pos = 0
    while pos < len(order):
        size = max(1, _FPS_BATCH_ELEMENTS // max(int(counts[order[pos]]), 1))
        groups.append(order[pos:pos + size])
        pos += size

    def run(group: np.ndarray) -> None:
        width = int(counts[group].max())
        slots = np.minimum(np.arange(width)[None, :], counts[group, None] - 1)
        members = flat[starts[group, None] + slots]
        points = xyz[members] - centers[group, None, :]
        start = np.einsum("bnk,bnk->bn", points, points)
        picked = _fps(points, counts[group], start.argmin(axis=1), k)
        out[group] = np.take_along_axis(members, picked, axis=1)

    for group in groups:
        run(group)
    return out


def _subsample_grid(xyz, centers, flat, field_of, counts, k, spec, rng):
    """Grid subsampling: one random point per voxel first, then the others, first k kept."""
    voxel = 2.0 * spec.radius / max(1.0, math.sqrt(k))
    half = int(math.ceil(spec.radius / voxel)) + 1
    width = 2 * half + 1
    cells = np.floor((xyz[flat] - centers[field_of]) / voxel).astype(np.int64) + half
    np.clip(cells, 0, width - 1, out=cells)  # the z of 2D neighbourhoods is unbounded
    key = field_of * width**3 + (cells[:, 0] * width + cells[:, 1]) * width + cells[:, 2]
    perm = rng.permutation(len(flat))
    _, first = np.unique(key[perm], return_index=True)
    representative = np.zeros(len(flat), dtype=bool)
    representative[perm[first]] = True
    rank = (field_of * 2 + (~representative)).astype(np.uint32 if len(counts) < 2**31 else np.int64)
    order = perm[np.argsort(rank[perm], kind="stable")]
    local_starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return flat[order][local_starts[:, None] + np.arange(k)[None, :]]


def _fields_of_chunk(xyz, tree, centers, spec, rng):
    dims, p = NEIGHBORHOODS[spec.neighborhood]
    k = spec.num_points
    lists = tree.query_ball_point(centers[:, :dims], r=spec.radius, p=p, workers=-1, return_sorted=True)
    counts = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    flat = np.concatenate([np.asarray(x, dtype=np.int64) for x in lists])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    indices = np.empty((len(counts), k), dtype=np.int64)
    small = counts <= k
    # pad by repeating the field's points in order
    slots = np.arange(k)[None, :] % counts[small, None]
    indices[small] = flat[starts[small, None] + slots]
    big = np.flatnonzero(~small)
    if big.size:
        if spec.pre_processor == "furthest_point_subsampling":
            indices[big] = _subsample_fps(xyz, centers[big], flat, starts[big], counts[big], k)
        else:
            keep = np.repeat(~small, counts)
            field_of = np.repeat(np.arange(big.size), counts[big])
            indices[big] = _subsample_grid(
                xyz, centers[big], flat[keep], field_of, counts[big], k, spec, rng
            )
    return indices


def build_fields(xyz: np.ndarray, spec: FieldSpec, *, seed: int | None = 0) -> ReceptiveFields:
    """Build receptive fields of exactly ``spec.num_points`` points covering a cloud.

    Args:
        xyz: (N, 3) coordinates.
        spec: The field parameters.
        seed: Random seed (grid subsampling picks random points per voxel); same seed, same
            fields.

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
    dims, _ = NEIGHBORHOODS[spec.neighborhood]
    rng = np.random.default_rng(seed)
    centers = field_centers(xyz, spec)
    tree = cKDTree(xyz[:, :dims])
    chunks = []
    for start in range(0, len(centers), _CENTRE_CHUNK):
        chunks.append(_fields_of_chunk(xyz, tree, centers[start:start + _CENTRE_CHUNK], spec, rng))
        logger.info("receptive fields: %d / %d built", min(start + _CENTRE_CHUNK, len(centers)), len(centers))
    return ReceptiveFields(indices=np.concatenate(chunks), centers=centers, xyz=xyz)


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
