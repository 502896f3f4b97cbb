"""Rigid kernel point convolution (KPConv, Thomas et al. 2019) as a Keras layer.

For a query point ``x`` with neighbours ``y_j`` (support points) carrying features ``f_j``, and
``K`` fixed kernel points ``x_k`` (relative positions) with weight matrices ``W_k`` (C_in x
C_out), the layer computes

    out(x) = sum_j sum_k h(y_j - x, x_k) f_j W_k,     h(y, x_k) = max(0, 1 - ||y - x_k|| / sigma)

(the linear correlation of the paper). The same layer is a KPConv when the queries are the
support points themselves (neighbours: ``num_pwise_neighbors``) and a strided KPConv when the
queries are the next depth's points (neighbours: ``num_downsampling_neighbors``).

Kernel points (:func:`kernel_points`): one at the centre and the others on a Fibonacci lattice
of the sphere of radius ``kernel_radius``: well spread, deterministic, and stored with the
layer's weights, so a saved model keeps them.

Only gathers (``tf.gather`` with ``batch_dims=1``), element-wise ops, an einsum and a matmul:
the layer runs under ``tf.function`` and ``jit_compile=True``.

Example:
    >>> layer = KPConv(filters=4, num_kernel_points=5, kernel_radius=1.0, sigma=1.0)
    >>> xyz = np.zeros((2, 6, 3), np.float32); feats = np.ones((2, 6, 3), np.float32)
    >>> tuple(layer([xyz, xyz, feats, np.zeros((2, 6, 2), np.int32)]).shape)
    (2, 6, 4)
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf


def kernel_points(*, num_kernel_points: int, kernel_radius: float) -> np.ndarray:
    """The rigid kernel: the centre, then ``num_kernel_points - 1`` points on a Fibonacci
    lattice of the sphere of radius ``kernel_radius``, float64 ``(num_kernel_points, 3)``.

    Example:
        >>> points = kernel_points(num_kernel_points=15, kernel_radius=2.0)
        >>> points[0].tolist(), np.linalg.norm(points[1:], axis=1).round(6).tolist() == [2.0] * 14
        ([0.0, 0.0, 0.0], True)
    """
    count = int(num_kernel_points) - 1
    i = np.arange(count) + 0.5
    polar = np.arccos(1.0 - 2.0 * i / max(count, 1))
    azimuth = math.pi * (1.0 + math.sqrt(5.0)) * i
    shell = np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], axis=1)
    return np.concatenate([np.zeros((1, 3)), float(kernel_radius) * shell])


def gather_neighbors(values: Any, neighbors: Any) -> Any:
    """``values`` ``(B, S, C)`` of the neighbours ``(B, Q, K)``: ``(B, Q, K, C)``.

    Example:
        >>> v = np.arange(6, dtype=np.float32).reshape(1, 3, 2)
        >>> gather_neighbors(v, np.array([[[2], [0]]])).numpy().tolist()
        [[[[4.0, 5.0]], [[0.0, 1.0]]]]
    """
    return tf.gather(values, neighbors, batch_dims=1)


def relative_neighbors(query_xyz: Any, support_xyz: Any, neighbors: Any) -> Any:
    """Positions ``(B, Q, K, 3)`` of the neighbours relative to their query point.

    Example:
        >>> q = np.array([[[1.0, 0, 0]]], np.float32); s = np.array([[[3.0, 0, 0]]], np.float32)
        >>> relative_neighbors(q, s, np.zeros((1, 1, 1), np.int32)).numpy().tolist()
        [[[[2.0, 0.0, 0.0]]]]
    """
    return gather_neighbors(support_xyz, neighbors) - tf.expand_dims(query_xyz, axis=2)


@keras.saving.register_keras_serializable(package="vl3d_focal")
class KPConv(keras.layers.Layer):
    """Rigid kernel point convolution; inputs ``[query_xyz, support_xyz, support_features, neighbors]``.

    Shapes: ``query_xyz`` (B, Q, 3), ``support_xyz`` (B, S, 3), ``support_features`` (B, S,
    C_in), ``neighbors`` (B, Q, K) int indices into the support; output (B, Q, filters).

    Args:
        filters: output features C_out.
        num_kernel_points: kernel points (centre included).
        kernel_radius: radius of the sphere of the kernel points, in coordinate units.
        sigma: influence distance of a kernel point, in coordinate units.
        use_bias: add a bias to the output.
        kernel_initializer: Keras initializer of the ``(num_kernel_points, C_in, C_out)`` weights.
        kernel_regularizer: Keras regularizer of those weights, or None.
        kernel_constraint: Keras constraint of those weights, or None.
        name: the layer's name.
        trainable: Keras' flag.
        dtype: Keras' dtype policy.

    Example:
        >>> layer = KPConv(filters=2, num_kernel_points=1, kernel_radius=1.0, sigma=2.0, kernel_initializer="ones")
        >>> xyz = np.array([[[0.0, 0, 0], [1.0, 0, 0]]], np.float32)
        >>> layer([xyz, xyz, np.ones((1, 2, 1), np.float32), np.array([[[0, 1], [1, 0]]])]).numpy().tolist()
        [[[1.5, 1.5], [1.5, 1.5]]]
    """

    def __init__(
        self,
        *,
        filters: int,
        num_kernel_points: int = 15,
        kernel_radius: float = 1.0,
        sigma: float = 1.0,
        use_bias: bool = False,
        kernel_initializer: Any = "glorot_uniform",
        kernel_regularizer: Any = None,
        kernel_constraint: Any = None,
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
    ):
        super().__init__(name=name, trainable=trainable, dtype=dtype)
        self.filters = int(filters)
        self.num_kernel_points = int(num_kernel_points)
        self.kernel_radius = float(kernel_radius)
        self.sigma = float(sigma)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)

    def build(self, input_shape: Any) -> None:  # noqa: D102
        channels = int(input_shape[2][-1])
        points = kernel_points(num_kernel_points=self.num_kernel_points, kernel_radius=self.kernel_radius)
        self.kernel_points = self.add_weight(
            shape=points.shape,
            initializer=keras.initializers.Constant(points.tolist()),
            trainable=False,
            name="kernel_points",
        )
        self.kernel = self.add_weight(
            shape=(self.num_kernel_points, channels, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias") if self.use_bias else None

    def call(self, inputs: Any) -> Any:  # noqa: D102
        query_xyz, support_xyz, support_features, neighbors = inputs
        offsets = relative_neighbors(query_xyz, support_xyz, neighbors)  # (B, Q, K, 3)
        gaps = tf.expand_dims(offsets, axis=3) - tf.cast(self.kernel_points, offsets.dtype)  # (B, Q, K, N, 3)
        influence = tf.nn.relu(1.0 - tf.norm(gaps, axis=-1) / self.sigma)  # (B, Q, K, N)
        features = gather_neighbors(support_features, neighbors)  # (B, Q, K, C)
        per_kernel_point = tf.einsum("bqkn,bqkc->bqnc", influence, features)  # (B, Q, N, C)
        shape = tf.shape(per_kernel_point)
        flat = tf.reshape(per_kernel_point, tf.stack([shape[0], shape[1], -1]))
        kernel = tf.reshape(self.kernel, (-1, self.filters))
        out = tf.matmul(flat, kernel)
        return out + self.bias if self.use_bias else out

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:  # noqa: D102
        return (*tuple(input_shape[0][:2]), self.filters)

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        base = super().get_config()
        return {
            **{key: base[key] for key in ("name", "trainable", "dtype") if key in base},
            "filters": self.filters,
            "num_kernel_points": self.num_kernel_points,
            "kernel_radius": self.kernel_radius,
            "sigma": self.sigma,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
        }
