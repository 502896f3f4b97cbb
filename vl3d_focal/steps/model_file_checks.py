"""Validation of the model files a spec reads (``ModelLoader``'s ``model_path``, a train step's
``pretrained_model``): an existing file that is not a model written by this package is an
error at validation, before anything trains (the run would fail only where it loads it).

A path that does not exist yet (a writer earlier in the same spec writes it) is left to the
run; a folder is reported by the path checks (:mod:`vl3d_focal.config.checks`).

Example:
    >>> metadata, issues = model_metadata(str(model_file), at=("sequential_pipeline", 1, "model_path"))
    >>> metadata["class_names"][:2], issues
    (['ground', 'vegetation'], [])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vl3d_focal.config.checks import Issue
from vl3d_focal.errors import VL3DFocalError
from vl3d_focal.io.las_header import LAS_SIGNATURE

WRITERS = "PredictiveModelWriter or PredictivePipelineWriter"
"""The steps that write a model file."""


def _what_it_is(path: Path) -> str:
    """What a file that is not a model looks like (a point cloud, text), for the message."""
    try:
        with open(path, "rb") as handle:
            start = handle.read(512)
    except OSError:
        return ""
    if start.startswith(LAS_SIGNATURE):
        return "it is a LAS/LAZ point cloud; "
    if not start:
        return "it is empty; "
    try:
        start.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    return "it is a text file; "


def model_metadata(path: Any, *, at: tuple) -> tuple[dict[str, Any] | None, list[Issue]]:
    """The metadata of the model file at ``path`` (read without loading the model), or the issue
    at ``at`` when it exists but is not a model file this package wrote; ``(None, [])`` when
    ``path`` is not an existing file.

    Example:
        >>> model_metadata("no/such/model.keras", at=("model_path",))
        (None, [])
    """
    if not (isinstance(path, str) and Path(path).is_file()):
        return None, []
    from vl3d_focal.models.model_file import read_metadata  # SciPy with it: only where a model file is read

    try:
        return read_metadata(path), []
    except VL3DFocalError as error:
        cause = error.__cause__
        if cause is None:  # a model file this version cannot use (its format, its metadata)
            return None, [(at, f"model {str(error).removeprefix('model_path ')}")]
        reason = cause.args[0] if isinstance(cause, KeyError) and cause.args else cause  # no quotes
        return None, [(at, f"{path} is not a model file written by {WRITERS} ({_what_it_is(Path(path))}{reason})")]
