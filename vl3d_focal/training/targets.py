"""What the loss needs: class counts, resolved class weights, labels in the loss's format.

The loss's registry metadata says which label format it takes (``label_format``: ``"sparse"``
or ``"one_hot"``) and whether it takes class weights (``takes_class_weight``); nothing here
compares loss names. Ignored points (label ``-1``) get a zero sample weight, and with one-hot
labels an all-zero row, so they never contribute to the loss or to its normalisation.

Example:
    >>> import numpy as np
    >>> y, w = format_targets(np.array([[0, -1, 2]]), num_classes=3, label_format="one_hot")
    >>> y.tolist(), w.tolist()
    ([[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]], [[1.0, 0.0, 1.0]])
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import write_text
from vl3d_focal.losses.class_weights import TRAINING_CLOUDS
from vl3d_focal.registry import LOSSES
from vl3d_focal.training.imbalance import imbalance_note
from vl3d_focal.wording import noun

logger = logging.getLogger(__name__)

IGNORE_LABEL = -1


def class_counts(labels: Sequence[np.ndarray], *, num_classes: int) -> np.ndarray:
    """Number of points of each class over several label arrays, ignored points left out.

    Example:
        >>> class_counts([np.array([0, 1, -1]), np.array([1, 1])], num_classes=3).tolist()
        [1, 3, 0]
    """
    counts = np.zeros(num_classes, dtype=np.int64)
    for array in labels:
        kept = np.asarray(array).ravel()
        kept = kept[kept >= 0]
        if kept.size and kept.max() >= num_classes:
            raise DataError(f"labels: expected class indices below num_classes={num_classes}, got {kept.max()}")
        counts += np.bincount(kept, minlength=num_classes)
    return counts


def _sparse(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.where(labels >= 0, labels, 0).astype(np.int32)


def _one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    eye = np.concatenate([np.eye(num_classes, dtype=np.float32), np.zeros((1, num_classes), np.float32)])
    return eye[np.where(labels >= 0, labels, num_classes)]


LABEL_FORMATTERS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {"sparse": _sparse, "one_hot": _one_hot}


def format_targets(labels: np.ndarray, *, num_classes: int, label_format: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels in the format a loss declares, with per-point sample weights.

    Args:
        labels: class indices of any shape, ``-1`` for ignored points.
        num_classes: number of classes C.
        label_format: ``"sparse"`` (int32 indices, ignored points set to 0) or ``"one_hot"``
            (float32 ``(..., C)``, ignored points all zero).

    Returns:
        ``(targets, sample_weight)``; the sample weight is 1.0 for scored points, 0.0 for
        ignored ones.

    Example:
        >>> format_targets(np.array([2, -1]), num_classes=3, label_format="sparse")[0].tolist()
        [2, 0]
    """
    formatter = LABEL_FORMATTERS.get(label_format)
    if formatter is None:
        raise DataError(f"loss metadata label_format: expected one of {sorted(LABEL_FORMATTERS)}, got {label_format!r}")
    labels = np.asarray(labels)
    return formatter(labels, num_classes), (labels >= 0).astype(np.float32)


@dataclass
class LossPlan:
    """The loss to compile with and how to feed it.

    Attributes:
        loss: the built loss object.
        label_format: the label format from the loss entry's metadata.
        class_weight: the resolved class weights, or None.
        class_weight_source: where the weights came from (``loss``, ``model_handling``, none).
        positive_class: the class a binary loss predicts (its entry's metadata ``positive_class``),
            whose precision and recall the training metrics give; None for other losses.
        counted_on: what a strategy's class counts were counted on (:data:`TRAINING_POINTS` or
            :data:`TRAINING_FIELDS`); None where no strategy computed the weights.
        weight_counts: the per-class counts the strategy computed the weights from, or None.
    """

    loss: Any
    label_format: str
    class_weight: list[float] | None
    class_weight_source: str
    positive_class: int | None = None
    counted_on: str | None = None
    weight_counts: list[int] | None = None


def class_weight_value(*, loss_spec: Mapping[str, Any], model_handling: Mapping[str, Any]) -> tuple[Any, str]:
    """The class-weight spec value: the loss entry's, else ``model_handling.class_weight``.

    Example:
        >>> class_weight_value(loss_spec={"function": "f"}, model_handling={"class_weight": "balanced"})
        ('balanced', 'model_handling')
    """
    if loss_spec.get("class_weight") is not None:
        return loss_spec["class_weight"], "loss"
    if model_handling.get("class_weight") is not None:
        return model_handling["class_weight"], "model_handling"
    return None, "none"


TRAINING_POINTS = "training points"
TRAINING_FIELDS = "training receptive fields"
"""What a class-weight strategy counts the classes on. ``model_handling.class_weight`` (VL3D's
key) counts the points of the training receptive fields as fitted, ``training_class_distribution``
applied and validation fields left out, as VL3D's model handler does; a strategy of the loss entry
(this project's) or of a forest counts the training clouds' points."""


def is_strategy(value: Any) -> bool:
    """Whether a spec's ``class_weight`` is a strategy, computed from class counts (not given).

    Example:
        >>> is_strategy("AUTO"), is_strategy({"strategy": "log", "k": 1.1}), is_strategy([1.0, 2.0])
        (True, True, False)
    """
    return isinstance(value, str) or isinstance(value, Mapping) and "strategy" in value


def weight_label(value: Any) -> str:
    """How the log names a spec's ``class_weight``: its strategy, or "given" for weights.

    Example:
        >>> weight_label("AUTO"), weight_label({"strategy": "balanced", "on_absent_class": "zero"}), weight_label([1, 2])
        ('AUTO', 'balanced', 'given')
    """
    if isinstance(value, Mapping) and "strategy" in value:
        return str(value["strategy"])
    return value if isinstance(value, str) else "given"


SPEC_KEYS = {
    "loss": "compilation_args.loss.class_weight",
    "model_handling": "model_handling.class_weight",
    "model_args": "class_weight",
}
"""Where, in a train step's ``model_args``, a class-weight value comes from."""


def resolve_spec_class_weight(
    value: Any, *, source: str, class_names: list[str], counts: np.ndarray, counted_on: str = TRAINING_POINTS
) -> list[float]:
    """The weights of a spec's ``class_weight``, with errors and warnings worded for the spec:
    its key, the class names, what the counts were counted on, and the spec form of a fix (not
    the Python argument). A class without points (VL3D's "auto" would divide by 0) stops with an
    error, or gets weight 0 with ``on_absent_class: zero``.

    Example:
        >>> resolve_spec_class_weight("balanced", source="loss", class_names=["a", "b"], counts=np.array([3, 0]))
        Traceback (most recent call last):
        ...
        vl3d_focal.errors.DataError: model_args.compilation_args.loss.class_weight: no training point of the class ['b']; strategy 'balanced' would weight it infinitely. Train on clouds that have it, or weight it 0 with class_weight: {strategy: balanced, on_absent_class: zero}
    """
    from vl3d_focal.losses.class_weights import ClassWeightError, resolve_class_weight

    key = f"model_args.{SPEC_KEYS[source]}"
    absent = [name for name, count in zip(class_names, counts) if count == 0]
    strategy = value if isinstance(value, str) else value.get("strategy") if isinstance(value, Mapping) else None
    nowhere = "no training point" if counted_on == TRAINING_POINTS else f"no point in the {counted_on}"
    classes, them = noun(len(absent), "class", "classes"), noun(len(absent), "it", "them")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            weights = resolve_class_weight(value, class_names=class_names, counts=counts)
        except ClassWeightError as error:
            if strategy is not None and absent:
                raise DataError(
                    f"{key}: {nowhere} of the {classes} {absent}; strategy {strategy!r} would weight {them} "
                    f"infinitely. Train on clouds that have {them}, or weight {them} 0 with class_weight: "
                    f"{{strategy: {strategy}, on_absent_class: zero}}"
                ) from None
            raise DataError(f"{key}: {error}") from None
    if caught and absent:
        their = noun(len(absent), "its", "their")
        logger.warning("%s: %s of the %s %s; %s class weight is 0", key, nowhere, classes, absent, their)
    assert weights is not None  # None only for a None value, which callers do not pass
    return [float(w) for w in weights]


def plan_loss(
    *,
    loss_spec: Mapping[str, Any],
    model_handling: Mapping[str, Any],
    class_names: list[str],
    counts: np.ndarray,
    from_logits: bool,
    field_counts: np.ndarray | None = None,
) -> LossPlan:
    """Resolves class weights and builds the loss. A strategy of ``model_handling.class_weight``
    (VL3D's "auto") counts the classes on ``field_counts`` where given, as VL3D does; one of the
    loss entry on ``counts`` (see :data:`TRAINING_FIELDS`).

    Args:
        loss_spec: ``compilation_args.loss`` of the train step.
        model_handling: ``model_args.model_handling`` of the train step.
        class_names: the class names, in output order.
        counts: training points per class after mapping and ignoring.
        from_logits: whether the model emits logits (its registry metadata ``output``);
            used where the loss entry does not say.
        field_counts: points per class of the training receptive fields as fitted (ignored
            points left out), or None where there are none.

    Example:
        >>> plan = plan_loss(loss_spec={"function": "class_weighted_focal_categorical_crossentropy",
        ...                             "class_weight": "balanced"}, model_handling={},
        ...                  class_names=["a", "b"], counts=np.array([30, 10]), from_logits=True)
        >>> plan.class_weight
        [0.6666666666666666, 2.0]
    """
    assert LOSSES.key is not None  # losses are named by their "function" key
    entry = LOSSES.get(loss_spec[LOSSES.key])
    value, source = class_weight_value(loss_spec=loss_spec, model_handling=model_handling)
    class_weight, counted_on, weight_counts = None, None, None
    if value is not None and not entry.metadata.get("takes_class_weight", False):
        logger.warning("loss %r takes no class weights; the class_weight from %s is not used", entry.name, source)
        source = "none"
    elif value is not None:
        by_fields = source == "model_handling" and field_counts is not None
        used = field_counts if by_fields else counts
        assert used is not None  # field_counts is not None where by_fields
        if is_strategy(value):
            counted_on, weight_counts = TRAINING_FIELDS if by_fields else TRAINING_POINTS, [int(c) for c in used]
        class_weight = resolve_spec_class_weight(
            value, source=source, class_names=class_names, counts=used, counted_on=counted_on or TRAINING_POINTS
        )
        counted = (
            ""
            if weight_counts is None
            else f", counted on the {TRAINING_CLOUDS if counted_on == TRAINING_POINTS else counted_on}: "
            + ", ".join(f"{n}={c}" for n, c in zip(class_names, weight_counts))
        )
        logger.info(
            "class weights (%s, from %s%s): %s",
            weight_label(value),
            source,
            counted,
            ", ".join(f"{name}={weight:.4g}" for name, weight in zip(class_names, class_weight)),
        )
    elif entry.metadata.get("takes_class_weight", False):
        note = imbalance_note(class_names=class_names, counts=counts, where="model_args.compilation_args.loss")
        if note is not None:
            logger.info("%s", note)
    cfg = {key: val for key, val in loss_spec.items() if key != "class_weight"}
    loss = LOSSES.build(cfg, num_classes=len(class_names), class_weight=class_weight, from_logits=from_logits)
    label_format = entry.metadata.get("label_format", "one_hot")
    return LossPlan(
        loss=loss,
        label_format=label_format,
        class_weight=class_weight,
        class_weight_source=source,
        positive_class=entry.metadata.get("positive_class"),
        counted_on=counted_on,
        weight_counts=weight_counts,
    )


def write_class_weights(
    path: str | Path, *, plan: LossPlan, loss_spec: Mapping[str, Any], class_names: list[str], counts: np.ndarray
) -> Path:
    """Writes the class counts (``counts``: the training points) and the resolved weights of a
    run as JSON (atomically), with what a strategy counted the classes on (``counted_on``) and
    those counts (``weight_counts``), null where the weights were given.

    Example:
        >>> import tempfile
        >>> plan = LossPlan(loss=None, label_format="sparse", class_weight=[1.0, 3.0],
        ...                 class_weight_source="loss")
        >>> out = write_class_weights(Path(tempfile.mkdtemp()) / "w.json", plan=plan,
        ...     loss_spec={"function": "f"}, class_names=["a", "b"], counts=np.array([3, 1]))
        >>> json.loads(out.read_text())["class_weight"]
        {'a': 1.0, 'b': 3.0}
    """
    out = Path(path)
    weights = plan.class_weight
    document = {
        "loss": dict(loss_spec),
        "label_format": plan.label_format,
        "class_weight_source": plan.class_weight_source,
        "class_names": list(class_names),
        "class_counts": {name: int(count) for name, count in zip(class_names, counts)},
        "class_weight": None if weights is None else dict(zip(class_names, weights)),
        "counted_on": plan.counted_on,
        "weight_counts": None if plan.weight_counts is None else dict(zip(class_names, plan.weight_counts)),
    }
    return write_text(out, json.dumps(document, indent=2) + "\n", log=False)
