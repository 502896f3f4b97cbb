"""TensorFlow's fused kernels of the focal terms (imported only with the TensorFlow backend).

The maths is :mod:`vl3d_focal.losses.focal_ops` (``keras.ops``, shared with JAX and PyTorch);
here its forward and backward bodies are compiled into XLA kernels
(``tf.function(jit_compile=True)``, compiled once per input shape; under an outer
``jit_compile=True`` they are inlined): a few fused passes with one ``exp`` per logit instead of
a chain of separate TensorFlow ops. The kernels are called on ``tf.stop_gradient(logits)``
inside ``tf.custom_gradient``: a watching tape then records no kernel call (eagerly, recording
one builds its gradient function at every call).

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

The functions have the signatures of their :mod:`~vl3d_focal.losses.focal_ops` namesakes.

Example:
    >>> import tensorflow as tf
    >>> logits = tf.constant([[2.0, 0.0, -1.0]])
    >>> terms = sparse_logit_terms(logits, labels=tf.constant([0]),
    ...                            label_weight=tf.constant([1.0]), gamma=2.0)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from vl3d_focal.losses.focal_ops import (
    CategoricalTerms,
    categorical_backward,
    categorical_forward,
    dense_forward,
    gamma_case,
    sparse_backward,
    sparse_forward,
)

_MATRIX = tf.TensorSpec([None, None], tf.float32)
_POINTS = tf.TensorSpec([None], tf.float32)
_LABELS = tf.TensorSpec([None], tf.int32)
_SCALAR = tf.TensorSpec([], tf.float32)
_CLASSES = tf.TensorSpec([None], tf.float32)
_FLAG = tf.TensorSpec([], tf.bool)
Kernel = Callable[..., Any]  # a compiled tf.function returning a tuple of tensors
_KERNELS: dict[tuple[str, str, int], Kernel] = {}


def _kernel(*, kind: str, case: str = "", weight_rank: int = 0) -> Kernel:
    """An XLA-compiled kernel (built once per variant, compiled once per input shape)."""
    key = (kind, case, weight_rank)
    if key not in _KERNELS:
        body: Callable[..., Any]
        if kind == "sparse_forward":

            def sparse_body(z, labels, weight, gamma):
                return sparse_forward(z, labels, weight, gamma, case=case)

            body = sparse_body
            signature = [_MATRIX, _LABELS, _POINTS, _SCALAR]
        elif kind == "sparse_backward":
            body = sparse_backward
            signature = [_POINTS, _MATRIX, _POINTS, _POINTS, _LABELS]
        elif kind == "categorical_forward":

            def categorical_body(z, y, alpha, keep, gamma):
                return categorical_forward(z, y, alpha, keep, gamma, case=case)

            body = categorical_body
            signature = [_MATRIX, _MATRIX, _CLASSES, _SCALAR, _SCALAR]
        elif kind == "categorical_backward":
            body = categorical_backward
            signature = [_POINTS, _MATRIX, _POINTS, _POINTS, _LABELS, _FLAG]
        else:

            def dense_body(z, weights, gamma):
                return dense_forward(z, weights, gamma, case=case)

            body = dense_body
            signature = [_MATRIX, tf.TensorSpec([None] * weight_rank, tf.float32), _SCALAR]
        _KERNELS[key] = tf.function(body, jit_compile=True, input_signature=signature, autograph=False)
    return _KERNELS[key]


def _with_saved_gradient(logits: tf.Tensor, kernel: Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]) -> tf.Tensor:
    """Terms whose gradient is ``upstream[:, None] * grad``, both from one kernel call."""

    @tf.custom_gradient
    def terms(z: tf.Tensor):
        values, grad = kernel(tf.stop_gradient(z))  # no tape records the kernel call
        return values, lambda upstream: upstream[:, None] * grad

    return terms(logits)


def sparse_logit_terms(logits: tf.Tensor, *, labels: tf.Tensor, label_weight: tf.Tensor, gamma: float) -> tf.Tensor:
    """:func:`vl3d_focal.losses.focal_ops.sparse_logit_terms` as fused XLA kernels.

    The forward kernel saves ``exp(z - max z)`` and two numbers per point; the backward kernel
    writes ``upstream * w * slope * ([k = y] - softmax_k)`` in one pass (no one-hot tensor).

    Example:
        >>> z = tf.zeros((2, 3))
        >>> with tf.GradientTape() as tape:
        ...     tape.watch(z)
        ...     t = sparse_logit_terms(z, labels=tf.constant([0, 2]), label_weight=tf.ones(2), gamma=0.0)
        >>> [round(v, 4) for v in t.numpy().tolist()]  # gamma 0, p = 1/3: ln 3 per point
        [1.0986, 1.0986]
        >>> tape.gradient(t, z).numpy().astype(float).round(4).tolist()  # softmax - one-hot
        [[-0.6667, 0.3333, 0.3333], [0.3333, 0.3333, -0.6667]]
    """
    forward = _kernel(kind="sparse_forward", case=gamma_case(gamma))
    backward = _kernel(kind="sparse_backward")
    labels = tf.cast(labels, tf.int32)
    label_weight = tf.cast(label_weight, tf.float32)
    gamma_value = tf.constant(gamma, tf.float32)

    @tf.custom_gradient
    def terms(z: tf.Tensor):
        values, exps, scale, coef = forward(tf.stop_gradient(z), labels, label_weight, gamma_value)
        return values, lambda upstream: backward(upstream, exps, scale, coef, labels)

    return terms(logits)


def categorical_logit_terms(
    logits: tf.Tensor, *, targets: tf.Tensor, class_weight: tf.Tensor | None, gamma: float, label_scale: float = 1.0
) -> CategoricalTerms:
    """:func:`vl3d_focal.losses.focal_ops.categorical_logit_terms` as fused XLA kernels.

    One kernel reads logits and targets; for hard rows the saved tensors and the backward are
    the sparse ones, otherwise the dense gradient is saved in the same slot (a ``tf.cond``
    inside the kernels, so it also compiles under an outer ``jit_compile=True``).

    Example:
        >>> out = categorical_logit_terms(tf.zeros((2, 3)), targets=tf.eye(3)[:2],
        ...                               class_weight=tf.constant([1.0, 2.0, 3.0]), gamma=2.0)
        >>> out.labels.numpy().tolist(), out.alpha_star.numpy().tolist()
        ([0, 1], [1.0, 2.0])
    """
    forward = _kernel(kind="categorical_forward", case=gamma_case(gamma))
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
            tf.stop_gradient(z), targets, alpha, keep, gamma_value
        )

        def grad(upstream: tf.Tensor, *unused: tf.Tensor) -> tf.Tensor:
            return backward(upstream, saved, scale, coef, labels, hard)

        return (values, alpha_star, labels), grad

    return CategoricalTerms(*terms(logits))


def dense_logit_terms(logits: tf.Tensor, *, weights: tf.Tensor, gamma: float) -> tf.Tensor:
    """:func:`vl3d_focal.losses.focal_ops.dense_logit_terms` as one fused XLA kernel.

    The forward kernel writes the terms and their gradient; the backward multiplies it by the
    upstream. Used for the uniform part of label smoothing.

    Example:
        >>> t = dense_logit_terms(tf.zeros((2, 3)), weights=tf.constant([1.0, 0.0, 0.0]),
        ...                       gamma=2.0)
        >>> [round(v, 4) for v in t.numpy().tolist()]  # p = 1/3: (2/3)^2 * ln 3
        [0.4883, 0.4883]
    """
    weights = tf.cast(weights, tf.float32)
    kernel = _kernel(kind="dense", case=gamma_case(gamma), weight_rank=weights.shape.rank)
    gamma_value = tf.constant(gamma, tf.float32)
    return _with_saved_gradient(logits, lambda z: kernel(z, weights, gamma_value))
