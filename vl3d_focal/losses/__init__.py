"""Losses of vl3d_focal.

The public names below are imported on first use (PEP 562), so that importing this package,
or the registry entries under it, costs nothing: the pipeline's validator lists and checks
losses without importing Keras. When Keras is imported, before or after this package, the
package gives Keras' serialization an entry per loss class that imports the class when a
``.keras`` file needs it (:func:`vl3d_focal.lazy.after_import`): ``import vl3d_focal.losses``
is enough for ``keras.models.load_model`` in either order, on every backend, and imports
neither Keras nor TensorFlow itself. Registry entries (``vl3d-focal list losses``):
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
from typing import Any

from vl3d_focal.lazy import after_import, lazy_attributes

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
    "LossDistributionError": "exceptions",
    "MultiCategoryFocalCrossentropy": "multi_category_focal",
}

__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC)


_KERAS_CLASSES = ("ClassWeightedFocalCategoricalCrossentropy", "MultiCategoryFocalCrossentropy")
"""The loss classes Keras' serialization knows as ``"vl3d_focal>name"`` (their decorators)."""


def _register_with_keras() -> None:
    """Gives Keras' serialization an entry for each loss class not registered yet, without
    importing it: its ``from_config`` imports the class (whose decorator then replaces the
    entry) and builds the loss. Importing the classes here instead would fail while one of the
    modules they import is importing Keras."""
    custom_objects = sys.modules["keras"].saving.get_custom_objects()
    for name in _KERAS_CLASSES:
        custom_objects.setdefault(f"vl3d_focal>{name}", _deferred_class(name))


def _deferred_class(name: str) -> type:
    """A stand-in for the loss class ``name`` whose ``from_config`` builds the real one."""

    def from_config(cls: type, config: dict[str, Any]) -> Any:
        return __getattr__(name).from_config(config)

    doc = f"Stands in for {__name__}.{name} until it is imported; from_config builds the real one."
    return type(name, (), {"__module__": __name__, "__doc__": doc, "from_config": classmethod(from_config)})


after_import("keras", _register_with_keras)
