"""Losses of vl3d_focal.

The public names below are imported on first use (PEP 562), so that importing this package,
or the registry entries under it, costs nothing: the pipeline's validator lists and checks
losses without importing Keras. Where Keras is imported already, the loss classes are imported
with the package, which registers them with Keras: ``import keras, vl3d_focal.losses`` is enough
for ``keras.models.load_model`` to find them in a ``.keras`` file. Registry entries (``vl3d-focal list losses``):
``class_weighted_focal_categorical_crossentropy``, ``class_weighted_categorical_crossentropy``,
``class_weighted_binary_crossentropy`` (sparse labels, class weights; the last for 2 classes, on
the two softmax outputs: VL3D's loss on its single sigmoid output), ``categorical_focal_crossentropy``,
``categorical_crossentropy`` (Keras', one-hot labels), ``sparse_categorical_crossentropy`` (Keras') and
``multi_category_focal_crossentropy`` (the one-vs-all focal loss, one-hot labels).

Example:
    >>> from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy
    >>> loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=[1.0, 4.0], from_logits=True)
"""

from __future__ import annotations

import sys

from vl3d_focal.lazy import lazy_attributes

_PUBLIC = {
    "REDUCTIONS": "class_weighted_focal",
    "ClassWeightedFocalCategoricalCrossentropy": "class_weighted_focal",
    "LossParts": "class_weighted_focal",
    "vl3d_class_weighted_focal_categorical_crossentropy": "class_weighted_focal",
    "CLASS_WEIGHT_STRATEGIES": "class_weights",
    "compute_class_weight": "class_weights",
    "resolve_class_weight": "class_weights",
    "ClassWeightError": "exceptions",
    "LossArgumentError": "exceptions",
    "MultiCategoryFocalCrossentropy": "multi_category_focal",
}

__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC)

if "keras" in sys.modules:  # Keras is loaded: register the loss classes for .keras files now, at no cost
    from vl3d_focal.losses import class_weighted_focal, multi_category_focal  # noqa: F401
