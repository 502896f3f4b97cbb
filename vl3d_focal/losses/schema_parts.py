"""Building blocks of the JSON Schemas (draft 2020-12) of the loss registry entries.

Every loss entry describes the whole spec loss object: a closed object whose ``function``
is a constant, each property with a ``description`` and a ``default``. Class weights refer
to the shared spec-level definition ``class_weight.schema.json``.

Example:
    >>> schema = loss_schema(name="my_loss", description="A loss.",
    ...                      properties={"gamma": gamma_property(default=2.0)})
    >>> schema["properties"]["function"]["const"]
    'my_loss'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

KERAS_REDUCTIONS: tuple[str | None, ...] = (
    "sum_over_batch_size",
    "sum",
    "mean",
    "mean_with_sample_weight",
    "none",
    None,
)


def loss_schema(*, name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    """The closed JSON Schema of a spec loss object ``{"function": name, ...}``.

    Example:
        >>> loss_schema(name="x", description="d", properties={})["required"]
        ['function']
    """
    return {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "required": ["function"],
        "properties": {"function": {"const": name, "description": "Name of the loss in the registry."}, **properties},
    }


def reduction_property(*, default: str | None, extra: Sequence[str] = ()) -> dict[str, Any]:
    """``reduction``: Keras' reductions plus ``extra`` ones.

    Example:
        >>> reduction_property(default="sum")["default"]
        'sum'
    """
    return {
        "enum": [*extra, *KERAS_REDUCTIONS],
        "default": default,
        "description": "How per-point losses are reduced to the batch loss; null or 'none' "
        "returns the per-point values (Keras' `reduction` argument).",
    }


def gamma_property(*, default: float) -> dict[str, Any]:
    """``gamma``: the focusing parameter.

    Example:
        >>> gamma_property(default=2.0)["minimum"]
        0
    """
    return {
        "type": "number",
        "minimum": 0,
        "default": default,
        "description": "Focusing parameter gamma >= 0; 0 gives (weighted) cross-entropy.",
    }


def from_logits_property() -> dict[str, Any]:
    """``from_logits``: no default in the schema, so the pipeline can tell a spec that says it
    from one that does not (then the model's registry metadata ``output`` decides).

    Example:
        >>> "default" in from_logits_property()
        False
    """
    return {
        "type": "boolean",
        "description": "Whether predictions are logits or probabilities; default: what the "
        "model emits (the models of this package emit logits).",
    }


def label_smoothing_property() -> dict[str, Any]:
    """``label_smoothing`` in [0, 1).

    Example:
        >>> label_smoothing_property()["exclusiveMaximum"]
        1
    """
    return {
        "type": "number",
        "minimum": 0,
        "exclusiveMaximum": 1,
        "default": 0.0,
        "description": "Label smoothing epsilon: targets become (1 - eps) * y + eps / C.",
    }


def axis_property() -> dict[str, Any]:
    """``axis``: the class axis.

    Example:
        >>> axis_property()["default"]
        -1
    """
    return {"type": "integer", "default": -1, "description": "The class axis of the predictions."}


def ignore_class_property() -> dict[str, Any]:
    """``ignore_class``: an integer label whose points contribute nothing.

    Example:
        >>> ignore_class_property()["default"] is None
        True
    """
    return {
        "type": ["integer", "null"],
        "default": None,
        "description": "Integer label whose points contribute nothing to the loss "
        "(e.g. -1 for ignored LAS codes); null for none.",
    }


def class_weight_property() -> dict[str, Any]:
    """``class_weight``: the shared spec-level class-weight definition.

    Example:
        >>> class_weight_property()["$ref"]
        'class_weight.schema.json'
    """
    return {
        "$ref": "class_weight.schema.json",
        "default": None,
        "description": "Class weights: a list of C numbers, a {class name: weight} object, a "
        'strategy name or {"strategy": ...}; null means all 1.0.',
    }
