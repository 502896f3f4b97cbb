"""JSON Schema fragments of the pipeline spec language: top level and step kinds.

Pure data builders used by :mod:`vl3d_focal.spec.schemas`, which adds the registry-driven parts
(losses, models) and writes the files; the train step's ``model_args`` and the class-weight
definition are in :mod:`vl3d_focal.spec.train_schemas`. Every property has a
``description`` and, where the runner has one, the ``default`` it really uses
(:func:`vl3d_focal.spec.normalise.apply_defaults` fills them in, so the runner never
hard-codes one).

Path-valued properties carry the annotation ``"x-vl3d-path"``: ``"input"`` (resolved
against the spec's folder and checked to exist), ``"cloud-output"`` / ``"model-output"``
(a file written per input cloud / once per run; ``*`` means the output prefix) or
``"prefix"`` (``out_pcloud``); ``"x-vl3d-suffixes"`` lists the file suffixes such a path
must end with (case-insensitive). ``"x-vl3d-as-list": true`` marks a "path or list of paths"
property that loading turns into a list.

Example:
    >>> step = class_mapping_step_schema()
    >>> step["additionalProperties"], step["required"]
    (False, ['class_mapping', 'classes'])
"""

from __future__ import annotations

from typing import Any

from vl3d_focal.steps.prediction import DEFAULT_CHUNK_POINTS

PATH_ANNOTATION = "x-vl3d-path"
LIST_ANNOTATION = "x-vl3d-as-list"
SUFFIX_ANNOTATION = "x-vl3d-suffixes"
CLOUD_SUFFIXES = (".las", ".laz")
MODEL_SUFFIXES = (".keras",)
STEP_KINDS: tuple[str, ...] = ("class_mapping", "train", "predict", "eval", "writer")
"""The key that tells a step's kind, in the order the docs list them."""


def input_paths_schema(description: str) -> dict[str, Any]:
    """One input cloud path or a list of them (loading makes it a list).

    Example:
        >>> input_paths_schema("d")["x-vl3d-as-list"]
        True
    """
    path = {"type": "string", "minLength": 1, PATH_ANNOTATION: "input", SUFFIX_ANNOTATION: list(CLOUD_SUFFIXES)}
    return {
        "description": description,
        LIST_ANNOTATION: True,
        "anyOf": [
            {"title": "a list of paths", "type": "array", "minItems": 1, "items": path},
            {"title": "one path", **path},
        ],
    }


def _output(description: str, default: str, *, scope: str, suffixes: tuple[str, ...]) -> dict[str, Any]:
    return {
        SUFFIX_ANNOTATION: list(suffixes),
        "type": "string",
        "minLength": 1,
        "description": description + " A leading '*' stands for the output prefix (out_pcloud).",
        "default": default,
        PATH_ANNOTATION: f"{scope}-output",
    }


def closed_object(
    properties: dict[str, Any], *, required: list[str], description: str, title: str = ""
) -> dict[str, Any]:
    """An object schema that refuses keys other than ``properties``.

    Example:
        >>> closed_object({}, required=[], description="d")["additionalProperties"]
        False
    """
    schema: dict[str, Any] = {"type": "object", "description": description}
    if title:
        schema["title"] = title
    schema.update({"additionalProperties": False, "required": required, "properties": properties})
    return schema


def monitor_schema(default: str) -> dict[str, Any]:
    """The schema of a Keras quantity to monitor.

    Example:
        >>> monitor_schema("val_loss")["default"]
        'val_loss'
    """
    return {
        "type": "string",
        "minLength": 1,
        "description": "Quantity to monitor (loss, val_loss, accuracy, val_accuracy...); a val_* "
        "monitor falls back to the training quantity when there is no validation data.",
        "default": default,
    }


def top_level_properties() -> dict[str, Any]:
    """The top-level keys except ``sequential_pipeline``.

    Example:
        >>> sorted(top_level_properties())
        ['$schema', 'in_pcloud', 'out_pcloud']
    """
    prefix = {"type": "string", "minLength": 1, PATH_ANNOTATION: "prefix"}
    return {
        "$schema": {
            "type": "string",
            "description": "URI of this schema, for editors; ignored by the runner.",
        },
        "in_pcloud": input_paths_schema(
            "Input point clouds (LAS/LAZ), relative to the spec file's folder; one path or a list."
        ),
        "out_pcloud": {
            "description": "Output prefixes: one for all input clouds or one per input cloud. A "
            "trailing '*' is dropped. Per-cloud outputs of a single prefix shared by several "
            "inputs go to '<prefix><input stem>/'; model-level outputs go to the first prefix.",
            LIST_ANNOTATION: True,
            "anyOf": [
                {"title": "a list of prefixes", "type": "array", "minItems": 1, "items": prefix},
                {"title": "one prefix", **prefix},
            ],
        },
    }


def class_mapping_step_schema() -> dict[str, Any]:
    """The class mapping step: LAS classification codes to named classes.

    Example:
        >>> sorted(class_mapping_step_schema()["properties"])
        ['class_mapping', 'classes', 'ignore_codes', 'unmapped']
    """
    code = {"type": "integer", "minimum": 0, "maximum": 255}
    a_class = closed_object(
        {
            "name": {"type": "string", "minLength": 1, "description": "Class name."},
            "codes": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": code,
                "description": "LAS classification codes mapped to this class.",
            },
            "color": {
                "type": "string",
                "pattern": "^#[0-9a-fA-F]{6}$",
                "title": "a colour '#rrggbb'",
                "description": "Colour of the class in plots, '#rrggbb' (default: a palette colour).",
            },
            "las_code": {
                **code,
                "description": "LAS code written for points predicted as this class "
                "(default: the first of codes).",
            },
        },
        required=["name", "codes"],
        description="One class: its name, its LAS codes, optionally its colour and output code.",
    )
    return closed_object(
        {
            "class_mapping": {
                "enum": ["LASClassMapping"],
                "title": "class mapping",
                "description": "Kind of class mapping.",
            },
            "classes": {
                "type": "array",
                "minItems": 1,
                "items": a_class,
                "description": "The classes, in class-index order.",
            },
            "ignore_codes": {
                "type": "array",
                "uniqueItems": True,
                "items": code,
                "default": [],
                "description": "LAS codes whose points are never trained on nor scored.",
            },
            "unmapped": {
                "enum": ["error", "ignore"],
                "default": "error",
                "description": "What to do with a code in neither classes nor ignore_codes: "
                "stop with an error listing them, or ignore those points.",
            },
        },
        required=["class_mapping", "classes"],
        description="Maps LAS classification codes to named classes and codes to ignore.",
    )


def predict_step_schemas() -> dict[str, dict[str, Any]]:
    """Closed schemas of the predict step, by its ``predict`` value.

    Example:
        >>> sorted(predict_step_schemas())
        ['ModelLoader', 'PreviousModel']
    """
    chunk_points = {
        "type": ["integer", "null"], "minimum": 1000, "default": DEFAULT_CHUNK_POINTS,
        "description": "Bounds the memory of prediction: a cloud of more points is predicted in "
        "square xy tiles of about this many points (each tile's fields, features and "
        "probabilities only), with the same result as in one go; null predicts every cloud in one go.",
    }
    return {
        "PreviousModel": closed_object(
            {"predict": {"const": "PreviousModel", "description": "Use the model trained earlier in this pipeline."},
             "chunk_points": chunk_points},
            required=["predict"],
            description="Predicts the input clouds with the model trained by an earlier step.",
        ),
        "ModelLoader": closed_object(
            {
                "predict": {"const": "ModelLoader", "description": "Load a model written by PredictiveModelWriter."},
                "model_path": {
                    "type": "string", "minLength": 1, PATH_ANNOTATION: "input", SUFFIX_ANNOTATION: list(MODEL_SUFFIXES),
                    "description": "The .keras model file, relative to the spec's folder.",
                },
                "chunk_points": chunk_points,
            },
            required=["predict", "model_path"],
            description="Predicts the input clouds with a saved model.",
        ),
    }


def eval_step_schemas() -> dict[str, dict[str, Any]]:
    """Closed schemas of the eval step, by its ``eval`` value.

    Example:
        >>> list(eval_step_schemas())
        ['ClassificationEvaluator']
    """
    return {
        "ClassificationEvaluator": closed_object(
            {
                "eval": {"const": "ClassificationEvaluator", "description": "Compare predictions with the mapped reference classes."},
                "report_path": _output(
                    "Evaluation JSON (OA, mIoU, macro_F1, MCC, Kappa, per_class...); the text report "
                    "and plots are written beside it.",
                    "*eval/evaluation.json",
                    scope="cloud",
                    suffixes=(".json",),
                ),
            },
            required=["eval"],
            description="Evaluates the predictions of each cloud.",
        )
    }


def writer_step_schemas() -> dict[str, dict[str, Any]]:
    """Closed schemas of the writer step, by its ``writer`` value.

    Example:
        >>> sorted(writer_step_schemas())
        ['ClassifiedPcloudWriter', 'PredictiveModelWriter']
    """
    return {
        "PredictiveModelWriter": closed_object(
            {
                "writer": {"const": "PredictiveModelWriter", "description": "Write the model."},
                "out_model": _output("The .keras model file (with everything needed to predict).", "*model/model.keras", scope="model", suffixes=MODEL_SUFFIXES),
            },
            required=["writer"],
            description="Writes the trained or loaded model.",
        ),
        "ClassifiedPcloudWriter": closed_object(
            {
                "writer": {"const": "ClassifiedPcloudWriter", "description": "Write each classified cloud."},
                "out_pcloud": _output("The classified cloud (.las or .laz).", "*predicted.laz", scope="cloud", suffixes=CLOUD_SUFFIXES),
                "probabilities": {"type": "boolean", "default": False, "description": "Also write one probability extra dimension per class."},
                "prediction_dimension": {
                    "type": ["string", "null"], "minLength": 1, "default": None,
                    "description": "Extra dimension receiving the predicted class; null writes the "
                    "classification field with the classes' LAS codes.",
                },
            },
            required=["writer"],
            description="Writes each input cloud with its predicted classes.",
        ),
    }
