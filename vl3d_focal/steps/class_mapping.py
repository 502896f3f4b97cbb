"""The ``class_mapping`` step (``LASClassMapping``): LAS classification codes to named classes.

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> STEPS.get("LASClassMapping").metadata["gives"]
    ('mapping',)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from vl3d_focal.config.checks import Issue, as_dict, as_list
from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.registry import STEPS
from vl3d_focal.steps.definition import step_entry

if TYPE_CHECKING:
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)


def class_mapping_step_schema() -> dict[str, Any]:
    """The class mapping step: LAS classification codes to named classes.

    Example:
        >>> sorted(class_mapping_step_schema()["properties"])
        ['class_mapping', 'classes', 'ignore_codes', 'unmapped']
    """
    code = {"type": "integer", "minimum": 0, "maximum": 255}
    a_class = closed_object(
        {
            "name": {"type": "string", "minLength": 1, "description": "Class name."},
            "codes": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": code,
                "description": "LAS classification codes mapped to this class.",
            },
            "color": {
                "type": "string",
                "pattern": "^#[0-9a-fA-F]{6}$",
                "title": "a colour '#rrggbb'",
                "description": "Colour of the class in plots, '#rrggbb' (default: a palette colour).",
            },
            "las_code": {
                **code,
                "description": "LAS code written for points predicted as this class (default: the first of codes).",
            },
        },
        required=["name", "codes"],
        description="One class: its name, its LAS codes, optionally its colour and output code.",
    )
    return closed_object(
        {
            "class_mapping": {
                "enum": ["LASClassMapping"],
                "title": "class mapping",
                "description": "Kind of class mapping.",
            },
            "classes": {
                "type": "array",
                "minItems": 1,
                "items": a_class,
                "description": "The classes, in class-index order.",
            },
            "ignore_codes": {
                "type": "array",
                "uniqueItems": True,
                "items": code,
                "default": [],
                "description": "LAS codes whose points are never trained on nor scored.",
            },
            "unmapped": {
                "enum": ["error", "ignore"],
                "default": "error",
                "description": "What to do with a code in neither classes nor ignore_codes: "
                "stop with an error listing them, or ignore those points.",
            },
        },
        required=["class_mapping", "classes"],
        description="Maps LAS classification codes to named classes and codes to ignore.",
    )


def apply_mapping(state: PipelineState, mapping: ClassMapping) -> None:
    """Makes ``mapping`` the pipeline's class mapping and maps every cloud's classes with it.

    Ignored codes become ``-1``; those points are never trained on and never scored. A cloud
    not read yet is mapped on first use (never, for a streamed cloud). A cloud without any
    point of a mapped class (e.g. never classified) keeps ``labels = None``: it can still be
    predicted, and a step that needs its labels gets the error of
    :func:`~vl3d_focal.data.records.reference_labels`.

    Example:
        >>> apply_mapping(state, mapping)
        >>> state.clouds[0].loaded, state.clouds[0].labels.shape  # mapped on first use
        (False, (1531,))
    """
    from vl3d_focal.data.records import log_class_histogram, map_labels

    state.mapping = mapping
    for record in state.clouds:
        if not record.loaded:
            record.labels = None
            record.pending_mapping = mapping
            continue
        labels = map_labels(record.cloud, mapping)
        if not np.any(labels >= 0):
            logger.warning(
                "%s: no point of a mapped class; it can be predicted but not trained on nor evaluated", record.path
            )
            record.labels = None
            continue  # labels stay None: a step that needs them calls reference_labels, which explains
        record.labels = labels
        log_class_histogram(record.labels, class_names=list(mapping.names), what=record.path.name)


def run_class_mapping(step: Mapping[str, Any], state: PipelineState) -> None:
    """The ``class_mapping`` step: maps every cloud's LAS codes to class indices (:func:`apply_mapping`).

    Example:
        >>> run_class_mapping(with_defaults({"class_mapping": "LASClassMapping", "classes": [
        ...     {"name": "ground", "codes": [2]}], "unmapped": "ignore"}), state)
        >>> int((state.clouds[0].labels == 0).sum()), state.mapping.names
        (1184, ['ground'])
    """
    from vl3d_focal.data.labels import ClassMapping

    apply_mapping(state, ClassMapping.from_spec(step))


def _mapping_issues(step: Mapping[str, Any], at: tuple) -> Iterator[Issue]:
    names: dict[str, int] = {}
    owner: dict[int, str] = {}
    ignored = {c for c in as_list(step.get("ignore_codes")) if isinstance(c, int)}
    for j, item in enumerate(as_list(step.get("classes"))):
        item = as_dict(item)
        name = item.get("name")
        if isinstance(name, str):
            if name in names:
                yield at + ("classes", j, "name"), f"duplicate class name {name!r} (also classes[{names[name]}])"
            names.setdefault(name, j)
        for k, code in enumerate(as_list(item.get("codes"))):
            if not isinstance(code, int) or isinstance(code, bool):
                continue
            if code in ignored:
                yield at + ("classes", j, "codes", k), f"code {code} is also in ignore_codes"
            elif code in owner and owner[code] != str(name):
                yield at + ("classes", j, "codes", k), f"code {code} is already mapped to class {owner[code]!r}"
            owner.setdefault(code, str(name))


def _mapping_names(step: Mapping[str, Any]) -> list[str] | None:
    names = [as_dict(item).get("name") for item in as_list(step.get("classes"))]
    texts = [name for name in names if isinstance(name, str)]
    return texts if texts and len(texts) == len(names) else None


def check_class_mapping(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> list[Issue]:
    """Class names unique, codes disjoint between classes and not ignored; records the names.

    Example:
        >>> known = {}
        >>> check_class_mapping({"classes": [{"name": "a", "codes": [2]}, {"name": "b", "codes": [2]}]},
        ...                     ("s",), known)
        [(('s', 'classes', 1, 'codes', 0), "code 2 is already mapped to class 'a'")]
        >>> known
        {'class_names': ['a', 'b']}
    """
    known["class_names"] = _mapping_names(step)
    return list(_mapping_issues(step, at))


STEPS.register(
    step_entry(
        kind="class_mapping",
        name="LASClassMapping",
        handler=run_class_mapping,
        schema=class_mapping_step_schema(),
        gives=("mapping",),
        check=check_class_mapping,
    )
)
