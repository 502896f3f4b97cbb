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
from vl3d_focal.losses.softmax_logits import ACTIVATION_OPS, activation_of, marked_logits, warn_from_logits_on_marked

Tensor = Any  # a backend tensor


def log_probability_pair(y_pred: Tensor, *, activation: str | None, epsilon: float) -> tuple[Tensor, Tensor]:
    """``(ln p, ln(1 - p))`` per class: of ``activation(y_pred)`` from logits (``"softmax"`` or
    ``"sigmoid"``, no clipping: log-softmax, log-sigmoid), or of probabilities (``None``)
    clipped to ``[epsilon, 1 - epsilon]`` as in seed 003.

    For a softmax, ``1 - p_c`` is the sum of the other classes' exps over the total: for the
    largest logit a log-sum-exp of the others, so a margin of 100 gives ``ln(1 - p) = -100``.

    Example:
        >>> log_p, log_q = log_probability_pair(ops.convert_to_tensor([[0.0, 100.0]]),
        ...                                     activation="softmax", epsilon=1e-7)
        >>> round(float(ops.convert_to_numpy(log_q)[0, 1]), 3)  # ln(1 - p) of the larger logit, not ln 0
        -100.0
    """
    if activation is None:
        p = ops.clip(y_pred, epsilon, 1.0 - epsilon)
        return ops.log(p), ops.log(1.0 - p)
    if activation == "sigmoid":
        return ops.log_sigmoid(y_pred), ops.log_sigmoid(-y_pred)
    shifted = y_pred - ops.max(y_pred, axis=-1, keepdims=True)
    classes = ops.arange(ops.shape(y_pred)[-1], dtype="int32")
    top = ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32")[..., None], classes)
    exps = ops.exp(shifted)
    rest = ops.sum(ops.where(top, 0.0, exps), axis=-1, keepdims=True)  # the exps but the largest (1)
    log_total = ops.log1p(rest)
    log_rest = ops.logsumexp(ops.where(top, -1e30, shifted), axis=-1, keepdims=True)
    log_others = ops.where(top, log_rest, ops.log1p(ops.where(top, 0.0, rest - exps)))
    return shifted - log_total, log_others - log_total


def _log_of_mix(mix: Tensor, *, hard: Tensor, y: Tensor, log_if_one: Tensor, log_if_zero: Tensor) -> Tensor:
    """``ln mix`` of ``mix = y a + (1 - y) b``: ``ln a`` or ``ln b`` for hard labels, else the log
    of ``mix`` (a soft label: ``mix >= min(y, 1 - y) > 0``, a finite log and gradient)."""
    return ops.where(hard, ops.where(y > 0.5, log_if_one, log_if_zero), ops.log(ops.where(hard, 1.0, mix)))


def multi_category_focal_crossentropy(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    alpha: Tensor,
    gamma: float,
    from_logits: bool,
    epsilon: float,
    activation: str = "softmax",
) -> Tensor:
    """Per-sample one-vs-all focal loss (a blog post's Keras code, seed 003) on one-hot labels.

    ``pt = y p + (1 - y)(1 - p)``, ``-ln pt`` is ``-ln p`` or ``-ln(1 - p)`` for labels 0 and 1
    (from :func:`log_probability_pair`, never clip-then-log for logits).

    Args:
        y_true: one-hot (or multi-label, or soft) labels ``(..., C)``.
        y_pred: probabilities (or logits when ``from_logits``) ``(..., C)``.
        alpha: ``(C,)`` class weights.
        gamma: focusing parameter >= 0.
        from_logits: whether ``y_pred`` holds the logits of ``activation``.
        epsilon: probabilities are clipped to ``[epsilon, 1 - epsilon]``.
        activation: of the logits: ``"softmax"`` (what seed 003 applies to raw predictions) or
            ``"sigmoid"`` (a sigmoid output's logits: every class its own binary problem).

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
    y = ops.cast(y_true, "float32")
    log_p, log_q = log_probability_pair(y_pred, activation=activation if from_logits else None, epsilon=epsilon)
    p, q = ops.exp(log_p), ops.exp(log_q)
    pt = y * p + (1.0 - y) * q
    one_minus_pt = y * q + (1.0 - y) * p  # no cancellation
    hard = ops.logical_or(ops.equal(y, 0.0), ops.equal(y, 1.0))
    log_pt = _log_of_mix(pt, hard=hard, y=y, log_if_one=log_p, log_if_zero=log_q)
    log_one_minus_pt = _log_of_mix(one_minus_pt, hard=hard, y=y, log_if_one=log_q, log_if_zero=log_p)
    # (1 - pt)^gamma in log space: no 0^(gamma - 1) = inf in its gradient at saturation (and
    # 0^0 = 1 where a logit of -inf gives ln(1 - pt) = -inf)
    factor = 1.0 if gamma == 0 else ops.exp(gamma * log_one_minus_pt)
    per_class = factor * -log_pt
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
        from_logits: whether ``y_pred`` holds logits; their softmax is taken (as seed 003 does
            to raw predictions) in log space, without clipping. On the TensorFlow backend a
            softmax or sigmoid activation's output is read from the logits Keras keeps on it
            (:mod:`vl3d_focal.losses.softmax_logits`) and scored as that activation's
            probabilities (log-softmax, log-sigmoid): the same number as from the probabilities.
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
        self._weight_argument = "class_weight" if self.class_counts is None else "class_counts"
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
        from_logits, activation = self.from_logits, "softmax"
        logits = marked_logits(y_pred, op_types=ACTIVATION_OPS)  # a Sigmoid op too
        if logits is not None:
            marked_activation = activation_of(y_pred, logits)
            if marked_activation != "activation":  # scored as the activation's probabilities
                if from_logits:
                    warn_from_logits_on_marked(self, y_pred, logits)
                y_pred, activation, from_logits = logits, marked_activation, True
            elif from_logits:  # an unknown activation: its probabilities as given
                warn_from_logits_on_marked(self, y_pred, logits, using="these probabilities")
                from_logits = False
        y_pred = ops.convert_to_tensor(y_pred, "float32")
        y_true = ops.convert_to_tensor(y_true, "float32")
        check_one_hot_layout(y_true_shape=y_true.shape, y_pred_shape=y_pred.shape)
        if self._alpha is None:
            count = ops.shape(y_pred)[-1]
            alpha = ops.ones((count,), "float32") / ops.cast(count, "float32")
        else:
            args.check_weights_per_class(
                self._alpha, shape=tuple(y_pred.shape), axis=len(y_pred.shape) - 1, argument=self._weight_argument
            )
            alpha = ops.convert_to_tensor(self._alpha, "float32")
        return multi_category_focal_crossentropy(
            y_true,
            y_pred,
            alpha=alpha,
            gamma=self.gamma,
            from_logits=from_logits,
            epsilon=self.epsilon,
            activation=activation,
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
