"""Checks of the loss's inputs: one message naming the argument, what was expected and received.

Shapes and types are checked when the loss is called (eagerly, or once while a graph is traced).
Label *values* (sparse labels outside ``[0, C)``, float labels that are not integers) are
checked where a check can run:

- eagerly (TensorFlow eager, JAX outside ``jit``, PyTorch): on the values, raising
  :class:`~vl3d_focal.losses.exceptions.LossArgumentError`;
- in a TensorFlow graph (``tf.function``, ``model.fit``): by ``tf.debugging`` assertions on
  the labels' minimum and maximum, which raise ``tf.errors.InvalidArgumentError`` with the same
  message when the step runs;
- inside an XLA compilation (``jit_compile=True``, ``jax.jit``) no check can raise: XLA drops
  assertions. There a label outside ``[0, C)`` gives a NaN loss (never a silent finite value),
  which Keras' ``TerminateOnNaN`` and the pipeline's NaN guard catch.

Example:
    >>> check_layout(y_true_shape=(2, 5), y_pred_shape=(2, 5, 3), axis=2)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from vl3d_focal.losses.exceptions import LossArgumentError
from vl3d_focal.wording import counted, noun

Tensor = Any  # a backend tensor


def check_dense(value: Any, *, argument: str) -> None:
    """Raises for ragged or sparse tensors, which the loss cannot take.

    Example:
        >>> check_dense([[0, 1]], argument="y_true")  # dense: no error
        >>> import tensorflow as tf
        >>> check_dense(tf.ragged.constant([[0, 1], [2]]), argument="y_true")
        Traceback (most recent call last):
        vl3d_focal.losses.exceptions.LossArgumentError: Argument `y_true` must be a dense tensor or array (pad the points, ...). Received: y_true of type tf.RaggedTensor
    """
    kind = type(value).__name__
    if kind in ("RaggedTensor", "SparseTensor"):
        raise LossArgumentError(
            f"Argument `{argument}` must be a dense tensor or array (pad the points, or call "
            f"`.to_tensor()`, and give padded points `ignore_class` or a sample weight of 0). "
            f"Received: {argument} of type tf.{kind}"
        )


def _shape(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _compatible(got: Sequence[int | None], want: Sequence[int | None]) -> bool:
    return len(got) == len(want) and all(g is None or w is None or g == w for g, w in zip(got, want))


def check_layout(*, y_true_shape: Sequence[int | None], y_pred_shape: Sequence[int | None], axis: int) -> bool:
    """Whether the labels are sparse; raises when their shape fits neither layout.

    Sparse labels have the predictions' shape without the class axis (or a class axis of size
    1); one-hot or soft labels have the predictions' shape. ``axis`` is non-negative.

    Example:
        >>> check_layout(y_true_shape=(2, 5, 3), y_pred_shape=(2, 5, 3), axis=2)
        False
    """
    y_true_shape, y_pred_shape = tuple(y_true_shape), tuple(y_pred_shape)
    points = y_pred_shape[:axis] + y_pred_shape[axis + 1 :]
    num_classes = y_pred_shape[axis]
    expected = (
        f"expected sparse labels of shape {_shape(points)} (the shape of `y_pred`, "
        f"{_shape(y_pred_shape)}, without its class axis {axis}) or one-hot labels of "
        f"shape {_shape(y_pred_shape)}"
    )
    if len(y_true_shape) == len(points):
        if not _compatible(y_true_shape, points):
            raise LossArgumentError(
                f"Argument `y_true` does not fit `y_pred`: {expected}. Received: y_true.shape={_shape(y_true_shape)}"
            )
        return True
    if len(y_true_shape) == len(y_pred_shape):
        if y_true_shape[axis] == 1 and num_classes != 1:
            return check_layout(
                y_true_shape=y_true_shape[:axis] + y_true_shape[axis + 1 :], y_pred_shape=y_pred_shape, axis=axis
            )
        if _compatible(y_true_shape[:axis] + y_true_shape[axis + 1 :], points) and not _compatible(
            y_true_shape[axis : axis + 1], (num_classes,)
        ):
            raise LossArgumentError(
                f"Argument `y_true` must have one entry per class on axis {axis}: expected "
                f"{num_classes} (the classes of `y_pred`, shape {_shape(y_pred_shape)}). "
                f"Received: {y_true_shape[axis]} (y_true.shape={_shape(y_true_shape)})"
            )
        if not _compatible(y_true_shape, y_pred_shape):
            raise LossArgumentError(
                f"Argument `y_true` does not fit `y_pred`: {expected}. Received: y_true.shape={_shape(y_true_shape)}"
            )
        return False
    raise LossArgumentError(
        f"Argument `y_true` does not fit `y_pred`: {expected}. Received: "
        f"y_true.shape={_shape(y_true_shape)} (rank {len(y_true_shape)})"
    )


def check_one_hot_layout(*, y_true_shape: Sequence[int | None], y_pred_shape: Sequence[int | None]) -> None:
    """Raises unless the labels have the predictions' shape (one-hot or multi-label rows).

    A one-vs-all loss reads one label per class: sparse labels (class indices), which would
    broadcast against the predictions into a wrong loss without an error, are refused.

    Example:
        >>> check_one_hot_layout(y_true_shape=(2, 3), y_pred_shape=(None, 3))
        >>> check_one_hot_layout(y_true_shape=(2, 1), y_pred_shape=(2, 3))
        Traceback (most recent call last):
        ...
        vl3d_focal.losses.exceptions.LossArgumentError: Argument `y_true` must have the shape of `y_pred`, (2, 3): one label per class (one-hot or multi-label rows); for class indices use keras.ops.one_hot(y_true, 3). Received: y_true.shape=(2, 1)
    """
    y_true_shape, y_pred_shape = tuple(y_true_shape), tuple(y_pred_shape)
    if _compatible(y_true_shape, y_pred_shape):
        return
    classes = "num_classes" if y_pred_shape[-1] is None else y_pred_shape[-1]
    raise LossArgumentError(
        f"Argument `y_true` must have the shape of `y_pred`, {_shape(y_pred_shape)}: one label per class "
        f"(one-hot or multi-label rows); for class indices use keras.ops.one_hot(y_true, {classes}). "
        f"Received: y_true.shape={_shape(y_true_shape)}"
    )


def _is_concrete(value: Tensor) -> bool:
    """Whether the tensor's values can be read now (not a graph or ``jit`` tracer)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.executing_eagerly()
    if backend == "jax":
        import jax

        return not isinstance(value, jax.core.Tracer)
    return True


def _graph_check(condition: Tensor, message: str, data: list[Tensor]) -> None:
    """A ``tf.debugging.Assert`` (run by ``tf.function``'s automatic control dependencies)."""
    import tensorflow as tf

    tf.debugging.Assert(condition, [message, *data], summarize=10)


def _value_list(values: np.ndarray) -> str:
    found = np.unique(values)
    return ", ".join(f"{v:g}" for v in found[:10]) + (", ..." if found.size > 10 else "")


def check_sparse_labels(
    labels: Tensor, *, num_classes: int | None, ignore_class: int | None, classes: Tensor | None = None
) -> None:
    """Raises when sparse labels are not integers in ``[0, C)`` (or ``ignore_class``).

    Eagerly the values are read; in a TensorFlow graph ``tf.debugging`` assertions check the
    labels' minimum and maximum (against ``classes``, the class count as a tensor, where
    ``num_classes`` is unknown at trace time); under ``jax.jit`` nothing can be checked (see the
    module docstring).

    Example:
        >>> check_sparse_labels(ops.convert_to_tensor([0, 2, -1]), num_classes=3, ignore_class=-1)  # no error
        >>> check_sparse_labels(ops.convert_to_tensor([0, 3, 3]), num_classes=3, ignore_class=-1)
        Traceback (most recent call last):
        vl3d_focal.losses.exceptions.LossArgumentError: Argument `y_true` holds sparse labels outside the class range of the predictions (3 classes): expected integers in [0, 3) or ignore_class=-1. Received label value 3 at 2 points
    """
    integral = "int" in keras.backend.standardize_dtype(labels.dtype)
    allowed = "" if ignore_class is None else f" or ignore_class={ignore_class}"
    count = "C" if num_classes is None else num_classes
    classes_word = "C classes" if num_classes is None else counted(num_classes, "class", "classes")
    fractional = (
        f"Argument `y_true` holds sparse labels that are not integers: expected class indices in [0, {count}){allowed}"
    )
    outside = (
        f"Argument `y_true` holds sparse labels outside the class range of the "
        f"predictions ({classes_word}): expected integers in [0, {count}){allowed}"
    )
    if _is_concrete(labels):
        values = ops.convert_to_numpy(labels).reshape(-1)
        if not integral and not np.all(np.floor(values) == values):
            raise LossArgumentError(f"{fractional}. Received: {_value_list(values[np.floor(values) != values])}")
        if num_classes is None:
            return
        bad = (values < 0) | (values >= num_classes)
        if ignore_class is not None:
            bad &= values != ignore_class
        if bad.any():
            received = noun(np.unique(values[bad]).size, "label value")
            raise LossArgumentError(
                f"{outside}. Received {received} {_value_list(values[bad])} at {counted(int(bad.sum()), 'point')}"
            )
        return
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    if not integral:
        _graph_check(tf.reduce_all(tf.equal(tf.floor(labels), labels)), f"{fractional}. Received:", [labels])
    if num_classes is None and classes is None:
        return
    valid = labels if ignore_class is None else tf.where(tf.equal(labels, ignore_class), tf.zeros_like(labels), labels)
    low, high = tf.reduce_min(valid), tf.reduce_max(valid)
    limit = tf.cast(num_classes if num_classes is not None else classes, valid.dtype)
    _graph_check(
        tf.logical_and(low >= 0, high < limit),
        f"{outside}. Received labels with minimum and maximum (ignored points excluded), and C:",
        [low, high, limit],
    )


def check_class_weight_count(alpha: Tensor, *, classes: Tensor) -> Tensor:
    """``alpha`` (the class weights) checked against the class count ``classes`` of predictions
    whose class axis was unknown at trace time: in a TensorFlow graph an assertion that must hold
    before the weights are used; where no assertion runs (XLA) the weights are NaN when the counts
    differ, so the loss is NaN rather than computed with some of the weights.

    Example:
        >>> ops.convert_to_numpy(check_class_weight_count(ops.ones((3,)), classes=3)).tolist()
        [1.0, 1.0, 1.0]
    """
    count = int(alpha.shape[0])  # the weights are given as a list: their count is known
    message = f"Argument `class_weight` must have one weight per class of `y_pred`: received {count} weights, C:"
    if keras.backend.backend() == "tensorflow" and not _is_concrete(alpha):
        import tensorflow as tf

        classes = tf.cast(classes, "int32")
        with tf.control_dependencies([tf.debugging.assert_equal(classes, count, message=message)]):
            alpha = tf.identity(alpha)
    return ops.where(ops.equal(classes, count), alpha, float("nan"))


def check_points(y_true: Tensor, y_pred: Tensor, *, sparse: bool) -> Tensor:
    """``y_true``, after (in a TensorFlow graph) an assertion of the dynamic shapes that were
    unknown at trace time: what is computed from the labels waits for it, so a mismatch is
    reported by it rather than by a reshape.

    Example:
        >>> tuple(check_points(ops.zeros((2,)), ops.zeros((2, 3)), sparse=True).shape)
        (2,)
    """
    if keras.backend.backend() != "tensorflow" or _is_concrete(y_pred):
        return y_true
    if None not in tuple(y_true.shape) + tuple(y_pred.shape):
        return y_true
    import tensorflow as tf

    expected = tf.shape(y_pred)[:-1] if sparse else tf.shape(y_pred)
    hint = (
        ""
        if sparse
        else " (sparse labels with a class axis of size 1 need that size in the traced shape, e.g. "
        "tf.TensorSpec([None, None, 1]): with an unknown size, labels of the predictions' rank are one-hot)"
    )
    fits = tf.debugging.assert_equal(
        tf.shape(y_true),
        expected,
        message="Argument `y_true` does not fit `y_pred`: expected the shape of `y_pred` "
        + ("without its class axis" if sparse else "")
        + hint
        + ". Received y_true.shape, expected shape:",
    )
    with tf.control_dependencies([fits]):
        return tf.identity(y_true)
