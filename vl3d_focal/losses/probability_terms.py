"""Per-point focal terms from probabilities (``from_logits=False``), clipped like Keras.

The given probabilities are renormalised per point and clipped to ``[epsilon, 1 - epsilon]``
before the log, as ``keras.losses.CategoricalFocalCrossentropy`` does; the gradient is
TensorFlow's autodiff. Logits go through :mod:`vl3d_focal.losses.focal_terms` instead
(log-softmax, no clipping, closed-form gradients).

Written with ``keras.ops``: the same code runs on every Keras backend.

Example:
    >>> import numpy as np
    >>> terms = sparse_probability_terms(np.array([[0.9, 0.1]], "float32"), labels=np.array([0]),
    ...                                  label_weight=np.ones(1, "float32"), gamma=2.0, epsilon=1e-7)
    >>> round(float(terms[0]), 6)  # 0.1^2 * -ln(0.9)
    0.001054
"""

from __future__ import annotations

from typing import Any

from keras import ops

Tensor = Any  # a backend tensor


def _focal_of_probability(p: Tensor, *, gamma: float) -> Tensor:
    """``(1 - p)^gamma * (-ln p)`` (plain cross-entropy for ``gamma = 0``)."""
    nll = -ops.log(p)
    if gamma == 0.0:
        return nll
    return ops.power(1.0 - p, gamma) * nll


def sparse_probability_terms(
    probabilities: Tensor, *, labels: Tensor, label_weight: Tensor, gamma: float, epsilon: float
) -> Tensor:
    """``label_weight_i * f(p_{i, y_i})`` from probabilities renormalised and clipped like Keras.

    Args:
        probabilities: ``(M, C)`` float32, non-negative, not all zero per row.
        labels: ``(M,)`` integer class indices (a label outside ``[0, C)`` gives a NaN term).
        label_weight: ``(M,)`` float32 weights.
        gamma: focusing parameter >= 0.
        epsilon: clipping bound: probabilities are clipped to ``[epsilon, 1 - epsilon]``.

    Returns:
        ``(M,)`` float32 terms.

    Example:
        >>> t = sparse_probability_terms(ops.convert_to_tensor([[0.9, 0.1], [1.8, 0.2]]),
        ...                              labels=ops.convert_to_tensor([0, 1]), label_weight=ops.ones((2,)),
        ...                              gamma=2.0, epsilon=1e-7)
        >>> [round(float(v), 4) for v in ops.convert_to_numpy(t)]  # 0.1^2 * -ln 0.9, 0.9^2 * -ln 0.1
        [0.0011, 1.8651]
    """
    labels = ops.cast(labels, "int32")
    known = ops.logical_and(labels >= 0, labels < ops.shape(probabilities)[-1])
    total = ops.sum(probabilities, axis=-1)
    p_label = ops.take_along_axis(probabilities, ops.where(known, labels, 0)[:, None], axis=1)[:, 0] / total
    p_label = ops.clip(p_label, epsilon, 1.0 - epsilon)
    return ops.where(known, label_weight * _focal_of_probability(p_label, gamma=gamma), float("nan"))


def dense_probability_terms(probabilities: Tensor, *, weights: Tensor, gamma: float, epsilon: float) -> Tensor:
    """``sum_c weights_c * f(p_c)`` from probabilities renormalised and clipped like Keras.

    Args:
        probabilities: ``(M, C)`` float32.
        weights: float32 weights broadcastable to ``(M, C)``.
        gamma: focusing parameter >= 0.
        epsilon: clipping bound.

    Returns:
        ``(M,)`` float32 terms.

    Example:
        >>> t = dense_probability_terms(ops.convert_to_tensor([[0.9, 0.1]]),
        ...                             weights=ops.convert_to_tensor([[0.5, 0.5]]), gamma=2.0,
        ...                             epsilon=1e-7)
        >>> [round(float(v), 4) for v in ops.convert_to_numpy(t)]  # (0.1^2 * -ln 0.9 + 0.9^2 * -ln 0.1) / 2
        [0.9331]
    """
    p = probabilities / ops.sum(probabilities, axis=-1, keepdims=True)
    p = ops.clip(p, epsilon, 1.0 - epsilon)
    return ops.sum(weights * _focal_of_probability(p, gamma=gamma), axis=-1)
