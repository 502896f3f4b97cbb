"""The ``eval`` step ``DLModelEvaluator`` (VL3D): the model's point-wise outputs and activations.

``pointwise_model_output_path``: each cloud in the layout of VL3D's ``ClassifiedPcloudReport``:
``classification`` the reference as read, ``Prediction`` (the predicted class, as the
``Writer`` writes it), ``Success`` (1 where it is the reference class, else 0) and the softmax
probability of every class in a dimension named by the class
(:func:`~vl3d_focal.inference.classified_output.report_columns`).
``pointwise_model_activations_path``: each cloud with the activations of the model's last
hidden layer (``f1``..``fn``, VL3D's names), and beside it ``<name>_ANOVA.csv``: how well each
activation separates the reference classes (one-way ANOVA F and p-value), when the cloud has
reference classes. See :mod:`vl3d_focal.inference.activations`.

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> STEPS.get("DLModelEvaluator").metadata["needs"]
    ('model',)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vl3d_focal.config.checks import Issue
from vl3d_focal.config.prefixes import expand_output
from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.config.step_files import StepPlace
from vl3d_focal.errors import DataError
from vl3d_focal.registry import STEPS
from vl3d_focal.schema_annotations import CLOUD_SUFFIXES, optional_output_schema
from vl3d_focal.steps.definition import step_entry

if TYPE_CHECKING:
    from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)


def anova_path(activations_path: str) -> str:
    """Where the ANOVA report of an activations cloud goes.

    Example:
        >>> anova_path("*eval/pwise_activations.laz")
        '*eval/pwise_activations_ANOVA.csv'
    """
    stem, dot, _ = activations_path.rpartition(".")
    return f"{stem if dot else activations_path}_ANOVA.csv"


def _write_anova(path: str, activations: Any, labels: Any) -> None:
    from vl3d_focal.inference.activations import anova
    from vl3d_focal.inference.classified_output import activation_columns
    from vl3d_focal.reports.files import write_csv

    f_values, p_values = anova(activations, labels)
    names = activation_columns(activations[:1])
    rows = [[name, float(f), float(p)] for name, f, p in zip(names, f_values, p_values)]
    write_csv(Path(path), ["activation", "F", "p"], rows)


def run_dl_model_evaluator(step: Mapping[str, Any], state: PipelineState) -> None:
    """Writes the outputs and activations clouds (and ANOVA reports) of every cloud.

    Example:
        >>> run_dl_model_evaluator({"eval": "DLModelEvaluator", "pointwise_model_output_path": "*out.laz",
        ...                         "pointwise_model_activations_path": None}, state)
        >>> (out / "out.laz").is_file()
        True
    """
    import numpy as np

    from vl3d_focal.data.records import map_labels
    from vl3d_focal.inference.activations import pointwise_outputs
    from vl3d_focal.inference.classified_output import activation_columns, report_columns, write_with_dimensions

    bundle = state.require_bundle(step="DLModelEvaluator")
    problem = _not_a_network(bundle.model_name)
    if problem:
        raise DataError(problem)
    output, hidden = step["pointwise_model_output_path"], step["pointwise_model_activations_path"]
    for record in state.clouds:
        probabilities, activations = pointwise_outputs(record, bundle)
        labels = map_labels(record.cloud, state.require_mapping(step="DLModelEvaluator"))
        if output is not None:
            columns = report_columns(
                labels=labels, probabilities=probabilities, class_names=list(bundle.class_names), mapping=bundle.mapping
            )
            write_with_dimensions(
                expand_output(output, prefix=record.prefix), source=record.path, las=record.cloud.las, columns=columns
            )
        if hidden is not None:
            write_with_dimensions(
                expand_output(hidden, prefix=record.prefix),
                source=record.path,
                las=record.cloud.las,
                columns=activation_columns(activations),
            )
            if np.any(labels >= 0):
                _write_anova(expand_output(anova_path(hidden), prefix=record.prefix), activations, labels)
            else:
                logger.info("%s: no reference classes, no ANOVA of the activations", record.path.name)


def _not_a_network(model_name: str) -> str | None:
    """Why a model of that registry name has no point-wise outputs and activations to write,
    else None (a network emitting logits)."""
    from vl3d_focal.registry import MODELS

    if model_name not in MODELS.names() or MODELS.get(model_name).metadata.get("output") == "logits":
        return None
    return (
        f"DLModelEvaluator writes a network's point-wise outputs and activations; a {model_name} is not a "
        "network: ClassificationEvaluator scores it, ClassifiedPcloudWriter with probabilities writes its "
        "class probabilities"
    )


def check_dl_model_evaluator(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> Iterator[Issue]:
    """The model trained or loaded before the step is a network; the classes' names (known from
    the steps before) can name the output cloud's probability dimensions
    (:func:`~vl3d_focal.inference.classified_output.report_name_problems`).

    Example:
        >>> [m for _, m in check_dl_model_evaluator({}, (), {"model_name": "RandomForestClassifier"})][0][:44]
        "DLModelEvaluator writes a network's point-wi"
        >>> [p for p, _ in check_dl_model_evaluator({"pointwise_model_output_path": "*o.laz"}, (), {"class_names": ["x"]})]
        [('pointwise_model_output_path',)]
    """
    from vl3d_focal.inference.classified_output import report_name_problems

    name = known.get("model_name")
    problem = _not_a_network(name) if isinstance(name, str) else None
    if problem:
        yield at + ("eval",), problem
    names = known.get("class_names")
    if step.get("pointwise_model_output_path") and isinstance(names, list) and all(isinstance(n, str) for n in names):
        for _, why in report_name_problems(names):
            yield at + ("pointwise_model_output_path",), why


def _anova_files(step: Mapping[str, Any], _place: StepPlace) -> Sequence[tuple[str, str]]:
    hidden = step.get("pointwise_model_activations_path")
    return [("cloud", anova_path(hidden))] if isinstance(hidden, str) else []


STEPS.register(
    step_entry(
        kind="eval",
        name="DLModelEvaluator",
        handler=run_dl_model_evaluator,
        schema=closed_object(
            {
                "eval": {"const": "DLModelEvaluator", "description": "The model's point-wise outputs and activations."},
                "pointwise_model_output_path": optional_output_schema(
                    "Each cloud with the class probabilities and predicted class (.las or .laz).",
                    scope="cloud",
                    suffixes=CLOUD_SUFFIXES,
                ),
                "pointwise_model_activations_path": optional_output_schema(
                    "Each cloud with the activations of the last hidden layer (.las or .laz); an ANOVA report "
                    "<name>_ANOVA.csv beside it.",
                    scope="cloud",
                    suffixes=CLOUD_SUFFIXES,
                ),
            },
            required=["eval"],
            description="Writes the model's point-wise outputs and activations (VL3D's DLModelEvaluator).",
        ),
        needs=("model",),
        chief_only=True,
        per_cloud=True,
        outputs=_anova_files,
        check=check_dl_model_evaluator,
    )
)
