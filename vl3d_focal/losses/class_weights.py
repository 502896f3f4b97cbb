"""Class weights from per-class point counts, and resolution of a spec's ``class_weight``.

Strategies (``n_c`` points of class c, ``N`` all points, ``C`` classes, ``f_c = n_c / N``):

- ``"balanced"`` (alias ``"auto"``): ``N / (C n_c)`` (scikit-learn's and VL3D's "auto").
- ``"inverse_frequency"``: ``N / n_c`` normalised to sum 1 (the class weights of the Keras
  one-vs-all focal loss in the blog post "focal loss 的理解" ("understanding focal loss"), ported as
  :class:`~vl3d_focal.losses.multi_category_focal.MultiCategoryFocalCrossentropy`).
- ``"sqrt_inverse_frequency"``: ``sqrt(N / n_c)`` normalised to sum 1.
- ``"log"``: ``1 / ln(k + f_c)`` (ENet, ``k > 1``, default 1.02).
- ``"effective_number"``: ``(1 - beta) / (1 - beta^n_c)`` normalised to sum C
  (Cui et al. 2019, ``0 <= beta < 1``, default 0.999).
- ``"median_frequency"``: ``median(f) / f_c`` (Eigen and Fergus 2015; median over present classes).

A class with no points never yields an infinite or NaN weight: by default it is an error;
with ``on_absent_class="zero"`` it gets weight 0 (with a warning) and the other weights are
computed from the present classes.

Example:
    >>> compute_class_weight("balanced", [30, 10])
    [0.6666666666666666, 2.0]
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vl3d_focal.losses.arguments import is_real
from vl3d_focal.losses.exceptions import ClassWeightError
from vl3d_focal.wording import noun

CLASS_WEIGHT_STRATEGIES: tuple[str, ...] = (
    "balanced",
    "inverse_frequency",
    "sqrt_inverse_frequency",
    "log",
    "effective_number",
    "median_frequency",
)
STRATEGY_ALIASES: Mapping[str, str] = {"auto": "balanced"}
ON_ABSENT_CLASS: tuple[str, ...] = ("error", "zero")
_STRATEGY_OPTIONS = ("beta", "k", "on_absent_class")
TRAINING_CLOUDS = "training clouds (before any validation split)"
"""What a strategy counts the classes on unless told otherwise, in words: every labelled point of
the training clouds, those of the fields a network holds out for validation included."""
STRATEGY_PARAMETERS: Mapping[str, tuple[str, ...]] = {"effective_number": ("beta",), "log": ("k",)}
"""The strategies that use a parameter (the others ignore ``beta`` and ``k``)."""


def normalize_strategy(strategy: Any) -> str:
    """The canonical strategy name (case-insensitive, aliases resolved).

    Example:
        >>> normalize_strategy("AUTO")
        'balanced'
    """
    if not isinstance(strategy, str):
        raise ClassWeightError(
            f"Argument `strategy` must be a string, one of {list(CLASS_WEIGHT_STRATEGIES)}. "
            f"Received: strategy={strategy!r}"
        )
    name = strategy.strip().lower()
    name = STRATEGY_ALIASES.get(name, name)
    if name not in CLASS_WEIGHT_STRATEGIES:
        known = [*CLASS_WEIGHT_STRATEGIES, *STRATEGY_ALIASES]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ClassWeightError(f"Unknown class-weight strategy {strategy!r}. Expected one of {known}.{hint}")
    return name


def _check_counts(counts: Any) -> np.ndarray:
    try:
        array = np.asarray(counts, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ClassWeightError(
            f"Argument `counts` must be a 1-D sequence of per-class point counts. Received: {counts!r}"
        ) from exc
    if array.ndim != 1 or array.size == 0:
        raise ClassWeightError(f"Argument `counts` must be a non-empty 1-D sequence. Received shape {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ClassWeightError(f"Argument `counts` must hold finite non-negative numbers. Received: {array.tolist()}")
    return array


def check_on_absent_class(value: Any) -> str:
    """``value`` when it is one of ``ON_ABSENT_CLASS``.

    Example:
        >>> check_on_absent_class("zero")
        'zero'
    """
    if not isinstance(value, str) or value not in ON_ABSENT_CLASS:
        raise ClassWeightError(
            f"Argument `on_absent_class` must be one of {list(ON_ABSENT_CLASS)}. Received: on_absent_class={value!r}"
        )
    return value


def _look_like_labels(counts: np.ndarray) -> bool:
    """Whether ``counts`` could be class labels: integers, each below their number (a hint only)."""
    return bool(np.all(counts == np.round(counts)) and counts.max() < counts.size)


def present_classes(
    counts: np.ndarray, *, on_absent_class: str, weighting: str, argument: str = "counts"
) -> np.ndarray:
    """The mask of the classes with points, for weights computed from ``counts`` by ``weighting``
    (words for the messages: how the weights come from the counts, infinite for a class
    without points). Such a class raises :class:`ClassWeightError` with
    ``on_absent_class="error"``; with ``"zero"`` it warns (the caller gives it weight 0).

    Example:
        >>> present_classes(np.array([4.0, 0.0]), on_absent_class="error", weighting="N / n_c")
        Traceback (most recent call last):
        ...
        vl3d_focal.losses.exceptions.ClassWeightError: class [1] has no points in the counts [4.0, 0.0]: N / n_c would give it an infinite weight; pass on_absent_class='zero' to weight it 0
    """
    present = counts > 0
    if not present.any():
        raise ClassWeightError(f"Argument `{argument}` has no labelled point in any class. Received: {counts.tolist()}")
    if not present.all():
        absent = np.flatnonzero(~present).tolist()
        them = noun(len(absent), "it", "them")
        message = (
            f"{noun(len(absent), 'class', 'classes')} {absent} {noun(len(absent), 'has', 'have')} no points in the "
            f"{argument} {counts.tolist()}: {weighting} would give {them} an infinite weight"
        )
        if _look_like_labels(counts):
            message += (
                f" (if these are labels, one per point, pass np.bincount(labels, minlength=C) instead: "
                f"the {argument} are points per class)"
            )
        if on_absent_class == "error":
            raise ClassWeightError(f"{message}; pass on_absent_class='zero' to weight {them} 0")
        warnings.warn(f"{message}; weighting {them} 0", RuntimeWarning, stacklevel=3)
    return present


def _weights_of_present(
    name: str, n: np.ndarray, *, total: float, num_classes: int, beta: float, k: float
) -> np.ndarray:
    """Weights of the classes with ``n > 0`` (``n`` holds only those)."""
    if name == "balanced":
        return total / (num_classes * n)
    if name == "inverse_frequency":
        weights = total / n
        return weights / weights.sum()
    if name == "sqrt_inverse_frequency":
        weights = np.sqrt(total / n)
        return weights / weights.sum()
    if name == "log":
        return 1.0 / np.log(k + n / total)
    if name == "effective_number":
        if beta == 0.0:
            weights = np.ones_like(n)
        else:
            weights = (1.0 - beta) / -np.expm1(n * math.log(beta))
        return weights * (num_classes / weights.sum())
    frequency = n / total  # median_frequency
    return np.median(frequency) / frequency


def compute_class_weight(
    strategy: str,
    counts: Sequence[float] | np.ndarray,
    *,
    beta: float = 0.999,
    k: float = 1.02,
    on_absent_class: str = "error",
) -> list[float]:
    """C class weights computed from per-class point COUNTS.

    Unlike scikit-learn's function of the same name, it takes the number of points of each
    class, not the labels: from integer labels ``0..C-1``, ``np.bincount(labels, minlength=C)``
    gives the counts. Labels passed by mistake are not detected (they give one weight per
    position); where they leave a class without points, the error says to count them.

    Args:
        strategy: one of ``CLASS_WEIGHT_STRATEGIES`` (case-insensitive; ``"auto"`` = ``"balanced"``).
        counts: number of points of each class (non-negative, not all zero).
        beta: ``effective_number`` parameter, a real number in [0, 1) (NumPy scalars too).
        k: ``log`` parameter, a real number > 1.
        on_absent_class: ``"error"`` (default) raises for a class without points; ``"zero"``
            gives it weight 0 and warns.

    Returns:
        One finite non-negative weight per class.

    Raises:
        ClassWeightError: unknown strategy, bad counts or options, or an absent class with
            ``on_absent_class="error"``.

    Example:
        >>> compute_class_weight("inverse_frequency", [100, 200, 50, 10])[3]
        0.7407407407407407
        >>> labels = np.array([0, 0, 0, 1])  # a label per point
        >>> compute_class_weight("balanced", np.bincount(labels, minlength=2))
        [0.6666666666666666, 2.0]
    """
    name = normalize_strategy(strategy)
    n = _check_counts(counts)
    if not is_real(beta) or not 0.0 <= beta < 1.0:
        raise ClassWeightError(f"Argument `beta` must be a number in [0, 1). Received: beta={beta!r}")
    if not is_real(k) or not (math.isfinite(k) and k > 1.0):
        raise ClassWeightError(f"Argument `k` must be a finite number > 1. Received: k={k!r}")
    present = present_classes(n, on_absent_class=check_on_absent_class(on_absent_class), weighting=f"strategy {name!r}")
    weights = np.zeros_like(n)
    weights[present] = _weights_of_present(
        name, n[present], total=float(n.sum()), num_classes=n.size, beta=float(beta), k=float(k)
    )
    return [float(w) for w in weights]


def _explicit_weights(values: Sequence[Any], *, class_names: Sequence[str]) -> list[float]:
    if len(values) != len(class_names):
        raise ClassWeightError(
            f"`class_weight` must have one weight per class: expected {len(class_names)} "
            f"({list(class_names)}), received {len(values)}: {list(values)!r}"
        )
    out = []
    for index, value in enumerate(values):
        if not is_real(value) or not math.isfinite(float(value)) or float(value) < 0:
            raise ClassWeightError(
                f"`class_weight[{index}]` ({class_names[index]!r}) must be a finite number >= 0. Received: {value!r}"
            )
        out.append(float(value))
    return out


def resolve_class_weight(
    spec_value: Any, *, class_names: Sequence[str], counts: np.ndarray | None
) -> list[float] | None:
    """Turns a spec's ``class_weight`` value into C floats (or None).

    Args:
        spec_value: None; a list of C numbers; ``{"class name": weight}`` naming every class;
            a strategy name (case-insensitive); or ``{"strategy": name, "beta": .., "k": ..,
            "on_absent_class": ..}``.
        class_names: the C class names, in class-index order.
        counts: per-class point counts of the training labels (needed by strategies).

    Returns:
        One weight per class, or None when ``spec_value`` is None.

    Example:
        >>> resolve_class_weight({"ground": 1.0, "pole": 4.0}, class_names=["ground", "pole"],
        ...                      counts=None)
        [1.0, 4.0]
    """
    if spec_value is None:
        return None
    names = list(class_names)
    if isinstance(spec_value, str) or (isinstance(spec_value, Mapping) and "strategy" in spec_value):
        options: dict[str, Any] = {"strategy": spec_value} if isinstance(spec_value, str) else dict(spec_value)
        unknown = sorted(set(options) - {"strategy", *_STRATEGY_OPTIONS})
        if unknown:
            raise ClassWeightError(
                f"`class_weight` strategy options {unknown} are unknown; expected some of {list(_STRATEGY_OPTIONS)}"
            )
        if counts is None:
            raise ClassWeightError(
                f"`class_weight` strategy {options['strategy']!r} needs the per-class point counts "
                "of the training labels; received counts=None"
            )
        if len(counts) != len(names):
            raise ClassWeightError(
                f"`counts` must have one count per class: expected {len(names)}, received {len(counts)}"
            )
        strategy = options.pop("strategy")
        return compute_class_weight(strategy, counts, **options)
    if isinstance(spec_value, Mapping):
        unknown = [key for key in spec_value if key not in names]
        if unknown:
            hints = {key: difflib.get_close_matches(str(key), names, n=1) for key in unknown}
            detail = ", ".join(f"{key!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for key, h in hints.items())
            raise ClassWeightError(f"`class_weight` names unknown classes {detail}; classes: {names}")
        missing = [name for name in names if name not in spec_value]
        if missing:
            raise ClassWeightError(
                f"`class_weight` must give a weight to every class; missing {missing} (classes: {names})"
            )
        return _explicit_weights([spec_value[name] for name in names], class_names=names)
    if isinstance(spec_value, (list, tuple, np.ndarray)):
        return _explicit_weights(list(spec_value), class_names=names)
    raise ClassWeightError(
        "`class_weight` must be null, a list of numbers, a {class name: weight} object, a "
        f"strategy name or {{'strategy': ...}}. Received: {spec_value!r}"
    )


def strategy_descriptions() -> dict[str, str]:
    """One line per strategy (its formula), taken from this module's documentation.

    Example:
        >>> strategy_descriptions()["sqrt_inverse_frequency"]
        'sqrt(N / n_c) normalised to sum 1.'
    """
    found = re.findall(r'^- ``"(\w+)"``[^:]*: (.+(?:\n  .+)*)', __doc__ or "", flags=re.M)
    return {name: " ".join(text.replace("``", "").split()) for name, text in found}


def describe_class_weight(spec_value: Any, *, counted_on: str | None = None) -> str:
    """How a spec's ``class_weight`` value gives the weights, in words (for reports);
    ``counted_on``: what a strategy counted the classes on, where not the points of the
    :data:`TRAINING_CLOUDS`.

    Example:
        >>> describe_class_weight("AUTO")
        'balanced: N / (C n_c) (scikit-learn\\'s and VL3D\\'s "auto"). n_c: points of class c in the training clouds (before any validation split), N: all of them, C: classes.'
        >>> describe_class_weight("auto", counted_on="training receptive fields").split(". ")[-1]
        'n_c: points of class c in the training receptive fields, N: all of them, C: classes.'
        >>> describe_class_weight({"strategy": "balanced", "on_absent_class": "zero", "beta": 0.999, "k": 1.02})[:32]
        'balanced, on_absent_class=zero: '
        >>> describe_class_weight({"strategy": "log", "beta": 0.999, "k": 1.02})[:11]
        'log, k=1.02'
        >>> describe_class_weight([1, 2])
        'given in the spec'
    """
    if spec_value is None:
        return "none: every point weighs the same"
    if isinstance(spec_value, Mapping) and "strategy" not in spec_value or isinstance(spec_value, (list, tuple)):
        return "given in the spec"
    options = dict(spec_value) if isinstance(spec_value, Mapping) else {"strategy": spec_value}
    name = str(options.pop("strategy"))
    name = STRATEGY_ALIASES.get(name.lower(), name.lower())
    used = ("on_absent_class", *STRATEGY_PARAMETERS.get(name, ()))  # beta and k only where they count
    extra = "".join(f", {key}={value}" for key, value in options.items() if key in used)
    counted = f"points of class c in the {counted_on or TRAINING_CLOUDS}, N: all of them"
    return f"{name}{extra}: {strategy_descriptions().get(name, '')} n_c: {counted}, C: classes."
