"""The loss values of a train step, checked at validation (:func:`loss_value_issues`):

- class weights (``compilation_args.loss.class_weight`` or ``model_handling.class_weight``): a
  list has one weight per class, a {class name: weight} object names every class and no other;
  weights that are all 0 are an error (every point's weight is 0, the loss is 0, nothing trains);
- a focusing parameter ``gamma`` above :data:`MAX_GAMMA`: the focal factor ``(1 - p)^gamma`` is
  exactly 0 in float32 for nearly every probability ``p``, the loss and its gradient vanish (an
  error; the focal loss is used with gamma 0 to 5, 2 being usual);
- an ``ignore_class`` that is the index of one of the step's classes: that class's points are
  left out of the loss (a warning: it may be meant, but VL3D has no such key, and the pipeline
  already leaves out the points of ``ignore_codes``).

Example:
    >>> [m for _, m in loss_value_issues({"class_weight": [0, 0]}, {}, ("model_args",), num_classes=2,
    ...                                  class_names=None)]
    ['every class weight is 0: every point weighs 0 in the loss, which is then 0, and nothing trains; give at least one class a positive weight']
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from vl3d_focal.config.checks import Issue, as_dict
from vl3d_focal.config.messages import did_you_mean
from vl3d_focal.config.notes import WARNING_PREFIX
from vl3d_focal.registry import LOSSES

MAX_GAMMA = 100.0
"""The largest focusing parameter accepted (the focal loss is used with gamma 0 to 5)."""

SMALLEST_FLOAT32 = 1.4e-45
"""The smallest positive float32 (subnormal): a focal factor below it is 0."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _all_zero(weights: Any) -> bool:
    values = list(weights.values()) if isinstance(weights, Mapping) and "strategy" not in weights else weights
    return isinstance(values, list) and bool(values) and all(_is_number(w) and w == 0 for w in values)


def gamma_problem(gamma: Any) -> str | None:
    """Why a focusing parameter makes the loss vanish (above :data:`MAX_GAMMA`), or None.

    Example:
        >>> gamma_problem(2.0) is None, gamma_problem(1e9)[:41]
        (True, 'gamma 1e+09: the focal factor (1 - p)^gam')
    """
    if not _is_number(gamma) or not math.isfinite(gamma) or gamma <= MAX_GAMMA:
        return None
    above = -math.expm1(math.log(SMALLEST_FLOAT32) / gamma)  # (1 - p)^gamma < SMALLEST_FLOAT32 beyond it
    return (
        f"gamma {gamma:g}: the focal factor (1 - p)^gamma is exactly 0 in float32 for every point whose "
        f"probability p of its class is above {above:.2g}, so the loss and its gradient vanish and nothing "
        f"trains; the focal loss is used with gamma 0 to 5 (2 is usual): give at most {MAX_GAMMA:g}"
    )


def _weight_issues(value: Any, at: tuple, *, num_classes: int | None, names: Sequence[str] | None) -> Iterator[Issue]:
    if isinstance(value, list) and num_classes is not None and len(value) != num_classes:
        yield at, f"expected one weight per class ({num_classes}); got {len(value)}"
    if isinstance(value, dict) and "strategy" not in value and value:
        if names is None:
            yield at, "a {class name: weight} object needs class_names or a class step before this step"
            return
        for key in value:
            if key not in names:
                yield at + (key,), f"unknown class name {key!r}; classes: {list(names)}{did_you_mean(key, names)}"
        missing = [name for name in names if name not in value]
        if missing:
            yield at, f"every class needs a weight; missing: {missing}"
    if _all_zero(value):
        yield (
            at,
            "every class weight is 0: every point weighs 0 in the loss, which is then 0, and nothing trains; "
            "give at least one class a positive weight",
        )


def loss_value_issues(
    loss: Mapping[str, Any],
    handling: Mapping[str, Any],
    at: tuple,
    *,
    num_classes: int | None,
    class_names: Sequence[str] | None,
) -> Iterator[Issue]:
    """The loss values of a train step (its ``compilation_args.loss`` and ``model_handling``, at
    ``at``: the step's ``model_args``) against its ``num_classes`` and ``class_names`` (in label
    order; None: not known), and those that make its training pointless (module docstring).

    Example:
        >>> [m for _, m in loss_value_issues({"ignore_class": 0}, {}, ("model_args",), num_classes=1,
        ...                                  class_names=["ground"])][0][:60]
        "warning: ignore_class 0 is the class 'ground' of the mapping"
    """
    for where, weights in (
        (("compilation_args", "loss", "class_weight"), loss.get("class_weight")),
        (("model_handling", "class_weight"), as_dict(handling).get("class_weight")),
    ):
        yield from _weight_issues(weights, at + where, num_classes=num_classes, names=class_names)
    problem = gamma_problem(loss.get("gamma"))
    if problem:
        yield at + ("compilation_args", "loss", "gamma"), problem
    ignored = loss.get("ignore_class")
    entry = LOSSES.find(loss.get("function"))
    if entry is not None and entry.metadata.get("num_classes"):  # a loss of a fixed class count: an error there
        return
    if class_names and isinstance(ignored, int) and not isinstance(ignored, bool) and 0 <= ignored < len(class_names):
        yield (
            at + ("compilation_args", "loss", "ignore_class"),
            f"{WARNING_PREFIX}ignore_class {ignored} is the class {class_names[ignored]!r} of the mapping: its "
            "points are left out of the loss, so the model never learns it. To leave out LAS codes, list them "
            "in the class step's ignore_codes (VL3D has no ignore_class); to mean no class, give -1 or leave "
            "ignore_class out",
        )
