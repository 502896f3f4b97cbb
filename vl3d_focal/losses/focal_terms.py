"""Per-point class-weighted focal cross-entropy terms from logits: the maths of the loss.

For a point with (smoothed) label distribution ``y~``, class weights ``alpha`` and predicted
probabilities ``p``::

    term = sum_c alpha_c * y~_c * f(p_c),      f(p) = (1 - p)^gamma * (-ln p)

Every function here takes 2-D logits ``(points, classes)`` in float32 and returns one value
per point. They work on log-probabilities (never clip-then-log) and carry a closed-form
gradient (``tf.custom_gradient``): with ``u = ln p_c``,
``df/du = (1 - p)^gamma * (gamma * p * ln(p) / (1 - p) - 1)`` and ``du/dz_k = [k = c] - p_k``.
For ``gamma >= 1`` the slope is evaluated as ``gamma p ln(p) (1 - p)^(gamma - 1) - (1 - p)^gamma``
(no division); for ``0 < gamma < 1`` with ``ln(p) / (1 - p)`` (which tends to -1 as ``p -> 1``),
so it stays finite for every ``gamma >= 0``, ``p = 1`` included.

Speed: the functions run XLA-compiled kernels (``tf.function(jit_compile=True)``, compiled
once per input shape; under an outer ``jit_compile=True`` they are inlined), a few fused passes
with one ``exp`` per logit instead of a chain of separate TensorFlow ops. The kernels are called
on ``tf.stop_gradient(logits)`` inside ``tf.custom_gradient``: a watching tape then records no
kernel call (eagerly, recording one builds its gradient function at every call).

- Sparse labels (:func:`sparse_logit_terms`): the forward kernel gathers the label entry from
  the flat logits and saves ``exp(z - max z)`` and two numbers per point, the backward kernel
  writes the gradient with a ``class index == label`` comparison fused in: no one-hot tensor.
- One-hot or soft labels (:func:`categorical_logit_terms`): one kernel reads logits and targets
  and checks in one row reduction whether every row is hard (entries 0 or 1, at most one 1).
  If so, labels and ``alpha*`` come from that reduction and the terms, saved tensors and
  backward are the sparse ones (no ``(M, C)`` gradient saved); otherwise a ``tf.cond`` runs
  the dense formula for the batch and the backward multiplies its saved gradient.
- Any weights (:func:`dense_logit_terms`): the forward kernel writes the terms and their
  gradient, the backward multiplies it by the upstream.

Probabilities (``from_logits=False``) are handled by :mod:`vl3d_focal.losses.probability_terms`.

Example:
    >>> import tensorflow as tf
    >>> logits = tf.constant([[2.0, 0.0, -1.0]])
    >>> terms = sparse_logit_terms(logits, labels=tf.constant([0]),
    ...                            label_weight=tf.constant([1.0]), gamma=2.0)
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import tensorflow as tf

_MATRIX = tf.TensorSpec([None, None], tf.float32)
_POINTS = tf.TensorSpec([None], tf.float32)
_LABELS = tf.TensorSpec([None], tf.int32)
_SCALAR = tf.TensorSpec([], tf.float32)
_CLASSES = tf.TensorSpec([None], tf.float32)
_FLAG = tf.TensorSpec([], tf.bool)
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
    """``(terms, exps, coef / total, coef)`` with ``coef = weight * slope`` (saved for backward).

    The label logit is gathered from the flat logits (one fused gather, no index pairs) and
    its exp taken again rather than gathered from ``exps``.
    """
    peak = tf.reduce_max(z, axis=-1)
    exps = tf.exp(z - peak[:, None])
    total = tf.reduce_sum(exps, axis=-1)
    shape = tf.shape(z)
    shifted_label = tf.gather(tf.reshape(z, [-1]), tf.range(shape[0]) * shape[1] + labels) - peak
    exp_label = tf.exp(shifted_label)
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
    """``(sum_c w_c f_c, gradient)`` with ``w * slope - p * sum_c(w_c slope_c)`` as gradient."""
    shifted, exps, total = _softmax_statistics(z)
    inverse = 1.0 / total
    p = exps * inverse
    f, slope = _focal_parts(log_p=shifted - tf.math.log(total), p=p, one_minus_p=(total - exps) * inverse,
                            gamma=gamma, case=case)
    weighted_slope = weights * slope
    grad = weighted_slope - p * tf.reduce_sum(weighted_slope, axis=-1, keepdims=True)
    return tf.reduce_sum(weights * f, axis=-1), grad


def _hard_rows(y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``(code sums, hard)`` from one row reduction over the targets ``y``.

    Entry ``c`` of a row is coded as the integer ``C + c`` if it is 1, 0 if it is 0 and
    ``2 C`` otherwise (NaN included). A row sums to less than ``2 C`` exactly when its entries
    are 0 or 1 with at most one 1; its label is then ``sum - C``, or none for a sum of 0 (a
    row of zeros). ``hard``: every row is so (the int32 sums, at most ``2 C^2``, are exact for
    ``C < 32768``; with more classes ``hard`` is false and the dense formula runs).
    """
    c = tf.shape(y)[-1]
    code = tf.where(tf.equal(y, 1.0), c + tf.range(c), tf.where(tf.equal(y, 0.0), 0, 2 * c))
    total = tf.reduce_sum(code, axis=-1)
    hard = tf.logical_and(tf.logical_not(tf.reduce_any(total >= 2 * c)), c < 32768)
    return total, hard


def _categorical_forward(z: tf.Tensor, y: tf.Tensor, alpha: tf.Tensor, keep: tf.Tensor, gamma: tf.Tensor,
                         *, case: str) -> tuple[tf.Tensor, ...]:
    """``(hard, labels, alpha*, terms, saved, scale, coef)`` from logits and targets.

    ``hard`` (see :func:`_hard_rows`): ``sum_c keep alpha_c y_c f_c`` is then exactly the
    sparse term of the row's label with weight ``keep * alpha*`` (a row of zeros, e.g.
    ``tf.one_hot(-1, C)``, has label 0 and weight 0) and ``saved`` is the sparse
    ``exp(z - max z)``. Otherwise the dense formula gives ``terms``, ``saved`` is their
    gradient, ``labels`` is ``argmax y`` and ``scale``/``coef`` are unused zeros.
    """
    total, hard = _hard_rows(y)

    def sparse() -> tuple[tf.Tensor, ...]:
        labels = tf.maximum(total - tf.shape(y)[-1], 0)
        alpha_star = tf.where(total > 0, tf.gather(alpha, labels), 0.0)
        return (labels, alpha_star) + _sparse_forward(z, labels, keep * alpha_star, gamma, case=case)

    def soft() -> tuple[tf.Tensor, ...]:
        weighted = y * alpha
        values, grad = _dense_kernel(z, keep * weighted, gamma, case=case)
        unused = tf.zeros_like(values)
        return (tf.argmax(y, axis=-1, output_type=tf.int32), tf.reduce_sum(weighted, axis=-1), values, grad,
                unused, unused)

    return (hard,) + tuple(tf.cond(hard, sparse, soft))


def _categorical_backward(upstream: tf.Tensor, saved: tf.Tensor, scale: tf.Tensor, coef: tf.Tensor,
                          labels: tf.Tensor, hard: tf.Tensor) -> tf.Tensor:
    """The sparse backward from the saved exps, or ``upstream * saved`` (the dense gradient)."""
    return tf.cond(hard, lambda: _sparse_backward(upstream, saved, scale, coef, labels),
                   lambda: upstream[:, None] * saved)


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
        elif kind == "categorical_forward":
            def body(z, y, alpha, keep, gamma):
                return _categorical_forward(z, y, alpha, keep, gamma, case=case)
            signature = [_MATRIX, _MATRIX, _CLASSES, _SCALAR, _SCALAR]
        elif kind == "categorical_backward":
            body = _categorical_backward
            signature = [_POINTS, _MATRIX, _POINTS, _POINTS, _LABELS, _FLAG]
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
        values, grad = kernel(tf.stop_gradient(z))  # no tape records the kernel call
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
        values, exps, scale, coef = forward(tf.stop_gradient(z), labels, label_weight, gamma_value)
        return values, lambda upstream: backward(upstream, exps, scale, coef, labels)

    return terms(logits)


class CategoricalTerms(NamedTuple):
    """What :func:`categorical_logit_terms` returns, one value per point.

    Attributes:
        terms: ``label_scale * sum_c alpha_c y_c f(p_c)`` (differentiable in the logits).
        alpha_star: ``sum_c alpha_c y_c`` (no gradient).
        labels: ``argmax_c y_c`` as int32 (no gradient).
    """

    terms: tf.Tensor
    alpha_star: tf.Tensor
    labels: tf.Tensor


def categorical_logit_terms(
    logits: tf.Tensor,
    *,
    targets: tf.Tensor,
    class_weight: tf.Tensor | None,
    gamma: float,
    label_scale: float = 1.0,
) -> CategoricalTerms:
    """Focal terms of one-hot or soft targets, as fast as sparse labels when they are one-hot.

    One kernel reads the logits and the targets: a row reduction over the targets tells
    whether every row is hard (entries 0 or 1, at most one 1; rows of zeros count, with
    weight 0). If so, each row's label and ``alpha*`` come from that reduction and the terms
    and gradient are exactly those of :func:`sparse_logit_terms` (saved ``exp(z - max z)``,
    the sparse backward kernel). Otherwise (any soft, scaled, multi-hot, negative or NaN
    entry) the dense formula of :func:`dense_logit_terms` runs for the whole batch, its
    gradient saved in the same slot. The choice is a ``tf.cond`` inside the kernels (both
    branches give the same shapes), so it also compiles under an outer ``jit_compile=True``.

    Args:
        logits: ``(M, C)`` float32 logits.
        targets: ``(M, C)`` float32 one-hot or soft targets (``y``).
        class_weight: ``(C,)`` float32 class weights ``alpha``; None means all 1.
        gamma: focusing parameter >= 0.
        label_scale: factor of every term (``1 - eps`` for label smoothing), not of ``alpha*``.

    Returns:
        A :class:`CategoricalTerms` of ``(M,)`` tensors; only ``terms`` carries a gradient.

    Example:
        >>> out = categorical_logit_terms(tf.zeros((2, 3)), targets=tf.eye(3)[:2],
        ...                               class_weight=tf.constant([1.0, 2.0, 3.0]), gamma=2.0)
        >>> out.labels.numpy().tolist(), out.alpha_star.numpy().tolist()
        ([0, 1], [1.0, 2.0])
    """
    forward = _kernel(kind="categorical_forward", case=_gamma_case(gamma))
    backward = _kernel(kind="categorical_backward")
    targets = tf.cast(targets, tf.float32)
    if class_weight is None:
        alpha = tf.ones(tf.shape(targets)[-1:], tf.float32)
    else:
        alpha = tf.cast(class_weight, tf.float32)
    keep = tf.constant(label_scale, tf.float32)
    gamma_value = tf.constant(gamma, tf.float32)

    @tf.custom_gradient
    def terms(z: tf.Tensor):
        hard, labels, alpha_star, values, saved, scale, coef = forward(
            tf.stop_gradient(z), targets, alpha, keep, gamma_value)

        def grad(upstream: tf.Tensor, *unused: tf.Tensor) -> tf.Tensor:
            return backward(upstream, saved, scale, coef, labels, hard)

        return (values, alpha_star, labels), grad

    return CategoricalTerms(*terms(logits))


def dense_logit_terms(logits: tf.Tensor, *, weights: tf.Tensor, gamma: float) -> tf.Tensor:
    """``sum_c weights_c * f(p_c)`` from logits, fused, with a closed-form gradient.

    Used for the uniform part of label smoothing (``weights = alpha * eps / C``); one-hot and
    soft labels go through :func:`categorical_logit_terms`, whose dense branch is this formula.

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
