"""JSON Schema of ``model_args``, what every registered model takes, and of class weights.

:mod:`vl3d_focal.config.schemas` joins it with each model's architecture arguments (from
``MODELS``) into ``$defs/model_args.<model>``; its parts have their own modules
(:mod:`~vl3d_focal.config.pre_processing_schema`, :mod:`~vl3d_focal.config.model_handling_schema`,
:mod:`~vl3d_focal.config.compilation_schema`). Every property has a ``description`` and, where
the runner has one, the ``default`` it really uses. Class-weight strategy names and option
defaults are read from :mod:`vl3d_focal.losses` (``CLASS_WEIGHT_STRATEGIES``, ``STRATEGY_ALIASES``
and ``compute_class_weight``'s signature), so they cannot drift from what the losses accept.

Example:
    >>> model_args_common(loss={}, class_weight_ref="cw.json")["model_handling"]["properties"]["batch_size"]["default"]
    16
"""

from __future__ import annotations

import inspect
from typing import Any

from vl3d_focal.config.compilation_schema import compilation_args_schema
from vl3d_focal.config.model_handling_schema import model_handling_schema
from vl3d_focal.config.pre_processing_schema import pre_processing_schema
from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.schema_annotations import case_insensitive_pattern, optional_output_schema

OPTION_NAMES = ("beta", "k", "on_absent_class")
"""Options of a ``{"strategy": ...}`` class-weight object (``compute_class_weight``'s)."""


def _architecture_graph() -> dict[str, dict[str, Any]]:
    args = closed_object(
        {
            "show_shapes": {"type": "boolean", "default": True, "description": "Show the layers' output shapes."},
            "show_dtype": {"type": "boolean", "default": True, "description": "Show the layers' dtypes."},
            "show_layer_names": {"type": "boolean", "default": True, "description": "Show the layers' names."},
            "rankdir": {
                "enum": ["TB", "LR"],
                "default": "TB",
                "description": "Top to bottom (TB) or left to right (LR).",
            },
            "expand_nested": {"type": "boolean", "default": True, "description": "Expand nested models."},
            "dpi": {"type": "integer", "minimum": 1, "default": 300, "description": "Resolution of the picture."},
            "show_layer_activations": {
                "type": "boolean",
                "default": True,
                "description": "Show the layers' activations.",
            },
            "show_trainable": {"type": "boolean", "default": False, "description": "Show whether layers train."},
        },
        required=[],
        description="Arguments of keras.utils.plot_model (defaults: VL3D's).",
    )
    args["default"] = {}
    return {
        "architecture_graph_path": optional_output_schema(
            "A picture of the network's graph (keras.utils.plot_model; the suffix chooses the format). Where "
            "pydot or graphviz is missing, a text summary is written beside it (same name, .txt) instead, "
            "with one warning."
        ),
        "architecture_graph_args": args,
    }


def model_args_common(*, loss: dict[str, Any], class_weight_ref: str) -> dict[str, dict[str, Any]]:
    """The ``model_args`` properties every model takes (architecture ones come from MODELS).

    Example:
        >>> sorted(model_args_common(loss={}, class_weight_ref="cw.json"))[:2]
        ['architecture_graph_args', 'architecture_graph_path']
    """
    return {
        "num_classes": {"type": "integer", "minimum": 2, "description": "Number of classes (C)."},
        "class_names": {
            "type": "array",
            "uniqueItems": True,
            "items": {"type": "string", "minLength": 1},
            "description": "Class names in class-index order; default: the class mapping step's.",
        },
        "pre_processing": pre_processing_schema(),
        "model_handling": model_handling_schema(class_weight_ref=class_weight_ref),
        "compilation_args": compilation_args_schema(loss=loss),
        **_architecture_graph(),
    }


def class_weight_strategies() -> tuple[str, ...]:
    """The class-weight strategy names the losses package accepts, plus the ``auto`` alias.

    Example:
        >>> "auto" in class_weight_strategies()
        True
    """
    import vl3d_focal.losses as losses
    from vl3d_focal.losses import class_weights

    names = tuple(losses.CLASS_WEIGHT_STRATEGIES)
    return names + tuple(alias for alias in class_weights.STRATEGY_ALIASES if alias not in names)


def _strategy_option_defaults() -> dict[str, Any]:
    import vl3d_focal.losses as losses

    params = inspect.signature(losses.compute_class_weight).parameters
    return {
        name: params[name].default
        for name in OPTION_NAMES
        if name in params and params[name].default is not inspect.Parameter.empty
    }


def class_weight_schema() -> dict[str, Any]:
    """The shared ``class_weight`` definition (loss entries and ``model_handling``).

    Example:
        >>> [b["title"] for b in class_weight_schema()["anyOf"]][:2]
        ['null (no class weights)', 'a list of one non-negative number per class']
    """
    strategies = class_weight_strategies()
    name: dict[str, Any] = {"type": "string", "title": "a class-weight strategy name"}
    if len(strategies) > 1:
        name.update(pattern=case_insensitive_pattern(strategies), examples=list(strategies))
    name["description"] = (
        "Strategy computing the weights from the training labels (case-insensitive; 'auto' = 'balanced')."
    )
    defaults = _strategy_option_defaults()
    options: dict[str, dict[str, Any]] = {
        "beta": {
            "type": "number",
            "minimum": 0,
            "exclusiveMaximum": 1,
            "description": "effective_number: the beta of (1 - beta^n) / (1 - beta).",
        },
        "k": {"type": "number", "exclusiveMinimum": 1, "description": "log: the k of 1 / ln(k + frequency)."},
        "on_absent_class": {
            "enum": ["error", "zero"],
            "description": "A class absent from the training labels: stop with an error, or weight it 0.",
        },
    }
    for option, value in defaults.items():
        options[option]["default"] = value
    strategy_object = {
        "type": "object",
        "additionalProperties": False,
        "required": ["strategy"],
        "properties": {"strategy": {**name, "description": "Strategy name."}, **options},
    }
    weight_dict = {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": {"type": "number", "minimum": 0, "description": "Weight of the class."},
    }
    return {
        "title": "class weights",
        "description": "Per-class weights: a list (one per class, in class order), an object "
        "{class name: weight} naming every class, a strategy name, or a strategy object "
        "{'strategy': name, ...options}; null for none.",
        "anyOf": [
            {"type": "null", "title": "null (no class weights)"},
            {
                "type": "array",
                "title": "a list of one non-negative number per class",
                "minItems": 1,
                "items": {"type": "number", "minimum": 0},
            },
            name,
            {
                "type": "object",
                "title": "a {class name: weight} object or a strategy object",
                "if": {"required": ["strategy"]},
                "then": strategy_object,
                "else": weight_dict,
            },
        ],
    }
