"""Validation of loss arguments, with Keras-style messages (argument, expected, received).

Example:
    >>> check_gamma(2)
    2.0
    >>> check_class_weight([1, 2.5])
    (1.0, 2.5)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Literal, overload

import numpy as np

from vl3d_focal.losses.exceptions import LossArgumentError


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number: int, float, a NumPy integer or float scalar
    (``numbers.Real``), not a bool.

    Example:
        >>> is_real(np.float32(0.9)), is_real(True), is_real("1")
        (True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@overload
def check_class_weight(value: None, *, argument: str = ...) -> None: ...
@overload
def check_class_weight(value: Sequence[Any] | np.ndarray, *, argument: str = ...) -> tuple[float, ...]: ...
@overload
def check_class_weight(value: Any, *, argument: str = ...) -> tuple[float, ...] | None: ...
def check_class_weight(value: Any, *, argument: str = "class_weight") -> tuple[float, ...] | None:
    """A tuple of C >= 1 finite non-negative floats, or None.

    Example:
        >>> check_class_weight(None) is None
        True
    """
    if value is None:
        return None
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__"):
        raise LossArgumentError(
            f"Argument `{argument}` must be a sequence of non-negative finite numbers, one per "
            f"class, or None. Received: {argument}={value!r} of type {type(value).__name__}"
        )
    array = np.asarray(value, dtype=object).reshape(-1) if len(value) else np.asarray([])
    if array.size == 0 or np.ndim(value) != 1:
        raise LossArgumentError(
            f"Argument `{argument}` must be a non-empty 1-D sequence of numbers. Received: {argument}={value!r}"
        )
    bad = [v for v in array if not is_real(v) or not math.isfinite(float(v)) or float(v) < 0]
    if bad:
        raise LossArgumentError(
            f"Argument `{argument}` must contain non-negative finite numbers only. "
            f"Received: {argument}={list(value)!r} (invalid entries: {bad!r})"
        )
    return tuple(float(v) for v in array)


def check_class_weight_length(class_weight: Sequence[float] | None, *, num_classes: int | None) -> None:
    """Raises when ``class_weight`` does not have ``num_classes`` entries (either may be None).

    Example:
        >>> check_class_weight_length([1.0, 2.0], num_classes=2)  # fits: no error
        >>> check_class_weight_length([1.0, 2.0], num_classes=3)
        Traceback (most recent call last):
        vl3d_focal.losses.exceptions.LossArgumentError: Argument `class_weight` must have one weight per class: expected 3 values (the number of classes), received 2: [1.0, 2.0]
    """
    if class_weight is not None and num_classes is not None and len(class_weight) != num_classes:
        raise LossArgumentError(
            f"Argument `class_weight` must have one weight per class: expected {num_classes} "
            f"values (the number of classes), received {len(class_weight)}: {list(class_weight)!r}"
        )


def check_weights_per_class(
    values: Sequence[float] | None, *, shape: tuple[int | None, ...], axis: int, argument: str = "class_weight"
) -> None:
    """Raises when a loss's ``values`` (class weights or counts) do not have one entry per class
    of predictions of static ``shape`` (class axis ``axis``); nothing when either is unknown.

    Example:
        >>> check_weights_per_class([1.0, 2.0], shape=(5, 3), axis=1)
        Traceback (most recent call last):
        vl3d_focal.losses.exceptions.LossArgumentError: Argument `class_weight` must have one weight per class: expected 3 (the classes of `y_pred`, axis 1, shape (5, 3)). Received: 2 values
    """
    num_classes = shape[axis]
    if values is not None and num_classes is not None and len(values) != num_classes:
        noun = "count" if argument == "class_counts" else "weight"
        raise LossArgumentError(
            f"Argument `{argument}` must have one {noun} per class: expected {num_classes} (the "
            f"classes of `y_pred`, axis {axis}, shape {shape}). Received: {len(values)} values"
        )


def class_count_problem(loss: str, *, expected: int, num_classes: int | None) -> str | None:
    """What is wrong with a model of ``num_classes`` classes for a loss made for ``expected``
    classes (registry metadata ``num_classes``), or None (also when ``num_classes`` is unknown).

    Example:
        >>> class_count_problem("binary", expected=2, num_classes=2) is None
        True
    """
    if num_classes is None or num_classes == expected:
        return None
    return (
        f"the loss {loss!r} is for models of exactly {expected} classes; this model has num_classes={num_classes}. "
        "For more classes use a categorical loss (vl3d-focal list losses), e.g. "
        "'class_weighted_categorical_crossentropy'"
    )


def ignored_class_problem(loss: str, *, expected: int | None, ignore_class: Any) -> str | None:
    """What is wrong with ``ignore_class`` for a loss made for ``expected`` classes (registry
    metadata ``num_classes``; None: any count): a label of one of them would ignore that
    class entirely; or None.

    Example:
        >>> ignored_class_problem("binary", expected=2, ignore_class=-1) is None
        True
    """
    if expected is None or not isinstance(ignore_class, int) or isinstance(ignore_class, bool):
        return None
    if not 0 <= ignore_class < expected:
        return None
    return (
        f"ignore_class={ignore_class} is one of the {expected} classes of the loss {loss!r}: every point of that "
        "class would be ignored. Leave ignore_class out (the pipeline ignores points by a sample weight of 0) "
        f"or give a label outside [0, {expected}), e.g. -1"
    )


def check_gamma(value: Any, *, argument: str = "gamma") -> float:
    """A finite float >= 0.

    Example:
        >>> check_gamma(0)
        0.0
    """
    if not is_real(value) or not math.isfinite(float(value)) or float(value) < 0:
        raise LossArgumentError(f"Argument `{argument}` must be a finite number >= 0. Received: {argument}={value!r}")
    return float(value)


def check_label_smoothing(value: Any) -> float:
    """A float in [0, 1).

    Example:
        >>> check_label_smoothing(0.1)
        0.1
    """
    if not is_real(value) or not 0.0 <= float(value) < 1.0:
        raise LossArgumentError(
            f"Argument `label_smoothing` must be a number in [0, 1). Received: label_smoothing={value!r}"
        )
    return float(value)


def check_bool(value: Any, *, argument: str) -> bool:
    """A bool (numpy bools accepted).

    Example:
        >>> check_bool(True, argument="from_logits")
        True
    """
    if not isinstance(value, (bool, np.bool_)):
        raise LossArgumentError(
            f"Argument `{argument}` must be a bool. Received: {argument}={value!r} of type {type(value).__name__}"
        )
    return bool(value)


@overload
def check_int(value: Any, *, argument: str, allow_none: Literal[False] = ...) -> int: ...
@overload
def check_int(value: Any, *, argument: str, allow_none: bool) -> int | None: ...
def check_int(value: Any, *, argument: str, allow_none: bool = False) -> int | None:
    """An integer (not a bool), or None when allowed.

    Example:
        >>> check_int(-1, argument="axis")
        -1
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral,)):
        expected = "an integer or None" if allow_none else "an integer"
        raise LossArgumentError(
            f"Argument `{argument}` must be {expected}. Received: {argument}={value!r} of type {type(value).__name__}"
        )
    return int(value)


def check_choice(value: Any, *, argument: str, allowed: Sequence[Any]) -> Any:
    """One of ``allowed``.

    Example:
        >>> check_choice("sum", argument="reduction", allowed=("sum", None))
        'sum'
    """
    if not any(value is option or (value == option and option is not None) for option in allowed):
        raise LossArgumentError(
            f"Invalid value for argument `{argument}`. Expected one of {list(allowed)!r}. "
            f"Received: {argument}={value!r}"
        )
    return value


COMPUTE_DTYPES = (None, "float32")
"""The ``dtype`` values the losses accept: they compute in float32 whatever the inputs (the
stable choice under mixed precision too, where Keras' own losses would compute in float16)."""


def check_dtype(value: Any) -> str:
    """The losses' compute dtype, ``"float32"``, for ``dtype`` None, ``"float32"`` or a Keras dtype
    policy that computes in float32.

    Example:
        >>> check_dtype(None)
        'float32'
        >>> check_dtype("float64")
        Traceback (most recent call last):
        ...
        vl3d_focal.losses.exceptions.LossArgumentError: Invalid value for argument `dtype`. Expected one of [None, 'float32'] (this loss computes in float32 from any input dtype, also under mixed precision). Received: dtype='float64'
    """
    computes = getattr(value, "compute_dtype", value)  # a keras.DTypePolicy
    if not any(computes is option or (computes == option and option is not None) for option in COMPUTE_DTYPES):
        raise LossArgumentError(
            f"Invalid value for argument `dtype`. Expected one of {list(COMPUTE_DTYPES)!r} (this loss computes "
            f"in float32 from any input dtype, also under mixed precision). Received: dtype={value!r}"
        )
    return "float32"
