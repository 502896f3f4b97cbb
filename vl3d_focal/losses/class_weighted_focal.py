"""VL3D's class-weighted focal categorical cross-entropy as a serializable Keras loss.

Example:
    >>> import numpy as np
    >>> loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=[1.0, 3.0], gamma=2.0,
    ...                                                  from_logits=True)
    >>> value = loss(np.array([[0, 1]]), np.zeros((1, 2, 2), "float32"))
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple, Sequence

import keras
import numpy as np
import tensorflow as tf

from vl3d_focal.losses import arguments as args
from vl3d_focal.losses import focal_terms, probability_terms
from vl3d_focal.losses.exceptions import LossArgumentError

logger = logging.getLogger(__name__)  # the module logs nothing on the hot path

REDUCTIONS: tuple[str | None, ...] = (
    "class_weighted_mean",
    "sum_over_batch_size",
    "mean",
    "mean_with_sample_weight",
    "sum",
    "none",
    None,
)


class LossParts(NamedTuple):
    """Per-point pieces of the loss, flattened to ``(M,)``; sums of them give every reduction.

    Attributes:
        numerator: ``s_i * m_i * term_i`` (``s`` sample weight, ``m`` 1 unless ignored).
        denominator: ``s_i * m_i * alpha*_i`` (``alpha*_i = sum_c alpha_c y_ic``, unsmoothed).
        weight: ``s_i * m_i``.
        count: ``m_i``.
    """

    numerator: tf.Tensor
    denominator: tf.Tensor
    weight: tf.Tensor
    count: tf.Tensor


def _check_sparse_labels(labels: tf.Tensor, *, num_classes: int, ignore_class: int | None) -> None:
    """Raises :class:`LossArgumentError` naming the (eager) sparse labels outside ``[0, C)``."""
    values = labels.numpy()
    bad = values.view(np.uint32) >= num_classes  # negative labels wrap around to huge values
    if not bad.any():
        return
    found = np.unique(values[bad])
    shown = ", ".join(str(v) for v in found[:10]) + (", ..." if found.size > 10 else "")
    allowed = "" if ignore_class is None else f" or ignore_class={ignore_class}"
    raise LossArgumentError(
        f"`y_true` holds sparse label value(s) outside the class range of the predictions ({num_classes} "
        f"classes): expected integers in [0, {num_classes}){allowed}. Received label value(s) {shown} "
        f"at {int(bad.sum())} point(s)"
    )


def _scale_for_replicas(value: tf.Tensor) -> tf.Tensor:
    """Divides by the replicas in sync, as Keras' own mean reductions do under tf.distribute."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return value / float(replicas) if replicas > 1 else value


@keras.saving.register_keras_serializable(package="vl3d_focal")
class ClassWeightedFocalCategoricalCrossentropy(keras.losses.Loss):
    """Class-weighted focal categorical cross-entropy (VL3D), for point-wise segmentation.

    Per point ``i`` with class weights ``alpha``, probabilities ``p`` (softmax of the logits,
    or the given probabilities renormalised and clipped to ``[eps, 1 - eps]`` like Keras with
    ``eps = keras.config.epsilon()``) and (smoothed) labels ``y~``::

        term_i   = sum_c alpha_c * y~_ic * (1 - p_ic)^gamma * (-ln p_ic)
        alpha*_i = sum_c alpha_c * y_ic                (unsmoothed labels)

    The default reduction ``"class_weighted_mean"`` is VL3D's normalisation
    ``sum_i s_i term_i / sum_i s_i alpha*_i`` over the non-ignored points (``s`` the sample
    weights), 0 with zero gradients when the denominator is 0.
    ``"sum_over_batch_size"``/``"mean"`` divide by the number of non-ignored points (with
    ``class_weight=[0.25] * C`` and probabilities this is ``keras.losses.CategoricalFocalCrossentropy``),
    ``"mean_with_sample_weight"`` by ``sum_i s_i``, ``"sum"`` sums, and ``None``/``"none"``
    return ``s_i * term_i`` per point (0 for ignored points).

    Labels are either integer class indices without the class axis (sparse; ``(B, N)`` or
    ``(B, N, 1)`` for predictions ``(B, N, C)``; no one-hot tensor is built) or one-hot/soft
    labels shaped like the predictions. With dense labels a point is ignored when the argmax
    of its label is ``ignore_class``; with logits, float one-hot labels run the sparse kernels
    when every row is hard (entries 0 or 1, at most one 1) and the dense formula otherwise
    (see :func:`~vl3d_focal.losses.focal_terms.categorical_logit_terms`). A sparse label
    outside ``[0, C)`` (and not ``ignore_class``) raises :class:`LossArgumentError` when the
    loss is called eagerly; inside a graph (``tf.function``, ``model.fit``) it is not checked
    and gives a NaN term. Sample weights of shape ``(B,)``, ``(B, N)`` or
    ``(B, N, 1)`` broadcast over the points. float16/bfloat16 predictions are computed in
    float32 and the result is float32.

    Numerics: with ``from_logits=True`` the loss uses log-softmax (never clip-then-log) and a
    closed-form gradient. Keras' own ``CategoricalFocalCrossentropy`` clips probabilities to
    ``[eps, 1 - eps]`` before the log, so its per-point loss is capped at
    ``-ln(eps) ~ 16.1`` and its gradient is exactly zero once a point's logit margin against
    its true class exceeds about 16 in float32: the most wrong points stop learning. This loss
    has neither flaw: a margin of 100 gives a loss of about 100 and a live gradient.

    For global (cross-replica) reductions use :meth:`compute_parts`: the loss over any set of
    batches is ``sum(numerator) / sum(denominator)``.

    Args:
        class_weight: C non-negative finite floats, one per class; None means all 1.0. Its
            length is checked against the class axis at the first call.
        gamma: focusing parameter >= 0; 0 gives class-weighted cross-entropy.
        from_logits: whether ``y_pred`` holds logits (True) or probabilities.
        label_smoothing: in [0, 1); targets become ``(1 - eps) * y + eps / C``.
        axis: the class axis of ``y_pred``.
        ignore_class: integer label whose points contribute nothing, or None.
        reduction: one of ``REDUCTIONS``.
        name: name of the loss.

    Example:
        >>> loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=[0.25, 0.25, 0.25])
        >>> float(loss([[0., 1., 0.], [0., 0., 1.]], [[0.05, 0.95, 0.], [0.1, 0.8, 0.1]],
        ...            )) > 0
        True
    """

    def __init__(
        self,
        *,
        class_weight: Sequence[float] | None = None,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        ignore_class: int | None = None,
        reduction: str | None = "class_weighted_mean",
        name: str = "class_weighted_focal_categorical_crossentropy",
    ):
        if not isinstance(name, str) or not name:
            raise LossArgumentError(f"Argument `name` must be a non-empty string. Received: name={name!r}")
        super().__init__(name=name, reduction=None, dtype="float32")
        self.class_weight = args.check_class_weight(class_weight)
        self.gamma = args.check_gamma(gamma)
        self.from_logits = args.check_bool(from_logits, argument="from_logits")
        self.label_smoothing = args.check_label_smoothing(label_smoothing)
        self.axis = args.check_int(axis, argument="axis")
        self.ignore_class = args.check_int(ignore_class, argument="ignore_class", allow_none=True)
        self.reduction = args.check_choice(reduction, argument="reduction", allowed=REDUCTIONS)

    # ------------------------------------------------------------------ layout
    def _standardize(self, y_true: Any, y_pred: Any) -> tuple[tf.Tensor, tf.Tensor, bool]:
        """float32 predictions with the class axis last, labels, and whether labels are sparse."""
        y_pred = tf.convert_to_tensor(y_pred)
        y_pred = tf.cast(y_pred, tf.float32)
        y_true = tf.convert_to_tensor(y_true)
        rank = y_pred.shape.rank
        if rank is None or rank < 1:
            raise LossArgumentError(
                f"`y_pred` must have a known rank >= 1 with a class axis. Received shape {y_pred.shape}"
            )
        if not -rank <= self.axis < rank:
            raise LossArgumentError(
                f"Argument `axis` must be in [-{rank}, {rank}) for predictions of rank {rank}. "
                f"Received: axis={self.axis}"
            )
        axis = self.axis % rank
        num_classes = y_pred.shape[axis]
        sparse = y_true.shape.rank == rank - 1
        if y_true.shape.rank == rank and y_true.shape[axis] == 1 and num_classes != 1:
            y_true = tf.squeeze(y_true, axis=axis)
            sparse = True
        elif not sparse and y_true.shape.rank != rank:
            raise LossArgumentError(
                f"`y_true` must be integer labels of shape {y_pred.shape[:axis] + y_pred.shape[axis + 1:]}"
                f" or one-hot labels of shape {y_pred.shape}. Received shape {y_true.shape}"
            )
        if axis != rank - 1:
            perm = [d for d in range(rank) if d != axis] + [axis]
            y_pred = tf.transpose(y_pred, perm)
            if not sparse:
                y_true = tf.transpose(y_true, perm)
        if self.class_weight is not None and num_classes is not None and len(self.class_weight) != num_classes:
            raise LossArgumentError(
                f"Argument `class_weight` has {len(self.class_weight)} values but the predictions "
                f"have {num_classes} classes (axis {self.axis}, shape {tuple(y_pred.shape)}); "
                "expected one weight per class"
            )
        return y_true, y_pred, sparse

    @staticmethod
    def _point_weights(sample_weight: Any, *, point_shape: tf.Tensor, point_rank: int) -> tf.Tensor:
        weight = tf.cast(tf.convert_to_tensor(sample_weight), tf.float32)
        rank = weight.shape.rank
        if rank == point_rank + 1 and weight.shape[-1] == 1:
            weight = tf.squeeze(weight, axis=-1)
        elif rank is None or rank > point_rank:
            raise LossArgumentError(
                f"`sample_weight` must have rank <= {point_rank} (one weight per sample or per "
                f"point), or a trailing axis of size 1. Received shape {weight.shape}"
            )
        for _ in range(point_rank - weight.shape.rank):
            weight = weight[..., None]
        return tf.reshape(tf.broadcast_to(weight, point_shape), [-1])

    # ------------------------------------------------------------------ maths
    def compute_parts(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> LossParts:
        """The per-point numerator/denominator pieces of the loss (for global reductions).

        Summing each field over any set of points (e.g. across replicas) and dividing gives
        the reductions: class-weighted mean ``sum(numerator) / sum(denominator)``,
        ``sum_over_batch_size`` ``sum(numerator) / sum(count)``, ``mean_with_sample_weight``
        ``sum(numerator) / sum(weight)``.

        Args:
            y_true: sparse integer labels or one-hot/soft labels.
            y_pred: logits or probabilities.
            sample_weight: optional weights broadcastable over the points.

        Returns:
            A :class:`LossParts` of ``(M,)`` float32 tensors, ``M`` the number of points.

        Example:
            >>> loss = ClassWeightedFocalCategoricalCrossentropy(from_logits=True)
            >>> parts = loss.compute_parts([1, 0], [[0.0, 2.0], [1.0, 0.0]])
            >>> ratio = float(tf.reduce_sum(parts.numerator) / tf.reduce_sum(parts.denominator))
        """
        terms, alpha_star, weight, valid = self._point_terms(y_true, y_pred, sample_weight)
        ones = tf.ones_like(terms)
        return LossParts(
            numerator=terms,
            denominator=ones if alpha_star is None else alpha_star,
            weight=ones if weight is None else weight,
            count=ones if valid is None else valid,
        )

    def _point_terms(self, y_true: Any, y_pred: Any, sample_weight: Any):
        """``(term, alpha* or None (all 1), s*m or None (all 1), m or None (all 1))``, flat.

        ``term`` is already multiplied by ``s * m`` when weights are present.
        """
        y_true, y_pred, sparse = self._standardize(y_true, y_pred)
        num_classes = y_pred.shape[-1] if y_pred.shape[-1] is not None else tf.shape(y_pred)[-1]
        predictions = tf.reshape(y_pred, [-1, num_classes])
        alpha = None if self.class_weight is None else tf.constant(self.class_weight, tf.float32)
        eps = self.label_smoothing
        valid = None
        if sparse:
            labels = tf.reshape(tf.cast(y_true, tf.int32), [-1])
            if self.ignore_class is not None:
                valid = tf.not_equal(labels, self.ignore_class)
                labels = tf.where(valid, labels, 0)
            if tf.executing_eagerly():  # in graphs a label outside [0, C) gives a NaN term
                _check_sparse_labels(labels, num_classes=int(num_classes), ignore_class=self.ignore_class)
            alpha_star = None if alpha is None else tf.gather(alpha, labels)
            terms = self._sparse_terms(predictions, labels, alpha_star, alpha, num_classes)
        elif self.from_logits:
            target = tf.reshape(tf.cast(y_true, tf.float32), [-1, num_classes])
            terms, alpha_star, labels = focal_terms.categorical_logit_terms(
                predictions, targets=target, class_weight=alpha, gamma=self.gamma, label_scale=1.0 - eps)
            if self.ignore_class is not None:
                valid = tf.not_equal(labels, self.ignore_class)
            if eps:
                terms = terms + self._dense_terms(predictions, self._uniform_weights(alpha, num_classes))
        else:
            target = tf.reshape(tf.cast(y_true, tf.float32), [-1, num_classes])
            if self.ignore_class is not None:
                valid = tf.not_equal(tf.argmax(target, axis=-1, output_type=tf.int32), self.ignore_class)
            weighted = target if alpha is None else target * alpha
            alpha_star = tf.reduce_sum(weighted, axis=-1)
            if eps:
                smoothed = target * (1.0 - eps) + eps / tf.cast(num_classes, tf.float32)
                weighted = smoothed if alpha is None else smoothed * alpha
            terms = self._dense_terms(predictions, weighted)
        if valid is not None:
            valid = tf.cast(valid, tf.float32)
        weight = valid
        if sample_weight is not None:
            point_weight = self._point_weights(
                sample_weight, point_shape=tf.shape(y_pred)[:-1], point_rank=y_pred.shape.rank - 1
            )
            weight = point_weight if weight is None else weight * point_weight
        if weight is not None:
            terms = terms * weight
            alpha_star = weight if alpha_star is None else alpha_star * weight
        return terms, alpha_star, weight, valid

    def _sparse_terms(self, predictions, labels, alpha_star, alpha, num_classes) -> tf.Tensor:
        eps, gamma = self.label_smoothing, self.gamma
        if alpha_star is None:
            alpha_star = tf.ones_like(labels, tf.float32)
        label_weight = alpha_star * (1.0 - eps) if eps else alpha_star
        if self.from_logits:
            terms = focal_terms.sparse_logit_terms(
                predictions, labels=labels, label_weight=label_weight, gamma=gamma
            )
        else:
            terms = probability_terms.sparse_probability_terms(
                predictions, labels=labels, label_weight=label_weight, gamma=gamma,
                epsilon=keras.config.epsilon(),
            )
        if eps:
            terms = terms + self._dense_terms(predictions, self._uniform_weights(alpha, num_classes))
        return terms

    def _uniform_weights(self, alpha: tf.Tensor | None, num_classes: int | tf.Tensor) -> tf.Tensor:
        """``alpha * eps / C``: the class weights of the uniform part of label smoothing."""
        uniform = self.label_smoothing / tf.cast(num_classes, tf.float32)
        return uniform * (tf.ones([num_classes], tf.float32) if alpha is None else alpha)

    def _dense_terms(self, predictions: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
        if self.from_logits:
            return focal_terms.dense_logit_terms(predictions, weights=weights, gamma=self.gamma)
        return probability_terms.dense_probability_terms(
            predictions, weights=weights, gamma=self.gamma, epsilon=keras.config.epsilon()
        )

    def call(self, y_true: Any, y_pred: Any) -> tf.Tensor:
        """Per-point values ``term_i`` (0 for ignored points), shaped like the points."""
        y_pred = tf.convert_to_tensor(y_pred)
        return self._per_point(self._point_terms(y_true, y_pred, None)[0], y_pred)

    def _per_point(self, values: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(y_pred)
        axis = self.axis % y_pred.shape.rank
        return tf.reshape(values, tf.concat([shape[:axis], shape[axis + 1:]], axis=0))

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> tf.Tensor:
        """The reduced loss (a float32 scalar, or per-point values for ``None``/``"none"``)."""
        with tf.name_scope(self.name):
            y_pred = tf.convert_to_tensor(y_pred)
            terms, alpha_star, weight, valid = self._point_terms(y_true, y_pred, sample_weight)
            if self.reduction is None or self.reduction == "none":
                return self._per_point(terms, y_pred)
            total = tf.reduce_sum(terms)
            if self.reduction == "sum":
                return total
            if self.reduction == "class_weighted_mean":
                divisor = alpha_star
            elif self.reduction == "mean_with_sample_weight":
                divisor = weight
            else:  # sum_over_batch_size, mean: non-ignored points
                divisor = valid
            divisor = tf.cast(tf.size(terms), tf.float32) if divisor is None else tf.reduce_sum(divisor)
            return _scale_for_replicas(tf.math.divide_no_nan(total, divisor))

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """Every constructor argument, JSON-serializable.

        Example:
            >>> ClassWeightedFocalCategoricalCrossentropy(gamma=1.0).get_config()["gamma"]
            1.0
        """
        return {
            "class_weight": None if self.class_weight is None else list(self.class_weight),
            "gamma": self.gamma,
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
            "ignore_class": self.ignore_class,
            "reduction": self.reduction,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ClassWeightedFocalCategoricalCrossentropy":
        """Rebuilds the loss from :meth:`get_config`'s output."""
        return cls(**config)


def vl3d_class_weighted_focal_categorical_crossentropy(
    class_weight: Sequence[float], gamma: float
) -> ClassWeightedFocalCategoricalCrossentropy:
    """VL3D's loss factory (seed 000's signature): ``(y_true, y_pred) -> scalar``.

    VL3D semantics: ``y_true`` one-hot labels, ``y_pred`` softmax probabilities, reduction
    ``sum_b alpha*_b (1 - z*_b)^gamma (-ln z*_b) / sum_b alpha*_b`` over every point.

    Args:
        class_weight: the vector of class weights (one per class).
        gamma: the focusing parameter.

    Returns:
        A callable loss (a serializable :class:`ClassWeightedFocalCategoricalCrossentropy`).

    Example:
        >>> fn = vl3d_class_weighted_focal_categorical_crossentropy([1.0, 2.0], 2.0)
        >>> value = fn([[1.0, 0.0], [0.0, 1.0]], [[0.7, 0.3], [0.4, 0.6]])
    """
    return ClassWeightedFocalCategoricalCrossentropy(
        class_weight=class_weight, gamma=gamma, from_logits=False, reduction="class_weighted_mean"
    )
