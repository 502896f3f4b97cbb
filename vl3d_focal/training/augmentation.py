"""VL3D's ``training_sequencer``: epoch shuffling and the augmentor's random Rotation, Scale, Jitter.

The transformations apply to the coordinates of each training batch inside the tf.data
pipeline, in the listed order: a rotation of each field about the (normalised) axis through its
centre by an angle drawn per field; a scaling of each field by a factor drawn per field; noise
added to every coordinate of every point. Draws use TensorFlow's stateless random ops seeded by
``(seed, epoch, batch, transformation)``: a batch is augmented the same way whatever ran before
it, so a resumed training sees the batches an uninterrupted one would.

Example:
    >>> sequencer = Sequencer.from_config({"random_shuffle_indices": True, "augmentor": {
    ...     "transformations": [{"type": "Scale", "scale_distribution":
    ...                          {"type": "uniform", "start": 2.0, "end": 2.0}}]}})
    >>> x = tf.ones((1, 2, 3))
    >>> augment_coordinates(x, transformations=sequencer.transformations,
    ...                     seed=tf.constant([1, 2], tf.int64)).numpy()[0, 0].tolist()
    [2.0, 2.0, 2.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from vl3d_focal.errors import DataError


@dataclass(frozen=True)
class Sequencer:
    """What ``model_handling.training_sequencer`` asks for.

    Attributes:
        shuffle: shuffle the fields every epoch (seeded).
        transformations: the augmentor's transformations (types lower-cased, rotation axes unit).
    """

    shuffle: bool = True
    transformations: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> Sequencer:
        """From a normalised ``training_sequencer`` (None: shuffled every epoch, no augmentation).

        Example:
            >>> Sequencer.from_config(None)
            Sequencer(shuffle=True, transformations=())
        """
        if config is None:
            return cls()
        augmentor = config.get("augmentor") or {}
        transformations = tuple(_normalised(t) for t in augmentor.get("transformations", ()))
        return cls(shuffle=bool(config.get("random_shuffle_indices", False)), transformations=transformations)


TRANSFORMATIONS = ("rotation", "scale", "jitter")


def _normalised(transformation: Mapping[str, Any]) -> dict[str, Any]:
    out = {**transformation, "type": str(transformation["type"]).lower()}
    if out["type"] not in TRANSFORMATIONS:
        raise DataError(
            f"training_sequencer.augmentor: expected a transformation type among "
            f"{list(TRANSFORMATIONS)} (any case); got {transformation['type']!r}"
        )
    if out["type"] == "rotation":
        axis = [float(v) for v in transformation.get("axis", (0.0, 0.0, 1.0))]
        norm = math.sqrt(sum(v * v for v in axis))
        if norm == 0:
            raise DataError("training_sequencer.augmentor: a Rotation axis must not be [0, 0, 0]; got it")
        out["axis"] = [v / norm for v in axis]
    return out


def draw(distribution: Mapping[str, Any], *, shape: Any, seed: tf.Tensor) -> tf.Tensor:
    """Stateless float32 samples of a ``uniform`` or ``normal``/``gaussian`` distribution.

    Example:
        >>> float(draw({"type": "uniform", "start": 1.0, "end": 1.0}, shape=[2],
        ...            seed=tf.constant([0, 1], tf.int64))[0])
        1.0
    """
    kind = str(distribution["type"]).lower()
    if kind == "uniform":
        low, high = float(distribution["start"]), float(distribution["end"])
        return low + (high - low) * tf.random.stateless_uniform(shape, seed=seed, dtype=tf.float32)
    return tf.random.stateless_normal(
        shape, seed=seed, mean=float(distribution["mean"]), stddev=float(distribution["stdev"]), dtype=tf.float32
    )


def _rotation_matrices(axis: Sequence[float], angles: tf.Tensor) -> tf.Tensor:
    """``(B, 3, 3)`` rotations by ``angles`` about the unit ``axis`` (Rodrigues' formula)."""
    x, y, z = (float(v) for v in axis)
    cross = tf.constant([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]], tf.float32)
    outer = tf.constant([[x * x, x * y, x * z], [x * y, y * y, y * z], [x * z, y * z, z * z]], tf.float32)
    cos, sin = tf.cos(angles)[:, None, None], tf.sin(angles)[:, None, None]
    return cos * tf.eye(3) + sin * cross + (1.0 - cos) * outer


def augment_coordinates(
    coordinates: tf.Tensor, *, transformations: Sequence[Mapping[str, Any]], seed: tf.Tensor
) -> tf.Tensor:
    """Applies the transformations, in order, to a ``(B, P, 3)`` batch of field coordinates.

    Args:
        coordinates: the batch (centred on each field's centre).
        transformations: from :class:`Sequencer`.
        seed: ``[2]`` stateless seed of this batch.

    Example:
        >>> rotate = [{"type": "rotation", "axis": [0.0, 0.0, 1.0], "angle_distribution":
        ...            {"type": "uniform", "start": math.pi / 2, "end": math.pi / 2}}]
        >>> out = augment_coordinates(tf.constant([[[1.0, 0.0, 5.0]]]), transformations=rotate,
        ...                           seed=tf.constant([3, 4], tf.int64))
        >>> [round(v, 5) + 0.0 for v in out.numpy()[0, 0].tolist()]
        [0.0, 1.0, 5.0]
    """
    batch = tf.shape(coordinates)[0]
    for number, transformation in enumerate(transformations):
        key = tf.random.experimental.stateless_fold_in(seed, number)
        kind = transformation["type"]
        if kind == "rotation":
            angles = draw(transformation["angle_distribution"], shape=[batch], seed=key)
            coordinates = tf.einsum("bij,bpj->bpi", _rotation_matrices(transformation["axis"], angles), coordinates)
        elif kind == "scale":
            factors = draw(transformation["scale_distribution"], shape=[batch], seed=key)
            coordinates = coordinates * factors[:, None, None]
        else:
            coordinates = coordinates + draw(
                transformation["noise_distribution"], shape=tf.shape(coordinates), seed=key
            )
    return coordinates
