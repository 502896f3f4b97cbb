"""The Keras pieces of PointNet's T-Nets: identity start and the orthogonality penalty.

A T-Net predicts a k x k transform as a flat ``(B, k * k)`` tensor whose bias starts as the
identity (:class:`FlatIdentity`); the feature T-Net's transform is pulled towards an
orthogonal matrix by :class:`OrthogonalityPenalty`. All are registered Keras objects, so a
saved model loads once :mod:`vl3d_focal.models` is imported.

Example:
    >>> reg = OrthogonalTransformRegularizer(k=2, weight=1.0)
    >>> float(reg(keras.ops.convert_to_tensor([[1.0, 0.0, 0.0, 1.0]])))
    0.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

ORTHOGONALITY_WEIGHT = 1e-3
"""Default factor of the feature transform's orthogonality penalty."""


@keras.saving.register_keras_serializable(package="vl3d_focal")
class FlatIdentity(keras.initializers.Initializer):
    """Initialises a ``(k * k,)`` bias to the flattened k x k identity matrix.

    Example:
        >>> keras.ops.convert_to_numpy(FlatIdentity()((4,))).tolist()
        [1.0, 0.0, 0.0, 1.0]
    """

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> Any:
        size = int(np.prod(shape))
        k = int(round(size**0.5))
        if k * k != size:
            raise ValueError(f"FlatIdentity needs a square number of values; got shape {shape}")
        return keras.ops.reshape(keras.ops.eye(k, dtype=dtype), tuple(shape))

    def get_config(self) -> dict[str, Any]:
        return {}


@keras.saving.register_keras_serializable(package="vl3d_focal")
class OrthogonalTransformRegularizer(keras.regularizers.Regularizer):
    """Penalty ``weight * mean_batch ||I - A A^T||_F^2`` on flattened k x k transforms ``A``.

    The feature T-Net adds it with an :class:`OrthogonalityPenalty` layer. (Models saved
    before that layer existed carry it as the activity regulariser of the
    ``feature_tnet_matrix`` layer; it is kept so that they load.)

    Args:
        k: size of the transform.
        weight: factor of the penalty.

    Example:
        >>> reg = OrthogonalTransformRegularizer(k=2, weight=1.0)
        >>> float(reg(keras.ops.convert_to_tensor([[1.0, 0.0, 0.0, 1.0]])))
        0.0
    """

    def __init__(self, k: int, weight: float = ORTHOGONALITY_WEIGHT):
        self.k = int(k)
        self.weight = float(weight)

    def __call__(self, x: Any) -> Any:
        a = keras.ops.reshape(x, (-1, self.k, self.k))
        gram = keras.ops.matmul(a, keras.ops.transpose(a, (0, 2, 1)))
        diff = gram - keras.ops.eye(self.k, dtype=gram.dtype)
        return self.weight * keras.ops.mean(keras.ops.sum(keras.ops.square(diff), axis=(1, 2)))

    def get_config(self) -> dict[str, Any]:
        return {"k": self.k, "weight": self.weight}


@keras.saving.register_keras_serializable(package="vl3d_focal")
class OrthogonalityPenalty(keras.layers.Layer):
    """Identity on flattened k x k transforms ``A`` that adds ``weight * mean_batch ||I - A A^T||_F^2``.

    The penalty goes through ``add_loss``, which Keras never rescales (activity regularisers
    are divided by the batch size in some Keras 3 versions, not in others). Being a mean
    over the batch, it stays global under ``tf.distribute``: weighted by each replica's share
    of the global batch (:class:`~vl3d_focal.training.distribution.GlobalLossModel`), the
    replicas' penalties sum to the penalty of the global batch.

    Args:
        k: size of the transform.
        weight: factor of the penalty.
        name: the layer's name.
        trainable: Keras' flag (the layer has no weights).
        dtype: Keras' dtype policy.

    Example:
        >>> layer = OrthogonalityPenalty(k=2, weight=1.0)
        >>> _ = layer(keras.ops.convert_to_tensor([[1.0, 0.0, 0.0, 1.0], [2.0, 0.0, 0.0, 1.0]]))
        >>> [float(loss) for loss in layer.losses]
        [4.5]
    """

    def __init__(
        self,
        *,
        k: int,
        weight: float = ORTHOGONALITY_WEIGHT,
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
    ):
        super().__init__(name=name, trainable=trainable, dtype=dtype)
        self.k = int(k)
        self.weight = float(weight)
        self.penalty = OrthogonalTransformRegularizer(k=self.k, weight=self.weight)

    def call(self, inputs: Any) -> Any:  # noqa: D102
        self.add_loss(self.penalty(inputs))
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:  # noqa: D102
        return input_shape

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        base = super().get_config()
        return {
            **{key: base[key] for key in ("name", "trainable", "dtype") if key in base},
            "k": self.k,
            "weight": self.weight,
        }
