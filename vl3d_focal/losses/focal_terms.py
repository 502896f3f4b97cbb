"""Per-point class-weighted focal cross-entropy terms: the maths of the loss.

For a point with (smoothed) label distribution ``y~``, class weights ``alpha`` and predicted
probabilities ``p``::

    term = sum_c alpha_c * y~_c * f(p_c),      f(p) = (1 - p)^gamma * (-ln p)

Every function here takes 2-D inputs ``(points, classes)`` in float32 and returns one value
per point. The logit functions work on log-probabilities (never clip-then-log) and carry a
closed-form gradient (``tf.custom_gradient``): with ``u = ln p_c``,
``df/du = (1 - p)^gamma * (gamma * p * ln(p) / (1 - p) - 1)`` and ``du/dz_k = [k = c] - p_k``.
Writing the slope with ``ln(p) / (1 - p)`` (which tends to -1 as ``p -> 1``) instead of
``(1 - p)^(gamma - 1)`` keeps it finite for every ``gamma >= 0``, ``p = 1`` included.

Example:
    >>> import tensorflow as tf
    >>> logits = tf.constant([[2.0, 0.0, -1.0]])
    >>> terms = sparse_logit_terms(logits, labels=tf.constant([0]),
    ...                            label_weight=tf.constant([1.0]), gamma=2.0)
"""

from __future__ import annotations

import tensorflow as tf


def focal_and_slope(log_p: tf.Tensor, *, gamma: float) -> tuple[tf.Tensor, tf.Tensor]:
    """``f = (1 - p)^gamma * (-ln p)`` and its derivative with respect to ``ln p``.

    Args:
        log_p: log-probabilities (any shape), finite and <= 0.
        gamma: focusing parameter >= 0 (a Python number: the branch is chosen at trace time).

    Returns:
        ``(f, df/dln(p))``, both shaped like ``log_p``.

    Example:
        >>> f, slope = focal_and_slope(tf.constant([-0.1]), gamma=2.0)
    """
    nll = -log_p
    if gamma == 0.0:
        return nll, -tf.ones_like(log_p)
    one_minus_p = -tf.math.expm1(log_p)  # accurate where p is close to 1
    if gamma == 1.0:
        factor = one_minus_p
    elif gamma == 2.0:
        factor = tf.square(one_minus_p)
    else:
        factor = tf.pow(one_minus_p, gamma)
    # ln(p) / (1 - p) -> -1 as p -> 1; one_minus_p == 0 exactly only where log_p == 0.
    ratio = tf.where(one_minus_p > 0.0, tf.math.divide_no_nan(log_p, one_minus_p), -1.0)
    slope = factor * (gamma * tf.exp(log_p) * ratio - 1.0)
    return factor * nll, slope


def sparse_logit_terms(
    logits: tf.Tensor, *, labels: tf.Tensor, label_weight: tf.Tensor, gamma: float
) -> tf.Tensor:
    """``label_weight_i * f(p_{i, labels_i})`` from logits, fused, with a closed-form gradient.

    No one-hot tensor is built in the forward pass: ``ln p_y = z_y - max(z) - ln(sum exp(z - max z))``
    with ``z_y`` gathered; the backward pass rescales ``onehot - softmax`` by one number per
    point. (TensorFlow's fused sparse softmax cross-entropy kernel is slower on CPU.)

    Args:
        logits: ``(M, C)`` float32 logits.
        labels: ``(M,)`` integer class indices in ``[0, C)``.
        label_weight: ``(M,)`` float32 weight of each point's term (e.g. ``alpha_{y_i}``).
        gamma: focusing parameter >= 0.

    Returns:
        ``(M,)`` float32 terms.

    Example:
        >>> t = sparse_logit_terms(tf.zeros((2, 3)), labels=tf.constant([0, 2]),
        ...                        label_weight=tf.ones(2), gamma=0.0)
    """
    num_classes = logits.shape[-1]
    labels = tf.cast(labels, tf.int32)

    @tf.custom_gradient
    def terms(z: tf.Tensor):
        top = tf.reduce_max(z, axis=-1, keepdims=True)
        shifted_exp = tf.exp(z - top)
        total = tf.reduce_sum(shifted_exp, axis=-1)
        z_label = tf.gather(z, labels[:, None], batch_dims=1)[:, 0]
        log_p = z_label - top[:, 0] - tf.math.log(total)
        f, slope = focal_and_slope(log_p, gamma=gamma)

        def grad(upstream: tf.Tensor) -> tf.Tensor:
            # d term / dz = w * slope * (onehot - softmax), softmax = shifted_exp / total
            coef = upstream * label_weight * slope
            onehot = tf.one_hot(labels, num_classes if num_classes is not None else tf.shape(z)[-1],
                                dtype=z.dtype)
            return coef[:, None] * onehot - (coef / total)[:, None] * shifted_exp

        return label_weight * f, grad

    return terms(logits)


def dense_logit_terms(logits: tf.Tensor, *, weights: tf.Tensor, gamma: float) -> tf.Tensor:
    """``sum_c weights_c * f(p_c)`` from logits, with a closed-form gradient.

    Used for soft/one-hot labels (``weights = alpha * y~``) and for the uniform part of
    label smoothing on sparse labels (``weights = alpha * eps / C``).

    Args:
        logits: ``(M, C)`` float32 logits.
        weights: float32 weights broadcastable to ``(M, C)``.
        gamma: focusing parameter >= 0.

    Returns:
        ``(M,)`` float32 terms.

    Example:
        >>> t = dense_logit_terms(tf.zeros((2, 3)), weights=tf.constant([1.0, 0.0, 0.0]),
        ...                       gamma=2.0)
    """

    @tf.custom_gradient
    def terms(z: tf.Tensor):
        log_p = tf.nn.log_softmax(z, axis=-1)
        f, slope = focal_and_slope(log_p, gamma=gamma)

        def grad(upstream: tf.Tensor) -> tf.Tensor:
            h = weights * slope
            total = tf.reduce_sum(h, axis=-1, keepdims=True)
            return upstream[:, None] * (h - tf.exp(log_p) * total)

        return tf.reduce_sum(weights * f, axis=-1), grad

    return terms(logits)


def _focal_of_probability(p: tf.Tensor, *, gamma: float) -> tf.Tensor:
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
