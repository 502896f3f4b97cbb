"""The annotations this project adds to JSON Schemas, and the small schemas that carry them.

Every layer declares schemas (steps, models, losses, the receptive-field pre-processors of the
data layer); the config layer reads the annotations when it loads a spec:

* ``"x-vl3d-path"``: ``"input"`` (resolved against the spec's folder and checked to exist),
  ``"cloud-output"`` / ``"model-output"`` (a file written per input cloud / once per run; ``*``
  means the output prefix), ``"model-folder-output"`` (:data:`FOLDER_OUTPUT`, a folder a run
  writes files in), ``"cloud-folder-output"`` (:data:`CLOUD_FOLDER_OUTPUT`, such a folder per
  input cloud) or ``"prefix"`` (``out_pcloud``);
* ``"x-vl3d-suffixes"``: the file suffixes such a path must end with (case-insensitive);
* ``"x-vl3d-as-list": true``: a "path or list of paths" property that loading turns into a
  list; ``"x-vl3d-expand": true``: a list of input clouds whose glob patterns and folders loading
  expands (:mod:`vl3d_focal.config.inputs`);
* ``"x-vl3d-no-effect": "<why>"``: a value accepted for VL3D compatibility without effect here
  (:mod:`vl3d_focal.config.notes` reports it).

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
FOLDER_OUTPUT = "model-folder-output"
"""``x-vl3d-path`` of an output folder, written once per run (a rerun writes into it again)."""
CLOUD_FOLDER_OUTPUT = "cloud-folder-output"
"""``x-vl3d-path`` of an output folder written once per input cloud (its files are declared by the
step's ``outputs``): with several clouds it must start with ``*``, as a per-cloud file."""
CLOUD_SUFFIXES = (".las", ".laz")
"""The suffixes of a point cloud file (LAS/LAZ, compared lower case): the one definition, for
schemas, spec checks and the readers and writers of :mod:`vl3d_focal.io`."""
MODEL_SUFFIXES = (".keras",)
PLOT_SUFFIXES = (".svg", ".png", ".pdf")
"""Picture formats of the reports' plots (matplotlib chooses the format from the suffix)."""
NO_EFFECT_ANNOTATION = "x-vl3d-no-effect"
"""``"<why>"`` on the schema of a VL3D key that only tunes VL3D's own internals: accepted without
effect here, reported with the reason (:mod:`vl3d_focal.config.notes` collects them)."""
NO_EFFECT_PROPERTIES = "x-vl3d-no-effect-properties"
"""Member of a model entry's schema: ``model_args`` properties accepted without effect, which
the schema files add to that model's ``model_args`` but the model builder never receives."""


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
