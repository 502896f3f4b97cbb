"""The ``class_mapping`` step (``LASClassMapping``): LAS classification codes to named classes.

Also the checks of a class mapping that other steps make: against the mapping a model was
trained with, before it predicts (:func:`align_mapping`, and :func:`model_mapping_issues` at
validation), and whether the clouds written can hold the classes' LAS codes
(:func:`unwritable_codes_problem`).

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> STEPS.get("LASClassMapping").metadata["gives"]
    ('mapping',)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from vl3d_focal.config.checks import Issue, as_dict, as_list
from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.data.mapping_mismatch import model_mismatch
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
                "description": "LAS codes whose points are never trained on nor scored; a "
                "ClassifiedPcloudWriter still writes their predicted class's code unless its keep_codes lists them.",
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


def _spec_mapping(step: Mapping[str, Any]) -> ClassMapping | None:
    """The step's mapping, None where the step is not valid (the schema reports why)."""
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.errors import SpecError

    try:
        return ClassMapping.from_spec(step)
    except (SpecError, AttributeError, LookupError, TypeError, ValueError):  # values of other types
        return None


def check_class_mapping(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> list[Issue]:
    """Class names unique, codes disjoint between classes and not ignored; records the names and,
    for the checks of later steps, the mapping (``known["mapping"]``: None when the step has issues).

    Example:
        >>> known = {}
        >>> check_class_mapping({"classes": [{"name": "a", "codes": [2]}, {"name": "b", "codes": [2]}]},
        ...                     ("s",), known)
        [(('s', 'classes', 1, 'codes', 0), "code 2 is already mapped to class 'a'")]
        >>> known
        {'class_names': ['a', 'b'], 'mapping': None}
    """
    known["class_names"] = _mapping_names(step)
    issues = list(_mapping_issues(step, at))
    known["mapping"] = None if issues else _spec_mapping(step)
    return issues


def unwritable_codes_problem(mapping: ClassMapping | None, clouds: Iterable[str], *, remedy: str) -> str | None:
    """Why the classes' output LAS codes (each class's ``las_code``, default its first code) cannot
    be written to the classification of ``clouds`` (a classified cloud keeps its input's point
    format): a code above 31 for a cloud in point format 0-5 (a 5-bit classification); else None,
    also where the mapping or a cloud's header is unknown. Headers are read only when a code is
    above 31.

    Args:
        mapping: the classes written, or None.
        clouds: the clouds' files.
        remedy: what the step offers instead, before "or convert the clouds".

    Example:
        >>> import laspy
        >>> from vl3d_focal.data.labels import ClassMapping
        >>> laspy.LasData(laspy.LasHeader(point_format=1, version="1.2")).write(out / "old.las")
        >>> pole = ClassMapping(names=["ground", "pole"], codes=[[2], [64]])
        >>> print(unwritable_codes_problem(pole, [str(out / "old.las")], remedy="give pole a las_code up to 31"))
        /.../old.las is in LAS point format 1, whose classification holds codes 0..31: the classes' output codes 64 (pole) cannot be written there; give pole a las_code up to 31, or convert the clouds to LAS 1.4 point format 6 or higher (7 keeps RGB colours)
    """
    from vl3d_focal.io.las import max_classification_code
    from vl3d_focal.io.las_header import header_point_format_id

    if mapping is None:
        return None
    assert mapping.las_codes is not None  # filled by ClassMapping.__post_init__
    highest = max(mapping.las_codes, default=0)
    if highest <= max_classification_code(0):  # every point format holds them: no header to read
        return None
    formats = [(path, header_point_format_id(path)) for path in clouds]
    small = [(path, found) for path, found in formats if found is not None and max_classification_code(found) < highest]
    if not small:
        return None
    path, point_format = small[0]
    top = max_classification_code(point_format)
    others = f" ({len(small) - 1} more of the clouds cannot hold them either)" if len(small) > 1 else ""
    listing = ", ".join(f"{code} ({name})" for name, code in zip(mapping.names, mapping.las_codes) if code > top)
    return (
        f"{path} is in LAS point format {point_format}, whose classification holds codes 0..{top}{others}: the "
        f"classes' output codes {listing} cannot be written there; {remedy}, or convert the clouds to LAS 1.4 "
        "point format 6 or higher (7 keeps RGB colours)"
    )


def align_mapping(state: PipelineState, *, source: str) -> None:
    """Checks the spec's class mapping (``state.mapping``) against the one the model
    (``state.bundle``) was trained with, before any prediction, and lists its classes in the
    model's order (the order of the model's outputs, hence of the predictions' classes).

    Raises:
        DataError: other classes than the model's, or LAS codes of a model's class given to
            another class (:func:`~vl3d_focal.data.mapping_mismatch.model_mismatch`).

    Example:
        >>> from vl3d_focal.data.labels import ClassMapping
        >>> state.mapping = ClassMapping(names=["pole", "vehicle", "building", "vegetation", "ground"],
        ...                              codes=[[64], [68], [6], [3, 4, 5], [2]], ignore_codes=[0, 1, 7])
        >>> align_mapping(state, source="model")
        >>> state.mapping.names == state.bundle.class_names
        True
    """
    from vl3d_focal.errors import DataError

    model = state.bundle.mapping if state.bundle is not None else None
    if state.mapping is None or model is None:
        return
    problem = model_mismatch(state.mapping, model)
    if problem:
        raise DataError(f"predict: {source}: {problem}")
    if list(state.mapping.names) != list(model.names):
        logger.info(
            "predict: the class mapping lists the classes of %s in another order; each class keeps its codes, "
            "listed in the model's order %s",
            source,
            list(model.names),
        )
        apply_mapping(state, state.mapping.in_order(model.names))


def model_mapping_issues(
    known: dict[str, Any], model: ClassMapping | None, at: tuple, *, source: str
) -> Iterator[Issue]:
    """Validation's :func:`align_mapping`: the spec's class mapping (``known["mapping"]``) against
    the one the model was trained with (None: unknown until the run); ``known["mapping"]`` becomes
    the predictions' (the spec's in the model's order, else the model's).

    Example:
        >>> from vl3d_focal.data.labels import ClassMapping
        >>> model = ClassMapping(names=["ground", "building"], codes=[[2], [6]])
        >>> known = {"mapping": ClassMapping(names=["building", "ground"], codes=[[6], [2]])}
        >>> list(model_mapping_issues(known, model, ("s",), source="model m.keras")), known["mapping"].names
        ([], ['ground', 'building'])
        >>> known = {"mapping": ClassMapping(names=["ground", "building"], codes=[[6], [2]])}
        >>> [message[:45] for _, message in model_mapping_issues(known, model, ("s",), source="model m.keras")]
        ["model m.keras: the spec's class mapping gives"]
    """
    spec = known.get("mapping")
    problem = model_mismatch(spec, model) if spec is not None and model is not None else None
    if problem:
        yield at, f"{source}: {problem}"
    if model is not None:
        known["mapping"] = model if spec is None or problem else spec.in_order(model.names)
        known["class_names"] = list(known["mapping"].names)  # the predictions' classes, in their order


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
