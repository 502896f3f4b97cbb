"""Schema-driven rewriting of a valid spec: defaults filled in, paths resolved, lists made.

Both rewrites walk the spec together with its schema (``$ref`` inlined through the
``referencing`` registry; ``if``/``then``, ``allOf`` and the first matching ``anyOf``/``oneOf``
branch followed), so the schema stays the one description of what the runner accepts:

- :func:`apply_defaults`: every property absent from the spec whose schema has a
  ``default`` gets (a copy of) it, recursively, so the runner never hard-codes a default.
- :func:`normalise_paths`: ``"x-vl3d-as-list"`` properties given as one string become a
  one-element list; ``"x-vl3d-expand"`` lists of input clouds have their glob patterns and
  folders expanded to sorted files (:mod:`vl3d_focal.config.inputs`); ``"x-vl3d-path": "input"`` and output paths not starting with ``*`` are
  resolved against the spec's folder (absolute, ``~`` expanded); ``"prefix"`` paths
  (``out_pcloud``) are resolved too, keep a trailing separator and lose a trailing ``*``
  (VL3D writes ``"out/run/*"``); an entry naming a cloud file names the cloud's final cloud
  (:func:`~vl3d_focal.config.prefixes.split_final_clouds`). Output paths starting with ``*`` are left for the runner
  (:mod:`vl3d_focal.config.prefixes`) to expand against the prefixes.

Example:
    >>> spec = {"in_pcloud": "a.las", "out_pcloud": "out/*", "sequential_pipeline": [
    ...     {"writer": "PredictiveModelWriter"}]}
    >>> apply_defaults(spec)["sequential_pipeline"][0]["out_model"]
    '*model/model.keras'
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from vl3d_focal.config import schemas as schema_files
from vl3d_focal.config.inputs import absolute_path, cloud_entries
from vl3d_focal.config.prefixes import PREFIX_MARK, split_final_clouds
from vl3d_focal.schema_annotations import EXPAND_ANNOTATION, LIST_ANNOTATION, PATH_ANNOTATION, SUFFIX_ANNOTATION

_DROPPED = ("$ref", "$id", "$schema", "$defs")
_DATA = ("default", "const", "enum", "examples")
_NAME_MAPS = ("properties", "patternProperties", "dependentSchemas")


def inline_refs(schema: Mapping[str, Any], *, schemas: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``schema`` with every ``$ref`` replaced by ``allOf: [target]`` (schemas are not recursive).

    Args:
        schema: a schema with an ``$id`` among ``schemas``.
        schemas: the schema set (``{file: schema}``) refs resolve in.

    Example:
        >>> s = inline_refs(schema_files.generate_schemas()["pipeline.schema.json"],
        ...                 schemas=schema_files.generate_schemas())
        >>> "$ref" in str(s)
        False
    """
    registry = schema_files.schema_registry(schemas=schemas)

    def inline(node: Any, resolver: Any, depth: int) -> Any:
        if depth > 64:
            raise RecursionError("recursive schema: cannot inline")
        if isinstance(node, list):
            return [inline(item, resolver, depth + 1) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key in _DATA:
                out[key] = value
            elif key in _NAME_MAPS and isinstance(value, dict):
                out[key] = {name: inline(sub, resolver, depth + 1) for name, sub in value.items()}
            elif key not in _DROPPED:
                out[key] = inline(value, resolver, depth + 1)
        if "$ref" in node:
            resolved = resolver.lookup(node["$ref"])
            target = inline(resolved.contents, resolved.resolver, depth + 1)
            out["allOf"] = [target, *out.get("allOf", [])]
        return out

    root = registry.resolver(base_uri=schema["$id"])
    return inline(dict(schema), root, 0)


@lru_cache(maxsize=8)
def _inlined_pipeline(key: str) -> dict[str, Any]:
    import json

    schemas = json.loads(key)
    return inline_refs(schemas[schema_files.PIPELINE], schemas=schemas)


def pipeline_schema_inlined(*, schemas: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The active pipeline schema with every ``$ref`` inlined (cached per schema set).

    Example:
        >>> "properties" in pipeline_schema_inlined()
        True
    """
    import json

    schemas = schema_files.active_schemas() if schemas is None else schemas
    return _inlined_pipeline(json.dumps(schemas, sort_keys=True))


def _is_valid(instance: Any, schema: Any) -> bool:
    return Draft202012Validator(schema).is_valid(instance)


Visit = Callable[[Any, Mapping[str, Any], tuple], Any]


def walk(value: Any, schema: Any, visit: Visit, *, path: tuple = ()) -> Any:
    """Rewrites ``value`` with ``visit(value, subschema, path)`` at every schema that applies.

    ``visit`` returns the (possibly new) value; it runs before the walk descends, so what
    it adds (a default object) is walked too. ``path`` holds the keys and indices from the
    root. An invalid part of the document is walked as far as its types allow.

    Example:
        >>> walk({"a": 1}, {"properties": {"a": {"type": "integer"}}},
        ...      lambda v, s, p: v + 1 if s.get("type") == "integer" else v)
        {'a': 2}
    """
    if not isinstance(schema, Mapping):
        return value
    value = visit(value, schema, path)
    for sub in schema.get("allOf", []):
        value = walk(value, sub, visit, path=path)
    if "if" in schema:
        branch = "then" if _is_valid(value, schema["if"]) else "else"
        if branch in schema:
            value = walk(value, schema[branch], visit, path=path)
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key, []):
            if _is_valid(value, sub):
                value = walk(value, sub, visit, path=path)
                break
    if isinstance(value, dict):
        declared = schema.get("properties", {})
        for name, sub in declared.items():
            if name in value:
                value[name] = walk(value[name], sub, visit, path=path + (name,))
        others = schema.get("additionalProperties")
        if isinstance(others, Mapping):
            for name in [name for name in value if name not in declared]:
                value[name] = walk(value[name], others, visit, path=path + (name,))
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        value = [walk(item, schema["items"], visit, path=path + (i,)) for i, item in enumerate(value)]
    return value


def annotated_paths(
    spec: Mapping[str, Any], *, schemas: Mapping[str, Mapping[str, Any]] | None = None
) -> list[tuple[tuple, str, str, tuple[str, ...]]]:
    """``(json path parts, x-vl3d-path kind, value, suffixes)`` of every path string in ``spec``.

    Example:
        >>> annotated_paths({"in_pcloud": ["a.las"]})
        [(('in_pcloud', 0), 'input', 'a.las', ('.las', '.laz'))]
    """
    found: list[tuple[tuple, str, str, tuple[str, ...]]] = []

    def visit(value: Any, schema: Mapping[str, Any], path: tuple) -> Any:
        if isinstance(value, str) and PATH_ANNOTATION in schema:
            found.append((path, schema[PATH_ANNOTATION], value, tuple(schema.get(SUFFIX_ANNOTATION, ()))))
        return value

    walk(copy.deepcopy(dict(spec)), pipeline_schema_inlined(schemas=schemas), visit)
    return found


def fill_defaults(value: Any, schema: Mapping[str, Any], path: tuple) -> Any:
    """A :func:`walk` visitor: the properties ``value`` lacks whose schema has a ``default`` get it.

    Example:
        >>> walk({}, {"properties": {"a": {"default": 1}}}, fill_defaults)
        {'a': 1}
    """
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name not in value and isinstance(sub, Mapping) and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
    return value


def apply_defaults(
    spec: Mapping[str, Any], *, schemas: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """A copy of a valid ``spec`` with every schema ``default`` filled in where a key is absent.

    Args:
        spec: a spec that passed validation (comments dropped).
        schemas: the schema set; default :func:`vl3d_focal.config.schemas.active_schemas`.

    Example:
        >>> spec = {"in_pcloud": ["a.las"], "out_pcloud": ["o/"], "sequential_pipeline": [
        ...     {"class_mapping": "LASClassMapping", "classes": [{"name": "g", "codes": [2]}]}]}
        >>> apply_defaults(spec)["sequential_pipeline"][0]["unmapped"]
        'error'
    """
    return walk(copy.deepcopy(dict(spec)), pipeline_schema_inlined(schemas=schemas), fill_defaults)


def resolve_prefix(prefix: str, *, base_dir: Path) -> str:
    """An ``out_pcloud`` prefix made absolute; a trailing ``*`` dropped, a trailing ``/`` kept.

    Example:
        >>> resolve_prefix("out/demo/*", base_dir=Path("/data/specs"))
        '/data/specs/out/demo/'
    """
    text = prefix[: -len(PREFIX_MARK)] if prefix.endswith(PREFIX_MARK) else prefix
    folder = text.endswith(("/", os.sep)) or text == ""
    resolved = absolute_path(text or ".", base_dir=base_dir)
    return resolved.rstrip("/" + os.sep) + os.sep if folder else resolved


def normalise_paths(
    spec: Mapping[str, Any],
    *,
    base_dir: Path,
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
    expand: bool = True,
) -> dict[str, Any]:
    """A copy of a valid ``spec`` with lists made and paths resolved (see the module doc); without
    ``expand``, the file system is not read: glob patterns and folders of input clouds are kept,
    resolved, each one entry (``vl3d-focal validate --no-check-files``).

    Example:
        >>> spec = {"in_pcloud": "a.las", "out_pcloud": "o/*", "sequential_pipeline": [
        ...     {"predict": "ModelLoader", "model_path": "m.keras"}]}
        >>> out = normalise_paths(spec, base_dir=Path("/s"))
        >>> out["in_pcloud"], out["out_pcloud"], out["sequential_pipeline"][0]["model_path"]
        (['/s/a.las'], ['/s/o/'], '/s/m.keras')
    """

    def visit(value: Any, schema: Mapping[str, Any], path: tuple) -> Any:
        if schema.get(LIST_ANNOTATION) and isinstance(value, str):
            value = [value]
        if schema.get(EXPAND_ANNOTATION) and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(_entries(value, base_dir=base_dir, expand=expand))
        kind = schema.get(PATH_ANNOTATION)
        if not isinstance(value, str) or kind is None:
            return value
        if kind == "prefix":
            return resolve_prefix(value, base_dir=base_dir)
        if kind.endswith("output") and value.startswith(PREFIX_MARK):
            return value
        return absolute_path(value, base_dir=base_dir)

    return split_final_clouds(walk(copy.deepcopy(dict(spec)), pipeline_schema_inlined(schemas=schemas), visit))


def _entries(paths: list[str], *, base_dir: Path, expand: bool) -> dict[str, int]:
    """Each input cloud of ``paths`` with the index of its entry (:func:`cloud_entries`); without
    ``expand``, each entry resolved, unread (a pattern or folder stands for its clouds)."""
    if expand:
        return cloud_entries(paths, base_dir=base_dir)
    resolved: dict[str, int] = {}
    for index, path in enumerate(paths):
        resolved.setdefault(absolute_path(path, base_dir=base_dir), index)
    return resolved


def user_paths(
    found: list[tuple],
    *,
    spec: Mapping[str, Any],
    base_dir: Path,
    schemas: Mapping[str, Mapping[str, Any]] | None = None,
    expand: bool = True,
) -> list[tuple]:
    """The JSON path parts, in ``spec`` as written, of paths ``found`` in :func:`normalise_paths`'
    output (of the same ``expand``): an index into an expanded list of input clouds becomes the
    index of the entry the cloud comes from; an index into a list made of one string is dropped.

    Example:
        >>> spec = {"in_pcloud": ["x/*.laz", "a.las"], "out_pcloud": "o/", "sequential_pipeline": []}
        >>> user_paths([("in_pcloud", 1), ("out_pcloud", 0)], spec=spec, base_dir=Path("/no/such"))
        [('in_pcloud', 1), ('out_pcloud',)]
        >>> user_paths([("in_pcloud", 0)], spec={**spec, "in_pcloud": "a.las"}, base_dir=Path("/s"))
        [('in_pcloud',)]
    """
    lists: dict[tuple, list[int] | None] = {}

    def visit(value: Any, schema: Mapping[str, Any], path: tuple) -> Any:
        if schema.get(LIST_ANNOTATION) and isinstance(value, str):
            lists[path] = None
        elif schema.get(EXPAND_ANNOTATION) and isinstance(value, list) and all(isinstance(v, str) for v in value):
            lists[path] = list(_entries(value, base_dir=base_dir, expand=expand).values())
        return value

    walk(copy.deepcopy(dict(spec)), pipeline_schema_inlined(schemas=schemas), visit)

    def located(parts: tuple) -> tuple:
        for path, entries in lists.items():
            at = len(path)
            if parts[:at] != path or len(parts) <= at or not isinstance(parts[at], int):
                continue
            if entries is None:
                return path + parts[at + 1 :]
            if parts[at] < len(entries):
                return (*path, entries[parts[at]], *parts[at + 1 :])
        return parts

    return [located(parts) for parts in found]
