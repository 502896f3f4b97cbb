"""The JSON Schema files of the spec language, generated from the registries and shipped.

One source of truth: :func:`generate_schemas` builds every file from the registries (``STEPS``
entries' step schemas, ``LOSSES`` entries' ``schema``, ``MODELS`` entries' architecture
arguments joined with :mod:`vl3d_focal.config.model_args_schema`, the class-weight strategies
of :mod:`vl3d_focal.losses`). Nothing here names a step kind, a loss or a model. ``config_schemas/`` holds the written result, shipped in the wheel
as the package ``vl3d_focal.config_schemas``; a test asserts the files equal
``generate_schemas()``. Regenerate them with::

    vl3d-focal schema --write config_schemas

Files: ``pipeline.schema.json`` (the whole spec; step kinds, model arguments and the loss
object chosen with ``if``/``then``), ``class_weight.schema.json`` and
``losses/<name>.schema.json`` (one per registered loss). Every file has ``$id`` under
:data:`SCHEMA_BASE` (never fetched: ``$ref`` resolves offline through a
``referencing.Registry`` built from the shipped files, plus the generated files of plugin
components that are not shipped).

Example:
    >>> schemas = generate_schemas()
    >>> schemas["pipeline.schema.json"]["$id"]
    'https://vl3d-focal.invalid/schemas/pipeline.schema.json'
"""

from __future__ import annotations

import copy
import importlib.resources
import importlib.resources.abc
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import referencing
from jsonschema import Draft202012Validator
from referencing.jsonschema import DRAFT202012

from vl3d_focal.config import model_args_schema
from vl3d_focal.config.schema_parts import executor_engine_rule, top_level_properties, with_step_out_pcloud
from vl3d_focal.config.vl3d_internals import add_internal_keys
from vl3d_focal.errors import RegistryError
from vl3d_focal.registry import LOSSES, MODELS, STEPS, RegistryEntry
from vl3d_focal.schema_annotations import NO_EFFECT_PROPERTIES

logger = logging.getLogger(__name__)

SCHEMA_BASE = "https://vl3d-focal.invalid/schemas/"
"""Base URI of the ``$id`` of every file (a reserved domain: resolution is offline)."""
DIALECT = "https://json-schema.org/draft/2020-12/schema"
PIPELINE = "pipeline.schema.json"
CLASS_WEIGHT = "class_weight.schema.json"
PACKAGE = "vl3d_focal.config_schemas"


def _relative_to_losses(node: Any) -> Any:
    """Loss entries refer to top-level files ("class_weight.schema.json"): make that "../…"."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and not value.startswith(("#", "../")) and "://" not in value:
                out[key] = "../" + value
            else:
                out[key] = _relative_to_losses(value)
        return out
    if isinstance(node, list):
        return [_relative_to_losses(item) for item in node]
    return node


def loss_file(name: str) -> str:
    """The file name of a loss's schema.

    Example:
        >>> loss_file("my_loss")
        'losses/my_loss.schema.json'
    """
    return f"losses/{name}.schema.json"


def _loss_schemas() -> dict[str, dict[str, Any]]:
    files = {}
    for entry in LOSSES.entries():
        schema = _relative_to_losses(copy.deepcopy(dict(entry.schema)))
        schema.pop("$schema", None)
        head = {"$schema": DIALECT, "$id": SCHEMA_BASE + loss_file(entry.name)}
        head["title"] = schema.pop("title", f"loss {entry.name}")
        head["description"] = schema.pop("description", entry.description)
        files[loss_file(entry.name)] = {**head, **schema}
    return files


def _with_all_of(schema: dict[str, Any], all_of: list[dict[str, Any]]) -> dict[str, Any]:
    if all_of:  # an empty allOf is not a valid schema
        schema["allOf"] = all_of
    return schema


def _dispatch(key: str, names: list[str], refs: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"if": {"required": [key], "properties": {key: {"const": name}}}, "then": {"$ref": refs[name]}}
        for name in names
    ]


def _loss_object() -> dict[str, Any]:
    names = LOSSES.names()
    schema = {
        "type": "object",
        "description": "The loss: {'function': <registered loss>, ...that loss's arguments}.",
        "required": ["function"],
        "properties": {
            "function": {
                "enum": names,
                "title": "loss function",
                "description": "Registered loss name (vl3d-focal list losses).",
            }
        },
    }
    return _with_all_of(schema, _dispatch("function", names, {n: loss_file(n) for n in names}))


def _model_args(entry: RegistryEntry) -> dict[str, Any]:
    """The model's ``model_args``: the common ones (no ``compilation_args`` for a model whose
    metadata says ``takes_loss: false``, no ``pre_processing`` for one that learns from points)
    and the model's own."""
    loss = {"$ref": "#/$defs/loss", "description": "The loss: {'function': <registered loss>, ...its arguments}."}
    common = model_args_schema.model_args_common(loss=loss, class_weight_ref=CLASS_WEIGHT)
    if not entry.metadata.get("takes_loss", True):
        del common["compilation_args"]
    if entry.learns_from_points:
        del common["pre_processing"]
    add_internal_keys(common)  # a model that declares its own member of model_args keeps it as declared
    entry_schema = entry.schema
    properties = {**common, **copy.deepcopy(dict(entry_schema.get("properties", {})))}
    for key, schema in entry_schema.get(NO_EFFECT_PROPERTIES, {}).items():
        properties.setdefault(key, copy.deepcopy(schema))
    required = [name for name in ("num_classes", "pre_processing", "compilation_args") if name in properties]
    if entry.metadata.get("classes_from_data", False):  # VL3D's forest takes its classes from the data
        required.remove("num_classes")
    required += [name for name in entry_schema.get("required", []) if name not in required]
    conditional = {"allOf": copy.deepcopy(entry_schema["allOf"])} if "allOf" in entry_schema else {}
    return {
        "type": "object",
        "description": "Arguments of the model: classes, receptive fields, architecture, training, compilation.",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
        **conditional,  # a model's value-dependent notes (if/then on its own arguments)
    }


def _model_defs(defs: dict[str, Any]) -> None:
    """``model_name`` (the registered models), ``model_args.<model>`` and the dispatch
    ``model_args_by_model`` that a step naming a model under ``MODELS.key`` applies."""
    names = MODELS.names()
    defs["model_name"] = {"enum": names, "title": "model", "description": "Registered model (vl3d-focal list models)."}
    for entry in MODELS.entries():
        defs[f"model_args.{entry.name}"] = _model_args(entry)
    defs["model_args_by_model"] = {
        "allOf": [
            {
                "if": {"required": [MODELS.key], "properties": {MODELS.key: {"const": name}}},
                "then": {"properties": {"model_args": {"$ref": f"#/$defs/model_args.{name}"}}},
            }
            for name in names
        ]
    }


def steps_by_kind() -> dict[str, list[RegistryEntry]]:
    """The registered steps grouped by kind key, kinds in registration order.

    Example:
        >>> list(steps_by_kind())[:3]
        ['class_mapping', 'class_transformer', 'train']
    """
    kinds: dict[str, list[RegistryEntry]] = {}
    for entry in STEPS.entries_in_order():
        kinds.setdefault(str(entry.metadata["kind"]), []).append(entry)
    return kinds


def find_step(step: Mapping[str, Any]) -> tuple[str, RegistryEntry] | None:
    """The kind key and registry entry of one step of a spec; None if it has no single known kind
    or an unknown value (validation reports those).

    Example:
        >>> find_step({"eval": "ClassificationEvaluator"})[1].name
        'ClassificationEvaluator'
    """
    kinds = [kind for kind in steps_by_kind() if kind in step]
    if len(kinds) != 1:
        return None
    kind = kinds[0]
    for entry in steps_by_kind()[kind]:
        if entry.name in (kind, step[kind]):
            return kind, entry
    return None


def _step_defs(defs: dict[str, Any]) -> list[str]:
    """``<kind>_step`` for every step kind (dispatching on the kind key's value) and ``step``."""
    kinds = steps_by_kind()
    for kind, entries in kinds.items():
        generic = [entry for entry in entries if entry.name == kind]
        if generic:
            defs[f"{kind}_step"] = with_step_out_pcloud(copy.deepcopy(dict(generic[0].schema)), kind=kind)
            continue
        for entry in entries:
            defs[f"{kind}.{entry.name}"] = with_step_out_pcloud(copy.deepcopy(dict(entry.schema)), kind=kind)
        names = [entry.name for entry in entries]
        descriptions = {entry.description for entry in entries}
        article = "An" if kind[:1].lower() in "aeiou" else "A"
        schema = {
            "type": "object",
            "description": descriptions.pop() if len(descriptions) == 1 else f"{article} {kind} step.",
            "required": [kind],
            "properties": {kind: {"enum": names, "title": f"{kind} kind", "description": f"Kind of {kind} step."}},
        }
        defs[f"{kind}_step"] = _with_all_of(schema, _dispatch(kind, names, {n: f"#/$defs/{kind}.{n}" for n in names}))
    defs["step"] = {
        "type": "object",
        "description": "One step, told apart by its kind key: " + ", ".join(kinds) + ".",
        "anyOf": [{"required": [kind]} for kind in kinds],
        "allOf": [{"if": {"required": [kind]}, "then": {"$ref": f"#/$defs/{kind}_step"}} for kind in kinds],
    }
    return list(kinds)


def pipeline_schema() -> dict[str, Any]:
    """The schema of a whole spec file.

    Example:
        >>> pipeline_schema()["required"]  # and in_pcloud or in_pcloud_concat (config.checks)
        ['out_pcloud', 'sequential_pipeline']
    """
    defs: dict[str, Any] = {"loss": _loss_object()}
    _model_defs(defs)
    _step_defs(defs)
    properties = top_level_properties()
    properties["sequential_pipeline"] = {
        "type": "array",
        "minItems": 1,
        "items": {"$ref": "#/$defs/step"},
        "description": "The steps, run in order.",
    }
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_BASE + PIPELINE,
        "title": "vl3d_focal pipeline spec",
        "description": "A VL3D-style pipeline: input clouds, output prefixes and the steps to run. "
        "Keys starting with '_' are comments.",
        "type": "object",
        "additionalProperties": False,
        "required": ["out_pcloud", "sequential_pipeline"],
        "properties": properties,
        "allOf": [executor_engine_rule()],
        "$defs": defs,
    }


def generate_schemas() -> dict[str, dict[str, Any]]:
    """Every schema file, built from the step schemas and the registries.

    Returns:
        ``{relative file name: schema}``, e.g. ``"losses/<name>.schema.json"``.

    Example:
        >>> "class_weight.schema.json" in generate_schemas()
        True
    """
    class_weight = {"$schema": DIALECT, "$id": SCHEMA_BASE + CLASS_WEIGHT, **model_args_schema.class_weight_schema()}
    files = {PIPELINE: pipeline_schema(), CLASS_WEIGHT: class_weight}
    files.update(_loss_schemas())
    return files


def schema_root() -> importlib.resources.abc.Traversable:
    """Where the shipped schema files are.

    The installed package ``vl3d_focal.config_schemas``; or, when ``vl3d_focal`` is imported
    from a source checkout (e.g. ``python -m vl3d_focal`` run in the repository root, which
    puts the checkout first on ``sys.path``), the checkout's top-level ``config_schemas/``.

    Example:
        >>> schema_root().joinpath("pipeline.schema.json").is_file()
        True
    """
    try:
        return importlib.resources.files(PACKAGE)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "config_schemas"


def shipped_schema_names() -> list[str]:
    """The schema files shipped in the package (``*.schema.json`` and ``losses/*``).

    Example:
        >>> "pipeline.schema.json" in shipped_schema_names()
        True
    """
    root = schema_root()
    names = [item.name for item in root.iterdir() if item.name.endswith(".schema.json")]
    losses = root.joinpath("losses")
    if losses.is_dir():
        names += [f"losses/{item.name}" for item in losses.iterdir() if item.name.endswith(".schema.json")]
    return sorted(names)


def load_schema(name: str) -> dict[str, Any]:
    """A shipped schema file, read with importlib.resources.

    Args:
        name: the file name relative to ``config_schemas/``, e.g. ``"pipeline.schema.json"``.

    Raises:
        RegistryError: no such shipped file (the message lists them).

    Example:
        >>> load_schema("class_weight.schema.json")["title"]
        'class weights'
    """
    resource = schema_root().joinpath(*name.split("/"))
    if not resource.is_file():
        raise RegistryError(f"no shipped schema {name!r}; shipped: {', '.join(shipped_schema_names())}")
    return json.loads(resource.read_text(encoding="utf-8"))


def active_schemas() -> dict[str, dict[str, Any]]:
    """The schemas validation uses: the shipped files, and generated ones where they differ.

    They differ only where a plugin registered a loss or model after the files were written.

    Example:
        >>> active_schemas()["pipeline.schema.json"]["title"]
        'vl3d_focal pipeline spec'
    """
    schemas = {name: load_schema(name) for name in shipped_schema_names()}
    for name, schema in generate_schemas().items():
        if schemas.get(name) != schema:
            logger.debug("schema %s differs from the shipped file (plugin?): using the generated one", name)
            schemas[name] = schema
    return schemas


def schema_registry(*, schemas: Mapping[str, Mapping[str, Any]]) -> referencing.Registry:
    """A ``referencing.Registry`` of ``schemas`` under their ``$id`` (offline resolution).

    Example:
        >>> reg = schema_registry(schemas=generate_schemas())
        >>> reg.contents(SCHEMA_BASE + "class_weight.schema.json")["title"]
        'class weights'
    """
    resources = [
        (schema["$id"], referencing.Resource.from_contents(dict(schema), default_specification=DRAFT202012))
        for schema in schemas.values()
    ]
    return referencing.Registry().with_resources(resources)


def pipeline_validator(*, schemas: Mapping[str, Mapping[str, Any]] | None = None) -> Draft202012Validator:
    """A validator of whole specs whose ``$ref`` resolve in :func:`schema_registry`.

    Example:
        >>> pipeline_validator().is_valid({"in_pcloud": "a.las"})
        False
    """
    schemas = active_schemas() if schemas is None else schemas
    return Draft202012Validator(schemas[PIPELINE], registry=schema_registry(schemas=schemas))
