"""A naive VL3D-style class-weighted focal loss, written straight from seed 000's formula.

It is the "what a user would write" peer of the loss benchmark: softmax, clip, log and one-hot
labels, with the gradient left to TensorFlow's autograd::

    L = -(sum_b alpha*_b)^-1 * sum_b alpha*_b (1 - z*_b)^gamma ln(z*_b)

with ``z*_b`` the (clipped) softmax probability of the reference class of point ``b`` and
``alpha*_b`` the weight of that class.

Example:
    >>> import tensorflow as tf
    >>> value = naive_vl3d_focal_loss(y_true=tf.constant([[1.0, 0.0]]),
    ...                               logits=tf.constant([[2.0, 0.0]]),
    ...                               class_weight=[1.0, 3.0], gamma=2.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

EPSILON = 1e-7  # keras.config.epsilon(), the clip bound a VL3D-style implementation uses


def naive_vl3d_focal_loss(
    *, y_true: tf.Tensor, logits: tf.Tensor, class_weight: Sequence[float], gamma: float
) -> tf.Tensor:
    """Seed 000's point-wise class-weighted focal cross-entropy, computed the direct way.

    Args:
        y_true: one-hot labels ``(..., C)``.
        logits: logits ``(..., C)`` (float32).
        class_weight: the C class weights ``alpha``.
        gamma: the focusing parameter.

    Returns:
        The scalar loss (float32).

    Example:
        >>> import tensorflow as tf
        >>> float(naive_vl3d_focal_loss(y_true=tf.constant([[0.0, 1.0]]),
        ...                             logits=tf.constant([[0.0, 0.0]]),
        ...                             class_weight=[1.0, 1.0], gamma=0.0))  # ln 2
        0.6931...
    """
    y_true = tf.cast(y_true, tf.float32)
    probabilities = tf.nn.softmax(logits, axis=-1)
    probabilities = tf.clip_by_value(probabilities, EPSILON, 1.0 - EPSILON)
    alpha = tf.constant(list(class_weight), tf.float32)
    z_star = tf.reduce_sum(y_true * probabilities, axis=-1)
    alpha_star = tf.reduce_sum(y_true * alpha, axis=-1)
    per_point = alpha_star * tf.pow(1.0 - z_star, gamma) * tf.math.log(z_star)
    return -tf.reduce_sum(per_point) / tf.reduce_sum(alpha_star)
