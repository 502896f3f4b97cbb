"""VL3D's features in ``model_args.fnames``: the train step's ``fnames`` when it gives none.

VL3D's RBFNet reads its point features from ``model_args.fnames`` when its train step has no
``fnames``. For a model whose registry metadata says ``fnames_in_model_args``, such a step is
rewritten with those names as its ``fnames`` before validation, so that every later part (checks
against the clouds, feature transformers, the training) sees them where it looks.

Example:
    >>> spec = {"sequential_pipeline": [{"train": "RBFNetPwiseClassifier", "model_args": {"fnames": ["a"]}}]}
    >>> with_model_fnames(spec)["sequential_pipeline"][0]["fnames"]
    ['a']
"""

from __future__ import annotations

import re
from typing import Any

from vl3d_focal.registry import MODELS

_STEP_FNAMES = re.compile(r"\$\.sequential_pipeline\[(\d+)\]\.fnames(?=$|[.\[])")


def _reads_model_fnames(step: Any) -> bool:
    name = step.get(MODELS.key) if isinstance(step, dict) else None
    if not isinstance(step, dict) or "fnames" in step or name not in MODELS.names():
        return False
    model_args = step.get("model_args")
    return (
        isinstance(model_args, dict)
        and isinstance(model_args.get("fnames"), list)
        and bool(MODELS.get(name).metadata.get("fnames_in_model_args", False))
    )


def with_model_fnames(spec: Any) -> Any:
    """``spec`` (pipeline form) with each such train step given its ``model_args.fnames``; the
    same object when no step changes.

    Example:
        >>> spec = {"sequential_pipeline": [{"train": "PointNetPwiseClassifier", "model_args": {}}]}
        >>> with_model_fnames(spec) is spec
        True
    """
    steps = spec.get("sequential_pipeline") if isinstance(spec, dict) else None
    if not isinstance(steps, list) or not any(map(_reads_model_fnames, steps)):
        return spec
    rewritten = [
        {**step, "fnames": list(step["model_args"]["fnames"])} if _reads_model_fnames(step) else step for step in steps
    ]
    return {**spec, "sequential_pipeline": rewritten}


def model_fnames_path(path: str, *, spec: Any) -> str:
    """``path`` (of ``with_model_fnames(spec)``) written where the user gave it: a path in the
    ``fnames`` of a step that took them from its ``model_args.fnames`` is one in those.

    Example:
        >>> spec = {"sequential_pipeline": [{"train": "RBFNetPwiseClassifier", "model_args": {"fnames": ["a"]}}]}
        >>> model_fnames_path("$.sequential_pipeline[0].fnames[0]", spec=spec)
        '$.sequential_pipeline[0].model_args.fnames[0]'
    """
    match = _STEP_FNAMES.match(path)
    steps = spec.get("sequential_pipeline") if isinstance(spec, dict) else None
    if match is None or not isinstance(steps, list) or int(match.group(1)) >= len(steps):
        return path
    if not _reads_model_fnames(steps[int(match.group(1))]):
        return path
    return path[: match.end() - len("fnames")] + "model_args." + path[match.end() - len("fnames") :]
