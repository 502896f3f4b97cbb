"""JSON Schema fragments shared by the spec language: the top level, paths, closed objects.

Pure data builders, used by :mod:`vl3d_focal.config.schemas` (which assembles the files from
the registries) and by the step kinds, which declare their own schemas. Every property has a
``description`` and, where the runner has one, the ``default`` it really uses
(:func:`vl3d_focal.config.normalise.apply_defaults` fills them in, so the runner never
hard-codes one).

The annotations these fragments carry (``x-vl3d-path``, ``x-vl3d-no-effect``...) and the small
schemas that carry them are in :mod:`vl3d_focal.schema_annotations`, which every layer uses.

Example:
    >>> top_level_properties()["out_pcloud"]["x-vl3d-as-list"]
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vl3d_focal.io.concatenation import ACTIONS, CONDITION_TYPES
from vl3d_focal.schema_annotations import (
    CLOUD_SUFFIXES,
    EXPAND_ANNOTATION,
    LIST_ANNOTATION,
    PATH_ANNOTATION,
    SUFFIX_ANNOTATION,
    case_insensitive_pattern,
)

WRITER_KIND = "writer"
"""The kind key of the writer steps. A step of another kind may carry VL3D's ``out_pcloud``
(:func:`with_step_out_pcloud`), which :mod:`vl3d_focal.config.forms` makes a ``Writer`` step
after it."""


def with_step_out_pcloud(schema: dict[str, Any], *, kind: str) -> dict[str, Any]:
    """``schema``, a step's, with VL3D's ``out_pcloud`` among its properties when its kind is
    not :data:`WRITER_KIND` (editors then accept the habit that validation rewrites).

    Example:
        >>> step = with_step_out_pcloud(closed_object({}, required=[], description="d"), kind="miner")
        >>> step["properties"]["out_pcloud"]["type"], with_step_out_pcloud({}, kind="writer")
        ('string', {})
    """
    properties = schema.get("properties")
    if kind != WRITER_KIND and isinstance(properties, dict) and "out_pcloud" not in properties:
        properties["out_pcloud"] = {
            "type": "string",
            "minLength": 1,
            "description": "VL3D's habit: the cloud as the pipeline holds it after this step is written to this "
            "path (.las/.laz; '*' is the cloud's output prefix), as by a Writer step after it.",
        }
    return schema


def input_paths_schema(description: str) -> dict[str, Any]:
    """One input cloud path or a list of them (loading makes it a list); an entry may be a
    glob pattern or a folder (loading expands it to its sorted .las/.laz files).

    Example:
        >>> input_paths_schema("d")["x-vl3d-as-list"], input_paths_schema("d")["x-vl3d-expand"]
        (True, True)
    """
    path = {"type": "string", "minLength": 1, PATH_ANNOTATION: "input", SUFFIX_ANNOTATION: list(CLOUD_SUFFIXES)}
    return {
        "description": description + " An entry may also be a glob pattern ('tiles/*.laz', "
        "'survey/**/*.laz') or a folder (its .las/.laz files), expanded in sorted order.",
        LIST_ANNOTATION: True,
        EXPAND_ANNOTATION: True,
        "anyOf": [
            {"title": "a list of paths", "type": "array", "minItems": 1, "items": path},
            {"title": "one path", **path},
        ],
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


EXECUTOR_ENGINES = ("local", "dask")
DASK_KEYS = {"workers": None, "threads_per_worker": 1, "scheduler": None}
"""The ``executor`` keys only the ``dask`` engine uses, with their defaults: given without
``engine`` and with another value than their default, they select it (as ``run --workers`` and
``--scheduler`` do); a null or default value changes nothing (as an absent key)."""


def executor_engine(executor: Mapping[str, Any]) -> str:
    """The engine an ``executor`` object selects: its ``engine``; without one, ``dask`` where it
    gives any of :data:`DASK_KEYS` with another value than its default, else ``local``.

    Example:
        >>> executor_engine({"workers": 2}), executor_engine({}), executor_engine({"engine": "local", "workers": 2})
        ('dask', 'local', 'local')
        >>> executor_engine({"workers": None, "threads_per_worker": 1, "scheduler": None})
        'local'
    """
    if "engine" in executor:
        return str(executor["engine"])
    return "dask" if any(executor.get(key, default) != default for key, default in DASK_KEYS.items()) else "local"


def executor_engine_rule() -> dict[str, Any]:
    """The pipeline schema's rule that an ``executor`` without ``engine`` but with a key of
    :data:`DASK_KEYS` of another value than its default defaults to ``dask``
    (:func:`executor_engine`): a rule of the top level, so that it sees the keys the spec gives
    before the executor's own defaults are filled in.

    Example:
        >>> executor_engine_rule()["then"]["properties"]["executor"]["properties"]["engine"]["default"]
        'dask'
    """
    chosen = [
        {"required": [key], "properties": {key: {"not": {"const": default}, "description": f"{key}, not {default}"}}}
        for key, default in DASK_KEYS.items()
    ]
    given = {"type": "object", "not": {"required": ["engine"]}, "anyOf": chosen}
    engine = {"default": "dask", "description": "dask: selected by workers, threads_per_worker or scheduler."}
    return {
        "if": {"required": ["executor"], "properties": {"executor": given}},
        "then": {"properties": {"executor": {"description": "A Dask executor.", "properties": {"engine": engine}}}},
    }


def executor_schema() -> dict[str, Any]:
    """The top-level ``executor``: where the per-cloud steps of a run of many clouds run.

    Example:
        >>> executor_schema()["properties"]["engine"]["default"]
        'local'
    """
    schema = closed_object(
        {
            "engine": {
                "enum": list(EXECUTOR_ENGINES),
                "default": "local",
                "description": "local: in this process, one cloud after another; dask: the "
                "per-cloud steps (predict, eval, cloud writers) of different clouds run as "
                "parallel tasks on Dask workers (docs/survey.md). Default: local, or dask when "
                "workers, threads_per_worker or scheduler is given (as run --workers does).",
            },
            "workers": {
                "type": ["integer", "null"],
                "minimum": 1,
                "default": None,
                "description": "dask without scheduler: worker processes of the local cluster "
                "the run starts and closes; null: one per CPU core.",
            },
            "threads_per_worker": {
                "type": "integer",
                "minimum": 1,
                "default": 1,
                "description": "dask: threads of each worker process (TensorFlow's "
                "intra-op threads, NumPy/SciPy and KD-tree threads).",
            },
            "scheduler": {
                "type": ["string", "null"],
                "minLength": 1,
                "default": None,
                "description": "dask: address of a running scheduler ('tcp://host:8786', "
                "started with 'dask scheduler' and 'dask worker'); null: start a local cluster.",
            },
        },
        required=[],
        description="How the per-cloud steps run: in this process, or on Dask workers.",
        title="an executor object",
    )
    schema["default"] = {"engine": "local"}
    return schema


def _condition_schema() -> dict[str, Any]:
    types = tuple(CONDITION_TYPES)
    return closed_object(
        {
            "value_name": {
                "type": "string",
                "minLength": 1,
                "description": "The dimension compared: 'classification', 'intensity', an extra dimension, "
                "'x', 'y' or 'z'.",
            },
            "condition_type": {
                "type": "string",
                "pattern": case_insensitive_pattern(types),
                "examples": list(types),
                "title": "a condition type",
                "description": "How a point's value is compared with value_target (case-insensitive); "
                "'in' and 'not_in' take a list.",
            },
            "value_target": {
                "anyOf": [
                    {"title": "a number", "type": "number"},
                    {"title": "a list of numbers", "type": "array", "minItems": 1, "items": {"type": "number"}},
                ],
                "description": "The value (or, for 'in' and 'not_in', the values) compared with.",
            },
            "action": {
                "type": "string",
                "pattern": case_insensitive_pattern(ACTIONS),
                "examples": list(ACTIONS),
                "title": "an action",
                "description": "'preserve' keeps the points that satisfy the condition, 'discard' drops "
                "them (case-insensitive).",
            },
        },
        required=["value_name", "condition_type", "value_target", "action"],
        description="A filter of one cloud's points, as VL3D's PointCloudFilter.",
        title="a condition object",
    )


def concatenation_schema() -> dict[str, Any]:
    """VL3D's ``in_pcloud_concat``: clouds filtered and concatenated into one input cloud.

    Example:
        >>> concatenation_schema()["items"]["required"]
        ['in_pcloud']
    """
    path = {"type": "string", "minLength": 1, PATH_ANNOTATION: "input", SUFFIX_ANNOTATION: list(CLOUD_SUFFIXES)}
    entry = closed_object(
        {
            "in_pcloud": {**path, "description": "A point cloud (LAS/LAZ), relative to the spec file's folder."},
            "conditions": {
                "type": ["array", "null"],
                "items": _condition_schema(),
                "description": "Filters applied in order; null or absent: every point is kept.",
            },
        },
        required=["in_pcloud"],
        description="One cloud of the concatenation and its filters.",
        title="a concatenated cloud object",
    )
    return {
        "type": "array",
        "minItems": 1,
        "items": entry,
        "description": "Instead of in_pcloud (VL3D): the clouds listed, each filtered by its conditions, are "
        "read as one cloud, with the first cloud's header and dimensions; one out_pcloud prefix.",
    }


def top_level_properties() -> dict[str, Any]:
    """The top-level keys except ``sequential_pipeline``.

    Example:
        >>> sorted(top_level_properties())
        ['$schema', 'executor', 'in_pcloud', 'in_pcloud_concat', 'out_pcloud']
    """
    prefix = {"type": "string", "minLength": 1, PATH_ANNOTATION: "prefix"}
    return {
        "$schema": {"type": "string", "description": "URI of this schema, for editors; ignored by the runner."},
        "in_pcloud": input_paths_schema(
            "Input point clouds (LAS/LAZ), relative to the spec file's folder; one path or a list."
        ),
        "in_pcloud_concat": concatenation_schema(),
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
        "executor": executor_schema(),
    }
