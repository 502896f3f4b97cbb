"""The ``class_transformer`` step ``ClassReducer``: groups of classes become fewer classes (VL3D).

``input_class_names`` names the classes before the step: the classes of the class step
before it (``class_mapping`` or another ``ClassReducer``), else the clouds' classification
values 0..n-1 (VL3D). ``class_groups[j]`` lists the input classes that become output class
``j`` (named ``output_class_names[j]``, default ``C<j>``); an input class in no group is
ignored from then on. The reference classes of every cloud are reduced; with
``on_predictions``, the predictions made before the step too (each point's predicted class
becomes its group, the group's probabilities are summed). The optional ``report_path`` (text)
and ``plot_path`` (``.svg``/``.png``) describe the classes of each cloud before and after.

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> STEPS.get("ClassReducer").metadata["gives"]
    ('mapping',)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from vl3d_focal.config.checks import Issue, as_list
from vl3d_focal.config.messages import did_you_mean
from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.errors import DataError, VL3DFocalError
from vl3d_focal.registry import STEPS
from vl3d_focal.schema_annotations import PLOT_SUFFIXES, optional_output_schema
from vl3d_focal.steps.definition import step_entry

if TYPE_CHECKING:
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)


def _names_schema(description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "minItems": 1,
        "uniqueItems": True,
        "items": {"type": "string", "minLength": 1},
        "description": description,
    }


def class_reducer_schema() -> dict[str, Any]:
    """The ``ClassReducer`` step's schema.

    Example:
        >>> class_reducer_schema()["required"]
        ['class_transformer', 'input_class_names', 'class_groups']
    """
    return closed_object(
        {
            "class_transformer": {"const": "ClassReducer", "description": "Reduce the classes."},
            "on_predictions": {
                "type": "boolean",
                "default": False,
                "description": "Also reduce the predictions of a predict step before this one.",
            },
            "input_class_names": _names_schema("The classes before the step, in class-index order."),
            "output_class_names": {
                "description": "Names of the reduced classes, one per group; null: C0, C1, ...",
                "default": None,
                "anyOf": [{"type": "null", "title": "null"}, {"title": "a list of names", **_names_schema("Names.")}],
            },
            "class_groups": {
                "type": "array",
                "minItems": 1,
                "items": {"title": "a group", **_names_schema("Input classes of one reduced class.")},
                "description": "For each reduced class, the input classes it groups.",
            },
            "report_path": optional_output_schema(
                "Text report of the classes of each cloud before and after the reduction.", scope="cloud"
            ),
            "plot_path": optional_output_schema(
                "Plot of the class distributions before and after (.svg, .png or .pdf).",
                scope="cloud",
                suffixes=PLOT_SUFFIXES,
            ),
        },
        required=["class_transformer", "input_class_names", "class_groups"],
        description="Groups input classes into fewer classes (VL3D's ClassReducer).",
    )


def output_names(step: Mapping[str, Any]) -> list[str]:
    """The reduced classes' names: ``output_class_names``, else ``C0``, ``C1``... (VL3D).

    Example:
        >>> output_names({"class_groups": [["a"], ["b", "c"]], "output_class_names": None})
        ['C0', 'C1']
    """
    given = step.get("output_class_names")
    return list(given) if given else [f"C{j}" for j in range(len(step["class_groups"]))]


def _group_issues(step: Mapping[str, Any], at: tuple, inputs: list[str]) -> Iterator[Issue]:
    owner: dict[str, int] = {}
    for j, group in enumerate(as_list(step.get("class_groups"))):
        for k, name in enumerate(as_list(group)):
            if not isinstance(name, str):
                continue
            if name not in inputs:
                yield (
                    at + ("class_groups", j, k),
                    f"unknown input class {name!r}; input_class_names: {inputs}{did_you_mean(name, inputs)}",
                )
            elif name in owner and owner[name] != j:
                yield at + ("class_groups", j, k), f"class {name!r} is already in class_groups[{owner[name]}]"
            owner.setdefault(name, j)
    if step.get("on_predictions") is True:
        for name in inputs:
            if name not in owner:
                yield (
                    at + ("class_groups",),
                    f"on_predictions needs every input class in a group (a predicted class needs a reduced "
                    f"class); {name!r} is in none",
                )


def _reduced_mapping(step: Mapping[str, Any], before: ClassMapping | None) -> ClassMapping | None:
    """The mapping after the step (``before``: the class step's before it), None where unknown."""
    from vl3d_focal.data.class_reduction import reduce_mapping

    if before is None or list(before.names) != step.get("input_class_names"):
        return None
    try:
        return reduce_mapping(before, groups=group_indices(step), names=output_names(step))
    except (VL3DFocalError, LookupError, TypeError, ValueError):  # what the schema refuses: reported there
        return None


def check_class_reducer(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> list[Issue]:
    """Groups against the input classes, output names against groups; records the output classes
    (and their mapping, ``known["mapping"]``, reduced from the class step's before it).

    Example:
        >>> known = {"class_names": ["a", "b"]}
        >>> check_class_reducer({"input_class_names": ["a", "c"], "class_groups": [["a", "c"]]}, ("s",), known)
        [(('s', 'input_class_names'), "expected the classes of the class step before it, in its order: ['a', 'b']; got ['a', 'c']")]
        >>> known["class_names"]
        ['C0']
    """
    issues: list[Issue] = []
    inputs = [name for name in as_list(step.get("input_class_names")) if isinstance(name, str)]
    before = known.get("class_names")
    if before is not None and inputs and inputs != before:
        issues.append(
            (
                at + ("input_class_names",),
                f"expected the classes of the class step before it, in its order: {before}; got {inputs}",
            )
        )
    issues += _group_issues(step, at, inputs)
    groups, names = as_list(step.get("class_groups")), step.get("output_class_names")
    names = names if isinstance(names, list) else None  # another type: the schema reports it
    if names is not None and groups and len(names) != len(groups):
        issues.append((at + ("output_class_names",), f"expected one name per group ({len(groups)}); got {len(names)}"))
    if step.get("on_predictions") is True and "predictions" not in known.get("given", ()):
        issues.append((at + ("on_predictions",), "reducing predictions needs a predict step before this one"))
    known["class_names"] = output_names({"class_groups": groups, "output_class_names": names}) if groups else None
    known["mapping"] = None if issues else _reduced_mapping(step, known.get("mapping"))
    return issues


def group_indices(step: Mapping[str, Any]) -> list[list[int]]:
    """``class_groups`` as input class indices.

    Example:
        >>> group_indices({"input_class_names": ["a", "b", "c"], "class_groups": [["c", "a"], ["b"]]})
        [[2, 0], [1]]
    """
    inputs = list(step["input_class_names"])
    return [[inputs.index(name) for name in group] for group in step["class_groups"]]


def _reduce_predictions(step: Mapping[str, Any], state: PipelineState, groups: Sequence[Sequence[int]]) -> None:
    from vl3d_focal.data.class_reduction import ReducedPredictions

    if state.predicted_names != list(step["input_class_names"]):
        raise DataError(
            f"ClassReducer on_predictions: the predictions' classes {state.predicted_names} are not "
            f"input_class_names {list(step['input_class_names'])}"
        )
    for record in state.clouds:
        if record.result is None:
            raise DataError(
                f"ClassReducer on_predictions: cloud {record.path} has no predictions; expected a "
                "predict step before this one"
            )
        record.result = ReducedPredictions(record.result, groups=groups)
    state.predicted_names = output_names(step)


def run_class_reducer(step: Mapping[str, Any], state: PipelineState) -> None:
    """Reduces the classes of every cloud (and its predictions with ``on_predictions``); reports.

    Example:
        >>> run_class_reducer({"class_transformer": "ClassReducer", "on_predictions": False,
        ...     "input_class_names": ["ground", "vegetation", "building", "vehicle", "pole"],
        ...     "output_class_names": ["ground", "object"], "class_groups": [["ground"], ["vegetation", "building",
        ...     "vehicle", "pole"]], "report_path": None, "plot_path": None}, state)
        >>> np.bincount(state.clouds[0].labels[state.clouds[0].labels >= 0]).tolist()
        [1184, 346]
    """
    from vl3d_focal.config.prefixes import expand_output
    from vl3d_focal.data.class_reduction import reduce_mapping
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.steps.class_mapping import apply_mapping

    inputs = list(step["input_class_names"])
    before = state.mapping or (state.bundle.mapping if state.bundle is not None else None)
    before = before if before is not None else ClassMapping.from_values(inputs)
    if list(before.names) != inputs:
        raise DataError(
            f"ClassReducer input_class_names: expected the current classes {list(before.names)}, got {inputs}"
        )
    groups = group_indices(step)
    after = reduce_mapping(before, groups=groups, names=output_names(step))
    if step["report_path"] or step["plot_path"]:
        from vl3d_focal.data.class_reduction import count_classes
        from vl3d_focal.reports.class_reduction import plot_reduction, write_reduction_report

        for record in state.clouds:
            counts = count_classes(record, mappings=[before, after])
            if step["report_path"]:
                write_reduction_report(
                    expand_output(step["report_path"], prefix=record.prefix),
                    cloud=record.path.name,
                    before=(before.names, counts[0]),
                    after=(after.names, counts[1]),
                    groups=step["class_groups"],
                )
            if step["plot_path"]:
                plot_reduction(
                    expand_output(step["plot_path"], prefix=record.prefix),
                    before=(before.names, counts[0]),
                    after=(after.names, counts[1]),
                )
    apply_mapping(state, after)
    state.classes_rewritten = True
    if step["on_predictions"]:
        _reduce_predictions(step, state, groups)
    logger.info(
        "classes reduced from %d (%s) to %d (%s)",
        len(inputs),
        ", ".join(inputs),
        len(after.names),
        ", ".join(after.names),
    )


def _on_predictions(step: Mapping[str, Any]) -> bool:
    """A reduction of the predictions runs cloud by cloud, with the steps that predicted them."""
    return step.get("on_predictions") is True


STEPS.register(
    step_entry(
        kind="class_transformer",
        name="ClassReducer",
        handler=run_class_reducer,
        schema=class_reducer_schema(),
        gives=("mapping",),
        check=check_class_reducer,
        per_cloud=_on_predictions,
    )
)
