"""Keras layers that move features between the depths of a hierarchical receptive field.

Parameter-free, registered serializable, gathers and element-wise ops only (XLA-compatible):

* :class:`GatherPoints`: the coordinates (or features) of a depth's points from the previous
  depth, by the ``subsample`` indices;
* :class:`NeighborPooling`: each query point gets the ``mean`` of its neighbours' features, or
  their ``gaussian`` weighted mean: weights ``exp(-||y_j - x||^2 / (2 s^2))`` normalised to sum
  one, ``s`` the distance to the query point's farthest neighbour (scale-free; a neighbourhood
  whose neighbours all lie on the query point gets the plain mean). Downsampling and
  upsampling both use it, with their neighbour indices;
* :class:`GroupNeighbors`: each neighbour's position relative to its query point
  concatenated with its features, ``(B, Q, K, 3 + C)``, the input of a PointNet operation;
* :class:`AppendOnes`: prepends a constant-1 feature (KPConv's geometric input feature).

Example:
    >>> import numpy as np
    >>> xyz = np.array([[[0.0, 0, 0], [2.0, 0, 0]]], np.float32)
    >>> feats = np.array([[[1.0], [3.0]]], np.float32)
    >>> NeighborPooling(filter="mean")([xyz[:, :1], xyz, feats, np.array([[[0, 1]]])]).numpy().tolist()
    [[[2.0]]]
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from vl3d_focal.models.kpconv import gather_neighbors, relative_neighbors

POOLING_FILTERS = ("mean", "gaussian")


def _base_config(layer: keras.layers.Layer) -> dict[str, Any]:
    base = keras.layers.Layer.get_config(layer)
    return {key: base[key] for key in ("name", "trainable", "dtype") if key in base}


@keras.saving.register_keras_serializable(package="vl3d_focal")
class GatherPoints(keras.layers.Layer):
    """``values`` ``(B, S, C)`` at ``indices`` ``(B, Q)``: ``(B, Q, C)``; inputs ``[values, indices]``.

    Example:
        >>> import numpy as np
        >>> v = np.arange(6, dtype=np.float32).reshape(1, 3, 2)
        >>> GatherPoints()([v, np.array([[2, 0]])]).numpy().tolist()
        [[[4.0, 5.0], [0.0, 1.0]]]
    """

    def call(self, inputs: Any) -> Any:  # noqa: D102
        values, indices = inputs
        return tf.gather(values, indices, batch_dims=1)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:  # noqa: D102
        return (*tuple(input_shape[1]), input_shape[0][-1])

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return _base_config(self)


@keras.saving.register_keras_serializable(package="vl3d_focal")
class NeighborPooling(keras.layers.Layer):
    """Mean or gaussian-weighted mean of the neighbours' features of each query point.

    Inputs ``[query_xyz (B, Q, 3), support_xyz (B, S, 3), support_features (B, S, C),
    neighbors (B, Q, K)]``; output ``(B, Q, C)``.

    Args:
        filter: ``"mean"`` or ``"gaussian"`` (see the module docstring).
        name: the layer's name.
        trainable: Keras' flag.
        dtype: Keras' dtype policy.

    Example:
        >>> import numpy as np
        >>> xyz = np.array([[[0.0, 0, 0], [0.0, 0, 0], [1.0, 0, 0]]], np.float32)
        >>> feats = np.array([[[0.0], [0.0], [1.0]]], np.float32)
        >>> out = NeighborPooling(filter="gaussian")([xyz[:, :1], xyz, feats, np.array([[[1, 2]]])])
        >>> round(float(out[0, 0, 0]), 4)  # weights 1 and exp(-1/2), normalised
        0.3775
    """

    def __init__(
        self,
        *,
        filter: str = "mean",
        name: str | None = None,
        trainable: bool = True,  # noqa: A002
        dtype: Any = None,
    ):
        super().__init__(name=name, trainable=trainable, dtype=dtype)
        if filter not in POOLING_FILTERS:
            raise ValueError(f"NeighborPooling: filter must be one of {list(POOLING_FILTERS)}, received {filter!r}")
        self.filter = filter

    def call(self, inputs: Any) -> Any:  # noqa: D102
        query_xyz, support_xyz, support_features, neighbors = inputs
        features = gather_neighbors(support_features, neighbors)  # (B, Q, K, C)
        if self.filter == "mean":
            return tf.reduce_mean(features, axis=2)
        squared = tf.reduce_sum(tf.square(relative_neighbors(query_xyz, support_xyz, neighbors)), axis=-1)
        scale = tf.reduce_max(squared, axis=-1, keepdims=True)  # (B, Q, 1)
        safe = tf.where(scale > 0.0, scale, tf.ones_like(scale))
        weights = tf.nn.softmax(-squared / (2.0 * safe), axis=-1)  # (B, Q, K)
        return tf.einsum("bqk,bqkc->bqc", weights, features)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:  # noqa: D102
        return (*tuple(input_shape[0][:2]), input_shape[2][-1])

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**_base_config(self), "filter": self.filter}


@keras.saving.register_keras_serializable(package="vl3d_focal")
class GroupNeighbors(keras.layers.Layer):
    """Relative positions and features of each query point's neighbours, ``(B, Q, K, 3 + C)``.

    Inputs as :class:`NeighborPooling`'s.

    Example:
        >>> import numpy as np
        >>> xyz = np.array([[[1.0, 0, 0], [3.0, 0, 0]]], np.float32)
        >>> GroupNeighbors()([xyz, xyz, np.ones((1, 2, 1), np.float32), np.array([[[1], [0]]])]).numpy()[0, :, 0].tolist()
        [[2.0, 0.0, 0.0, 1.0], [-2.0, 0.0, 0.0, 1.0]]
    """

    def call(self, inputs: Any) -> Any:  # noqa: D102
        query_xyz, support_xyz, support_features, neighbors = inputs
        return tf.concat(
            [relative_neighbors(query_xyz, support_xyz, neighbors), gather_neighbors(support_features, neighbors)],
            axis=-1,
        )

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:  # noqa: D102
        return (*tuple(input_shape[3]), 3 + input_shape[2][-1])

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return _base_config(self)


@keras.saving.register_keras_serializable(package="vl3d_focal")
class AppendOnes(keras.layers.Layer):
    """``(B, P, C)`` features with a constant-1 feature put first: ``(B, P, 1 + C)`` (C may be 0).

    Example:
        >>> import numpy as np
        >>> AppendOnes()(np.zeros((1, 2, 0), np.float32)).numpy().tolist()
        [[[1.0], [1.0]]]
    """

    def call(self, inputs: Any) -> Any:  # noqa: D102
        ones = tf.ones(tf.concat([tf.shape(inputs)[:-1], [1]], axis=0), dtype=inputs.dtype)
        return tf.concat([ones, inputs], axis=-1)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:  # noqa: D102
        return (*tuple(input_shape[:-1]), 1 + input_shape[-1])

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return _base_config(self)
