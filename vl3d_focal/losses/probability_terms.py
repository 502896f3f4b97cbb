"""Per-point focal terms from probabilities (``from_logits=False``), clipped like Keras.

The given probabilities are renormalised per point and clipped to ``[epsilon, 1 - epsilon]``
before the log, as ``keras.losses.CategoricalFocalCrossentropy`` does; the gradient is
TensorFlow's autodiff. Logits go through :mod:`vl3d_focal.losses.focal_terms` instead
(log-softmax, no clipping, closed-form gradients).

Example:
    >>> import tensorflow as tf
    >>> terms = sparse_probability_terms(tf.constant([[0.9, 0.1]]), labels=tf.constant([0]),
    ...                                  label_weight=tf.ones(1), gamma=2.0, epsilon=1e-7)
    >>> round(float(terms[0]), 6)  # 0.1^2 * -ln(0.9)
    0.001054
"""

from __future__ import annotations

import tensorflow as tf


def _focal_of_probability(p: tf.Tensor, *, gamma: float) -> tf.Tensor:
    """``(1 - p)^gamma * (-ln p)`` (plain cross-entropy for ``gamma = 0``)."""
    nll = -tf.math.log(p)
    if gamma == 0.0:
        return nll
    return tf.pow(1.0 - p, gamma) * nll


def sparse_probability_terms(
    probabilities: tf.Tensor,
    *,
    labels: tf.Tensor,
    label_weight: tf.Tensor,
    gamma: float,
    epsilon: float,
) -> tf.Tensor:
    """``label_weight_i * f(p_{i, y_i})`` from probabilities renormalised and clipped like Keras.

    Args:
        probabilities: ``(M, C)`` float32, non-negative, not all zero per row.
        labels: ``(M,)`` integer class indices.
        label_weight: ``(M,)`` float32 weights.
        gamma: focusing parameter >= 0.
        epsilon: clipping bound: probabilities are clipped to ``[epsilon, 1 - epsilon]``.

    Returns:
        ``(M,)`` float32 terms.

    Example:
        >>> t = sparse_probability_terms(tf.constant([[0.9, 0.1]]), labels=tf.constant([0]),
        ...                              label_weight=tf.ones(1), gamma=2.0, epsilon=1e-7)
    """
    total = tf.reduce_sum(probabilities, axis=-1)
    p_label = tf.gather(probabilities, labels, axis=1, batch_dims=1) / total
    p_label = tf.clip_by_value(p_label, epsilon, 1.0 - epsilon)
    return label_weight * _focal_of_probability(p_label, gamma=gamma)


def dense_probability_terms(
    probabilities: tf.Tensor, *, weights: tf.Tensor, gamma: float, epsilon: float
) -> tf.Tensor:
    """``sum_c weights_c * f(p_c)`` from probabilities renormalised and clipped like Keras.

    Args:
        probabilities: ``(M, C)`` float32.
        weights: float32 weights broadcastable to ``(M, C)``.
        gamma: focusing parameter >= 0.
        epsilon: clipping bound.

    Returns:
        ``(M,)`` float32 terms.

    Example:
        >>> t = dense_probability_terms(tf.constant([[0.9, 0.1]]),
        ...                             weights=tf.constant([[1.0, 0.0]]), gamma=2.0, epsilon=1e-7)
    """
    p = probabilities / tf.reduce_sum(probabilities, axis=-1, keepdims=True)
    p = tf.clip_by_value(p, epsilon, 1.0 - epsilon)
    return tf.reduce_sum(weights * _focal_of_probability(p, gamma=gamma), axis=-1)
