"""Readable spec issues: JSON paths, natural ordering, and messages for schema errors.

Every schema error becomes a :class:`~vl3d_focal.errors.SpecIssue` at a ``$.json.path``
whose message says what was expected and what was given; an unknown key or name comes with
the closest valid one ("did you mean ...?", :func:`~vl3d_focal.errors.did_you_mean`, kept
there for the checks of the layers below).

Example:
    >>> json_path(["sequential_pipeline", 2, "model_args"])
    '$.sequential_pipeline[2].model_args'
    >>> did_you_mean("gama", ["gamma", "reduction"])
    "; did you mean 'gamma'?"
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from jsonschema.exceptions import ValidationError

from vl3d_focal.errors import SpecIssue, did_you_mean

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def json_path(parts: Iterable[Any]) -> str:
    """A ``$.a[0].b`` path; keys that are not identifiers are quoted (``$['a b']``).

    Example:
        >>> json_path(["a b", 0])
        "$['a b'][0]"
    """
    out = "$"
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif _IDENTIFIER.match(str(part)):
            out += f".{part}"
        else:
            out += "[" + json.dumps(str(part), ensure_ascii=False).replace("'", "\\'").replace('"', "'") + "]"
    return out


def natural_key(issue: SpecIssue) -> tuple[Any, ...]:
    """Sort key of issues: file, then path with numbers compared as numbers, then message.

    Example:
        >>> issues = [SpecIssue("$.s[10]", "m"), SpecIssue("$.s[2]", "m")]
        >>> [i.path for i in sorted(issues, key=natural_key)]
        ['$.s[2]', '$.s[10]']
    """
    pieces = re.split(r"(\d+)", issue.path)
    path = tuple((1, int(p), "") if i % 2 else (0, 0, p) for i, p in enumerate(pieces))
    return (issue.file, path, issue.message)


def sort_issues(issues: Iterable[SpecIssue]) -> list[SpecIssue]:
    """Issues without duplicates, in natural order (``[2]`` before ``[10]``).

    Example:
        >>> len(sort_issues([SpecIssue("$", "x"), SpecIssue("$", "x")]))
        1
    """
    return sorted(set(issues), key=natural_key)


def describe(value: Any, *, limit: int = 60) -> str:
    """A short description of a value: its JSON type and (truncated) JSON text.

    Example:
        >>> describe("abc"), describe(None)
        ('string "abc"', 'null')
    """
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    kind = next((name for cls, name in _TYPE_NAMES.items() if type(value) is cls), None)
    if kind is None:
        kind = "integer" if isinstance(value, int) else "number" if isinstance(value, float) else type(value).__name__
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:
        text = repr(value)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{kind} {text}"


def _names(values: Iterable[Any]) -> str:
    return ", ".join(repr(v) for v in values)


def _additional(error: ValidationError) -> Iterator[tuple[list[Any], str]]:
    path = list(error.absolute_path)
    known = list(error.schema.get("properties", {}))
    for key in error.instance:
        if key in known:
            continue
        hint = did_you_mean(key, known)
        allowed = "" if hint else f"; allowed keys: {_names(known) or 'none'}"
        yield path + [key], f"unknown key {key!r}{hint}{allowed}"


def _required(error: ValidationError) -> str:
    missing = error.validator_value
    absent = [name for name in missing if name not in error.instance]
    name = absent[0] if absent else missing[0]
    hint = did_you_mean(name, [k for k in error.instance if k not in error.schema.get("properties", {})])
    hint = hint.replace("did you mean", "found") if hint else ""
    return f"missing required key {name!r}{hint}"


def _enum(error: ValidationError) -> str:
    noun = error.schema.get("title", "value")
    choices = error.validator_value if error.validator == "enum" else [error.validator_value]
    known = f"expected one of: {_names(choices)}" if choices else "none is registered"
    return f"unknown {noun} {error.instance!r}; {known}{did_you_mean(error.instance, choices)}"


def _branch_type_fits(branch: Any, instance: Any) -> bool:
    if not isinstance(branch, dict) or "type" not in branch:
        return True
    from jsonschema import Draft202012Validator

    types = branch["type"] if isinstance(branch["type"], list) else [branch["type"]]
    return any(Draft202012Validator.TYPE_CHECKER.is_type(instance, t) for t in types)


def _any_of(error: ValidationError) -> Iterator[tuple[list[Any], str]]:
    path = list(error.absolute_path)
    branches = error.validator_value
    if all(isinstance(b, dict) and set(b) == {"required"} for b in branches):
        keys = [b["required"][0] for b in branches]
        hint = next((did_you_mean(k, keys) for k in error.instance if did_you_mean(k, keys)), "")
        got = _names(error.instance) if isinstance(error.instance, dict) and error.instance else "no keys"
        yield path, f"a step needs one of the keys {_names(keys)}; got {got}{hint}"
        return
    fitting = [i for i, b in enumerate(branches) if _branch_type_fits(b, error.instance)]
    if len(fitting) == 1:
        sub = [e for e in error.context if e.schema_path and e.schema_path[0] == fitting[0]]
        if sub:
            for inner in sub:
                yield from schema_error_messages(inner)
            return
    expected = "; ".join(b.get("title", "") for b in branches if isinstance(b, dict) and b.get("title"))
    yield path, f"expected {expected or 'a valid value'}; got {describe(error.instance)}"


def _pattern(error: ValidationError) -> str:
    """What was expected (the schema's title, a noun phrase such as "a tuner", and its examples:
    the names a case-insensitive pattern takes), what was given, and the closest name."""
    examples = error.schema.get("examples", [])
    title = error.schema.get("title")
    if not examples:
        return f"expected {title or f'a match of the pattern {error.validator_value!r}'}; got {error.instance!r}"
    allowed = f"one of: {_names(examples)} (in any case)"
    what = f"{title}, {allowed}" if title else allowed
    return f"expected {what}; got {error.instance!r}{did_you_mean(error.instance, examples)}"


def _type(error: ValidationError) -> str:
    expected = error.validator_value
    expected = " or ".join(expected) if isinstance(expected, list) else expected
    return f"expected {expected}; got {describe(error.instance)}"


def schema_error_messages(error: ValidationError) -> Iterator[tuple[list[Any], str]]:
    """``(path parts, message)`` pairs for one jsonschema error (several for unknown keys).

    Example:
        >>> from jsonschema import Draft202012Validator
        >>> err = next(Draft202012Validator({"type": "integer"}).iter_errors("x"))
        >>> list(schema_error_messages(err))
        [([], 'expected integer; got string "x"')]
    """
    path = list(error.absolute_path)
    handlers = {"required": _required, "enum": _enum, "const": _enum, "pattern": _pattern, "type": _type}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        yield from _additional(error)
    elif error.validator in ("anyOf", "oneOf"):
        yield from _any_of(error)
    elif error.validator in handlers:
        yield path, handlers[error.validator](error)
    else:
        yield path, error.message


def schema_issues(errors: Iterable[ValidationError], *, file: str = "") -> list[SpecIssue]:
    """Spec issues of jsonschema errors, sorted naturally.

    Example:
        >>> from jsonschema import Draft202012Validator
        >>> v = Draft202012Validator({"properties": {"gamma": {"minimum": 0}}})
        >>> [str(i) for i in schema_issues(v.iter_errors({"gamma": -1}))]
        ['$.gamma: -1 is less than the minimum of 0']
    """
    issues = []
    for error in errors:
        for parts, message in schema_error_messages(error):
            issues.append(SpecIssue(json_path(parts), message, file))
    return sort_issues(issues)
