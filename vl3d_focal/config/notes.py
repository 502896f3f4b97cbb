"""Keys accepted for VL3D compatibility that have no effect here, and the notes about them.

A VL3D spec carries keys that only tune VL3D's own internals (``nthreads``, ``fast``,
``support_chunk_size``...). They are accepted, so that the users' specs run as they are, and
each one present is reported once per run as "accepted, no effect here: <why>"
(``vl3d-focal validate --strict`` turns these notes into errors).

How a schema declares such a key: the annotation
:data:`~vl3d_focal.schema_annotations.NO_EFFECT_ANNOTATION` (``"x-vl3d-no-effect": "<why>"``,
:func:`~vl3d_focal.schema_annotations.no_effect`) on the schema that applies to the value, usually the
property's own schema; for a value-dependent note, on one branch of an ``anyOf`` (the first
branch the value matches is the one followed, see :func:`vl3d_focal.config.normalise.walk`)::

    "nthreads": {"type": "integer", "x-vl3d-no-effect": "threads are set by TensorFlow here"}
    "include_writer": {"type": "boolean", "anyOf": [
        {"const": false}, {"const": true, "x-vl3d-no-effect": "writers are never stored"}]}

Any step, model or loss schema may use it; nothing else is needed. A model whose builder
must not receive such keys lists them under
:data:`~vl3d_focal.schema_annotations.NO_EFFECT_PROPERTIES` in its schema instead of ``properties``.

Example:
    >>> schema = {"properties": {"nthreads": {"x-vl3d-no-effect": "TensorFlow sets the threads"}}}
    >>> collect_notes({"nthreads": 6}, schema)
    [(('nthreads',), 'TensorFlow sets the threads')]
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from vl3d_focal.config.normalise import pipeline_schema_inlined, walk
from vl3d_focal.errors import SpecIssue
from vl3d_focal.schema_annotations import NO_EFFECT_ANNOTATION
from vl3d_focal.wording import counted, shortened

NOTE_PREFIX = "accepted, no effect here: "

WARNING_PREFIX = "warning: "
"""A check's message starting with this is a warning: a value that is valid but likely a mistake,
reported with the notes (``--strict`` makes it an error), not refused."""

INFO_PREFIX = "note: "
"""A check's message starting with this tells what a valid value means here (e.g. an
``out_pcloud`` naming VL3D's final cloud): reported with the notes, not an error, even with ``--strict``."""

Note = tuple[tuple, str]


def collect_notes(value: Any, schema: Mapping[str, Any]) -> list[Note]:
    """``(json path parts, why)`` of every part of ``value`` whose applicable schema is annotated.

    Each path is reported once, in document order.

    Example:
        >>> collect_notes({"a": 1}, {"properties": {"b": {"x-vl3d-no-effect": "w"}}})
        []
    """
    found: dict[tuple, str] = {}

    def visit(item: Any, sub: Mapping[str, Any], path: tuple) -> Any:
        why = sub.get(NO_EFFECT_ANNOTATION)
        if isinstance(why, str):
            found.setdefault(path, why)
        return item

    walk(copy.deepcopy(value), schema, visit)
    return list(found.items())


def spec_notes(spec: Mapping[str, Any], *, schemas: Mapping[str, Mapping[str, Any]] | None = None) -> list[Note]:
    """The no-effect notes of a (comment-free, pipeline-form) spec, against the pipeline schema.

    Example:
        >>> spec_notes({"in_pcloud": "a.las", "out_pcloud": "o/", "sequential_pipeline": []})
        []
    """
    return collect_notes(dict(spec), pipeline_schema_inlined(schemas=schemas))


def notes_summary(messages: Sequence[str]) -> str:
    """What a valid spec's notes are, counted, for the line that says it is valid.

    Example:
        >>> notes_summary([WARNING_PREFIX + "w", NOTE_PREFIX + "a", NOTE_PREFIX + "b"]), notes_summary([])
        (' (1 warning, 2 keys accepted without effect)', '')
        >>> notes_summary([INFO_PREFIX + "i", INFO_PREFIX + "j", NOTE_PREFIX + "a"])
        ' (2 notes, 1 key accepted without effect)'
    """
    warned = sum(message.startswith(WARNING_PREFIX) for message in messages)
    told = sum(message.startswith(INFO_PREFIX) for message in messages)
    kinds = (
        (warned, "warning", ""),
        (told, "note", ""),
        (len(messages) - warned - told, "key", " accepted without effect"),
    )
    counts = [f"{counted(count, word)}{tail}" for count, word, tail in kinds if count]
    return f" ({', '.join(counts)})" if counts else ""


def run_note_lines(notes: Sequence[SpecIssue]) -> list[tuple[int, str]]:
    """The lines ``run`` logs for a spec's ``notes``, with their logging levels: a note on what a
    valid value means (:data:`INFO_PREFIX`) at INFO, once for the entries of a list it applies to
    alike (the same message but for its quoted values); a key without effect (:data:`NOTE_PREFIX`,
    which changes nothing) at INFO; a warning (:data:`WARNING_PREFIX`: a value that is likely a
    mistake) at WARNING.

    Example:
        >>> notes = [SpecIssue(f"$.out_pcloud[{i}]", f"{INFO_PREFIX}'t{i}.laz' is the run's final") for i in range(3)]
        >>> odd = [SpecIssue("$.fast", NOTE_PREFIX + "VL3D only"), SpecIssue("$.gamma", WARNING_PREFIX + "huge")]
        >>> for level, line in run_note_lines([*notes, *odd]):
        ...     print(logging.getLevelName(level), line)
        INFO $.out_pcloud[0]: note: 't0.laz' is the run's final (likewise $.out_pcloud[1], $.out_pcloud[2])
        INFO $.fast: accepted, no effect here: VL3D only
        WARNING $.gamma: warning: huge
    """
    told: dict[tuple[str, str, str], list[SpecIssue]] = {}
    groups: list[tuple[int, list[SpecIssue]]] = []
    for note in notes:
        if not note.message.startswith(INFO_PREFIX):
            groups.append((logging.WARNING if note.message.startswith(WARNING_PREFIX) else logging.INFO, [note]))
            continue
        alike = (note.file, re.sub(r"\[\d+\]", "[]", note.path), re.sub(r"(?<!\w)'[^']*'(?!\w)", "''", note.message))
        if alike not in told:
            told[alike] = []
            groups.append((logging.INFO, told[alike]))
        told[alike].append(note)
    return [(level, _told_once(group)) for level, group in groups]


def _told_once(notes: Sequence[SpecIssue]) -> str:
    """The first of a group of notes alike, and where the others are (the first 3)."""
    first, others = notes[0], [note.path for note in notes[1:]]
    if not others:
        return str(first)
    return f"{first} (likewise {shortened(others, 3)})"
