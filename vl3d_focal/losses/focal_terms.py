"""Per-point class-weighted focal cross-entropy terms: the maths of the loss.

For a point with (smoothed) label distribution ``y~``, class weights ``alpha`` and predicted
probabilities ``p``::

    term = sum_c alpha_c * y~_c * f(p_c),      f(p) = (1 - p)^gamma * (-ln p)

Every function here takes 2-D inputs ``(points, classes)`` in float32 and returns one value
per point. The logit functions work on log-probabilities (never clip-then-log) and carry a
closed-form gradient (``tf.custom_gradient``): with ``u = ln p_c``,
``df/du = (1 - p)^gamma * (gamma * p * ln(p) / (1 - p) - 1)`` and ``du/dz_k = [k = c] - p_k``.
For ``gamma >= 1`` the slope is evaluated as ``gamma p ln(p) (1 - p)^(gamma - 1) - (1 - p)^gamma``
(no division); for ``0 < gamma < 1`` with ``ln(p) / (1 - p)`` (which tends to -1 as ``p -> 1``),
so it stays finite for every ``gamma >= 0``, ``p = 1`` included.

Speed: the logit functions run XLA-compiled kernels (``tf.function(jit_compile=True)``,
compiled once per input shape; under an outer ``jit_compile=True`` they are inlined), so each
is one fused pass with one ``exp`` per logit instead of a chain of separate TensorFlow ops.
Sparse labels: the forward kernel saves ``exp(z - max z)`` and two numbers per point, the
backward kernel writes the gradient; no one-hot tensor is built (the label entry is gathered
and a ``class index == label`` comparison is fused into the backward kernel). Dense labels:
the forward kernel writes the terms and their gradient with respect to the logits, the backward pass multiplies it by the upstream.

Example:
    >>> import tensorflow as tf
    >>> logits = tf.constant([[2.0, 0.0, -1.0]])
    >>> terms = sparse_logit_terms(logits, labels=tf.constant([0]),
    ...                            label_weight=tf.constant([1.0]), gamma=2.0)
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

_MATRIX = tf.TensorSpec([None, None], tf.float32)
_POINTS = tf.TensorSpec([None], tf.float32)
_LABELS = tf.TensorSpec([None], tf.int32)
_SCALAR = tf.TensorSpec([], tf.float32)
Kernel = Callable[..., tuple[tf.Tensor, tf.Tensor]]
_KERNELS: dict[tuple[str, str, int], Kernel] = {}


def _gamma_case(gamma: float) -> str:
    """The trace-time branch of the focal factor: exact forms for 0, 1 and 2, ``pow`` otherwise."""
    if gamma == 0.0:
        return "zero"
    if gamma == 1.0:
        return "one"
    if gamma == 2.0:
        return "two"
    return "below_one" if gamma < 1.0 else "above_one"


def _focal_parts(
    *, log_p: tf.Tensor, p: tf.Tensor, one_minus_p: tf.Tensor, gamma: float | tf.Tensor, case: str
) -> tuple[tf.Tensor, tf.Tensor]:
    """``(f, df/dln(p))`` from ``ln p``, ``p`` and ``1 - p`` (all the same shape)."""
    nll = -log_p
    if case == "zero":
        return nll, -tf.ones_like(log_p)
    if case == "one":
        return one_minus_p * nll, p * log_p - one_minus_p
    if case == "two":
        return tf.square(one_minus_p) * nll, one_minus_p * (2.0 * p * log_p - one_minus_p)
    factor = tf.pow(one_minus_p, gamma)
    if case == "above_one":
        slope = gamma * p * log_p * tf.pow(one_minus_p, gamma - 1.0) - factor
    else:  # 0 < gamma < 1: ln(p) / (1 - p) -> -1 as p -> 1; 1 - p == 0 only where ln p == 0.
        ratio = tf.where(one_minus_p > 0.0, tf.math.divide_no_nan(log_p, one_minus_p), -1.0)
        slope = factor * (gamma * p * ratio - 1.0)
    return factor * nll, slope


def focal_and_slope(log_p: tf.Tensor, *, gamma: float) -> tuple[tf.Tensor, tf.Tensor]:
    """``f = (1 - p)^gamma * (-ln p)`` and its derivative with respect to ``ln p``.

    Args:
        log_p: log-probabilities (any shape, any float dtype), finite and <= 0.
        gamma: focusing parameter >= 0 (a Python number: the branch is chosen at trace time).

    Returns:
        ``(f, df/dln(p))``, both shaped like ``log_p``.

    Example:
        >>> f, slope = focal_and_slope(tf.constant([-0.1]), gamma=2.0)
    """
    case = _gamma_case(gamma)
    return _focal_parts(log_p=log_p, p=tf.exp(log_p), one_minus_p=-tf.math.expm1(log_p),
                        gamma=gamma, case=case)


def _softmax_statistics(z: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """``(z - max z, exp(z - max z), sum exp(z - max z))`` row-wise (the sum keeps its axis)."""
    shifted = z - tf.reduce_max(z, axis=-1, keepdims=True)
    exps = tf.exp(shifted)
    return shifted, exps, tf.reduce_sum(exps, axis=-1, keepdims=True)


def _sparse_forward(z: tf.Tensor, labels: tf.Tensor, weight: tf.Tensor, gamma: tf.Tensor, *,
                    case: str) -> tuple[tf.Tensor, ...]:
    """``(terms, exps, coef / total, coef)`` with ``coef = weight * slope`` (saved for backward)."""
    shifted, exps, total = _softmax_statistics(z)
    index = labels[:, None]  # XLA gathers fuse; faster than a masked row sum here
    shifted_label = tf.gather(shifted, index, batch_dims=1)[:, 0]
    exp_label = tf.gather(exps, index, batch_dims=1)[:, 0]
    total = total[:, 0]
    inverse = 1.0 / total
    # 1 - p as (sum of the other exps) / total: no cancellation (the largest exp is exactly 1).
    f, slope = _focal_parts(log_p=shifted_label - tf.math.log(total), p=exp_label * inverse,
                            one_minus_p=(total - exp_label) * inverse, gamma=gamma, case=case)
    coef = weight * slope
    known = (labels >= 0) & (labels < tf.shape(z)[-1])  # outside [0, C): NaN, not a silent value
    return tf.where(known, weight * f, float("nan")), exps, coef * inverse, coef


def _sparse_backward(upstream: tf.Tensor, exps: tf.Tensor, scale: tf.Tensor, coef: tf.Tensor,
                     labels: tf.Tensor) -> tf.Tensor:
    """``upstream * coef * ([k = y] - softmax_k)`` in one pass over the saved exps."""
    hit = _label_hit(labels, num_classes=tf.shape(exps)[-1])
    spread = -(upstream * scale)[:, None] * exps
    return tf.where(hit, spread + (upstream * coef)[:, None], spread)


def _label_hit(labels: tf.Tensor, *, num_classes: tf.Tensor) -> tf.Tensor:
    """``[k == labels_i]`` as a broadcast comparison: fused by XLA, never stored."""
    return tf.equal(tf.range(num_classes)[None, :], labels[:, None])


def _dense_kernel(z: tf.Tensor, weights: tf.Tensor, gamma: tf.Tensor, *, case: str
                  ) -> tuple[tf.Tensor, tf.Tensor]:
    shifted, exps, total = _softmax_statistics(z)
    inverse = 1.0 / total
    p = exps * inverse
    f, slope = _focal_parts(log_p=shifted - tf.math.log(total), p=p, one_minus_p=(total - exps) * inverse,
                            gamma=gamma, case=case)
    weighted_slope = weights * slope
    grad = weighted_slope - p * tf.reduce_sum(weighted_slope, axis=-1, keepdims=True)
    return tf.reduce_sum(weights * f, axis=-1), grad


def _kernel(*, kind: str, case: str = "", weight_rank: int = 0) -> Kernel:
    """An XLA-compiled kernel (built once per variant, compiled once per input shape)."""
    key = (kind, case, weight_rank)
    if key not in _KERNELS:
        if kind == "sparse_forward":
            def body(z, labels, weight, gamma):
                return _sparse_forward(z, labels, weight, gamma, case=case)
            signature = [_MATRIX, _LABELS, _POINTS, _SCALAR]
        elif kind == "sparse_backward":
            body = _sparse_backward
            signature = [_POINTS, _MATRIX, _POINTS, _POINTS, _LABELS]
        else:
            def body(z, weights, gamma):
                return _dense_kernel(z, weights, gamma, case=case)
            signature = [_MATRIX, tf.TensorSpec([None] * weight_rank, tf.float32), _SCALAR]
        _KERNELS[key] = tf.function(body, jit_compile=True, input_signature=signature)
    return _KERNELS[key]


def _with_saved_gradient(logits: tf.Tensor, kernel: Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]
                         ) -> tf.Tensor:
    """Terms whose gradient is ``upstream[:, None] * grad``, both from one kernel call."""

    @tf.custom_gradient
    def terms(z: tf.Tensor):
        values, grad = kernel(z)
        return values, lambda upstream: upstream[:, None] * grad

    return terms(logits)


def sparse_logit_terms(
    logits: tf.Tensor, *, labels: tf.Tensor, label_weight: tf.Tensor, gamma: float
) -> tf.Tensor:
    """``label_weight_i * f(p_{i, labels_i})`` from logits, fused, with a closed-form gradient.

    ``ln p_y = (z_y - max z) - ln(sum exp(z - max z))`` with the label entry gathered; the
    backward kernel fuses a ``class index == label`` comparison, so no one-hot tensor exists.
    The forward kernel saves ``exp(z - max z)`` and two numbers per point; the backward
    kernel writes ``upstream * w * slope * ([k = y] - softmax_k)`` in one pass.

    Args:
        logits: ``(M, C)`` float32 logits.
        labels: ``(M,)`` integer class indices in ``[0, C)`` (a label outside gives a NaN term).
        label_weight: ``(M,)`` float32 weight of each point's term (e.g. ``alpha_{y_i}``).
        gamma: focusing parameter >= 0.

    Returns:
        ``(M,)`` float32 terms.

    Example:
        >>> t = sparse_logit_terms(tf.zeros((2, 3)), labels=tf.constant([0, 2]),
        ...                        label_weight=tf.ones(2), gamma=0.0)
    """
    forward = _kernel(kind="sparse_forward", case=_gamma_case(gamma))
    backward = _kernel(kind="sparse_backward")
    labels = tf.cast(labels, tf.int32)
    label_weight = tf.cast(label_weight, tf.float32)
    gamma_value = tf.constant(gamma, tf.float32)

    @tf.custom_gradient
    def terms(z: tf.Tensor):
        values, exps, scale, coef = forward(z, labels, label_weight, gamma_value)
        return values, lambda upstream: backward(upstream, exps, scale, coef, labels)

    return terms(logits)


def dense_logit_terms(logits: tf.Tensor, *, weights: tf.Tensor, gamma: float) -> tf.Tensor:
    """``sum_c weights_c * f(p_c)`` from logits, fused, with a closed-form gradient.

    Used for soft/one-hot labels (``weights = alpha * y~``) and for the uniform part of
    label smoothing on sparse labels (``weights = alpha * eps / C``).

    Args:
        logits: ``(M, C)`` float32 logits.
        weights: float32 weights broadcastable to ``(M, C)`` (rank 0, 1 or 2).
        gamma: focusing parameter >= 0.

    Returns:
        ``(M,)`` float32 terms.

    Example:
        >>> t = dense_logit_terms(tf.zeros((2, 3)), weights=tf.constant([1.0, 0.0, 0.0]),
        ...                       gamma=2.0)
    """
    weights = tf.cast(weights, tf.float32)
    kernel = _kernel(kind="dense", case=_gamma_case(gamma), weight_rank=weights.shape.rank)
    gamma_value = tf.constant(gamma, tf.float32)
    return _with_saved_gradient(logits, lambda z: kernel(z, weights, gamma_value))


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
