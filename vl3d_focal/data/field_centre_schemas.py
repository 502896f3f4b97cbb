"""JSON Schemas of the ``pre_processing`` keys that choose the field centres, shared by every
pre-processor's schema (PointNet's and the autoencoder's ``hierarchical_fps``); apart from the
code that reads them (:mod:`vl3d_focal.data.field_centres`, which imports SciPy) so that reading a
spec does not import SciPy.

- :func:`support_schema`: ``support_strategy``, ``support_strategy_num_points`` and
  ``center_on_pcloud`` (the centres of training, validation and prediction fields);
- :func:`class_distribution_schema`: ``training_class_distribution`` (training centres drawn
  per class).

Example:
    >>> class_distribution_schema()["default"] is None
    True
    >>> sorted(support_schema())
    ['center_on_pcloud', 'support_strategy', 'support_strategy_num_points']
"""

from __future__ import annotations

from typing import Any

SUPPORT_STRATEGIES = ("grid", "fps")
SUPPORT_STRATEGY_PATTERN = "^([gG][rR][iI][dD]|[fF][pP][sS])$"
"""``SUPPORT_STRATEGIES`` whatever the case (VL3D compares them case-insensitively)."""


def support_schema() -> dict[str, Any]:
    """JSON Schemas of ``support_strategy``, ``support_strategy_num_points`` and
    ``center_on_pcloud`` (what :class:`vl3d_focal.data.receptive_fields.FieldSpec` holds).

    Example:
        >>> import re
        >>> pattern = support_schema()["support_strategy"]["pattern"]
        >>> [bool(re.match(pattern, name)) for name in ("FPS", "grid", "random")]
        [True, True, False]
    """
    return {
        "support_strategy": {
            "type": "string",
            "pattern": SUPPORT_STRATEGY_PATTERN,
            "examples": list(SUPPORT_STRATEGIES),
            "title": "support strategy",
            "default": "grid",
            "description": "How the field centres (support points) are chosen: 'grid', one centre per "
            "occupied cell of a grid of side separation_factor x radius (the mean of the cell's points; "
            "VL3D takes the grid's nodes and drops those with an empty neighbourhood); 'fps', "
            "support_strategy_num_points furthest points of the cloud. Either way, points left "
            "outside every field get extra centres, so prediction covers every point. Training with "
            "training_class_distribution draws its centres instead.",
        },
        "support_strategy_num_points": {
            "type": "integer",
            "minimum": 1,
            "default": 1000,
            "description": "Number of centres of the 'fps' support strategy (all the points when the cloud "
            "has fewer); a streamed cloud cannot be predicted with 'fps' (set the predict step's "
            "chunk_points to null).",
        },
        "center_on_pcloud": {
            "type": "boolean",
            "default": False,
            "description": "Centre every field on a point of the cloud: the point of its grid cell nearest "
            "to the cell's mean (the 'fps' and training_class_distribution centres are points already).",
        },
    }


def class_distribution_schema() -> dict[str, Any]:
    """JSON Schema of ``pre_processing.training_class_distribution`` (what
    :func:`vl3d_focal.data.field_centres.draw_class_centres` reads).

    Example:
        >>> [branch["title"] for branch in class_distribution_schema()["anyOf"]]
        ['null', 'a list of one count per class']
    """
    return {
        "description": "How many training field centres to draw per class (one count per class, in "
        "class order): each is a random point of that class (seeded by random_seed), at most as many "
        "as the class has points. VL3D's answer to class imbalance; it changes only the training "
        "fields (validation and prediction fields cover their clouds). null: the training fields "
        "cover the training clouds.",
        "default": None,
        "anyOf": [
            {"type": "null", "title": "null"},
            {
                "type": "array",
                "title": "a list of one count per class",
                "minItems": 1,
                "items": {"type": "integer", "minimum": 0},
            },
        ],
    }
