"""Registry entries wrapping Keras' own losses, so specs can compare against them.

Example:
    >>> from vl3d_focal.registry import LOSSES
    >>> loss = LOSSES.build({"function": "categorical_focal_crossentropy", "gamma": 2.0})
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from vl3d_focal.losses import arguments as args
from vl3d_focal.losses import schema_parts as parts
from vl3d_focal.losses.exceptions import LossArgumentError
from vl3d_focal.registry import LOSSES

if TYPE_CHECKING:
    import keras

_ONE_HOT = {"label_format": "one_hot", "takes_class_weight": False}
_SPARSE = {"label_format": "sparse", "takes_class_weight": False}


def _check_reduction(reduction: str | None) -> str | None:
    return args.check_choice(reduction, argument="reduction", allowed=parts.KERAS_REDUCTIONS)


def _one_hot_properties() -> dict:
    """Schema properties shared by Keras' one-hot cross-entropies."""
    return {
        "from_logits": parts.from_logits_property(),
        "label_smoothing": parts.label_smoothing_property(),
        "axis": parts.axis_property(),
        "reduction": parts.reduction_property(default="sum_over_batch_size"),
    }


def _one_hot_arguments(*, from_logits: bool, label_smoothing: float, axis: int, reduction: str | None) -> dict:
    """The checked arguments shared by Keras' one-hot cross-entropies."""
    return {
        "from_logits": args.check_bool(from_logits, argument="from_logits"),
        "label_smoothing": args.check_label_smoothing(label_smoothing),
        "axis": args.check_int(axis, argument="axis"),
        "reduction": _check_reduction(reduction),
    }


FOCAL_SCHEMA = parts.loss_schema(
    name="categorical_focal_crossentropy",
    description="Keras' CategoricalFocalCrossentropy (one-hot labels, alpha-balanced).",
    properties={
        "alpha": {
            "oneOf": [
                {"type": "number", "minimum": 0},
                {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 1},
            ],
            "default": 0.25,
            "description": "Weight balancing factor: one number for all classes or one per class.",
        },
        "gamma": parts.gamma_property(default=2.0),
        **_one_hot_properties(),
    },
)


@LOSSES.register_module("categorical_focal_crossentropy", schema=FOCAL_SCHEMA, metadata=_ONE_HOT)
def build_categorical_focal_crossentropy(
    *,
    alpha: float | Sequence[float] = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    reduction: str | None = "sum_over_batch_size",
    num_classes: int | None = None,
) -> keras.losses.CategoricalFocalCrossentropy:
    """Keras' own categorical focal cross-entropy on one-hot labels.

    Args:
        alpha: balancing factor, a number or one per class.
        gamma: focusing parameter >= 0.
        from_logits: whether predictions are logits.
        label_smoothing: in [0, 1).
        axis: the class axis.
        reduction: one of Keras' reductions.
        num_classes: when given, a per-class ``alpha`` must have this many entries.

    Returns:
        ``keras.losses.CategoricalFocalCrossentropy``.

    Example:
        >>> loss = build_categorical_focal_crossentropy(alpha=[0.25, 0.75], num_classes=2, reduction=None)
        >>> values = loss([[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.5], [0.5, 0.5]])
        >>> [round(float(v), 4) for v in values]  # alpha_y * 0.5^2 * ln 2
        [0.0433, 0.13]
    """
    if isinstance(alpha, (list, tuple)):
        alpha = list(args.check_class_weight(alpha, argument="alpha"))
        if num_classes is not None and len(alpha) != num_classes:
            raise LossArgumentError(
                f"Argument `alpha` must have one value per class: expected {num_classes}, received {len(alpha)}"
            )
    else:
        alpha = args.check_gamma(alpha, argument="alpha")
    import keras  # imported when built: listing and validating need no Keras

    return keras.losses.CategoricalFocalCrossentropy(
        alpha=alpha,
        gamma=args.check_gamma(gamma),
        **_one_hot_arguments(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis, reduction=reduction),
    )


CROSSENTROPY_SCHEMA = parts.loss_schema(
    name="categorical_crossentropy",
    description="Keras' CategoricalCrossentropy (one-hot labels).",
    properties=_one_hot_properties(),
)


@LOSSES.register_module("categorical_crossentropy", schema=CROSSENTROPY_SCHEMA, metadata=_ONE_HOT)
def build_categorical_crossentropy(
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    reduction: str | None = "sum_over_batch_size",
    num_classes: int | None = None,
) -> keras.losses.CategoricalCrossentropy:
    """Keras' categorical cross-entropy on one-hot labels.

    Args:
        from_logits: whether predictions are logits.
        label_smoothing: in [0, 1).
        axis: the class axis.
        reduction: one of Keras' reductions.
        num_classes: accepted for a uniform builder interface; unused.

    Returns:
        ``keras.losses.CategoricalCrossentropy``.

    Example:
        >>> loss = build_categorical_crossentropy(from_logits=True)
        >>> round(float(loss([[0.0, 1.0]], [[0.0, 0.0]])), 4)  # equal logits: ln 2
        0.6931
    """
    import keras  # imported when built: listing and validating need no Keras

    return keras.losses.CategoricalCrossentropy(
        **_one_hot_arguments(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis, reduction=reduction)
    )


SPARSE_SCHEMA = parts.loss_schema(
    name="sparse_categorical_crossentropy",
    description="Keras' SparseCategoricalCrossentropy (integer labels, optional ignore_class).",
    properties={
        "from_logits": parts.from_logits_property(),
        "ignore_class": parts.ignore_class_property(),
        "reduction": parts.reduction_property(default="sum_over_batch_size"),
    },
)


@LOSSES.register_module("sparse_categorical_crossentropy", schema=SPARSE_SCHEMA, metadata=_SPARSE)
def build_sparse_categorical_crossentropy(
    *,
    from_logits: bool = False,
    ignore_class: int | None = None,
    reduction: str | None = "sum_over_batch_size",
    num_classes: int | None = None,
) -> keras.losses.SparseCategoricalCrossentropy:
    """Keras' sparse categorical cross-entropy on integer labels.

    Args:
        from_logits: whether predictions are logits.
        ignore_class: label whose points are ignored, or None.
        reduction: one of Keras' reductions.
        num_classes: accepted for a uniform builder interface; unused.

    Returns:
        ``keras.losses.SparseCategoricalCrossentropy``.

    Example:
        >>> loss = build_sparse_categorical_crossentropy(ignore_class=-1)
        >>> labels, probabilities = np.array([0, -1]), np.array([[0.5, 0.5], [0.9, 0.1]])
        >>> round(float(loss(labels, probabilities)), 4)  # the point labelled -1 is left out: ln 2
        0.6931
    """
    import keras  # imported when built: listing and validating need no Keras

    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=args.check_bool(from_logits, argument="from_logits"),
        ignore_class=args.check_int(ignore_class, argument="ignore_class", allow_none=True),
        reduction=_check_reduction(reduction),
    )
