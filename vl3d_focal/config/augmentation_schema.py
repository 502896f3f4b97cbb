"""JSON Schema of ``model_handling.training_sequencer``: VL3D's ``DLSequencer`` and its augmentor.

VL3D's data augmentation transforms the coordinates of each training receptive field, batch by
batch, with random ``Rotation`` (about an axis), ``Scale`` and ``Jitter`` transformations
applied in the listed order, each drawing from a ``uniform`` (``start``, ``end``) or ``normal``
(``mean``, ``stdev``; ``gaussian`` is a synonym) distribution. The runtime is
:mod:`vl3d_focal.training.augmentation`.

Example:
    >>> sorted(training_sequencer_schema()["anyOf"][1]["properties"])
    ['augmentor', 'random_shuffle_indices', 'type']
"""

from __future__ import annotations

from typing import Any

from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.schema_annotations import case_insensitive_pattern

TRANSFORMATIONS = ("Rotation", "Scale", "Jitter")
"""Transformation types of VL3D's augmentor (case-insensitive)."""
DISTRIBUTIONS = {"uniform": ("start", "end"), "normal": ("mean", "stdev"), "gaussian": ("mean", "stdev")}
"""Distribution types (case-insensitive) and their parameters: the types of the same parameters
are one distribution (``gaussian`` is ``normal``)."""


def _distribution_types(parameters: tuple[str, ...]) -> list[str]:
    """The distribution types of :data:`DISTRIBUTIONS` that take ``parameters``."""
    return [name for name, taken in DISTRIBUTIONS.items() if taken == parameters]


def _kind(names: list[str] | tuple[str, ...], what: str) -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": case_insensitive_pattern(names),
        "examples": list(names),
        "title": f"a {what}",
        "description": f"The {what} (case-insensitive).",
    }


def distribution_schema(description: str) -> dict[str, Any]:
    """A random distribution: ``{"type": "uniform", "start", "end"}`` or ``{"type": "normal", "mean", "stdev"}``.

    Example:
        >>> [b["title"] for b in distribution_schema("d")["anyOf"]]
        ['a uniform distribution', 'a normal distribution']
    """
    uniform = closed_object(
        {
            "type": _kind(_distribution_types(DISTRIBUTIONS["uniform"]), "distribution type"),
            "start": {"type": "number", "description": "Lowest value."},
            "end": {"type": "number", "description": "Highest value."},
        },
        required=["type", *DISTRIBUTIONS["uniform"]],
        description="Values drawn uniformly in [start, end).",
        title="a uniform distribution",
    )
    normal = closed_object(
        {
            "type": _kind(_distribution_types(DISTRIBUTIONS["normal"]), "distribution type"),
            "mean": {"type": "number", "description": "Mean."},
            "stdev": {"type": "number", "minimum": 0, "description": "Standard deviation."},
        },
        required=["type", *DISTRIBUTIONS["normal"]],
        description="Values drawn from a normal distribution.",
        title="a normal distribution",
    )
    return {"description": description, "anyOf": [uniform, normal]}


def _transformations() -> dict[str, Any]:
    rotation = closed_object(
        {
            "type": _kind(["Rotation"], "transformation type"),
            "axis": {
                "type": "array",
                "minItems": 3,
                "maxItems": 3,
                "items": {"type": "number"},
                "not": {"items": {"const": 0}},
                "default": [0, 0, 1],
                "description": "The rotation axis (x, y, z), normalised; default the vertical.",
            },
            "angle_distribution": distribution_schema("The angle of each field's rotation, in radians."),
        },
        required=["type", "angle_distribution"],
        description="Rotates each field about the axis through its centre.",
        title="a Rotation",
    )
    scale = closed_object(
        {
            "type": _kind(["Scale"], "transformation type"),
            "scale_distribution": distribution_schema("The factor multiplying each field's coordinates."),
        },
        required=["type", "scale_distribution"],
        description="Scales each field about its centre.",
        title="a Scale",
    )
    jitter = closed_object(
        {
            "type": _kind(["Jitter"], "transformation type"),
            "noise_distribution": distribution_schema("The noise added to each coordinate of each point."),
        },
        required=["type", "noise_distribution"],
        description="Adds noise to every coordinate.",
        title="a Jitter",
    )
    return {
        "type": "array",
        "minItems": 1,
        "items": {"description": "One transformation.", "anyOf": [rotation, scale, jitter]},
        "description": "The transformations, applied in this order to the coordinates fed to the network "
        "(after centring and scaling).",
    }


def training_sequencer_schema() -> dict[str, Any]:
    """``model_handling.training_sequencer`` (null: the default shuffled, unaugmented batches).

    Example:
        >>> training_sequencer_schema()["default"] is None
        True
    """
    sequencer = closed_object(
        {
            "type": {**_kind(["DLSequencer"], "sequencer type"), "default": "DLSequencer"},
            "random_shuffle_indices": {
                "type": "boolean",
                "default": False,
                "description": "Shuffle the training fields at every epoch (seeded by random_seed and the "
                "epoch); false, VL3D's default, feeds them in the same order every epoch.",
            },
            "augmentor": {
                "description": "Data augmentation of the training batches, or null for none.",
                "default": None,
                "anyOf": [
                    {"type": "null", "title": "null"},
                    closed_object(
                        {"transformations": _transformations()},
                        required=["transformations"],
                        description="VL3D's SimpleDataAugmentor.",
                        title="an augmentor object",
                    ),
                ],
            },
        },
        required=[],
        description="VL3D's DLSequencer: the order and augmentation of the training batches.",
        title="a sequencer object",
    )
    return {
        "description": "How the training batches are fed: VL3D's DLSequencer with random shuffling and data "
        "augmentation (random per field and batch, seeded by random_seed, the epoch and the batch, "
        "so a resumed training sees the same batches). null: fields shuffled every epoch, no augmentation.",
        "default": None,
        "anyOf": [{"type": "null", "title": "null"}, sequencer],
    }
