"""Losses of vl3d_focal; importing this package registers every built-in loss in ``LOSSES``.

Built-in registry entries: ``class_weighted_focal_categorical_crossentropy``,
``class_weighted_categorical_crossentropy`` (sparse labels, class weights),
``categorical_focal_crossentropy``, ``categorical_crossentropy`` (Keras', one-hot labels),
``sparse_categorical_crossentropy`` (Keras') and ``multi_category_focal_crossentropy``
(seed 003, one-hot labels).

Example:
    >>> from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy
    >>> loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=[1.0, 4.0], from_logits=True)
"""

from vl3d_focal.losses.class_weighted_focal import (
    REDUCTIONS,
    ClassWeightedFocalCategoricalCrossentropy,
    LossParts,
    vl3d_class_weighted_focal_categorical_crossentropy,
)
from vl3d_focal.losses.class_weights import (
    CLASS_WEIGHT_STRATEGIES,
    compute_class_weight,
    resolve_class_weight,
)
from vl3d_focal.losses.exceptions import ClassWeightError, LossArgumentError
from vl3d_focal.losses.multi_category_focal import MultiCategoryFocalCrossentropy

# Registry entries (imported for their registration side effect).
from vl3d_focal.losses import class_weighted_entries as _class_weighted_entries  # noqa: E402,F401
from vl3d_focal.losses import keras_losses as _keras_losses  # noqa: E402,F401

__all__ = [
    "CLASS_WEIGHT_STRATEGIES",
    "REDUCTIONS",
    "ClassWeightError",
    "ClassWeightedFocalCategoricalCrossentropy",
    "LossArgumentError",
    "LossParts",
    "MultiCategoryFocalCrossentropy",
    "compute_class_weight",
    "resolve_class_weight",
    "vl3d_class_weighted_focal_categorical_crossentropy",
]
