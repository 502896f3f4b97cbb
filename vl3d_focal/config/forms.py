"""VL3D's spec forms: the pipeline form, and the single-component training, mining and predict forms.

In the pipeline form, two VL3D habits are rewritten into plain steps (:func:`as_pipeline`): a
step whose kind key is a comment (``"_miner": ...``) is skipped, as VL3D skips it, with a
no-effect note; and a step other than a writer with an ``out_pcloud`` is followed by a
``Writer`` of that path, as VL3D writes the cloud after such a step (the editor schema lists
that ``out_pcloud`` for every step kind but the writers:
:func:`~vl3d_focal.config.schema_parts.with_step_out_pcloud`). Issues of the rewritten
pipeline are reported at the paths of the user's file.

The pipeline form (``in_pcloud``, ``out_pcloud``, ``sequential_pipeline``) is what the schema
and the runner know. VL3D also trains from a single component: a top-level ``"train"`` with
its own keys, the input cloud(s) in ``in_pcloud`` and the model file in ``out_model``::

    {"train": "PointNetPwiseClassifier", "in_pcloud": "tile.laz",
     "out_model": "out/pnet/pnet.model", "fnames": ["AUTO"], "model_args": {...}}

:func:`as_pipeline` rewrites it into the equivalent pipeline, the train step followed by a
``PredictiveModelWriter`` of ``out_model``, whose output prefix is ``out_model``'s folder (so
the training's own outputs go beside the model), and returns how to write the pipeline's JSON
paths back as paths of the file the user wrote (``$.sequential_pipeline[0].model_args`` is
``$.model_args`` there). Its ``"imputer": {...}`` and ``"feature_transformer": {...}`` are
steps of their own before the train step, in that order (``$.imputer`` in the user's file);
they write no cloud, so an ``out_pcloud`` there is an error.

VL3D's data miners run outside a pipeline too (its data-mining documentation): a top-level
``"miner"`` with its own keys, the input cloud in ``in_pcloud`` and the file the mined cloud is
written to in ``out_pcloud``::

    {"miner": "GeometricFeatures", "in_pcloud": "tile.laz", "out_pcloud": "out/tile_geom.laz",
     "radius": 0.3, "fnames": ["linearity"], "frenames": ["linearity_r0_3"]}

is the miner step followed by a ``Writer`` of that file, the output prefix being its folder
(``$.sequential_pipeline[0].radius`` is ``$.radius``, the Writer's path ``$.out_pcloud``).

VL3D's ``--predict`` applies a model file to one cloud: a top-level ``"predict"`` (VL3D reads
only the other keys), the model in ``in_model``, the cloud in ``in_pcloud``; it writes the cloud
with each point's predicted class in the extra dimension ``prediction`` to ``out_pcloud`` and the
predicted classes, one per line, to ``out_preds``::

    {"predict": "ModelLoader", "in_model": "out/pnet.model", "in_pcloud": "tile.laz",
     "out_pcloud": "out/tile_pred.laz", "out_preds": "out/tile_pred.lbl"}

is the predict step ``{"predict": "ModelLoader", "model_path": <in_model>}`` followed by a
``Writer`` of ``out_pcloud`` and a ``PredictionsWriter`` of ``out_preds`` (each where given; at
least one is needed), the output prefix being the folder of the first
(``$.sequential_pipeline[0].model_path`` is ``$.in_model``).

Example:
    >>> form = as_pipeline({"train": "PointNetPwiseClassifier", "in_pcloud": "a.las",
    ...                     "out_model": "out/m.model", "model_args": {}})
    >>> form.name, form.spec["out_pcloud"], form.spec["sequential_pipeline"][1]
    ('train', 'out/', {'writer': 'PredictiveModelWriter', 'out_model': 'out/m.model'})
    >>> form.original_path("$.sequential_pipeline[0].model_args.num_classes")
    '$.model_args.num_classes'
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from vl3d_focal.config.messages import describe
from vl3d_focal.config.notes import NOTE_PREFIX
from vl3d_focal.config.prefixes import PREFIX_MARK
from vl3d_focal.config.schema_parts import WRITER_KIND
from vl3d_focal.errors import SpecIssue

TRAIN_FORM_KEY = "train"
"""The top-level key of VL3D's single-component training form."""
MINER_FORM_KEY = "miner"
"""The top-level key of VL3D's single-component mining form."""
PREDICT_FORM_KEY = "predict"
"""The top-level key of VL3D's single-component predict form."""
SINGLE_COMPONENT_FORMS = {TRAIN_FORM_KEY: "out_model", MINER_FORM_KEY: "out_pcloud", PREDICT_FORM_KEY: "out_pcloud"}
"""VL3D's single-component forms: their top-level kind key -> the key of the (first) file the form
writes (a step of the pipeline it stands for: a PredictiveModelWriter, a Writer)."""
PREDICT_MODEL = ("model_path", "in_model")
"""The predict step's model file key, and its name in the predict form."""
TOP_LEVEL_KEYS = ("$schema", "in_pcloud")
"""Keys of the single-component form that stay at the top of the pipeline."""
MODEL_WRITER = "PredictiveModelWriter"
NESTED_STEPS = {
    "imputer": {"imputer": "UnivariateImputer", "fnames": ["AUTO"], "target_val": "NaN", "strategy": "mean"},
    "feature_transformer": {"feature_transformer": "KBestSelector", "fnames": ["AUTO"], "k": 2},
}
"""Keys of the single-component form whose object is a step of its own, run before the train
step in this order (VL3D's ``"imputer": {...}`` and ``"feature_transformer": {...}``), with an
example of that object."""

_STEP_PATH = re.compile(r"\$\.sequential_pipeline(?:\[(\d+)\])?")
_PREFIX_PATH = re.compile(r"\$\.out_pcloud(?:\[0\])?")
_MODEL_PATH = re.compile(rf"\$\.sequential_pipeline\[0\]\.{PREDICT_MODEL[0]}\b")
_INDEXED_STEP_PATH = re.compile(r"\$\.sequential_pipeline\[(\d+)\]((?:\.(?:writer|out_pcloud)\b)?)")
STATE_WRITER = "Writer"
"""VL3D's writer of the cloud as the pipeline holds it, which a step's ``out_pcloud`` stands for."""
PREDICT_WRITERS = {"out_pcloud": STATE_WRITER, "out_preds": "PredictionsWriter"}
"""The predict form's output keys -> the writer each stands for, in the order they run."""


@dataclass(frozen=True)
class SpecForm:
    """A spec document in the pipeline form, and how its paths read in the user's form.

    Attributes:
        name: ``"pipeline"``, ``"train"`` or ``"miner"`` (the single-component forms).
        spec: the document in the pipeline form (the same object for ``"pipeline"``).
        issues: problems of the form itself (e.g. no ``out_model``, or ``out_pcloud`` of a miner).
    """

    name: str
    spec: Any
    issues: list[SpecIssue] = field(default_factory=list)
    origins: tuple[int, ...] = ()
    split_writers: frozenset[int] = frozenset()
    notes: list[SpecIssue] = field(default_factory=list)
    before: tuple[str, ...] = ()
    """The single-component form's keys made steps before its train step, in order."""
    outputs: tuple[str, ...] = ()
    """The single-component form's keys made writers after its step, in order (default: its one output)."""

    def _component_step(self, match: re.Match[str]) -> str:
        number = match.group(1)
        if number is not None and int(number) < len(self.before):
            return f"$.{self.before[int(number)]}"
        return "$"

    def _user_step(self, match: re.Match[str]) -> str:
        number = int(match.group(1))
        if number >= len(self.origins):
            return match.group(0)
        if number in self.split_writers:  # a Writer made of a step's out_pcloud
            return f"$.sequential_pipeline[{self.origins[number]}].out_pcloud"
        return f"$.sequential_pipeline[{self.origins[number]}]{match.group(2)}"

    def original_path(self, text: str) -> str:
        """A JSON path (or a message quoting them) of the pipeline form, as in the user's file.

        Example:
            >>> SpecForm(name="pipeline", spec={}).original_path("$.sequential_pipeline[0]")
            '$.sequential_pipeline[0]'
            >>> form = as_pipeline({"sequential_pipeline": [{"miner": "M", "out_pcloud": "*m.laz"}, {"eval": "E"}]})
            >>> form.original_path("$.sequential_pipeline[1].out_pcloud"), form.original_path("$.sequential_pipeline[2].x")
            ('$.sequential_pipeline[0].out_pcloud', '$.sequential_pipeline[1].x')
        """
        output = SINGLE_COMPONENT_FORMS.get(self.name)
        if output is None:
            return _INDEXED_STEP_PATH.sub(self._user_step, text) if self.origins else text
        if self.name == PREDICT_FORM_KEY:
            text = _MODEL_PATH.sub(f"$.{PREDICT_MODEL[1]}", text)
        return _STEP_PATH.sub(self._component_step, _PREFIX_PATH.sub(f"$.{output}", text))

    def step_origins(self) -> tuple[str, ...]:
        """Where each step of the pipeline form comes from in the user's file (``spec step 2``;
        ``spec step 2's out_pcloud``: the Writer that ``out_pcloud`` stands for; ``spec's
        feature_transformer`` in a single-component form), or () for a pipeline as written.

        Example:
            >>> as_pipeline({"sequential_pipeline": [{"miner": "M", "out_pcloud": "*m.laz"}, {"eval": "E"}]}).step_origins()
            ('spec step 1', "spec step 1's out_pcloud", 'spec step 2')
            >>> as_pipeline({"train": "M", "feature_transformer": {}, "out_model": "m.model"}).step_origins()
            ("spec's feature_transformer", "spec's train", "spec's out_model")
            >>> as_pipeline({"miner": "M", "out_pcloud": "m.laz"}).step_origins()
            ("spec's miner", "spec's out_pcloud")
            >>> as_pipeline({"predict": "ModelLoader", "in_model": "m.model", "out_preds": "p.lbl"}).step_origins()
            ("spec's predict", "spec's out_preds")
        """
        output = SINGLE_COMPONENT_FORMS.get(self.name)
        if output is not None:
            return tuple(f"spec's {key}" for key in (*self.before, self.name, *(self.outputs or (output,))))
        return tuple(
            f"spec step {origin + 1}" + ("'s out_pcloud" if index in self.split_writers else "")
            for index, origin in enumerate(self.origins)
        )

    def original(self, issue: SpecIssue) -> SpecIssue:
        """``issue`` with its path and message in the user's form (in the predict form, a message
        at the model file's key names the user's ``in_model``).

        Example:
            >>> form = as_pipeline({"train": "M", "in_pcloud": "a.las", "out_model": "m.model"})
            >>> form.original(SpecIssue("$.sequential_pipeline[1].out_model", "bad")).path
            '$.out_model'
            >>> form = as_pipeline({"predict": "PreviousModel", "in_model": "m.model", "out_preds": "p.lbl"})
            >>> str(form.original(SpecIssue("$.sequential_pipeline[0].model_path", "unknown key 'model_path'")))
            "$.in_model: unknown key 'in_model'"
        """
        message = issue.message
        if self.name == PREDICT_FORM_KEY and _MODEL_PATH.fullmatch(issue.path):
            message = message.replace(repr(PREDICT_MODEL[0]), repr(PREDICT_MODEL[1]))
        return SpecIssue(self.original_path(issue.path), self.original_path(message), issue.file)


def single_component(doc: Any) -> str | None:
    """The kind key of VL3D's single-component form ``doc`` is in (``"train"``, ``"miner"``, ``"predict"``), or
    None (a pipeline, or no form at all).

    Example:
        >>> single_component({"train": "PointNetPwiseClassifier"}), single_component({"sequential_pipeline": []})
        ('train', None)
    """
    if not isinstance(doc, Mapping) or "sequential_pipeline" in doc:
        return None
    return next((key for key in SINGLE_COMPONENT_FORMS if key in doc), None)


def _prefix(path: Any, key: str, issues: list[SpecIssue]) -> str:
    """The output prefix of a single-component form: the folder of the file ``path`` it writes."""
    if not isinstance(path, str) or not path:
        return "./"
    if path.startswith(PREFIX_MARK):
        issues.append(
            SpecIssue(
                f"$.{key}",
                f"the single-component form has no output prefix; expected a path without a leading '*'; got {path!r}",
            )
        )
        return "./"
    folder = os.path.dirname(path)
    return (folder or ".") + "/"


def _commented_kind(raw: Any, step: Any, kinds: Collection[str]) -> str | None:
    """The comment key (``"_miner"``) of a step whose only kind key is commented out, else None."""
    if not isinstance(raw, Mapping) or not isinstance(step, Mapping) or any(kind in step for kind in kinds):
        return None
    return next((key for key in raw if isinstance(key, str) and key[1:] in kinds and key.startswith("_")), None)


def _rewritten_pipeline(doc: Any, *, original: Any, kinds: Collection[str]) -> SpecForm:
    """The pipeline form with commented-out steps skipped and steps' ``out_pcloud`` made writers."""
    steps = doc.get("sequential_pipeline") if isinstance(doc, Mapping) else None
    raw = original.get("sequential_pipeline") if isinstance(original, Mapping) else None
    if not isinstance(steps, list):
        return SpecForm(name="pipeline", spec=doc)
    raw_steps = raw if isinstance(raw, list) and len(raw) == len(steps) else [None] * len(steps)
    rewritten: list[Any] = []
    origins: list[int] = []
    split: set[int] = set()
    notes, issues = [], []
    for index, (step, raw_step) in enumerate(zip(steps, raw_steps)):
        nested = [key for key in NESTED_STEPS if isinstance(step, Mapping) and TRAIN_FORM_KEY in step]
        for key in (key for key in nested if isinstance(step.get(key), Mapping)):
            issues.append(SpecIssue(f"$.sequential_pipeline[{len(rewritten)}].{key}", _nested_in_pipeline(key, step)))
            step = {name: value for name, value in step.items() if name != key}
        comment = _commented_kind(raw_step, step, kinds)
        if comment is not None:
            notes.append(
                SpecIssue(
                    f"$.sequential_pipeline[{index}]",
                    f"{NOTE_PREFIX}its kind key {comment!r} is a comment: the step is skipped, as VL3D skips it",
                )
            )
            continue
        if isinstance(step, Mapping) and WRITER_KIND not in step and isinstance(step.get("out_pcloud"), str):
            rewritten.append({key: value for key, value in step.items() if key != "out_pcloud"})
            rewritten.append({"writer": STATE_WRITER, "out_pcloud": step["out_pcloud"]})
            origins += [index, index]
            split.add(len(rewritten) - 1)
            continue
        rewritten.append(step)
        origins.append(index)
    if len(rewritten) == len(steps) and not split and not issues:
        return SpecForm(name="pipeline", spec=doc)
    return SpecForm(
        name="pipeline",
        spec={**doc, "sequential_pipeline": rewritten},
        issues=issues,
        origins=tuple(origins),
        split_writers=frozenset(split),
        notes=notes,
    )


def _nested_in_pipeline(key: str, step: Mapping[str, Any]) -> str:
    """Why a pipeline's train step cannot hold an ``"imputer": {...}`` or ``"feature_transformer": {...}``."""
    return (
        f"a {key} object inside the train step belongs to VL3D's single-component training form (a spec whose "
        f"top level is the train step) only; in a pipeline it is a step of its own: move it before this train "
        f"step as {json.dumps(step[key])}"
    )


def as_pipeline(doc: Any, *, original: Any = None, kinds: Collection[str] = ()) -> SpecForm:
    """``doc`` in the pipeline form (see the module docstring).

    Args:
        doc: the document, comments dropped.
        original: the document with its comments (to tell a commented-out step); default ``doc``.
        kinds: the step kind keys (registered and VL3D's) a commented-out step may have.

    Example:
        >>> as_pipeline({"train": "M", "in_pcloud": "a.las"}).issues[0].message
        "missing required key 'out_model' (the file the single-component train form writes its model to)"
    """
    kind = single_component(doc)
    if kind is None:
        return _rewritten_pipeline(doc, original=doc if original is None else original, kinds=kinds)
    if kind == MINER_FORM_KEY:
        return _miner_form(doc)
    if kind == PREDICT_FORM_KEY:
        return _predict_form(doc)
    issues: list[SpecIssue] = []
    before = tuple(key for key in NESTED_STEPS if isinstance(doc.get(key), Mapping))
    for key in (key for key in NESTED_STEPS if key in doc and key not in before):
        issues.append(
            SpecIssue(
                f"$.{key}",
                f"expected an object, a step of its own run before the train step, such as "
                f"{json.dumps(NESTED_STEPS[key])}; got {describe(doc[key])}",
            )
        )
    skipped = (*TOP_LEVEL_KEYS, "out_model", *NESTED_STEPS)
    step = {key: value for key, value in doc.items() if key not in skipped}
    steps: list[dict[str, Any]] = [dict(doc[key]) for key in before] + [step]
    for index, part in enumerate(steps):  # the pipeline form's habit (a Writer after the step) has no place here
        if "out_pcloud" in part:
            del part["out_pcloud"]
            issues.append(
                SpecIssue(
                    f"$.sequential_pipeline[{index}].out_pcloud",
                    "unknown key 'out_pcloud': the single-component train form writes its model (out_model) and "
                    "no cloud; write clouds with the pipeline form",
                )
            )
    if "out_model" in doc:
        steps.append({"writer": MODEL_WRITER, "out_model": doc["out_model"]})
    else:
        issues.append(
            SpecIssue(
                "$", "missing required key 'out_model' (the file the single-component train form writes its model to)"
            )
        )
    spec = {key: doc[key] for key in TOP_LEVEL_KEYS if key in doc}
    spec.update(out_pcloud=_prefix(doc.get("out_model"), "out_model", issues), sequential_pipeline=steps)
    return SpecForm(name=TRAIN_FORM_KEY, spec=spec, issues=issues, before=before)


def _miner_form(doc: Mapping[str, Any]) -> SpecForm:
    """VL3D's single-component mining form: its miner step, then a Writer of ``out_pcloud``."""
    issues: list[SpecIssue] = []
    step = {key: value for key, value in doc.items() if key not in (*TOP_LEVEL_KEYS, "out_pcloud")}
    steps: list[dict[str, Any]] = [step]
    out = doc.get("out_pcloud")
    if isinstance(out, str):
        steps.append({"writer": STATE_WRITER, "out_pcloud": out})
    elif "out_pcloud" in doc:
        issues.append(
            SpecIssue(
                "$.out_pcloud",
                f"expected the LAS/LAZ file the single-component miner form writes the mined cloud to "
                f"(without it the features would be computed for nothing); got {describe(out)}",
            )
        )
    else:
        issues.append(
            SpecIssue(
                "$",
                "missing required key 'out_pcloud' (the file the single-component miner form writes the mined cloud to)",
            )
        )
    spec = {key: doc[key] for key in TOP_LEVEL_KEYS if key in doc}
    spec.update(out_pcloud=_prefix(out, "out_pcloud", issues), sequential_pipeline=steps)
    return SpecForm(name=MINER_FORM_KEY, spec=spec, issues=issues)


def _predict_form(doc: Mapping[str, Any]) -> SpecForm:
    """VL3D's single-component predict form: its predict step, then a writer per output given."""
    issues: list[SpecIssue] = []
    model_key, form_key = PREDICT_MODEL
    step = {key: value for key, value in doc.items() if key not in (*TOP_LEVEL_KEYS, form_key, *PREDICT_WRITERS)}
    if form_key in doc:
        step[model_key] = doc[form_key]
    else:
        issues.append(  # at the step's path, where the schema's own "missing model_path" is then not repeated
            SpecIssue(
                "$.sequential_pipeline[0]",
                f"missing required key {form_key!r} (the model file the predict form applies)",
            )
        )
    outputs = tuple(key for key in PREDICT_WRITERS if key in doc)
    steps = [step, *({"writer": PREDICT_WRITERS[key], key: doc[key]} for key in outputs)]
    if not outputs:
        issues.append(
            SpecIssue(
                "$",
                "missing required key 'out_pcloud' or 'out_preds' (the predict form writes the cloud with its "
                "predicted classes to out_pcloud, the predicted classes one per line to out_preds)",
            )
        )
    first = outputs[0] if outputs else "out_pcloud"
    spec = {key: doc[key] for key in TOP_LEVEL_KEYS if key in doc}
    spec.update(out_pcloud=_prefix(doc.get(first), first, issues), sequential_pipeline=steps)
    return SpecForm(name=PREDICT_FORM_KEY, spec=spec, issues=issues, outputs=outputs)
