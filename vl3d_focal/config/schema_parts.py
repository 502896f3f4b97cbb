"""JSON Schema fragments shared by the spec language: the top level, paths, closed objects.

Pure data builders, used by :mod:`vl3d_focal.config.schemas` (which assembles the files from
the registries) and by the step kinds, which declare their own schemas. Every property has a
``description`` and, where the runner has one, the ``default`` it really uses
(:func:`vl3d_focal.config.normalise.apply_defaults` fills them in, so the runner never
hard-codes one).

Path-valued properties carry the annotation ``"x-vl3d-path"``: ``"input"`` (resolved
against the spec's folder and checked to exist), ``"cloud-output"`` / ``"model-output"``
(a file written per input cloud / once per run; ``*`` means the output prefix) or
``"prefix"`` (``out_pcloud``); ``"x-vl3d-suffixes"`` lists the file suffixes such a path
must end with (case-insensitive). ``"x-vl3d-as-list": true`` marks a "path or list of paths"
property that loading turns into a list; ``"x-vl3d-expand": true`` a list of input clouds whose
glob patterns and folders loading expands (:mod:`vl3d_focal.config.inputs`).
``"x-vl3d-no-effect": "<why>"`` marks a value accepted for VL3D compatibility without effect here
(:mod:`vl3d_focal.config.notes`).

Example:
    >>> output_path_schema("A report.", "*eval/r.json", scope="cloud", suffixes=(".json",))["x-vl3d-path"]
    'cloud-output'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

PATH_ANNOTATION = "x-vl3d-path"
LIST_ANNOTATION = "x-vl3d-as-list"
EXPAND_ANNOTATION = "x-vl3d-expand"
SUFFIX_ANNOTATION = "x-vl3d-suffixes"
CLOUD_SUFFIXES = (".las", ".laz")
MODEL_SUFFIXES = (".keras",)
PLOT_SUFFIXES = (".svg", ".png", ".pdf")
"""Picture formats of the reports' plots (matplotlib chooses the format from the suffix)."""
NO_EFFECT_ANNOTATION = "x-vl3d-no-effect"
"""``"<why>"`` on the schema of a VL3D key that only tunes VL3D's own internals: accepted without
effect here, reported with the reason (:mod:`vl3d_focal.config.notes` collects them)."""
NO_EFFECT_PROPERTIES = "x-vl3d-no-effect-properties"
"""Member of a model entry's schema: ``model_args`` properties accepted without effect, which
the schema files add to that model's ``model_args`` but the model builder never receives."""


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


def output_path_schema(description: str, default: str, *, scope: str, suffixes: tuple[str, ...]) -> dict[str, Any]:
    """An output file path: ``scope`` is ``"cloud"`` (one file per input cloud) or ``"model"``.

    Example:
        >>> output_path_schema("M.", "*m.keras", scope="model", suffixes=(".keras",))["default"]
        '*m.keras'
    """
    return {
        SUFFIX_ANNOTATION: list(suffixes),
        "type": "string",
        "minLength": 1,
        "description": description + " A leading '*' stands for the output prefix (out_pcloud).",
        "default": default,
        PATH_ANNOTATION: f"{scope}-output",
    }


def optional_output_schema(description: str, *, suffixes: Sequence[str] = (), scope: str = "model") -> dict[str, Any]:
    """An optional output path (null, the default: not written); ``scope`` as in
    :func:`output_path_schema`.

    Without ``suffixes`` any file name is accepted (text reports are written whatever their
    suffix, as VL3D writes them).

    Example:
        >>> optional_output_schema("A plot.", suffixes=PLOT_SUFFIXES)["x-vl3d-suffixes"]
        ['.svg', '.png', '.pdf']
    """
    schema: dict[str, Any] = {
        "type": ["string", "null"],
        "minLength": 1,
        "default": None,
        PATH_ANNOTATION: f"{scope}-output",
    }
    if suffixes:
        schema[SUFFIX_ANNOTATION] = list(suffixes)
    schema["description"] = description + " A leading '*' stands for the output prefix; null: not written."
    return schema


def no_effect(schema: dict[str, Any], *, why: str) -> dict[str, Any]:
    """``schema`` marked as a VL3D key accepted without effect here, for the reason ``why``; it has
    no default (nothing reads it), so a normalised spec holds it only where the user gave it.

    Example:
        >>> marked = no_effect({"type": "integer", "default": 1}, why="every core is used")
        >>> marked["x-vl3d-no-effect"], "default" in marked
        ('every core is used', False)
    """
    return {**{key: value for key, value in schema.items() if key != "default"}, NO_EFFECT_ANNOTATION: why}


def case_insensitive_pattern(names: Sequence[str]) -> str:
    """A regular expression matching any of ``names`` whatever the case.

    Example:
        >>> import re
        >>> bool(re.match(case_insensitive_pattern(["fps"]), "FPS"))
        True
    """

    def letters(name: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in name)

    return "^(" + "|".join(letters(name) for name in names) + ")$"


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
                "parallel tasks on Dask workers (docs/survey.md).",
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


def top_level_properties() -> dict[str, Any]:
    """The top-level keys except ``sequential_pipeline``.

    Example:
        >>> sorted(top_level_properties())
        ['$schema', 'executor', 'in_pcloud', 'out_pcloud']
    """
    prefix = {"type": "string", "minLength": 1, PATH_ANNOTATION: "prefix"}
    return {
        "$schema": {"type": "string", "description": "URI of this schema, for editors; ignored by the runner."},
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
        "executor": executor_schema(),
    }
