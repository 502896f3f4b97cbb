"""Parsing spec files (JSON or YAML) into plain JSON documents, comments dropped.

``.json`` files are JSON; any other suffix is read as YAML (``yaml.safe_load`` rules; YAML is
a superset of JSON). Syntax errors give line and column. Duplicate keys, non-string keys,
non-finite numbers and YAML values JSON has no type for (dates...) are errors. Keys starting
with ``_`` are comments, dropped at every level (:func:`drop_comments`).

Example:
    >>> drop_comments(parse_spec_text('{"_c": 1, "a": 2}'))
    ({'a': 2}, [])
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml

from vl3d_focal.config.messages import describe, json_path
from vl3d_focal.errors import SpecError, SpecIssue

COMMENT_PREFIX = "_"
MAX_DEPTH = 100
JSON_SUFFIXES = (".json",)


class _Object(dict):
    """A parsed mapping that remembers the duplicate and non-string keys it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []


def _json_object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    for key, value in pairs:
        if key in obj:
            obj.problems.append(f"duplicate key {key!r} (the last one would win)")
        obj[key] = value
    return obj


MAX_EXPANDED_NODES = 100_000
"""A spec whose YAML aliases expand to more nodes than this is refused ("billion laughs")."""


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Number of nodes ``node`` stands for once every alias is expanded (memoised per node)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # a node reached again while being counted: a cycle, counted once
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    total = 1 + sum(_expanded_size(child, sizes) for child in children)
    sizes[id(node)] = min(total, MAX_EXPANDED_NODES + 1)
    return sizes[id(node)]


class _SpecLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` whose mappings record duplicate and non-string keys.

    Aliases are shared, not copied, by the loader, but everything after it walks the
    document as a tree: a document whose aliases expand beyond ``MAX_EXPANDED_NODES``
    is refused before it is built.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        if _expanded_size(node, {}) > MAX_EXPANDED_NODES:
            raise yaml.YAMLError(
                f"the document's aliases expand to more than {MAX_EXPANDED_NODES} values; "
                "write the repeated parts out or use fewer aliases"
            )
        return super().construct_document(node)


def _yaml_mapping(loader: _SpecLoader, node: yaml.MappingNode) -> _Object:
    loader.flatten_mapping(node)
    obj = _Object()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = f"line {key_node.start_mark.line + 1}, column {key_node.start_mark.column + 1}"
        if not isinstance(key, str):
            kind = describe(key) if isinstance(key, Hashable) else "array" if isinstance(key, list) else "object"
            obj.problems.append(f"keys must be strings; got {kind} at {line}")
            continue
        if key in obj:
            obj.problems.append(f"duplicate key {key!r} at {line} (the last one would win)")
        obj[key] = loader.construct_object(value_node, deep=True)
    return obj


_SpecLoader.add_constructor("tag:yaml.org,2002:map", _yaml_mapping)


def parse_spec_text(text: str, *, file: str = "", yaml_syntax: bool = False) -> Any:
    """Parses spec text as JSON, or YAML when ``yaml_syntax`` (safe loader only).

    Raises:
        SpecError: a syntax error, with its line and column.

    Example:
        >>> parse_spec_text('{"a": 1}')
        {'a': 1}
        >>> parse_spec_text("a: [1, 2", yaml_syntax=True)
        Traceback (most recent call last):
        ...
        vl3d_focal.errors.SpecError: $: YAML syntax error at line 1, column 9: expected ',' or ']', but got '<stream end>'
    """
    try:
        if not yaml_syntax:
            return json.loads(text, object_pairs_hook=_json_object)
        return yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
    except json.JSONDecodeError as exc:
        message = f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        message = f"YAML syntax error{where}: {exc.problem or exc.context}"
    except yaml.YAMLError as exc:
        message = f"YAML error: {exc}"
    except RecursionError:
        message = "the document is nested too deeply"
    raise SpecError([SpecIssue("$", message, file)])


def read_spec_file(path: str | Path) -> Any:
    """The parsed (not yet validated) document of a spec file.

    Raises:
        SpecError: the file cannot be read or parsed.

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "s.yaml")
        >>> _ = open(f, "w").write("a: 1  # YAML comment")
        >>> read_spec_file(f)
        {'a': 1}
    """
    file = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise SpecError([SpecIssue("$", "spec file not found", file)]) from None
    except IsADirectoryError:
        raise SpecError([SpecIssue("$", "expected a spec file; got a folder", file)]) from None
    except UnicodeDecodeError as exc:
        raise SpecError([SpecIssue("$", f"not UTF-8 text (byte {exc.start}): {exc.reason}", file)]) from None
    except OSError as exc:
        raise SpecError([SpecIssue("$", f"cannot read the spec file: {exc.strerror or exc}", file)]) from None
    return parse_spec_text(text, file=file, yaml_syntax=Path(path).suffix.lower() not in JSON_SUFFIXES)


def drop_comments(doc: Any) -> tuple[Any, list[SpecIssue]]:
    """A plain-JSON copy of ``doc`` without ``_`` keys, and the problems found on the way.

    Problems: duplicate or non-string keys (recorded by the parsers), non-finite numbers,
    values JSON has no type for, nesting deeper than 100 levels.

    Example:
        >>> drop_comments({"_note": "x", "a": [{"_b": 1, "c": 2}]})
        ({'a': [{'c': 2}]}, [])
    """
    issues: list[SpecIssue] = []

    def clean(value: Any, path: tuple, depth: int) -> Any:
        if depth > MAX_DEPTH:
            issues.append(SpecIssue(json_path(path), f"nested deeper than {MAX_DEPTH} levels"))
            return None
        if isinstance(value, Mapping):
            issues.extend(SpecIssue(json_path(path), p) for p in getattr(value, "problems", []))
            out = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    issues.append(SpecIssue(json_path(path), f"keys must be strings; got {describe(key)}"))
                elif not key.startswith(COMMENT_PREFIX):
                    out[key] = clean(item, path + (key,), depth + 1)
            return out
        if isinstance(value, (list, tuple)):
            return [clean(item, path + (i,), depth + 1) for i, item in enumerate(value)]
        if isinstance(value, float) and not math.isfinite(value):
            issues.append(SpecIssue(json_path(path), f"expected a finite number; got {value}"))
            return value
        if value is None or isinstance(value, (str, bool, int, float)):
            return value
        issues.append(
            SpecIssue(
                json_path(path),
                f"unsupported value of type {type(value).__name__} ({value!s:.40}); write it as a string or number",
            )
        )
        return str(value)

    return clean(doc, (), 0), issues
