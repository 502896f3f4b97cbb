"""Loading and validating pipeline specs (JSON or YAML): every mistake, before any work.

:func:`load_spec` (and :func:`read_spec`, which also returns the no-effect notes) reads a spec
file, :func:`validate_spec` and :func:`check_spec` check a parsed document. They report every
problem at once as :class:`~vl3d_focal.errors.SpecIssue` objects (``FILE: $.json.path:
message``), sorted by location in natural order (``[2]`` before ``[10]``). Nothing but
:class:`~vl3d_focal.errors.SpecError` is raised for a bad document.

Parsing: :mod:`vl3d_focal.config.parsing` (JSON, or YAML for any other suffix; ``_`` keys are
comments). Both VL3D forms are accepted: the pipeline form, and the single-component training,
mining and predict forms (:mod:`vl3d_focal.config.forms`), checked and returned as the pipeline
they stand for; in the pipeline form a step whose kind key is a comment is skipped and a step's
``out_pcloud`` becomes a ``Writer`` after it, as in VL3D.

Checks: the JSON Schema of :mod:`vl3d_focal.config.schemas`, then the semantic checks of
:mod:`vl3d_focal.config.checks`; a step naming a component this project does not have is one
issue (:mod:`vl3d_focal.config.components`). Keys accepted without effect here are notes
(:mod:`vl3d_focal.config.notes`; also a step's check may note a step without effect, such as an
imputer no train step follows; and :mod:`vl3d_focal.config.intent_notes` notes valid keys whose
intent a run does not carry out), errors with ``strict``. File existence is checked only with ``check_files=True``
(the default of :func:`load_spec` and of ``vl3d-focal validate``/``run``; the tests of
``examples/`` turn it off, since the demo's input is generated when the demo runs).

The normalised form :func:`load_spec` returns (the runner relies on it):

- comment keys dropped; every key the schema gives a ``default`` for is present, filled
  with that default (:func:`vl3d_focal.config.normalise.apply_defaults`), so the runner
  reads ``step["key"]`` and never hard-codes a default;
- ``in_pcloud``: list of absolute paths; with VL3D's ``in_pcloud_concat`` (kept, its paths
  absolute), the first of its clouds, which stands for the one cloud the concatenation makes
  (:func:`vl3d_focal.config.inputs.run_inputs`); ``out_pcloud``: list of absolute prefixes as given
  (one, or one per input), a trailing ``*`` dropped, a trailing separator kept
  (``"../out/demo/*"`` -> ``"/abs/out/demo/"``); the runner's
  :func:`vl3d_focal.config.prefixes.cloud_prefixes` derives the per-cloud prefixes;
- ``final_pcloud`` (internal, not a key of the spec's file; only where an ``out_pcloud`` entry
  names a LAS/LAZ file, VL3D's final cloud): one entry per ``out_pcloud`` entry, the absolute
  path the runner writes that input cloud's final cloud to (as a ``Writer`` writes it) after
  its last step, or None; the entry in ``out_pcloud`` is then ``<folder>/<stem>/``
  (:func:`vl3d_focal.config.prefixes.split_final_clouds`);
- input paths in steps (``model_path``; ``training_pcloud`` and ``validation_pcloud``, lists)
  are absolute;
- output paths in steps starting with ``*`` are kept as written (the runner expands them
  with :func:`vl3d_focal.config.prefixes.expand_output`); other output paths are made absolute.

Example:
    >>> issues = validate_spec({"in_pcloud": "a.las", "out_pcloud": "o/",
    ...                         "sequential_pipeline": [{"trian": "PointNetPwiseClassifier"}]},
    ...                        check_files=False)
    >>> print(issues[0])
    $.sequential_pipeline[0]: a step needs one of the keys 'class_mapping', 'class_transformer', 'train', 'predict', 'eval', 'writer', 'miner', 'imputer', 'feature_transformer'; got 'trian'; did you mean 'train'?
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from vl3d_focal.config import schemas as schema_files
from vl3d_focal.config.checks import semantic_issues
from vl3d_focal.config.components import VL3D_COMPONENTS, unavailable_steps
from vl3d_focal.config.forms import as_pipeline
from vl3d_focal.config.inputs import run_inputs
from vl3d_focal.config.intent_notes import intent_notes
from vl3d_focal.config.messages import describe, json_path, schema_issues, sort_issues
from vl3d_focal.config.model_fnames import model_fnames_path, with_model_fnames
from vl3d_focal.config.normalise import apply_defaults, normalise_paths, user_paths
from vl3d_focal.config.notes import INFO_PREFIX, NOTE_PREFIX, WARNING_PREFIX, spec_notes
from vl3d_focal.config.parsing import drop_comments, read_spec_file
from vl3d_focal.config.path_checks import written_path_issues
from vl3d_focal.config.schemas import steps_by_kind
from vl3d_focal.errors import SpecError, SpecIssue


@dataclass(frozen=True)
class CheckedSpec:
    """What checking a spec document found.

    Attributes:
        issues: every problem, in the user's form, sorted by location (empty: valid).
        notes: the keys accepted without effect here (:mod:`vl3d_focal.config.notes`), as
            issues saying "accepted, no effect here: <why>".
        pipeline: the comment-free document in the pipeline form (None when it is no object).
        step_origins: where each step of ``pipeline`` comes from in the user's file, or () when
            its steps are the user's as written (:meth:`~vl3d_focal.config.forms.SpecForm.step_origins`).
    """

    issues: list[SpecIssue]
    notes: list[SpecIssue]
    pipeline: dict[str, Any] | None
    step_origins: tuple[str, ...] = ()


class ReadSpec(NamedTuple):
    """A spec file read, validated and normalised (:func:`read_spec`); fields as :class:`CheckedSpec`'s."""

    spec: dict[str, Any]
    notes: list[SpecIssue]
    step_origins: tuple[str, ...]


def _inside(path: str, step: str) -> bool:
    return path == step or path.startswith((step + ".", step + "["))


def _strict_issues(notes: list[SpecIssue]) -> list[SpecIssue]:
    """The notes ``--strict`` makes errors: all but those telling what a valid value means."""
    return [note for note in notes if not note.message.startswith(INFO_PREFIX)]


def check_spec(doc: Any, *, file: str = "", base_dir: Path | None = None, check_files: bool = True) -> CheckedSpec:
    """Every problem and no-effect note of a parsed spec document (either VL3D form).

    A single-component form (training, mining) is checked as the pipeline it stands for
    (:mod:`vl3d_focal.config.forms`); issues are reported at the paths of the user's file. A
    step naming a component this project does not have gets one issue, and nothing else of
    that step is reported (:mod:`vl3d_focal.config.components`).

    Example:
        >>> checked = check_spec({"miner": "TakeClosestMiner", "in_pcloud": "a.las", "out_pcloud": "o.las",
        ...     "radius": 0.3}, check_files=False)
        >>> [str(issue).split(";")[0] for issue in checked.issues], checked.notes
        (["$.miner: 'TakeClosestMiner' is a VL3D data miner this project does not have"], [])
    """
    cleaned, issues = drop_comments(doc)
    if not isinstance(cleaned, dict):
        issues.append(
            SpecIssue(
                "$", f"expected an object with in_pcloud, out_pcloud and sequential_pipeline; got {describe(cleaned)}"
            )
        )
        return CheckedSpec(sort_issues(SpecIssue(i.path, i.message, file) for i in issues), [], None)
    form = as_pipeline(cleaned, original=doc, kinds={*steps_by_kind(), *VL3D_COMPONENTS})
    spec = with_model_fnames(form.spec)
    issues += form.issues
    schemas = schema_files.active_schemas()
    validator = schema_files.pipeline_validator(schemas=schemas)
    parsed_at = {issue.path for issue in issues}  # a value already reported while parsing
    found = [i for i in schema_issues(validator.iter_errors(spec)) if i.path not in parsed_at]
    base = Path.cwd() if base_dir is None else Path(base_dir)
    normalised = normalise_paths(spec, base_dir=base, schemas=schemas, expand=check_files)
    checked_notes: list[SpecIssue] = []  # a step's check may note a step without effect
    semantic = semantic_issues(normalised, check_files=check_files)
    located = (
        user_paths([parts for parts, _ in semantic], spec=spec, base_dir=base, schemas=schemas, expand=check_files)
        if semantic
        else []
    )
    for parts, message in [
        *zip(located, (message for _, message in semantic)),
        *written_path_issues(spec),
        *intent_notes(spec),
    ]:
        (checked_notes if message.startswith((NOTE_PREFIX, WARNING_PREFIX, INFO_PREFIX)) else found).append(
            SpecIssue(json_path(parts), message)
        )
    unavailable = unavailable_steps(spec)
    skipped = [json_path(parts[:2]) for parts, _, _ in unavailable]
    found = [i for i in found if not any(_inside(i.path, step) for step in skipped)]
    found += [SpecIssue(json_path(parts), message) for parts, message, _ in unavailable]
    notes = [
        note
        for note in [SpecIssue(json_path(p), NOTE_PREFIX + why) for p, why in spec_notes(spec, schemas=schemas)]
        + checked_notes
        if not any(_inside(note.path, step) for step in skipped)
    ]

    def users(items: list[SpecIssue]) -> list[SpecIssue]:
        located = (SpecIssue(model_fnames_path(i.path, spec=form.spec), i.message) for i in items)
        return sort_issues(SpecIssue(i.path, i.message, file) for i in map(form.original, located))

    comments = [SpecIssue(i.path, i.message, file) for i in form.notes]  # already in the user's paths
    return CheckedSpec(users(issues + found), sort_issues([*users(notes), *comments]), spec, form.step_origins())


def validate_spec(
    doc: Any, *, file: str = "", base_dir: Path | None = None, check_files: bool = True, strict: bool = False
) -> list[SpecIssue]:
    """Every problem of a parsed spec document, sorted by location (see :func:`check_spec`).

    Args:
        doc: the parsed document (comments may still be in it).
        file: the spec's file name, put in each issue.
        base_dir: the folder relative paths resolve against (default: the working folder).
        check_files: check that input files exist and are readable.
        strict: also report the keys accepted without effect here as issues.

    Returns:
        The issues; an empty list means the spec is valid.

    Example:
        >>> [i.message for i in validate_spec([], check_files=False)]
        ['expected an object with in_pcloud, out_pcloud and sequential_pipeline; got array []']
    """
    checked = check_spec(doc, file=file, base_dir=base_dir, check_files=check_files)
    return sort_issues(checked.issues + (_strict_issues(checked.notes) if strict else []))


def read_spec(path: str | Path, *, check_files: bool = True, strict: bool = False) -> ReadSpec:
    """Reads, validates and normalises a spec file; returns it with its no-effect notes and,
    when its steps were rewritten (VL3D's forms), where each comes from in the file.

    Args:
        path: a ``.json`` file, or YAML (any other suffix).
        check_files: check that input files exist and are readable; without, no input file or folder is
            read: glob patterns and folders of clouds are kept as entries, unlisted.
        strict: the no-effect notes are errors.

    Raises:
        SpecError: with every issue found (each naming ``path``) and the notes but those about a
            value an issue is about (such a value's note is moot).

    Example:
        >>> import json, tempfile
        >>> path = Path(tempfile.mkdtemp()) / "train.json"
        >>> _ = path.write_text(json.dumps({"train": "PointNetPwiseClassifier", "in_pcloud": "tree.laz",
        ...     "out_model": "out/pnet.model", "model_args": {"num_classes": 2, "compilation_args": {
        ...     "loss": {"function": "categorical_crossentropy"}}, "pre_processing": {
        ...     "nthreads": 8, "neighborhood": {"radius": 0.4}}}}))
        >>> spec, notes, origins = read_spec(path, check_files=False)
        >>> [step.get("writer", step.get("train")) for step in spec["sequential_pipeline"]], origins
        (['PointNetPwiseClassifier', 'PredictiveModelWriter'], ("spec's train", "spec's out_model"))
        >>> notes[0].path
        '$.model_args.pre_processing.nthreads'
    """
    doc = read_spec_file(path)
    base_dir = Path(os.path.abspath(path)).parent
    checked = check_spec(doc, file=str(path), base_dir=base_dir, check_files=check_files)
    issues = checked.issues + (_strict_issues(checked.notes) if strict else [])
    if issues or checked.pipeline is None:
        wrong = {issue.path for issue in issues}
        raise SpecError(issues, [note for note in checked.notes if note.path not in wrong])
    schemas = schema_files.active_schemas()
    normalised = normalise_paths(checked.pipeline, base_dir=base_dir, schemas=schemas, expand=check_files)
    spec = apply_defaults(normalised, schemas=schemas)
    spec["in_pcloud"] = run_inputs(spec)
    return ReadSpec(spec, checked.notes, checked.step_origins)


def load_spec(path: str | Path, *, check_files: bool = True, strict: bool = False) -> dict[str, Any]:
    """Reads, validates and normalises a spec file (the form is described in the module doc).

    Args:
        path: a ``.json`` file, or YAML (any other suffix).
        check_files: check that input files exist and are readable (see :func:`read_spec`).
        strict: keys accepted without effect here are errors (see :func:`read_spec`).

    Raises:
        SpecError: with every issue found (each naming ``path``).

    Example:
        >>> spec = load_spec(demo_spec_file, check_files=False)  # its paths are relative to its folder
        >>> spec["in_pcloud"]
        ['/.../out/demo/data/demo_test.las']
    """
    return read_spec(path, check_files=check_files, strict=strict)[0]
