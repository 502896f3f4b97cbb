"""VL3D's ``grid_subsampling`` layout of receptive fields, as this project's fields.

VL3D's ``grid_subsampling`` pre-processor has no ``neighborhood``: ``sphere_radius`` (its fields
are spheres of that radius), ``separation_factor`` (between the field centres, in radii) and
``cell_size`` (each field is a grid of ``round(prod(2 / s))`` cells, ``s`` the cell sides in
radii). It stands for ``{"neighborhood": {"type": "sphere", "radius": sphere_radius,
"separation_factor": separation_factor}, "num_points": cells}`` (:func:`neighbourhood_layout`),
read by :class:`vl3d_focal.data.receptive_fields.FieldSpec` and validated by
:mod:`vl3d_focal.config.pre_processing_schema`.

Example:
    >>> neighbourhood_layout({"pre_processor": "grid_subsampling", "cell_size": [0.2, 0.2, 0.2]})[1]
    1000
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GRID_LAYOUT = {"sphere_radius": 1.0, "separation_factor": 3**0.5 / 4, "cell_size": [0.1, 0.1, 0.1]}
"""VL3D's ``grid_subsampling`` keys that stand for ``neighborhood`` and ``num_points``, with VL3D's
defaults (not schema defaults: a spec with ``neighborhood`` must not receive them)."""
GRID_PRE_PROCESSOR = "grid_subsampling"


def grid_cells(cell_size: list[float]) -> int:
    """The points of a field of VL3D's ``grid_subsampling`` layout: its grid's cells,
    ``prod(2 / s)`` rounded half up (``s``: the cell sides, in radii).

    Example:
        >>> grid_cells([0.1, 0.1, 0.1]), grid_cells([0.2, 0.2, 0.2]), grid_cells([2.0, 2.0, 0.5])
        (8000, 1000, 4)
    """
    share = 1.0
    for side in cell_size:
        share *= side / 2.0
    return int(1.0 / share + 0.5)


def neighbourhood_layout(pre_processing: Mapping[str, Any]) -> tuple[dict[str, Any], int | None]:
    """The ``neighborhood`` object a ``pre_processing`` stands for, and its fields' points where its
    layout sets them (VL3D's ``grid_subsampling`` layout, with VL3D's defaults), else None.

    Example:
        >>> neighbourhood_layout({"pre_processor": "grid_subsampling", "sphere_radius": 0.2})
        ({'type': 'sphere', 'radius': 0.2, 'separation_factor': 0.4330127018922193}, 8000)
        >>> neighbourhood_layout({"neighborhood": {"radius": 2.0}, "num_points": 64})
        ({'radius': 2.0}, None)
    """
    if pre_processing.get("pre_processor") != GRID_PRE_PROCESSOR or "neighborhood" in pre_processing:
        hood = pre_processing.get("neighborhood", {})
        return (dict(hood) if isinstance(hood, dict) else {}), None
    layout = {key: pre_processing.get(key, default) for key, default in GRID_LAYOUT.items()}
    hood = {"type": "sphere", "radius": layout["sphere_radius"], "separation_factor": layout["separation_factor"]}
    sides = layout["cell_size"]
    sized = isinstance(sides, list) and all(isinstance(side, int | float) and side > 0 for side in sides)
    return hood, grid_cells(sides) if sized else None  # else the schema reports the cell sizes
