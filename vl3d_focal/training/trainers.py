"""Which class trains a model: its registry entry's ``trainer`` metadata, resolved here.

A model entry says how it is trained (``keras``, the default, or ``forest``) without naming a
module above ``models/``; :data:`TRAINERS` maps those names to the classes that train it from a
:class:`~vl3d_focal.training.job.TrainingJob` (``Class(job).run() -> ModelBundle``). A third
party's model may give its own trainer as a ``"module:Class"`` reference. The class is imported
when asked for (the Keras engine imports TensorFlow).

Example:
    >>> trainer_reference({"samples": "points", "trainer": "forest"})
    'vl3d_focal.training.forest:ForestTrainer'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vl3d_focal.errors import RegistryError
from vl3d_focal.lazy import load_reference

DEFAULT_TRAINER = "keras"
"""The trainer of a model entry without a ``trainer`` in its metadata."""
TRAINERS: dict[str, str] = {
    DEFAULT_TRAINER: "vl3d_focal.training.engine:Trainer",
    "forest": "vl3d_focal.training.forest:ForestTrainer",
}
"""Trainer name (a model entry's ``trainer`` metadata) -> the class training it."""


def trainer_reference(metadata: Mapping[str, Any]) -> str:
    """The ``"module:Class"`` of the trainer a model entry's ``metadata`` names.

    Raises:
        RegistryError: a name of no trainer that is no ``"module:Class"`` reference either.

    Example:
        >>> trainer_reference({}), trainer_reference({"trainer": "my_package.training:MyTrainer"})
        ('vl3d_focal.training.engine:Trainer', 'my_package.training:MyTrainer')
    """
    named = str(metadata.get("trainer", DEFAULT_TRAINER))
    if named not in TRAINERS and ":" not in named:
        raise RegistryError(
            f"unknown trainer {named!r}; expected one of {list(TRAINERS)} or a 'module:Class' reference"
        )
    return TRAINERS.get(named, named)


def trainer_class(metadata: Mapping[str, Any]) -> Any:
    """The class that trains a model of this registry ``metadata`` (imported now).

    Example:
        >>> trainer_class({"trainer": "forest"}).__name__
        'ForestTrainer'
    """
    return load_reference(trainer_reference(metadata))
