"""The Keras metrics of ``compilation_args.metrics`` (VL3D's names), whatever the loss's label format.

They are compiled as weighted metrics, so ignored points (sample weight 0) are left out.
``categorical_accuracy`` and ``sparse_categorical_accuracy`` are both the fraction of points whose
most probable class is the reference: Keras' metric of that name expects one label format, so the
one matching the loss's format is built under the name asked for. ``precision``, ``recall`` and
``binary_accuracy`` threshold probabilities at 0.5 (sparse labels are one-hot encoded and logits
turned into probabilities first):

- with a binary loss (its registry metadata ``positive_class``, e.g.
  ``class_weighted_binary_crossentropy``), they are those of that class alone, as VL3D's model of
  one sigmoid output gives them: precision ``tp / (tp + fp)`` and recall ``tp / (tp + fn)`` of
  class 1 against class 0 (Keras' ``Precision(class_id=1)``);
- otherwise they are Keras' over every (point, class) pair (micro-averaged): with one-hot
  references and probabilities that sum to 1, precision and recall then stay close to the
  accuracy, and equal it for two classes.

Example:
    >>> [m if isinstance(m, str) else m.name for m in build_metrics(
    ...     ["accuracy", "categorical_accuracy", "recall"], label_format="sparse", num_classes=3,
    ...     from_logits=True)]
    ['accuracy', 'categorical_accuracy', 'recall']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from vl3d_focal.errors import DataError


def _dense(
    y_true: Any, y_pred: Any, sample_weight: Any, *, num_classes: int, from_logits: bool, positive_class: int | None
) -> tuple[Any, Any, Any]:
    if len(y_true.shape) < len(y_pred.shape):
        y_true = ops.one_hot(ops.cast(y_true, "int32"), num_classes)
    if from_logits:
        y_pred = ops.softmax(y_pred, axis=-1)
    if positive_class is not None:  # one column: per-point labels, probabilities and weights
        return y_true[..., positive_class], y_pred[..., positive_class], sample_weight
    if sample_weight is not None:
        sample_weight = ops.broadcast_to(ops.expand_dims(sample_weight, -1), ops.shape(y_pred))
    return y_true, y_pred, sample_weight


# The mixin precedes a Keras confusion metric in each subclass's MRO: its ``super()`` is that metric,
# which mypy only learns from an ``Any`` base (Keras has no type stubs).
_KerasMetric: Any = object


class _PointwiseMetric(_KerasMetric):
    """Feeds a Keras confusion metric one-hot labels, probabilities and per-class sample weights,
    or with ``positive_class``, that class's column of each."""

    default_name = ""

    def __init__(
        self,
        *,
        num_classes: int,
        from_logits: bool,
        positive_class: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name or self.default_name, dtype=dtype)
        self.num_classes, self.from_logits = int(num_classes), bool(from_logits)
        self.positive_class = None if positive_class is None else int(positive_class)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:  # noqa: D102
        return super().update_state(
            *_dense(
                y_true,
                y_pred,
                sample_weight,
                num_classes=self.num_classes,
                from_logits=self.from_logits,
                positive_class=self.positive_class,
            )
        )

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {
            "name": self.name,
            "dtype": self.dtype,
            "num_classes": self.num_classes,
            "from_logits": self.from_logits,
            "positive_class": self.positive_class,
        }


@keras.saving.register_keras_serializable(package="vl3d_focal")
class PointPrecision(_PointwiseMetric, keras.metrics.Precision):
    """Keras' ``Precision`` over every (point, class) pair, or of ``positive_class`` alone, from
    sparse or one-hot labels and logits or probabilities.

    Example:
        >>> import numpy as np
        >>> m = PointPrecision(num_classes=2, from_logits=False)
        >>> _ = m.update_state(np.array([[0, 1]]), np.array([[[0.9, 0.1], [0.8, 0.2]]]))
        >>> m.name, float(m.result())
        ('precision', 0.5)
        >>> m = PointPrecision(num_classes=2, from_logits=False, positive_class=1)
        >>> _ = m.update_state(np.array([[0, 1, 1]]), np.array([[[0.4, 0.6], [0.3, 0.7], [0.8, 0.2]]]))
        >>> float(m.result())  # 2 points predicted class 1, one of them is
        0.5
    """

    default_name = "precision"


@keras.saving.register_keras_serializable(package="vl3d_focal")
class PointRecall(_PointwiseMetric, keras.metrics.Recall):
    """Keras' ``Recall`` over every (point, class) pair, or of ``positive_class`` alone (see
    :class:`PointPrecision`).

    Example:
        >>> import numpy as np
        >>> m = PointRecall(num_classes=2, from_logits=False)
        >>> _ = m.update_state(np.array([[0, 1]]), np.array([[[0.9, 0.1], [0.8, 0.2]]]))
        >>> float(m.result())
        0.5
        >>> m = PointRecall(num_classes=2, from_logits=False, positive_class=1)
        >>> _ = m.update_state(np.array([[0, 1, 1]]), np.array([[[0.4, 0.6], [0.3, 0.7], [0.8, 0.2]]]))
        >>> float(m.result())  # 2 points of class 1, one of them found
        0.5
    """

    default_name = "recall"


@keras.saving.register_keras_serializable(package="vl3d_focal")
class PointBinaryAccuracy(_PointwiseMetric, keras.metrics.BinaryAccuracy):
    """Keras' ``BinaryAccuracy`` over every (point, class) pair, or of ``positive_class`` alone (see
    :class:`PointPrecision`).

    Example:
        >>> import numpy as np
        >>> m = PointBinaryAccuracy(num_classes=2, from_logits=False)
        >>> _ = m.update_state(np.array([[0, 1]]), np.array([[[0.9, 0.1], [0.8, 0.2]]]))
        >>> m.name, float(m.result())
        ('binary_accuracy', 0.5)
    """

    default_name = "binary_accuracy"


POINTWISE = {"precision": PointPrecision, "recall": PointRecall, "binary_accuracy": PointBinaryAccuracy}
"""The metrics over every (point, class) pair, by name."""


def build_metrics(
    names: Sequence[str], *, label_format: str, num_classes: int, from_logits: bool, positive_class: int | None = None
) -> list[Any]:
    """The metrics to compile (as weighted metrics) for ``compilation_args.metrics``.

    ``positive_class``: the class whose precision, recall and binary accuracy are measured (a
    binary loss's), or None for every (point, class) pair (see the module docstring).

    Raises:
        DataError: an unknown metric name.

    Example:
        >>> type(build_metrics(["sparse_categorical_accuracy"], label_format="one_hot", num_classes=2,
        ...                    from_logits=True)[0]).__name__
        'CategoricalAccuracy'
    """
    accuracy = (
        keras.metrics.SparseCategoricalAccuracy if label_format == "sparse" else keras.metrics.CategoricalAccuracy
    )
    built: list[Any] = []
    for name in names:
        if name == "accuracy":
            built.append("accuracy")
        elif name in ("categorical_accuracy", "sparse_categorical_accuracy"):
            built.append(accuracy(name=name))
        elif name in POINTWISE:
            built.append(
                POINTWISE[name](
                    num_classes=num_classes, from_logits=from_logits, positive_class=positive_class, name=name
                )
            )
        else:
            raise DataError(
                f"compilation_args.metrics: expected names among accuracy, categorical_accuracy, "
                f"sparse_categorical_accuracy, {', '.join(POINTWISE)}; got {name!r}"
            )
    return built
