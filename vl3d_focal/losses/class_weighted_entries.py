"""Registry entries of the class-weighted loss family (focal, and cross-entropy = gamma 0, also
VL3D's two-class ``class_weighted_binary_crossentropy``).

All take sparse integer labels (``-1`` or any ``ignore_class`` for ignored points) and the
class weights resolved by :func:`vl3d_focal.losses.class_weights.resolve_class_weight`.

Example:
    >>> from vl3d_focal.registry import LOSSES
    >>> loss = LOSSES.build({"function": "class_weighted_categorical_crossentropy",
    ...                      "class_weight": [1.0, 2.0]}, num_classes=2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from vl3d_focal.losses import schema_parts as parts
from vl3d_focal.losses.arguments import (
    check_class_weight,
    check_class_weight_length,
    class_count_problem,
    ignored_class_problem,
)
from vl3d_focal.losses.exceptions import LossArgumentError
from vl3d_focal.registry import LOSSES

if TYPE_CHECKING:
    from vl3d_focal.losses.class_weighted_focal import ClassWeightedFocalCategoricalCrossentropy

_METADATA = {"label_format": "sparse", "takes_class_weight": True}


def _common_properties(*, reduction: str = "class_weighted_mean") -> dict:
    return {
        "class_weight": parts.class_weight_property(),
        "from_logits": parts.from_logits_property(),
        "label_smoothing": parts.label_smoothing_property(),
        "axis": parts.axis_property(),
        "ignore_class": parts.ignore_class_property(),
        "reduction": parts.reduction_property(default=reduction, extra=("class_weighted_mean",)),
    }


FOCAL_SCHEMA = parts.loss_schema(
    name="class_weighted_focal_categorical_crossentropy",
    description="VL3D's class-weighted focal categorical cross-entropy (sparse labels).",
    properties={"gamma": parts.gamma_property(default=2.0), **_common_properties()},
)

CROSSENTROPY_SCHEMA = parts.loss_schema(
    name="class_weighted_categorical_crossentropy",
    description="VL3D's class-weighted categorical cross-entropy (sparse labels).",
    properties=_common_properties(),
)

BINARY_SCHEMA = parts.loss_schema(
    name="class_weighted_binary_crossentropy",
    description="VL3D's class-weighted binary cross-entropy, for models of exactly 2 classes (sparse labels 0/1): "
    "computed on the model's two softmax outputs, which give the same probabilities and loss as VL3D's single "
    "sigmoid output; a plain mean over the (non-ignored) points.",
    properties={
        key: value
        for key, value in _common_properties(reduction="mean_with_sample_weight").items()
        if key != "label_smoothing"  # VL3D weights the smoothed BCE by the true class: not this family's
    },
)


@LOSSES.register_module("class_weighted_focal_categorical_crossentropy", schema=FOCAL_SCHEMA, metadata=_METADATA)
def build_class_weighted_focal_categorical_crossentropy(
    *,
    class_weight: Sequence[float] | None = None,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    ignore_class: int | None = None,
    reduction: str | None = "class_weighted_mean",
    num_classes: int | None = None,
    name: str = "class_weighted_focal_categorical_crossentropy",
) -> ClassWeightedFocalCategoricalCrossentropy:
    """Class-weighted focal categorical cross-entropy (VL3D) on sparse labels and logits.

    Args:
        class_weight: one weight per class (already resolved), or None for all 1.0.
        gamma: focusing parameter >= 0.
        from_logits: whether predictions are logits (default False, as the loss class).
        label_smoothing: in [0, 1).
        axis: the class axis.
        ignore_class: label whose points are ignored, or None.
        reduction: see :class:`ClassWeightedFocalCategoricalCrossentropy`.
        num_classes: when given, ``class_weight`` must have this many entries.
        name: the loss' name (not a spec option).

    Returns:
        The loss.

    Example:
        >>> loss = build_class_weighted_focal_categorical_crossentropy(
        ...     class_weight=[1.0, 2.0, 3.0], num_classes=3)
        >>> round(float(loss([0, 2], [[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]])), 4)  # (0.5^2 ln 2 + 3 * 0.75^2 ln 4) / 4
        0.6282
    """
    from vl3d_focal.losses.class_weighted_focal import ClassWeightedFocalCategoricalCrossentropy

    check_class_weight_length(check_class_weight(class_weight), num_classes=num_classes)
    return ClassWeightedFocalCategoricalCrossentropy(
        class_weight=class_weight,
        gamma=gamma,
        from_logits=from_logits,
        label_smoothing=label_smoothing,
        axis=axis,
        ignore_class=ignore_class,
        reduction=reduction,
        name=name,
    )


@LOSSES.register_module("class_weighted_categorical_crossentropy", schema=CROSSENTROPY_SCHEMA, metadata=_METADATA)
def build_class_weighted_categorical_crossentropy(
    *,
    class_weight: Sequence[float] | None = None,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    ignore_class: int | None = None,
    reduction: str | None = "class_weighted_mean",
    num_classes: int | None = None,
) -> ClassWeightedFocalCategoricalCrossentropy:
    """Class-weighted categorical cross-entropy (VL3D): the focal loss with gamma = 0.

    Args:
        class_weight: one weight per class (already resolved), or None for all 1.0.
        from_logits: whether predictions are logits (default False, as the loss class).
        label_smoothing: in [0, 1).
        axis: the class axis.
        ignore_class: label whose points are ignored, or None.
        reduction: see :class:`ClassWeightedFocalCategoricalCrossentropy`.
        num_classes: when given, ``class_weight`` must have this many entries.

    Returns:
        The loss (named ``class_weighted_categorical_crossentropy``).

    Example:
        >>> loss = build_class_weighted_categorical_crossentropy(class_weight=[1.0, 5.0])
        >>> round(float(loss([0, 1], [[0.8, 0.2], [0.5, 0.5]])), 4)  # (-ln 0.8 + 5 ln 2) / (1 + 5)
        0.6148
    """
    return build_class_weighted_focal_categorical_crossentropy(
        class_weight=class_weight,
        gamma=0.0,
        from_logits=from_logits,
        label_smoothing=label_smoothing,
        axis=axis,
        ignore_class=ignore_class,
        reduction=reduction,
        num_classes=num_classes,
        name="class_weighted_categorical_crossentropy",
    )


@LOSSES.register_module(
    "class_weighted_binary_crossentropy",
    schema=BINARY_SCHEMA,
    metadata={**_METADATA, "num_classes": 2, "positive_class": 1},  # VL3D's sigmoid output: class 1
)
def build_class_weighted_binary_crossentropy(
    *,
    class_weight: Sequence[float] | None = None,
    from_logits: bool = False,
    axis: int = -1,
    ignore_class: int | None = None,
    reduction: str | None = "mean_with_sample_weight",
    num_classes: int | None = None,
) -> ClassWeightedFocalCategoricalCrossentropy:
    """VL3D's class-weighted binary cross-entropy, on a two-class model's softmax outputs.

    VL3D's loss is ``mean_i [(y_i w_1 + (1 - y_i) w_0) * BCE(y_i, p_i)]`` for labels
    ``y_i`` in {0, 1} and one sigmoid output ``p_i``. Every model here ends in a softmax over
    its classes; for two classes, the softmax of logits ``(a, b)`` gives ``p_1 = sigmoid(b - a)``:
    the same probabilities, so the same loss is the class-weighted cross-entropy with weight
    ``w_{y_i}`` and, by default, a plain mean over the points (not divided by the sum of the
    class weights, unlike ``class_weighted_mean``). The default ``"mean_with_sample_weight"``
    divides by the sum of the sample weights, so the points the pipeline ignores (sample weight 0)
    and those of ``ignore_class`` are left out of the mean; without sample weights it is
    ``"mean"``. With probabilities (``from_logits=False``) it clips them as Keras'
    ``binary_crossentropy`` does; with logits it works from log-softmax, so a badly wrong
    point's loss is not capped at ``-ln(eps)`` as VL3D's is.

    Args:
        class_weight: the two weights ``(w_0, w_1)`` (already resolved), or None for 1.0 each.
        from_logits: whether predictions are logits (default False, as the loss class).
        axis: the class axis.
        ignore_class: label whose points are ignored, or None.
        reduction: see :class:`ClassWeightedFocalCategoricalCrossentropy`.
        num_classes: when given, must be 2, and ``class_weight`` must have 2 entries.

    Returns:
        The loss (named ``class_weighted_binary_crossentropy``).

    Raises:
        LossArgumentError: ``num_classes`` is not 2, or ``ignore_class`` is 0 or 1.

    Example:
        >>> loss = build_class_weighted_binary_crossentropy(class_weight=[0.3, 2.0], num_classes=2)
        >>> round(float(loss([0, 1], [[0.8, 0.2], [0.5, 0.5]])), 4)  # (0.3 * -ln 0.8 + 2 ln 2) / 2
        0.7266
    """
    name = "class_weighted_binary_crossentropy"
    problem = class_count_problem(name, expected=2, num_classes=num_classes)
    problem = problem or ignored_class_problem(name, expected=2, ignore_class=ignore_class)
    if problem:
        raise LossArgumentError(problem)
    return build_class_weighted_focal_categorical_crossentropy(
        class_weight=class_weight,
        gamma=0.0,
        from_logits=from_logits,
        axis=axis,
        ignore_class=ignore_class,
        reduction=reduction,
        num_classes=num_classes,
        name=name,
    )
