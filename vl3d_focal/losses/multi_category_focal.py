"""The one-vs-all "multi-category" focal loss as a serializable Keras loss.

Every class is a binary problem: with ``p`` clipped to ``[eps, 1 - eps]``,
``pt_c = y_c p_c + (1 - y_c)(1 - p_c)`` and the per-sample loss is
``sum_c alpha_c (1 - pt_c)^gamma (-ln pt_c)``; ``alpha`` is the normalised inverse class
frequency (``N / n_c`` normalised to sum 1) of the class counts, or an explicit class weight.

Example:
    >>> loss = MultiCategoryFocalCrossentropy(class_counts=[100, 200, 50, 10], reduction=None)
    >>> values = loss([[1.0, 0, 0, 0]], [[0.4, 0.3, 0.2, 0.1]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from vl3d_focal.losses import arguments as args
from vl3d_focal.losses import schema_parts as parts
from vl3d_focal.losses.class_weights import check_on_absent_class, compute_class_weight, present_classes
from vl3d_focal.losses.exceptions import LossArgumentError
from vl3d_focal.losses.label_checks import check_dense, check_one_hot_layout
from vl3d_focal.losses.softmax_logits import predictions_and_from_logits

Tensor = Any  # a backend tensor


def multi_category_focal_crossentropy(
    y_true: Tensor, y_pred: Tensor, *, alpha: Tensor, gamma: float, from_logits: bool, epsilon: float
) -> Tensor:
    """Per-sample one-vs-all focal loss (a blog post's Keras code, seed 003) on one-hot labels.

    Args:
        y_true: one-hot labels ``(..., C)``.
        y_pred: probabilities (or logits when ``from_logits``) ``(..., C)``.
        alpha: ``(C,)`` class weights.
        gamma: focusing parameter >= 0.
        from_logits: apply a softmax to ``y_pred`` first.
        epsilon: probabilities are clipped to ``[epsilon, 1 - epsilon]``.

    Returns:
        ``(...,)`` float32 per-sample losses.

    Example:
        >>> v = multi_category_focal_crossentropy(ops.convert_to_tensor([[1.0, 0.0]]),
        ...     ops.convert_to_tensor([[0.8, 0.2]]), alpha=ops.convert_to_tensor([0.5, 0.5]),
        ...     gamma=2.0, from_logits=False, epsilon=1e-7)
        >>> [round(float(x), 4) for x in ops.convert_to_numpy(v)]  # pt = 0.8 for both classes: 0.2^2 * -ln 0.8
        [0.0089]
    """
    y_pred = ops.cast(y_pred, "float32")
    y_true = ops.cast(y_true, "float32")
    if from_logits:
        y_pred = ops.softmax(y_pred, axis=-1)
    p = ops.clip(y_pred, epsilon, 1.0 - epsilon)
    pt = y_true * p + (1.0 - y_true) * (1.0 - p)
    per_class = ops.power(1.0 - pt, gamma) * -ops.log(pt)
    return ops.sum(per_class * alpha, axis=-1)


@keras.saving.register_keras_serializable(package="vl3d_focal")
class MultiCategoryFocalCrossentropy(keras.losses.Loss):
    """One-vs-all focal loss with inverse-frequency class weights (a blog post's Keras code, seed 003).

    Args:
        class_counts: points per class; weights are ``N / n_c`` normalised to sum 1.
        class_weight: explicit per-class weights instead of ``class_counts``.
        on_absent_class: what a class of ``class_counts`` without points gets (its weight
            ``N / n_c`` would be infinite): ``"error"`` (default) raises
            :class:`~vl3d_focal.losses.exceptions.ClassWeightError`, ``"zero"`` weighs it 0 (with a
            warning) and the other classes as if it did not exist, as in
            :func:`~vl3d_focal.losses.class_weights.compute_class_weight`.
        gamma: focusing parameter >= 0.
        from_logits: whether ``y_pred`` holds logits. On the TensorFlow backend a softmax
            activation's output is read from its logits, as by Keras' own cross-entropies
            (:mod:`vl3d_focal.losses.softmax_logits`).
        epsilon: probability clipping bound (the blog post's code, seed 003, uses 1e-7).
        reduction: one of Keras' reductions (None/"none" gives per-sample values).
        name: name of the loss.
        dtype: None or "float32" (Keras' argument): the loss computes in float32 from any input
            dtype, also under mixed precision.

    Neither ``class_counts`` nor ``class_weight``: every class weighs 1 / C.

    Example:
        >>> loss = MultiCategoryFocalCrossentropy(class_weight=[0.5, 0.5])
        >>> round(float(loss([[1.0, 0.0], [0.0, 1.0]], [[0.8, 0.2], [0.5, 0.5]])), 4)  # (0.0089 + 0.1733) / 2
        0.0911
    """

    def __init__(
        self,
        *,
        class_counts: Sequence[float] | None = None,
        class_weight: Sequence[float] | None = None,
        on_absent_class: str = "error",
        gamma: float = 2.0,
        from_logits: bool = False,
        epsilon: float = 1e-7,
        reduction: str | None = "sum_over_batch_size",
        name: str = "multi_category_focal_crossentropy",
        dtype: str | None = None,
    ):
        args.check_choice(reduction, argument="reduction", allowed=parts.KERAS_REDUCTIONS)
        super().__init__(name=name, reduction=reduction, dtype=args.check_dtype(dtype))
        if class_counts is not None and class_weight is not None:
            raise LossArgumentError(
                "Arguments `class_counts` and `class_weight` are exclusive: give one. "
                f"Received: class_counts={class_counts!r}, class_weight={class_weight!r}"
            )
        self.class_counts = args.check_class_weight(class_counts, argument="class_counts")
        self.class_weight = args.check_class_weight(class_weight)
        self.on_absent_class = check_on_absent_class(on_absent_class)
        self.gamma = args.check_gamma(gamma)
        self.from_logits = args.check_bool(from_logits, argument="from_logits")
        if not args.is_real(epsilon) or not 0 < epsilon < 0.5:
            raise LossArgumentError(f"Argument `epsilon` must be in (0, 0.5). Received: epsilon={epsilon!r}")
        self.epsilon = float(epsilon)
        self._alpha = self.class_weight
        if self.class_counts is not None:  # N / n_c normalised to sum 1 over the classes with points
            n = np.asarray(self.class_counts, np.float64)
            present = present_classes(
                n,
                on_absent_class=self.on_absent_class,
                weighting="this loss's class weights (N / n_c, normalised to sum 1)",
                argument="class_counts",
            )
            alpha = np.zeros_like(n)
            alpha[present] = compute_class_weight("inverse_frequency", n[present])
            self._alpha = tuple(float(a) for a in alpha)

    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        """Per-sample losses."""
        check_dense(y_true, argument="y_true")
        check_dense(y_pred, argument="y_pred")
        y_pred, from_logits = predictions_and_from_logits(y_pred, from_logits=self.from_logits, loss=self)
        y_pred = ops.convert_to_tensor(y_pred, "float32")
        y_true = ops.convert_to_tensor(y_true, "float32")
        check_one_hot_layout(y_true_shape=y_true.shape, y_pred_shape=y_pred.shape)
        num_classes = y_pred.shape[-1]
        if self._alpha is None:
            count = ops.shape(y_pred)[-1]
            alpha = ops.ones((count,), "float32") / ops.cast(count, "float32")
        else:
            if num_classes is not None and num_classes != len(self._alpha):
                raise LossArgumentError(
                    f"{self.name}: {len(self._alpha)} class weights/counts but the predictions "
                    f"have {num_classes} classes"
                )
            alpha = ops.convert_to_tensor(self._alpha, "float32")
        return multi_category_focal_crossentropy(
            y_true, y_pred, alpha=alpha, gamma=self.gamma, from_logits=from_logits, epsilon=self.epsilon
        )

    def get_config(self) -> dict[str, Any]:
        """Every constructor argument."""
        return {
            "class_counts": None if self.class_counts is None else list(self.class_counts),
            "class_weight": None if self.class_weight is None else list(self.class_weight),
            "on_absent_class": self.on_absent_class,
            "gamma": self.gamma,
            "from_logits": self.from_logits,
            "epsilon": self.epsilon,
            "reduction": self.reduction,
            "name": self.name,
        }
