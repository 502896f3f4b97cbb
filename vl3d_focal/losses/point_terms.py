"""The per-point pieces of the class-weighted focal loss, from the user's labels and predictions.

:func:`point_terms` checks and lays out the inputs (:mod:`~vl3d_focal.losses.label_checks`),
flattens the points and computes each point's term with the kernels of the running Keras
backend: TensorFlow's fused XLA kernels (:mod:`~vl3d_focal.losses.focal_terms`, imported only
with the TensorFlow backend) or the ``keras.ops`` functions of
:mod:`~vl3d_focal.losses.focal_ops` (JAX, PyTorch). Written with ``keras.ops``.

Example:
    >>> import numpy as np
    >>> parts = point_terms(np.array([[0, 1]]), np.zeros((1, 2, 2), "float32"), None,
    ...                     class_weight=(1.0, 3.0), gamma=2.0, from_logits=True,
    ...                     label_smoothing=0.0, axis=-1, ignore_class=None)
    >>> [round(float(v), 4) for v in ops.convert_to_numpy(parts.terms)]  # alpha * 0.5^2 * ln 2
    [0.1733, 0.5199]
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any, NamedTuple

import keras
from keras import ops

from vl3d_focal.losses import arguments as args
from vl3d_focal.losses import focal_ops, label_checks, probability_terms
from vl3d_focal.losses.exceptions import LossArgumentError

Tensor = Any  # a backend tensor


class PointTerms(NamedTuple):
    """Flat ``(M,)`` per-point pieces (None where every value would be 1), and the point shape.

    Attributes:
        terms: ``s_i m_i term_i`` (``s`` sample weight, ``m`` 0 for ignored points, else 1).
        alpha_star: ``s_i m_i alpha*_i``, or None (no class weights and no weights).
        weight: ``s_i m_i``, or None.
        valid: ``m_i``, or None (no ignore class).
        point_shape: the dynamic shape of the points (the predictions without the class axis).
    """

    terms: Tensor
    alpha_star: Tensor | None
    weight: Tensor | None
    valid: Tensor | None
    point_shape: Any


def kernels() -> ModuleType:
    """The module computing the terms from logits on the running Keras backend.

    Example:
        >>> kernels().__name__.rsplit(".", 1)[-1] in ("focal_terms", "focal_ops")
        True
    """
    if keras.backend.backend() == "tensorflow":
        from vl3d_focal.losses import focal_terms

        return focal_terms
    return focal_ops


def _check_known_rank(tensor: Tensor, *, argument: str, example: str, hint: str = "") -> None:
    """Raises for a TensorFlow graph tensor of unknown rank (``tf.TensorSpec(None)``)."""
    if getattr(getattr(tensor, "shape", None), "rank", 0) is None:
        raise LossArgumentError(
            f"Argument `{argument}` must have a known rank (an input signature of tf.function gives it, e.g. "
            f"tf.TensorSpec({example})){hint}. Received: a tensor of unknown rank"
        )


def _standardize(
    y_true: Any, y_pred: Any, *, axis: int, class_weight: Sequence[float] | None
) -> tuple[Tensor, Tensor, bool]:
    """float32 predictions with the class axis last, labels, and whether labels are sparse."""
    label_checks.check_dense(y_true, argument="y_true")
    label_checks.check_dense(y_pred, argument="y_pred")
    y_pred = ops.convert_to_tensor(y_pred)
    if y_pred.dtype != "float32":
        y_pred = ops.cast(y_pred, "float32")
    y_true = ops.convert_to_tensor(y_true)
    _check_known_rank(y_true, argument="y_true", example="[None, None, C]")
    _check_known_rank(y_pred, argument="y_pred", example="[None, None, C]")
    shape, rank = tuple(y_pred.shape), len(y_pred.shape)
    if rank < 1:
        raise LossArgumentError(f"Argument `y_pred` must have a class axis (rank >= 1). Received: shape {shape}")
    if not -rank <= axis < rank:
        raise LossArgumentError(
            f"Argument `axis` must be in [-{rank}, {rank}) for predictions of rank {rank}. Received: axis={axis}"
        )
    axis %= rank
    sparse = label_checks.check_layout(y_true_shape=tuple(y_true.shape), y_pred_shape=shape, axis=axis)
    if sparse and len(y_true.shape) == rank:
        y_true = ops.squeeze(y_true, axis=axis)
    if axis != rank - 1:
        perm = [d for d in range(rank) if d != axis] + [axis]
        y_pred = ops.transpose(y_pred, perm)
        if not sparse:
            y_true = ops.transpose(y_true, perm)
    args.check_weights_per_class(class_weight, shape=shape, axis=axis)
    y_true = label_checks.check_points(y_true, y_pred, sparse=sparse)
    return y_true, y_pred, sparse


def _point_weights(sample_weight: Any, *, point_shape: Any, points: Sequence[int | None]) -> Tensor:
    """Sample weights ``(B,)``, ``(B, N)`` or ``(B, N, 1)`` broadcast over the ``points`` (the
    predictions' static shape without the class axis), flat."""
    label_checks.check_dense(sample_weight, argument="sample_weight")
    weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
    _check_known_rank(
        weight,
        argument="sample_weight",
        example="[None, None]",
        hint="; Keras' fit loses it when one compiled model gets sample weights of two ranks: keep one rank",
    )
    rank, point_rank = len(weight.shape), len(points)
    if rank == point_rank + 1 and weight.shape[-1] == 1:
        weight = ops.squeeze(weight, axis=-1)
    elif rank > point_rank:
        raise LossArgumentError(
            f"Argument `sample_weight` must have rank <= {point_rank} (one weight per sample or per "
            f"point), or a trailing axis of size 1. Received: shape {tuple(weight.shape)}"
        )
    if any(size not in (None, 1) and point not in (None, size) for size, point in zip(weight.shape, points)):
        raise LossArgumentError(
            f"Argument `sample_weight` does not fit the points of `y_pred` {tuple(points)}: expected one weight "
            f"per sample {tuple(points[:1])} or per point {tuple(points)}, its leading axes those of the points. "
            f"Received: shape {tuple(weight.shape)}"
        )
    for _ in range(point_rank - len(weight.shape)):
        weight = weight[..., None]
    return ops.reshape(ops.broadcast_to(weight, point_shape), [-1])


def _dense_terms(predictions: Tensor, weights: Tensor, *, gamma: float, from_logits: bool) -> Tensor:
    """``sum_c weights_c f(p_c)`` per point, from logits or probabilities."""
    if from_logits:
        return kernels().dense_logit_terms(predictions, weights=weights, gamma=gamma)
    return probability_terms.dense_probability_terms(
        predictions, weights=weights, gamma=gamma, epsilon=keras.config.epsilon()
    )


def _labelled(target: Tensor, labels: Tensor, ignore_class: int) -> Tensor:
    """One-hot rows that are not ``ignore_class``'s, nor all zero (the one-hot row of a label
    outside [0, C), such as -1: no class, an ignored point as with sparse labels)."""
    return ops.logical_and(ops.not_equal(labels, ignore_class), ops.greater(ops.sum(target, axis=-1), 0.0))


def point_terms(
    y_true: Any,
    y_pred: Any,
    sample_weight: Any,
    *,
    class_weight: Sequence[float] | None,
    gamma: float,
    from_logits: bool,
    label_smoothing: float,
    axis: int,
    ignore_class: int | None,
    mask: Any = None,
) -> PointTerms:
    """Each point's weighted term, ``alpha*``, weight and validity (see :class:`PointTerms`).

    Args:
        y_true: sparse integer labels or one-hot/soft labels.
        y_pred: logits or probabilities, any float dtype (computed in float32).
        sample_weight: None, or weights broadcastable over the points.
        class_weight: C class weights, or None for all 1.
        gamma: focusing parameter >= 0.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1).
        axis: the class axis of ``y_pred``.
        ignore_class: label of ignored points, or None; with one-hot labels, rows of that class
            and all-zero rows are ignored.
        mask: Keras' mask of the predictions (False: a padded point, ignored), or None.

    Returns:
        A :class:`PointTerms`.

    Example:
        >>> parts = point_terms([1, 0], [[0.0, 2.0], [1.0, 0.0]], None, class_weight=None,
        ...                     gamma=0.0, from_logits=True, label_smoothing=0.0, axis=-1,
        ...                     ignore_class=0)
        >>> ops.convert_to_numpy(parts.valid).tolist()
        [1.0, 0.0]
    """
    y_true, y_pred, sparse = _standardize(y_true, y_pred, axis=axis, class_weight=class_weight)
    static_classes = y_pred.shape[-1]
    num_classes = static_classes if static_classes is not None else ops.shape(y_pred)[-1]
    predictions = ops.reshape(y_pred, [-1, num_classes])
    alpha = None if class_weight is None else ops.convert_to_tensor(class_weight, "float32")
    if alpha is not None and static_classes is None:  # the class count is known only when the step runs
        alpha = label_checks.check_class_weight_count(alpha, classes=num_classes)
    eps = label_smoothing
    valid = None
    if sparse:
        labels = ops.reshape(y_true, [-1])
        label_checks.check_sparse_labels(
            labels, num_classes=static_classes, ignore_class=ignore_class, classes=ops.shape(y_pred)[-1]
        )
        # a float label that is no integer (NaN included) poisons the loss where no check can raise (XLA)
        integral = "int" in keras.backend.standardize_dtype(labels.dtype)
        fractional = None if integral else ops.not_equal(ops.floor(labels), labels)
        labels = ops.cast(labels, "int32")
        if ignore_class is not None:
            valid = ops.not_equal(labels, ignore_class)
            labels = ops.where(valid, labels, 0)
            # an ignored point's predictions count for nothing, not even when they are not finite
            neutral = 0.0 if from_logits else 1.0 / ops.cast(num_classes, "float32")  # uniform probabilities
            predictions = ops.where(valid[:, None], predictions, neutral)
        alpha_star = None if alpha is None else ops.take(alpha, ops.clip(labels, 0, num_classes - 1))
        label_weight = ops.ones(ops.shape(labels), "float32") if alpha_star is None else alpha_star
        label_weight = label_weight * (1.0 - eps) if eps else label_weight
        if from_logits:
            terms = kernels().sparse_logit_terms(predictions, labels=labels, label_weight=label_weight, gamma=gamma)
        else:
            terms = probability_terms.sparse_probability_terms(
                predictions, labels=labels, label_weight=label_weight, gamma=gamma, epsilon=keras.config.epsilon()
            )
        if fractional is not None:
            terms = ops.where(fractional, float("nan"), terms)
    elif from_logits:
        target = ops.reshape(ops.cast(y_true, "float32"), [-1, num_classes])
        terms, alpha_star, labels = kernels().categorical_logit_terms(
            predictions, targets=target, class_weight=alpha, gamma=gamma, label_scale=1.0 - eps
        )
        if ignore_class is not None:
            valid = _labelled(target, labels, ignore_class)
    else:
        target = ops.reshape(ops.cast(y_true, "float32"), [-1, num_classes])
        if ignore_class is not None:
            valid = _labelled(target, ops.cast(ops.argmax(target, axis=-1), "int32"), ignore_class)
        weighted = target if alpha is None else target * alpha
        alpha_star = ops.sum(weighted, axis=-1)
        terms = _dense_terms(predictions, weighted * (1.0 - eps) if eps else weighted, gamma=gamma, from_logits=False)
    if eps:  # label smoothing, by linearity: (1 - eps) * the labels' terms + the uniform part
        uniform = eps / ops.cast(num_classes, "float32") * (ops.ones((num_classes,)) if alpha is None else alpha)
        terms = terms + _dense_terms(predictions, uniform, gamma=gamma, from_logits=from_logits)
    point_shape = ops.shape(y_pred)[:-1]
    if mask is not None:
        kept = ops.reshape(ops.cast(mask, "bool"), [-1])
        valid = kept if valid is None else ops.logical_and(valid, kept)
    weight = None if valid is None else ops.cast(valid, "float32")
    if sample_weight is not None:
        point_weight = _point_weights(sample_weight, point_shape=point_shape, points=tuple(y_pred.shape)[:-1])
        weight = point_weight if weight is None else weight * point_weight
    if weight is not None:
        terms = terms * weight
        alpha_star = weight if alpha_star is None else alpha_star * weight
    return PointTerms(
        terms=terms,
        alpha_star=alpha_star,
        weight=weight,
        valid=None if valid is None else ops.cast(valid, "float32"),
        point_shape=point_shape,
    )
