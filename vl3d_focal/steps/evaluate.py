"""The ``eval`` step (``ClassificationEvaluator``): metrics of the predictions of every cloud.

Each cloud gets the files of :func:`~vl3d_focal.reports.files.evaluation_files` at its
``report_path``: the JSON (OA, mIoU, macro_F1, MCC, Kappa, per_class...), a text report,
confusion-matrix and class-distribution pictures, and a top-down picture (reference,
predicted, misclassified).

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> STEPS.get("ClassificationEvaluator").metadata["needs"]
    ('predictions', 'mapping')
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from vl3d_focal.config.prefixes import expand_output
from vl3d_focal.config.schema_parts import closed_object, output_path_schema
from vl3d_focal.errors import DataError
from vl3d_focal.registry import STEPS
from vl3d_focal.reports.files import evaluation_files
from vl3d_focal.steps.definition import step_entry
from vl3d_focal.steps.facts import EvaluationFacts

if TYPE_CHECKING:
    from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)


def _training_counts(state: PipelineState, *, num_classes: int) -> dict[str, list[int]] | None:
    counts = state.bundle.loss_info.class_counts if state.bundle is not None else []
    return {"training": list(counts)} if len(counts) == num_classes else None


def run_eval(step: Mapping[str, Any], state: PipelineState) -> None:
    """Evaluates every cloud and writes its report, plots and top-down picture.

    Example:
        >>> run_eval({"eval": "ClassificationEvaluator", "report_path": "*eval.json"},
        ...          state)                                      # doctest: +SKIP
    """
    import numpy as np

    from vl3d_focal.data.labels import IGNORE_LABEL
    from vl3d_focal.inference.scoring import evaluate_predictions
    from vl3d_focal.reports.evaluation_report import write_evaluation
    from vl3d_focal.reports.topdown import plot_topdown

    mapping = state.require_mapping(step="eval")
    class_names = list(mapping.names)
    if state.bundle is not None and class_names != list(state.bundle.class_names):
        raise DataError(
            f"eval step: the class mapping's classes {class_names} differ from the model's "
            f"{list(state.bundle.class_names)}; expected the same classes in the same order"
        )
    for record in state.clouds:
        metrics, (xyz, reference, predicted) = evaluate_predictions(record, mapping=mapping)
        report = expand_output(step["report_path"], prefix=record.prefix)
        written = write_evaluation(metrics, report_path=report, class_colors=list(mapping.colors),
                                   class_counts=_training_counts(state, num_classes=len(class_names)))
        plot_topdown(xyz, reference, predicted, class_names=class_names, colors=list(mapping.colors),
                     path=written["topdown_png"], ignore_label=IGNORE_LABEL)
        state.facts.evaluations.append(EvaluationFacts(
            cloud=str(record.path), report_path=str(report), metrics=dict(metrics), class_colors=list(mapping.colors),
            pictures={name: str(path) for name, path in written.items() if name.endswith("_png")}))
        scored = int(np.asarray(metrics["confusion_matrix"]).sum())
        logger.info("%s: OA=%.4f mIoU=%.4f macro_F1=%.4f (%d scored points) -> %s", record.path.name,
                    metrics["OA"], metrics["mIoU"], metrics["macro_F1"], scored, report)


def _report_files(step: Mapping[str, Any]) -> Sequence[tuple[str, str]]:
    files = evaluation_files(step["report_path"])
    return [("cloud", str(path)) for key, path in files.items() if key != "json"]


STEPS.register(step_entry(
    kind="eval", name="ClassificationEvaluator", handler=run_eval,
    schema=closed_object(
        {
            "eval": {"const": "ClassificationEvaluator", "description": "Compare predictions with the mapped reference classes."},
            "report_path": output_path_schema(
                "Evaluation JSON (OA, mIoU, macro_F1, MCC, Kappa, per_class...); the text report "
                "and plots are written beside it.",
                "*eval/evaluation.json", scope="cloud", suffixes=(".json",),
            ),
        },
        required=["eval"],
        description="Evaluates the predictions of each cloud.",
    ),
    description="Evaluates the predictions of each cloud.",
    needs=("predictions", "mapping"), chief_only=True, outputs=_report_files,
))
