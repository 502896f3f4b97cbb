"""VL3D's class-weighted focal categorical cross-entropy as a serializable Keras loss.

Example:
    >>> import numpy as np
    >>> loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=[1.0, 3.0], gamma=2.0,
    ...                                                  from_logits=True)
    >>> value = loss(np.array([[0, 1]]), np.zeros((1, 2, 2), "float32"))
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

import keras
from keras import ops

from vl3d_focal.losses import arguments as args
from vl3d_focal.losses.exceptions import LossArgumentError
from vl3d_focal.losses.point_terms import point_terms
from vl3d_focal.losses.replicas import global_ratio
from vl3d_focal.losses.softmax_logits import predictions_and_from_logits

Tensor = Any  # a backend tensor (tf.Tensor, jax.Array, torch.Tensor)

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

    numerator: Tensor
    denominator: Tensor
    weight: Tensor
    count: Tensor


def keras_mask(tensor: Any) -> Any:
    """Keras' mask of a layer's output (``Masking``, ``Embedding(mask_zero=True)``: False for
    padded points), or None; Keras' own losses leave those points out, and so does this one.

    Example:
        >>> ops.convert_to_numpy(keras_mask(keras.layers.Masking(0.0)(ops.ones((1, 2, 3))))).tolist()
        [[True, True]]
    """
    try:
        from keras.src.backend import get_keras_mask
    except ImportError:  # Keras before 3.6 kept it on the tensor
        return getattr(tensor, "_keras_mask", None)
    return get_keras_mask(tensor)


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
    (see :func:`~vl3d_focal.losses.focal_ops.categorical_logit_terms`). Sample weights of shape
    ``(B,)``, ``(B, N)`` or ``(B, N, 1)`` broadcast over the points. float16/bfloat16
    predictions are computed in float32 and the result is float32.

    Wrong inputs raise :class:`LossArgumentError` naming the argument, what was expected and
    what was received: ragged tensors, label shapes that fit neither layout, one-hot labels
    with another class count, sparse labels that are not integers or lie outside ``[0, C)``
    (and are not ``ignore_class``). Label values are checked eagerly and, in TensorFlow
    graphs, by ``tf.debugging`` assertions (``InvalidArgumentError`` with the same message);
    inside XLA (``jit_compile=True``, ``jax.jit``) no check can raise and such a label gives a
    NaN loss (:mod:`vl3d_focal.losses.label_checks`).

    Distribution: called in a replica context of a ``tf.distribute`` strategy with several
    replicas (``MirroredStrategy``, ``MultiWorkerMirroredStrategy``), the loss all-reduces its
    numerator and denominator, so Keras' ``fit`` and a custom loop that sums the replicas'
    losses and gradients (``strategy.reduce(SUM)``) both get the single-device loss and
    gradients of the global batch (:mod:`vl3d_focal.losses.replicas`).

    Backends: TensorFlow (fused XLA kernels), JAX and PyTorch (``keras.ops``).

    Softmax outputs: on the TensorFlow backend, as Keras' own cross-entropies, the loss reads
    the logits Keras keeps on a softmax activation's output and computes from them (the same
    number, without clipping); ``from_logits=True`` on such an output warns once and uses
    them (:mod:`vl3d_focal.losses.softmax_logits`).

    Numerics: with ``from_logits=True`` the loss uses log-softmax (never clip-then-log) and a
    closed-form gradient. Keras' own ``CategoricalFocalCrossentropy`` clips probabilities to
    ``[eps, 1 - eps]`` before the log, so its per-point loss is capped at
    ``-ln(eps) ~ 16.1`` and its gradient is exactly zero once a point's logit margin against
    its true class exceeds about 16 in float32: the most wrong points stop learning. This loss
    has neither flaw: a margin of 100 gives a loss of about 100 and a live gradient.

    :meth:`compute_parts` gives the per-point pieces: the loss over any set of batches is
    ``sum(numerator) / sum(denominator)``.

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
        dtype: None or "float32" (Keras' argument): the loss computes in float32 from any input
            dtype, also under mixed precision.

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
        dtype: str | None = None,
    ):
        if not isinstance(name, str) or not name:
            raise LossArgumentError(f"Argument `name` must be a non-empty string. Received: name={name!r}")
        super().__init__(name=name, reduction=None, dtype=args.check_dtype(dtype))
        self.class_weight = args.check_class_weight(class_weight)
        self.gamma = args.check_gamma(gamma)
        self.from_logits = args.check_bool(from_logits, argument="from_logits")
        self.label_smoothing = args.check_label_smoothing(label_smoothing)
        self.axis = args.check_int(axis, argument="axis")
        self.ignore_class = args.check_int(ignore_class, argument="ignore_class", allow_none=True)
        self.reduction = args.check_choice(reduction, argument="reduction", allowed=REDUCTIONS)

    # ------------------------------------------------------------------ maths
    def _point_terms(self, y_true: Any, y_pred: Any, sample_weight: Any):
        predictions, from_logits = predictions_and_from_logits(y_pred, from_logits=self.from_logits, loss=self)
        return point_terms(
            y_true,
            predictions,
            sample_weight,
            class_weight=self.class_weight,
            gamma=self.gamma,
            from_logits=from_logits,
            label_smoothing=self.label_smoothing,
            axis=self.axis,
            ignore_class=self.ignore_class,
            mask=keras_mask(y_pred),
        )

    def compute_parts(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> LossParts:
        """The per-point numerator/denominator pieces of the loss (for global reductions).

        Summing each field over any set of points (e.g. across replicas) and dividing gives
        the reductions: class-weighted mean ``sum(numerator) / sum(denominator)``,
        ``sum_over_batch_size`` ``sum(numerator) / sum(count)``, ``mean_with_sample_weight``
        ``sum(numerator) / sum(weight)``. The loss itself already does this across the
        replicas of a ``tf.distribute`` strategy (see :mod:`vl3d_focal.losses.replicas`).

        Args:
            y_true: sparse integer labels or one-hot/soft labels.
            y_pred: logits or probabilities.
            sample_weight: optional weights broadcastable over the points.

        Returns:
            A :class:`LossParts` of ``(M,)`` float32 tensors, ``M`` the number of points.

        Example:
            >>> loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=[1.0, 3.0], from_logits=True)
            >>> parts = loss.compute_parts([1, 0], [[0.0, 2.0], [1.0, 0.0]])
            >>> ratio = float(ops.sum(parts.numerator) / ops.sum(parts.denominator))
            >>> [round(float(v), 4) for v in ops.convert_to_numpy(parts.numerator)]
            [0.0054, 0.0227]
            >>> ops.convert_to_numpy(parts.denominator).tolist()  # alpha* of each point's label
            [3.0, 1.0]
            >>> round(ratio, 4) == round(float(loss([1, 0], [[0.0, 2.0], [1.0, 0.0]])), 4)
            True
        """
        terms, alpha_star, weight, valid, _ = self._point_terms(y_true, y_pred, sample_weight)
        ones = ops.ones_like(terms)
        return LossParts(
            numerator=terms,
            denominator=ones if alpha_star is None else alpha_star,
            weight=ones if weight is None else weight,
            count=ones if valid is None else valid,
        )

    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        """Per-point values ``term_i`` (0 for ignored points), shaped like the points."""
        terms, *_, point_shape = self._point_terms(y_true, y_pred, None)
        return ops.reshape(terms, point_shape)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        """The reduced loss (a float32 scalar, or per-point values for ``None``/``"none"``).

        In a replica context of a multi-replica ``tf.distribute`` strategy, the reduction is
        global: see :func:`vl3d_focal.losses.replicas.global_ratio`.
        """
        with keras.name_scope(self.name):
            terms, alpha_star, weight, valid, point_shape = self._point_terms(y_true, y_pred, sample_weight)
            if self.reduction is None or self.reduction == "none":
                return ops.reshape(terms, point_shape)
            total = ops.sum(terms)
            if self.reduction == "sum":
                return global_ratio(total, None)
            divisor = {"class_weighted_mean": alpha_star, "mean_with_sample_weight": weight}.get(
                self.reduction, valid
            )  # sum_over_batch_size, mean: non-ignored points
            divisor = ops.cast(ops.size(terms), "float32") if divisor is None else ops.sum(divisor)
            return global_ratio(total, ops.stop_gradient(divisor))

    reduces_across_replicas = True
    """Metadata read by training code: the loss takes its own global reduction across replicas."""

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
    def from_config(cls, config: dict[str, Any]) -> ClassWeightedFocalCategoricalCrossentropy:
        """Rebuilds the loss from :meth:`get_config`'s output."""
        return cls(**config)


def vl3d_class_weighted_focal_categorical_crossentropy(
    class_weight: Sequence[float], gamma: float
) -> ClassWeightedFocalCategoricalCrossentropy:
    """VL3D's loss factory, called as in VL3D's loss code (seed 000): ``(y_true, y_pred) -> scalar``.

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
        >>> round(float(value), 4)  # (1 * 0.3^2 * -ln 0.7 + 2 * 0.4^2 * -ln 0.6) / (1 + 2)
        0.0652
    """
    return ClassWeightedFocalCategoricalCrossentropy(
        class_weight=class_weight, gamma=gamma, from_logits=False, reduction="class_weighted_mean"
    )
