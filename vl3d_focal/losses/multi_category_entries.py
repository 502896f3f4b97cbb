"""Registry entry of the one-vs-all "multi-category" focal loss (one-hot labels).

Its class weights are the normalised inverse class frequencies of the training labels (given
as ``class_counts``), or explicit ``class_weight``.

Example:
    >>> from vl3d_focal.registry import LOSSES
    >>> loss = LOSSES.build({"function": "multi_category_focal_crossentropy"},
    ...                     class_counts=[100, 200, 50, 10])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from vl3d_focal.losses import schema_parts as parts
from vl3d_focal.losses.exceptions import LossArgumentError
from vl3d_focal.registry import LOSSES

if TYPE_CHECKING:
    from vl3d_focal.losses.multi_category_focal import MultiCategoryFocalCrossentropy

SCHEMA = parts.loss_schema(
    name="multi_category_focal_crossentropy",
    description="One-vs-all focal loss with inverse-frequency class weights (one-hot labels).",
    properties={
        "class_counts": {
            "type": ["array", "null"],
            "items": {"type": "number", "minimum": 0},
            "default": None,
            "description": "Points per class; weights = N / n_c normalised to sum 1.",
        },
        "class_weight": parts.class_weight_property(),
        "on_absent_class": {
            "enum": ["error", "zero"],
            "default": "error",
            "description": "A class of class_counts without points (infinite weight): stop with an error, or weight it 0.",
        },
        "gamma": parts.gamma_property(default=2.0),
        "from_logits": parts.from_logits_property(),
        "epsilon": {
            "type": "number",
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 0.5,
            "default": 1e-7,
            "description": "Probability clipping bound.",
        },
        "reduction": parts.reduction_property(default="sum_over_batch_size"),
    },
)


@LOSSES.register_module(
    "multi_category_focal_crossentropy", schema=SCHEMA, metadata={"label_format": "one_hot", "takes_class_weight": True}
)
def build_multi_category_focal_crossentropy(
    *,
    class_counts: Sequence[float] | None = None,
    class_weight: Sequence[float] | None = None,
    on_absent_class: str = "error",
    gamma: float = 2.0,
    from_logits: bool = False,
    epsilon: float = 1e-7,
    reduction: str | None = "sum_over_batch_size",
    num_classes: int | None = None,
) -> MultiCategoryFocalCrossentropy:
    """The one-vs-all focal loss on one-hot labels, weighted by inverse class frequencies.

    Args:
        class_counts: points per class (weights = normalised inverse frequency).
        class_weight: explicit per-class weights (exclusive with ``class_counts``).
        on_absent_class: ``"error"`` or ``"zero"``, for a class of ``class_counts`` without points.
        gamma: focusing parameter >= 0.
        from_logits: whether predictions are logits.
        epsilon: probability clipping bound.
        reduction: one of Keras' reductions.
        num_classes: when given, counts/weights must have this many entries.

    Returns:
        The loss.

    Example:
        >>> loss = build_multi_category_focal_crossentropy(class_counts=[100, 200, 50, 10],
        ...                                                from_logits=False, reduction=None)
        >>> values = loss([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]], [[0.4, 0.3, 0.2, 0.1]] * 2)
        >>> [round(float(v), 4) for v in values]  # the rare class (10 points) weighs most
        [0.0277, 1.3901]
    """
    for argument, value in (("class_counts", class_counts), ("class_weight", class_weight)):
        if value is not None and num_classes is not None and len(value) != num_classes:
            raise LossArgumentError(
                f"Argument `{argument}` must have one value per class: expected {num_classes}, received {len(value)}"
            )
    from vl3d_focal.losses.multi_category_focal import MultiCategoryFocalCrossentropy

    return MultiCategoryFocalCrossentropy(
        class_counts=class_counts,
        class_weight=class_weight,
        on_absent_class=on_absent_class,
        gamma=gamma,
        from_logits=from_logits,
        epsilon=epsilon,
        reduction=reduction,
    )
