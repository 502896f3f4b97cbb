"""What a field model takes, as its registry entry says: its receptive fields and its inputs.

A model entry's metadata may name (``"module:function"``, imported when used):

- ``field_spec``: ``(pre_processing) -> FieldSpec``, the receptive fields of its
  ``model_args.pre_processing`` (default :meth:`FieldSpec.from_config`);
- ``field_inputs``: ``(pre_processing, *, coordinates, features) -> [arrays]``, its inputs for a
  batch of fields (default: ``[coordinates, features]``). The hierarchical autoencoder's adds the
  index arrays of its depths; they are built for each batch of fields, so prediction never
  holds them for a whole cloud. The first array is the coordinates, and the others must not
  change when the fields turn about the vertical axis (they depend on distances only): the
  predict steps' ``rotations`` turn the first and build the others once.

Nothing here compares model names.

Example:
    >>> field_spec_for("PointNetPwiseClassifier", {"num_points": 64}).num_points
    64
    >>> field_spec_for("ConvolutionalAutoencoderPwiseClassifier", {"num_points_per_depth": [32, 8]}).num_points
    32
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np

from vl3d_focal.data.receptive_fields import FieldSpec
from vl3d_focal.lazy import load_reference
from vl3d_focal.registry import MODELS

ModelInputs = Callable[..., list[np.ndarray]]
"""``(*, coordinates, features) -> [arrays]``: a model's inputs for a batch of fields."""


def field_spec_for(model_name: str, pre_processing: Mapping[str, Any]) -> FieldSpec:
    """The receptive fields of a model's ``pre_processing``."""
    reference = MODELS.get(model_name).metadata.get("field_spec")
    return FieldSpec.from_config(pre_processing) if reference is None else load_reference(reference)(pre_processing)


def _coordinates_and_features(*, coordinates: np.ndarray, features: np.ndarray) -> list[np.ndarray]:
    return [coordinates, features]


def field_inputs_for(model_name: str, pre_processing: Mapping[str, Any]) -> ModelInputs:
    """``(*, coordinates, features) -> [arrays]`` building a model's inputs for a batch of fields.

    Example:
        >>> make = field_inputs_for("PointNetPwiseClassifier", {})
        >>> [a.shape for a in make(coordinates=np.zeros((2, 4, 3)), features=np.zeros((2, 4, 1)))]
        [(2, 4, 3), (2, 4, 1)]
    """
    reference = MODELS.get(model_name).metadata.get("field_inputs")
    if reference is None:
        return _coordinates_and_features
    return partial(load_reference(reference), dict(pre_processing))
