"""VL3D's spec forms: the pipeline form, and the single-component training form.

The pipeline form (``in_pcloud``, ``out_pcloud``, ``sequential_pipeline``) is what the schema
and the runner know. VL3D also trains from a single component: a top-level ``"train"`` with
its own keys, the input cloud(s) in ``in_pcloud`` and the model file in ``out_model``::

    {"train": "PointNetPwiseClassifier", "in_pcloud": "tile.laz",
     "out_model": "out/pnet/pnet.model", "fnames": ["AUTO"], "model_args": {...}}

:func:`as_pipeline` rewrites it into the equivalent pipeline, the train step followed by a
``PredictiveModelWriter`` of ``out_model``, whose output prefix is ``out_model``'s folder (so
the training's own outputs go beside the model), and returns how to write the pipeline's JSON
paths back as paths of the file the user wrote (``$.sequential_pipeline[0].model_args`` is
``$.model_args`` there).

Example:
    >>> form = as_pipeline({"train": "PointNetPwiseClassifier", "in_pcloud": "a.las",
    ...                     "out_model": "out/m.model", "model_args": {}})
    >>> form.name, form.spec["out_pcloud"], form.spec["sequential_pipeline"][1]
    ('train', 'out/', {'writer': 'PredictiveModelWriter', 'out_model': 'out/m.model'})
    >>> form.original_path("$.sequential_pipeline[0].model_args.num_classes")
    '$.model_args.num_classes'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vl3d_focal.config.prefixes import PREFIX_MARK
from vl3d_focal.errors import SpecIssue

TRAIN_FORM_KEY = "train"
"""The top-level key of VL3D's single-component training form."""
TOP_LEVEL_KEYS = ("$schema", "in_pcloud")
"""Keys of the single-component form that stay at the top of the pipeline."""
MODEL_WRITER = "PredictiveModelWriter"

_STEP_PATH = re.compile(r"\$\.sequential_pipeline(?:\[[01]\])?")
_PREFIX_PATH = re.compile(r"\$\.out_pcloud(?:\[0\])?")


@dataclass(frozen=True)
class SpecForm:
    """A spec document in the pipeline form, and how its paths read in the user's form.

    Attributes:
        name: ``"pipeline"`` or ``"train"`` (the single-component training form).
        spec: the document in the pipeline form (the same object for ``"pipeline"``).
        issues: problems of the form itself (e.g. no ``out_model``).
    """

    name: str
    spec: Any
    issues: list[SpecIssue] = field(default_factory=list)

    def original_path(self, text: str) -> str:
        """A JSON path (or a message quoting them) of the pipeline form, as in the user's file.

        Example:
            >>> SpecForm(name="pipeline", spec={}).original_path("$.sequential_pipeline[0]")
            '$.sequential_pipeline[0]'
        """
        if self.name != TRAIN_FORM_KEY:
            return text
        return _PREFIX_PATH.sub("$.out_model", _STEP_PATH.sub("$", text))

    def original(self, issue: SpecIssue) -> SpecIssue:
        """``issue`` with its path and message in the user's form.

        Example:
            >>> form = as_pipeline({"train": "M", "in_pcloud": "a.las", "out_model": "m.model"})
            >>> form.original(SpecIssue("$.sequential_pipeline[1].out_model", "bad")).path
            '$.out_model'
        """
        return SpecIssue(self.original_path(issue.path), self.original_path(issue.message), issue.file)


def is_train_form(doc: Any) -> bool:
    """Whether ``doc`` is VL3D's single-component training form.

    Example:
        >>> is_train_form({"train": "PointNetPwiseClassifier"}), is_train_form({"sequential_pipeline": []})
        (True, False)
    """
    return isinstance(doc, Mapping) and TRAIN_FORM_KEY in doc and "sequential_pipeline" not in doc


def _prefix(out_model: Any, issues: list[SpecIssue]) -> str:
    if not isinstance(out_model, str) or not out_model:
        return "./"
    if out_model.startswith(PREFIX_MARK):
        issues.append(
            SpecIssue(
                "$.out_model",
                f"the single-component form has no output prefix; expected a "
                f"path without a leading '*'; got {out_model!r}",
            )
        )
        return "./"
    folder = os.path.dirname(out_model)
    return (folder or ".") + "/"


def as_pipeline(doc: Any) -> SpecForm:
    """``doc`` in the pipeline form (see the module docstring); other documents unchanged.

    Example:
        >>> as_pipeline({"train": "M", "in_pcloud": "a.las"}).issues[0].message
        "missing required key 'out_model' (the file the single-component train form writes its model to)"
    """
    if not is_train_form(doc):
        return SpecForm(name="pipeline", spec=doc)
    issues: list[SpecIssue] = []
    step = {key: value for key, value in doc.items() if key not in TOP_LEVEL_KEYS and key != "out_model"}
    steps: list[dict[str, Any]] = [step]
    if "out_model" in doc:
        steps.append({"writer": MODEL_WRITER, "out_model": doc["out_model"]})
    else:
        issues.append(
            SpecIssue(
                "$", "missing required key 'out_model' (the file the single-component train form writes its model to)"
            )
        )
    spec = {key: doc[key] for key in TOP_LEVEL_KEYS if key in doc}
    spec.update(out_pcloud=_prefix(doc.get("out_model"), issues), sequential_pipeline=steps)
    return SpecForm(name=TRAIN_FORM_KEY, spec=spec, issues=issues)
