"""The depths of a hierarchical receptive field as VL3D's ``hierarchical_fps`` pre-processor
gives them (``num_points_per_depth`` and the neighbour counts per depth), checked against each
other; :mod:`vl3d_focal.data.hierarchical_fields` builds the fields' indices from it.

Imports no SciPy, so that validation checks a spec's depths before any work.

Example:
    >>> HierarchySpec.from_config({"num_points_per_depth": [8, 4], "num_pwise_neighbors": [4, 2],
    ...     "num_downsampling_neighbors": [1, 9], "num_upsampling_neighbors": [1, 2]})
    Traceback (most recent call last):
    ...
    vl3d_focal.errors.SpecError: model_args.pre_processing.num_downsampling_neighbors[1]: expected an integer from 1 to 8 (the points it is taken from), received 9
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vl3d_focal.data.hierarchy_defaults import (
    DEFAULT_NUM_DOWNSAMPLING_NEIGHBORS,
    DEFAULT_NUM_POINTS_PER_DEPTH,
    DEFAULT_NUM_PWISE_NEIGHBORS,
    DEFAULT_NUM_UPSAMPLING_NEIGHBORS,
)
from vl3d_focal.errors import SpecError, SpecIssue

_PATH = "model_args.pre_processing"


@dataclass(frozen=True)
class HierarchySpec:
    """The depths of a hierarchical field: points per depth and neighbour counts per depth.

    Every list has one entry per depth (see the module docstring for what entry ``d`` means).
    ``fast_flag_per_depth`` is VL3D's switch to an approximate sampling; it is accepted and
    has no effect here (the exact furthest point sampling is fast enough).

    Example:
        >>> HierarchySpec.from_config({"num_points_per_depth": [64, 16],
        ...     "num_pwise_neighbors": [8, 4], "num_downsampling_neighbors": [1, 4],
        ...     "num_upsampling_neighbors": [1, 2]}).depth
        2
    """

    num_points_per_depth: tuple[int, ...] = DEFAULT_NUM_POINTS_PER_DEPTH
    num_pwise_neighbors: tuple[int, ...] = DEFAULT_NUM_PWISE_NEIGHBORS
    num_downsampling_neighbors: tuple[int, ...] = DEFAULT_NUM_DOWNSAMPLING_NEIGHBORS
    num_upsampling_neighbors: tuple[int, ...] = DEFAULT_NUM_UPSAMPLING_NEIGHBORS
    fast_flag_per_depth: tuple[bool, ...] | None = None

    def __post_init__(self) -> None:
        issues: list[SpecIssue] = []
        points = self.num_points_per_depth
        lists = {
            "num_pwise_neighbors": self.num_pwise_neighbors,
            "num_downsampling_neighbors": self.num_downsampling_neighbors,
            "num_upsampling_neighbors": self.num_upsampling_neighbors,
        }
        if self.fast_flag_per_depth is not None:
            lists["fast_flag_per_depth"] = self.fast_flag_per_depth
        for i, count in enumerate(points):
            if not _is_count(count) or (i and _is_count(points[i - 1]) and count > points[i - 1]):
                issues.append(
                    SpecIssue(
                        f"{_PATH}.num_points_per_depth[{i}]",
                        f"expected an integer >= 1, at most the previous depth's, received {count!r}",
                    )
                )
        if not points:
            issues.append(SpecIssue(f"{_PATH}.num_points_per_depth", "expected at least one depth, received []"))
        for key, values in lists.items():
            if len(values) != len(points):
                issues.append(
                    SpecIssue(
                        f"{_PATH}.{key}",
                        f"expected {len(points)} entries (one per depth, as "
                        f"num_points_per_depth), received {len(values)}",
                    )
                )
        if not issues:
            # (entry, the number of points it is taken from) of every neighbour count
            bounds = {
                "num_pwise_neighbors": points,
                "num_downsampling_neighbors": (1,) + points[:-1],
                "num_upsampling_neighbors": (1,) + points[1:],
            }
            for key, limits in bounds.items():
                for d, (k, limit) in enumerate(zip(lists[key], limits)):
                    if not _is_count(k) or (d and k > limit):
                        expected = f"from 1 to {limit} (the points it is taken from)" if d else ">= 1"
                        issues.append(
                            SpecIssue(f"{_PATH}.{key}[{d}]", f"expected an integer {expected}, received {k!r}")
                        )
        if issues:
            raise SpecError(issues)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HierarchySpec:
        """From a ``pre_processing`` dict of VL3D's ``hierarchical_fps`` (missing keys: defaults)."""

        def ints(key: str, default: Sequence[int]) -> tuple[int, ...]:
            return tuple(config.get(key, default))

        fast = config.get("fast_flag_per_depth")
        return cls(
            num_points_per_depth=ints("num_points_per_depth", DEFAULT_NUM_POINTS_PER_DEPTH),
            num_pwise_neighbors=ints("num_pwise_neighbors", DEFAULT_NUM_PWISE_NEIGHBORS),
            num_downsampling_neighbors=ints("num_downsampling_neighbors", DEFAULT_NUM_DOWNSAMPLING_NEIGHBORS),
            num_upsampling_neighbors=ints("num_upsampling_neighbors", DEFAULT_NUM_UPSAMPLING_NEIGHBORS),
            fast_flag_per_depth=None if fast is None else tuple(fast),
        )

    @property
    def depth(self) -> int:
        """The number of depths D."""
        return len(self.num_points_per_depth)

    def index_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name and per-field shape of every index array, in the order the model takes them.

        Example:
            >>> HierarchySpec(num_points_per_depth=(4,), num_pwise_neighbors=(2,),
            ...               num_downsampling_neighbors=(1,), num_upsampling_neighbors=(1,)).index_shapes()
            {'pwise_neighbors_0': (4, 2)}
        """
        p = self.num_points_per_depth
        shapes: dict[str, tuple[int, ...]] = {"pwise_neighbors_0": (p[0], self.num_pwise_neighbors[0])}
        for d in range(1, self.depth):
            shapes[f"subsample_{d}"] = (p[d],)
            shapes[f"downsampling_neighbors_{d}"] = (p[d], self.num_downsampling_neighbors[d])
            shapes[f"upsampling_neighbors_{d}"] = (p[d - 1], self.num_upsampling_neighbors[d])
            shapes[f"pwise_neighbors_{d}"] = (p[d], self.num_pwise_neighbors[d])
        return shapes


def _is_count(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and bool(value >= 1)
