"""JSON Schema of ``pre_processing.training_class_distribution``, shared by every pre-processor's
schema (PointNet's and the autoencoder's ``hierarchical_fps``); apart from the sampling code
(:mod:`vl3d_focal.data.field_centres`, which imports SciPy) so that reading a spec does not import
SciPy.

Example:
    >>> class_distribution_schema()["default"] is None
    True
"""

from __future__ import annotations

from typing import Any


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
