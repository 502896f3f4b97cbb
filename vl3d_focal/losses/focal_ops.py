"""Per-point focal terms from logits written with ``keras.ops``: the maths, on every backend.

For a point with (smoothed) label distribution ``y~``, class weights ``alpha`` and predicted
probabilities ``p``::

    term = sum_c alpha_c * y~_c * f(p_c),      f(p) = (1 - p)^gamma * (-ln p)

Every function takes 2-D float32 logits ``(points, classes)`` and works on log-probabilities
(never clip-then-log). The gradient is closed-form: with ``u = ln p_c``,
``df/du = (1 - p)^gamma * (gamma * p * ln(p) / (1 - p) - 1)`` and ``du/dz_k = [k = c] - p_k``.
For ``gamma >= 1`` the slope is evaluated without a division; for ``0 < gamma < 1`` with
``ln(p) / (1 - p)`` (which tends to -1 as ``p -> 1``), so it is finite for every ``gamma >= 0``.

The forward and backward bodies (``sparse_forward``, ``sparse_backward``, ``dense_forward``,
``hard_rows``) are shared: the TensorFlow backend compiles them into fused XLA kernels
(:mod:`vl3d_focal.losses.focal_terms`); JAX and PyTorch call the public functions below, whose
gradient is attached with ``keras.ops.custom_gradient`` (fused by ``jax.jit`` or
``torch.compile`` when the caller compiles).

Example:
    >>> import numpy as np
    >>> terms = sparse_logit_terms(np.array([[2.0, 0.0, -1.0]], "float32"),
    ...                            labels=np.array([0]), label_weight=np.ones(1, "float32"),
    ...                            gamma=2.0)
"""

from __future__ import annotations

from typing import Any, NamedTuple

from keras import ops

Tensor = Any  # a backend tensor (tf.Tensor, jax.Array, torch.Tensor)


class CategoricalTerms(NamedTuple):
    """Focal terms of one-hot or soft targets, one value per point.

    Attributes:
        terms: ``label_scale * sum_c alpha_c y_c f(p_c)`` (differentiable in the logits).
        alpha_star: ``sum_c alpha_c y_c`` (no gradient).
        labels: ``argmax_c y_c`` as int32 (no gradient).
    """

    terms: Tensor
    alpha_star: Tensor
    labels: Tensor


def gamma_case(gamma: float) -> str:
    """The trace-time branch of the focal factor: exact forms for 0, 1 and 2, ``pow`` otherwise.

    Example:
        >>> gamma_case(2.0), gamma_case(0.5)
        ('two', 'below_one')
    """
    if gamma == 0.0:
        return "zero"
    if gamma == 1.0:
        return "one"
    if gamma == 2.0:
        return "two"
    return "below_one" if gamma < 1.0 else "above_one"


def focal_parts(*, log_p: Tensor, p: Tensor, one_minus_p: Tensor, gamma: Any, case: str) -> tuple[Tensor, Tensor]:
    """``(f, df/dln(p))`` from ``ln p``, ``p`` and ``1 - p`` (all the same shape).

    Example:
        >>> f, slope = focal_parts(log_p=ops.log(0.5), p=0.5, one_minus_p=0.5, gamma=2.0, case="two")
        >>> round(float(f), 6)  # 0.25 * ln 2
        0.173287
    """
    nll = -log_p
    if case == "zero":
        return nll, -ops.ones_like(log_p)
    if case == "one":
        return one_minus_p * nll, p * log_p - one_minus_p
    if case == "two":
        return ops.square(one_minus_p) * nll, one_minus_p * (2.0 * p * log_p - one_minus_p)
    factor = ops.power(one_minus_p, gamma)
    if case == "above_one":
        slope = gamma * p * log_p * ops.power(one_minus_p, gamma - 1.0) - factor
    else:  # 0 < gamma < 1: ln(p) / (1 - p) -> -1 as p -> 1; 1 - p == 0 only where ln p == 0.
        ratio = ops.where(one_minus_p > 0.0, ops.divide_no_nan(log_p, one_minus_p), -1.0)
        slope = factor * (gamma * p * ratio - 1.0)
    return factor * nll, slope


def sparse_forward(
    z: Tensor, labels: Tensor, weight: Tensor, gamma: Any, *, case: str
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(terms, exps, coef / total, coef)`` with ``coef = weight * slope`` (saved for backward).

    The label logit is gathered from the flat logits (one gather, no index pairs) and its exp
    taken again rather than gathered from ``exps``. ``1 - p`` is (sum of the other exps) /
    total: no cancellation (the largest exp is exactly 1). A label outside ``[0, C)`` gives a
    NaN term, never a silent value.

    Example:
        >>> out = sparse_forward(ops.zeros((1, 2)), ops.convert_to_tensor([1]), ops.ones((1,)),
        ...                      2.0, case="two")
        >>> [round(float(v), 4) for v in ops.convert_to_numpy(out[0])]  # p = 0.5: 0.5^2 * ln 2
        [0.1733]
    """
    num_classes = ops.shape(z)[-1]
    peak = ops.max(z, axis=-1)
    exps = ops.exp(z - peak[:, None])
    total = ops.sum(exps, axis=-1)
    known = ops.logical_and(labels >= 0, labels < num_classes)
    flat_index = ops.arange(ops.shape(z)[0], dtype="int32") * num_classes + ops.where(known, labels, 0)
    shifted_label = ops.take(ops.reshape(z, [-1]), flat_index) - peak
    exp_label = ops.exp(shifted_label)
    inverse = 1.0 / total
    f, slope = focal_parts(
        log_p=shifted_label - ops.log(total),
        p=exp_label * inverse,
        one_minus_p=(total - exp_label) * inverse,
        gamma=gamma,
        case=case,
    )
    coef = weight * slope
    return ops.where(known, weight * f, float("nan")), exps, coef * inverse, coef


def label_hit(labels: Tensor, *, num_classes: Any) -> Tensor:
    """``[k == labels_i]`` as a broadcast comparison (fused by XLA, never stored).

    Example:
        >>> ops.convert_to_numpy(label_hit(ops.convert_to_tensor([1]), num_classes=3)).tolist()
        [[False, True, False]]
    """
    return ops.equal(ops.arange(num_classes, dtype="int32")[None, :], ops.cast(labels, "int32")[:, None])


def sparse_backward(upstream: Tensor, exps: Tensor, scale: Tensor, coef: Tensor, labels: Tensor) -> Tensor:
    """``upstream * coef * ([k = y] - softmax_k)`` in one pass over the saved exps.

    Example:
        >>> _, exps, scale, coef = sparse_forward(ops.zeros((1, 2)), ops.convert_to_tensor([1]),
        ...                                       ops.ones((1,)), 2.0, case="two")
        >>> grad = sparse_backward(ops.ones((1,)), exps, scale, coef, ops.convert_to_tensor([1]))
        >>> ops.convert_to_numpy(grad).astype(float).round(4).tolist()  # raising the label's logit lowers the loss
        [[0.2983, -0.2983]]
    """
    hit = label_hit(labels, num_classes=ops.shape(exps)[-1])
    spread = -(upstream * scale)[:, None] * exps
    return ops.where(hit, spread + (upstream * coef)[:, None], spread)


def dense_forward(z: Tensor, weights: Tensor, gamma: Any, *, case: str) -> tuple[Tensor, Tensor]:
    """``(sum_c w_c f_c, gradient)`` with ``w * slope - p * sum_c(w_c slope_c)`` as gradient.

    Example:
        >>> values, grad = dense_forward(ops.zeros((1, 2)), ops.ones((2,)), 2.0, case="two")
        >>> [round(float(v), 4) for v in ops.convert_to_numpy(values)]  # 2 * 0.5^2 * ln 2
        [0.3466]
        >>> ops.convert_to_numpy(grad).astype(float).round(4).tolist()  # both classes weigh alike: no pull
        [[0.0, 0.0]]
    """
    shifted = z - ops.max(z, axis=-1, keepdims=True)
    exps = ops.exp(shifted)
    total = ops.sum(exps, axis=-1, keepdims=True)
    inverse = 1.0 / total
    p = exps * inverse
    f, slope = focal_parts(
        log_p=shifted - ops.log(total), p=p, one_minus_p=(total - exps) * inverse, gamma=gamma, case=case
    )
    weighted_slope = weights * slope
    grad = weighted_slope - p * ops.sum(weighted_slope, axis=-1, keepdims=True)
    return ops.sum(weights * f, axis=-1), grad


def hard_rows(y: Tensor) -> tuple[Tensor, Tensor]:
    """``(code sums, hard)`` from one row reduction over the targets ``y``.

    Entry ``c`` of a row is coded as the integer ``C + c`` if it is 1, 0 if it is 0 and
    ``2 C`` otherwise (NaN included). A row sums to less than ``2 C`` exactly when its entries
    are 0 or 1 with at most one 1; its label is then ``sum - C``, or none for a sum of 0 (a
    row of zeros). ``hard``: every row is so (the int32 sums, at most ``2 C^2``, are exact for
    ``C < 32768``; with more classes ``hard`` is false and the dense formula runs).

    Example:
        >>> total, hard = hard_rows(ops.convert_to_tensor([[0.0, 1.0], [0.0, 0.0]]))
        >>> ops.convert_to_numpy(total).tolist(), bool(hard)
        ([3, 0], True)
    """
    c = ops.shape(y)[-1]
    index = ops.arange(c, dtype="int32")
    code = ops.where(ops.equal(y, 1.0), c + index, ops.where(ops.equal(y, 0.0), 0, 2 * c))
    total = ops.sum(ops.cast(code, "int32"), axis=-1)
    hard = ops.logical_and(ops.logical_not(ops.any(total >= 2 * c)), c < 32768)
    return total, hard


def hard_labels(total: Tensor, alpha: Tensor, *, num_classes: Any) -> tuple[Tensor, Tensor]:
    """``(labels, alpha*)`` of hard rows from their code sums (a row of zeros: label 0, weight 0).

    Example:
        >>> labels, alpha_star = hard_labels(ops.convert_to_tensor([3, 0]),
        ...                                  ops.convert_to_tensor([1.0, 2.0]), num_classes=2)
        >>> ops.convert_to_numpy(labels).tolist(), ops.convert_to_numpy(alpha_star).tolist()
        ([1, 0], [2.0, 0.0])
    """
    labels = ops.maximum(total - num_classes, 0)
    return labels, ops.where(total > 0, ops.take(alpha, labels), 0.0)


def categorical_forward(z: Tensor, y: Tensor, alpha: Tensor, keep: Any, gamma: Any, *, case: str) -> tuple[Tensor, ...]:
    """``(hard, labels, alpha*, terms, saved, scale, coef)`` from logits and targets.

    ``hard`` (see :func:`hard_rows`): ``sum_c keep alpha_c y_c f_c`` is then exactly the
    sparse term of the row's label with weight ``keep * alpha*`` (a row of zeros, e.g.
    ``one_hot(-1, C)``, has label 0 and weight 0) and ``saved`` is the sparse
    ``exp(z - max z)``. Otherwise the dense formula gives ``terms``, ``saved`` is their
    gradient, ``labels`` is ``argmax y`` and ``scale``/``coef`` are unused zeros. The choice is
    a ``keras.ops.cond`` (both branches give the same shapes).

    Example:
        >>> out = categorical_forward(ops.zeros((1, 2)), ops.convert_to_tensor([[0.0, 1.0]]),
        ...                           ops.ones((2,)), 1.0, 2.0, case="two")
        >>> bool(out[0]), ops.convert_to_numpy(out[1]).tolist()
        (True, [1])
    """
    total, hard = hard_rows(y)

    def sparse() -> tuple[Tensor, ...]:
        labels, alpha_star = hard_labels(total, alpha, num_classes=ops.shape(y)[-1])
        return (labels, alpha_star) + sparse_forward(z, labels, keep * alpha_star, gamma, case=case)

    def soft() -> tuple[Tensor, ...]:
        weighted = y * alpha
        values, grad = dense_forward(z, keep * weighted, gamma, case=case)
        unused = ops.zeros_like(values)
        return (ops.cast(ops.argmax(y, axis=-1), "int32"), ops.sum(weighted, axis=-1), values, grad, unused, unused)

    return (hard,) + tuple(ops.cond(hard, sparse, soft))


def categorical_backward(
    upstream: Tensor, saved: Tensor, scale: Tensor, coef: Tensor, labels: Tensor, hard: Tensor
) -> Tensor:
    """The sparse backward from the saved exps, or ``upstream * saved`` (the dense gradient).

    Example:
        >>> out = categorical_forward(ops.zeros((1, 2)), ops.convert_to_tensor([[0.0, 1.0]]),
        ...                           ops.ones((2,)), 1.0, 2.0, case="two")
        >>> hard, labels, _, _, saved, scale, coef = out
        >>> grad = categorical_backward(ops.ones((1,)), saved, scale, coef, labels, hard)
        >>> ops.convert_to_numpy(grad).astype(float).round(4).tolist()  # a one-hot row: the sparse gradient
        [[0.2983, -0.2983]]
    """
    return ops.cond(
        hard, lambda: sparse_backward(upstream, saved, scale, coef, labels), lambda: upstream[:, None] * saved
    )


def _upstream(args: tuple, upstream: Tensor | None) -> Tensor:
    """The upstream gradient, as each backend's ``custom_gradient`` passes it."""
    return args[0] if upstream is None else upstream


def sparse_logit_terms(logits: Tensor, *, labels: Tensor, label_weight: Tensor, gamma: float) -> Tensor:
    """``label_weight_i * f(p_{i, labels_i})`` from logits, with a closed-form gradient.

    No one-hot tensor is built: the backward compares class indices with the labels.

    Args:
        logits: ``(M, C)`` float32 logits.
        labels: ``(M,)`` integer class indices in ``[0, C)`` (a label outside gives a NaN term).
        label_weight: ``(M,)`` float32 weight of each point's term (e.g. ``alpha_{y_i}``).
        gamma: focusing parameter >= 0.

    Returns:
        ``(M,)`` float32 terms.

    Example:
        >>> t = sparse_logit_terms(ops.zeros((2, 3)), labels=ops.convert_to_tensor([0, 2]),
        ...                        label_weight=ops.ones((2,)), gamma=0.0)
        >>> [round(float(v), 4) for v in ops.convert_to_numpy(t)]  # gamma 0, p = 1/3: ln 3 per point
        [1.0986, 1.0986]
    """
    labels = ops.cast(labels, "int32")
    label_weight = ops.cast(label_weight, "float32")
    case = gamma_case(gamma)

    @ops.custom_gradient
    def terms(z: Tensor):
        values, exps, scale, coef = sparse_forward(z, labels, label_weight, gamma, case=case)

        def grad(*args: Tensor, upstream: Tensor | None = None) -> Tensor:
            return sparse_backward(_upstream(args, upstream), exps, scale, coef, labels)

        return values, grad

    return terms(ops.convert_to_tensor(logits, "float32"))


def dense_logit_terms(logits: Tensor, *, weights: Tensor, gamma: float) -> Tensor:
    """``sum_c weights_c * f(p_c)`` from logits, with a closed-form gradient.

    Args:
        logits: ``(M, C)`` float32 logits.
        weights: float32 weights broadcastable to ``(M, C)``.
        gamma: focusing parameter >= 0.

    Returns:
        ``(M,)`` float32 terms.

    Example:
        >>> t = dense_logit_terms(ops.zeros((2, 3)), weights=ops.convert_to_tensor([1.0, 0.0, 0.0]),
        ...                       gamma=2.0)
        >>> [round(float(v), 4) for v in ops.convert_to_numpy(t)]  # p = 1/3: (2/3)^2 * ln 3
        [0.4883, 0.4883]
    """
    weights = ops.cast(weights, "float32")
    case = gamma_case(gamma)

    @ops.custom_gradient
    def terms(z: Tensor):
        values, saved = dense_forward(z, weights, gamma, case=case)

        def grad(*args: Tensor, upstream: Tensor | None = None) -> Tensor:
            return _upstream(args, upstream)[:, None] * saved

        return values, grad

    return terms(ops.convert_to_tensor(logits, "float32"))


def categorical_logit_terms(
    logits: Tensor, *, targets: Tensor, class_weight: Tensor | None, gamma: float, label_scale: float = 1.0
) -> CategoricalTerms:
    """Focal terms of one-hot or soft targets, as fast as sparse labels when they are one-hot.

    One row reduction over the targets (:func:`hard_rows`) tells whether every row is hard
    (entries 0 or 1, at most one 1; rows of zeros count, with weight 0). If so, the terms are
    those of :func:`sparse_logit_terms`; otherwise the dense formula of
    :func:`dense_logit_terms` runs for the whole batch (``keras.ops.cond``).

    Args:
        logits: ``(M, C)`` float32 logits.
        targets: ``(M, C)`` float32 one-hot or soft targets (``y``).
        class_weight: ``(C,)`` float32 class weights ``alpha``; None means all 1.
        gamma: focusing parameter >= 0.
        label_scale: factor of every term (``1 - eps`` for label smoothing), not of ``alpha*``.

    Returns:
        A :class:`CategoricalTerms` of ``(M,)`` tensors; only ``terms`` carries a gradient.

    Example:
        >>> out = categorical_logit_terms(ops.zeros((2, 3)), targets=ops.eye(3)[:2],
        ...                               class_weight=ops.convert_to_tensor([1.0, 2.0, 3.0]),
        ...                               gamma=2.0)
        >>> ops.convert_to_numpy(out.labels).tolist(), ops.convert_to_numpy(out.alpha_star).tolist()
        ([0, 1], [1.0, 2.0])
    """
    targets = ops.cast(targets, "float32")
    num_classes = ops.shape(targets)[-1]
    alpha = ops.ones((num_classes,), "float32") if class_weight is None else ops.cast(class_weight, "float32")
    case = gamma_case(gamma)
    hard, labels, alpha_star, values, saved, scale, coef = categorical_forward(
        ops.stop_gradient(ops.convert_to_tensor(logits, "float32")), targets, alpha, label_scale, gamma, case=case
    )

    @ops.custom_gradient
    def terms(z: Tensor):
        def grad(*args: Tensor, upstream: Tensor | None = None) -> Tensor:
            return categorical_backward(_upstream(args, upstream), saved, scale, coef, labels, hard)

        return values, grad

    return CategoricalTerms(terms=terms(ops.convert_to_tensor(logits, "float32")), alpha_star=alpha_star, labels=labels)
