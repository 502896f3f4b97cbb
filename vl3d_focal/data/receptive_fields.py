"""Receptive fields: fixed-size point sets that together cover every point of a cloud.

Field centres (:func:`field_centers`) follow ``support_strategy``: ``grid``, one centre per occupied
cell of a grid of spacing ``separation_factor * radius`` (cells in 3D for
``sphere``/``rectangular3D``, in the xy plane for ``cylinder``/``rectangular2D``), the mean of the
cell's points or, with ``center_on_pcloud``, its point nearest that mean; or ``fps``, the
``support_strategy_num_points`` furthest points of the cloud
(:mod:`~vl3d_focal.data.field_centres`). Any point farther than ``radius`` from every such centre
gets an extra centre from a finer grid whose cells fit inside the neighbourhood, so every point lies
in the neighbourhood of at least one field and is predicted; training fields with ``fps`` are
VL3D's, the furthest points only (``training=True``, :attr:`FieldSpec.training_differs`). Each
neighbourhood (cKDTree ball query: Euclidean for sphere/cylinder, Chebyshev for the rectangular
ones, ``radius`` = half side) is then brought to exactly ``num_points`` points: furthest-point
subsampling (exact, float32, batched over fields of similar sizes in numpy, the batches spread over
the CPU cores, started at the point nearest the centre) or grid subsampling (one seeded-random point
per voxel first, see :func:`point_priorities`), and fields with fewer points are padded by repeating
their points in order. A field depends only on the points near its centre and their ids in the cloud
(:func:`fields_at_centers`), so a cloud can be processed tile by tile with the same fields. The
coordinates fed to a model are centred on the field's centre and divided by the radius (``scale``)
or by the distance of the field's farthest point (``to_unit_sphere``), see
:func:`field_coordinates`.

A ``furthest_point_subsampling`` radius of 0 is VL3D's whole-cloud field: one field per cloud,
centred on the mean of its points, holding all of them (brought to ``num_points`` as any field),
its coordinates centred only (VL3D's); such a cloud is predicted in one go
(:attr:`FieldSpec.whole_cloud`).

Example:
    >>> spec = FieldSpec(neighborhood="sphere", radius=3.0, num_points=256)
    >>> fields = build_fields(cloud.xyz, spec, seed=0)
    >>> field_coordinates(cloud.xyz, fields, spec).shape[1:]
    (256, 3)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from vl3d_focal.data.field_centres import coverage_centres, fps_centres, grid_centres
from vl3d_focal.data.field_schemas import SUPPORT_STRATEGIES
from vl3d_focal.data.grid_layout import neighbourhood_layout
from vl3d_focal.data.parallel import cpu_threads
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
_VL3D_KEYS = (
    "support_strategy",
    "support_strategy_num_points",
    "center_on_pcloud",
    "to_unit_sphere",
    "num_encoding_neighbors",
)
"""``pre_processing`` keys of VL3D's receptive fields that a :class:`FieldSpec` holds as they are named."""


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
    support_strategy: str = "grid"
    support_strategy_num_points: int = 1000
    center_on_pcloud: bool = False
    to_unit_sphere: bool = False
    num_encoding_neighbors: int = 1

    def __post_init__(self) -> None:
        # VL3D compares these names case-insensitively
        canonical = {name.lower(): name for name in NEIGHBORHOODS}
        object.__setattr__(self, "neighborhood", canonical.get(str(self.neighborhood).lower(), self.neighborhood))
        object.__setattr__(self, "support_strategy", str(self.support_strategy).lower())
        issues = []
        if self.pre_processor not in PRE_PROCESSORS:
            issues.append(
                SpecIssue("$.pre_processor", f"expected one of {list(PRE_PROCESSORS)}, received {self.pre_processor!r}")
            )
        if self.neighborhood not in NEIGHBORHOODS:
            issues.append(
                SpecIssue(
                    "$.neighborhood.type", f"expected one of {list(NEIGHBORHOODS)}, received {self.neighborhood!r}"
                )
            )
        if not self.radius >= 0 or (self.radius == 0 and self.pre_processor != "furthest_point_subsampling"):
            issues.append(
                SpecIssue(
                    "$.neighborhood.radius",
                    f"expected > 0 (0: the whole cloud, with furthest_point_subsampling), received {self.radius}",
                )
            )
        if not self.separation_factor > 0:
            issues.append(
                SpecIssue("$.neighborhood.separation_factor", f"expected > 0, received {self.separation_factor}")
            )
        if int(self.num_points) != self.num_points or self.num_points < 1:
            issues.append(SpecIssue("$.num_points", f"expected an integer >= 1, received {self.num_points}"))
        if self.support_strategy not in SUPPORT_STRATEGIES:
            issues.append(
                SpecIssue(
                    "$.support_strategy",
                    f"expected one of {list(SUPPORT_STRATEGIES)}, received {self.support_strategy!r}",
                )
            )
        for name in ("support_strategy_num_points", "num_encoding_neighbors"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                issues.append(SpecIssue(f"$.{name}", f"expected an integer >= 1, received {value}"))
        if issues:
            raise SpecError(issues)

    @property
    def whole_cloud(self) -> bool:
        """VL3D's radius 0: one field per cloud (``FieldSpec(radius=0.0).whole_cloud`` is True)."""
        return self.radius == 0

    @property
    def training_differs(self) -> bool:
        """Training fields differ from prediction's only with ``fps``: VL3D's support points, no extra one."""
        return self.support_strategy == "fps"

    @property
    def reach(self) -> float:
        """The distance bound of a field's neighbourhood: the radius, infinite for a whole-cloud field."""
        return math.inf if self.whole_cloud else self.radius

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FieldSpec:
        """Build from a ``pre_processing`` dict (missing keys take the defaults); a
        ``grid_subsampling`` one without ``neighborhood`` is VL3D's layout (``sphere_radius``,
        ``separation_factor``, ``cell_size``: :mod:`vl3d_focal.config.pre_processing_schema`).

        Example:
            >>> FieldSpec.from_config({}).num_points
            512
            >>> grid = FieldSpec.from_config({"pre_processor": "grid_subsampling", "sphere_radius": 0.2,
            ...                               "separation_factor": 0.86, "cell_size": [0.1, 0.1, 0.1]})
            >>> grid.neighborhood, grid.radius, grid.separation_factor, grid.num_points
            ('sphere', 0.2, 0.86, 8000)
        """
        hood, num_points = neighbourhood_layout(config)
        return cls(
            pre_processor=config.get("pre_processor", cls.pre_processor),
            neighborhood=hood.get("type", cls.neighborhood),
            radius=float(hood.get("radius", cls.radius)),
            separation_factor=float(hood.get("separation_factor", cls.separation_factor)),
            num_points=int(config.get("num_points", cls.num_points) if num_points is None else num_points),
            scale=bool(config.get("scale", cls.scale)),
            **{name: type(getattr(cls, name))(config.get(name, getattr(cls, name))) for name in _VL3D_KEYS},
        )

    def to_config(self) -> dict[str, Any]:
        """The ``pre_processing`` dict (JSON-able) that :meth:`from_config` reads.

        Example:
            >>> FieldSpec().to_config()["neighborhood"]["type"]
            'sphere'
        """
        return {
            "pre_processor": self.pre_processor,
            "neighborhood": {
                "type": self.neighborhood,
                "radius": self.radius,
                "separation_factor": self.separation_factor,
            },
            "num_points": self.num_points,
            "scale": self.scale,
            **{name: getattr(self, name) for name in _VL3D_KEYS},
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
            >>> fields = build_fields(cloud.xyz, FieldSpec(radius=3.0, num_points=64), seed=0)
            >>> bool(fields.covered_mask(cloud.num_points).all())
            True
        """
        mask = np.zeros(num_points_total, dtype=bool)
        mask[self.indices.ravel()] = True
        return mask


def field_centers(xyz: np.ndarray, spec: FieldSpec, *, training: bool = False) -> np.ndarray:
    """Field centres whose neighbourhoods together contain every point, (M, 3).

    The centres of ``spec.support_strategy`` (module docstring), then one per occupied cell of a
    finer grid over the points outside every field (logged, at INFO where
    :attr:`FieldSpec.training_differs`; there, none with ``training``: VL3D's support points only).

    Example:
        >>> field_centers(np.zeros((5, 3)), FieldSpec()).tolist()
        [[0.0, 0.0, 0.0]]
    """
    if spec.whole_cloud:
        return np.asarray(xyz, dtype=np.float64).mean(axis=0, keepdims=True)
    dims, p = NEIGHBORHOODS[spec.neighborhood]
    on_cloud = spec.center_on_pcloud
    if spec.support_strategy == "fps":
        centers = fps_centres(xyz, count=spec.support_strategy_num_points, dims=dims)
    else:
        centers = grid_centres(xyz, cell=spec.separation_factor * spec.radius, dims=dims, on_cloud=on_cloud)
    if training and spec.training_differs:
        return centers
    purpose = "in a training field" if training else "predicted"
    level = logging.INFO if spec.training_differs else logging.DEBUG  # training leaves them out: told; a grid's: usual
    extra = coverage_centres(
        xyz, centers, radius=spec.radius, dims=dims, p=p, on_cloud=on_cloud, purpose=purpose, level=level
    )
    return np.concatenate([centers, extra])


def _fields_of_chunk(xyz, tree, centers, spec, priority):
    dims, p = NEIGHBORHOODS[spec.neighborhood]
    k = spec.num_points
    lists = tree.query_ball_point(centers[:, :dims], r=spec.reach, p=p, workers=cpu_threads(), return_sorted=True)
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
            indices[big] = furthest_point_subsample(
                xyz, centers=centers[big], members=flat, starts=starts[big], counts=counts[big], k=k
            )
        else:
            keep = np.repeat(~small, counts)
            field_of = np.repeat(np.arange(big.size), counts[big])
            indices[big] = grid_subsample(
                xyz,
                centers=centers[big],
                members=flat[keep],
                field_of=field_of,
                counts=counts[big],
                k=k,
                radius=spec.radius,
                priority=priority,
            )
    return indices


def fields_at_centers(
    xyz: np.ndarray,
    centers: np.ndarray,
    spec: FieldSpec,
    *,
    seed: int | None = 0,
    point_ids: np.ndarray | None = None,
    tree: cKDTree | None = None,
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
        tree: a ``cKDTree`` of ``xyz[:, :dims]`` built before (by :func:`field_tree`), for
            several blocks of centres of the same points; default: built here.

    Raises:
        DataError: A centre with no point within ``radius``.

    Example:
        >>> xyz = np.random.default_rng(0).uniform(0, 10, (500, 3))
        >>> fields_at_centers(xyz, xyz[:2], FieldSpec(radius=3.0, num_points=16)).shape
        (2, 16)
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 3)
    ids = np.arange(len(xyz)) if point_ids is None else np.asarray(point_ids)
    priority = point_priorities(ids, seed=seed) if spec.pre_processor == "grid_subsampling" else None
    tree = field_tree(xyz, spec) if tree is None else tree
    chunks = [np.zeros((0, spec.num_points), dtype=np.int64)]
    with Progress("receptive fields", total=len(centers), unit="fields") as progress:
        for start in range(0, len(centers), _CENTRE_CHUNK):
            chunks.append(_fields_of_chunk(xyz, tree, centers[start : start + _CENTRE_CHUNK], spec, priority))
            progress.update(start + len(chunks[-1]))
    return np.concatenate(chunks)


def field_tree(xyz: np.ndarray, spec: FieldSpec) -> cKDTree:
    """The KD-tree :func:`fields_at_centers` searches: ``xyz``'s coordinates of the field's
    neighbourhood (xy for a cylinder).

    Example:
        >>> field_tree(np.zeros((4, 3)), FieldSpec(neighborhood="cylinder")).m
        2
    """
    dims, _ = NEIGHBORHOODS[spec.neighborhood]
    return cKDTree(np.asarray(xyz, dtype=np.float64)[:, :dims])


def build_fields(xyz: np.ndarray, spec: FieldSpec, *, seed: int | None = 0, training: bool = False) -> ReceptiveFields:
    """Receptive fields of exactly ``spec.num_points`` points at :func:`field_centers`'s centres
    over the (N, 3) coordinates ``xyz``: indices (M, num_points) int64 and centres (M, 3). The same
    ``seed``, the same fields (grid subsampling picks random points per voxel, :func:`point_priorities`).

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
    centers = field_centers(xyz, spec, training=training)
    indices = fields_at_centers(xyz, centers, spec, seed=seed)
    logger.info("receptive fields: %d fields of %d points", len(centers), spec.num_points)
    return ReceptiveFields(indices=indices, centers=centers, xyz=xyz)


def field_coordinates(xyz: np.ndarray, fields: ReceptiveFields, spec: FieldSpec) -> np.ndarray:
    """Coordinates of each field's points relative to its centre, float32 ``(M, num_points, 3)``:
    divided by the distance of the field's farthest point with ``spec.to_unit_sphere`` (VL3D's
    unit sphere), else by the radius with ``spec.scale``.

    Example:
        >>> xyz = np.array([[0.0, 0, 0], [2.0, 0, 0], [0, 1.0, 0]])
        >>> fields = ReceptiveFields(indices=np.array([[0, 1, 2]]), centers=np.zeros((1, 3)))
        >>> field_coordinates(xyz, fields, FieldSpec(radius=4.0, to_unit_sphere=True))[0, :, :2].tolist()
        [[0.0, 0.0], [1.0, 0.0], [0.0, 0.5]]
    """
    coords = np.asarray(xyz, dtype=np.float64)[fields.indices] - fields.centers[:, None, :]
    if spec.to_unit_sphere:
        farthest = np.sqrt(np.max(np.sum(coords**2, axis=2), axis=1))
        coords /= np.where(farthest > 0, farthest, 1.0)[:, None, None]
    elif spec.scale and not spec.whole_cloud:
        coords /= spec.radius
    return coords.astype(np.float32)
