"""JSON Schema of the train step's report keys: VL3D's evaluation of a model on its training data.

After training, VL3D predicts the training clouds and evaluates the predictions like its
``ClassificationEvaluator``: overall metrics (``training_evaluation_metrics``), class-wise ones
(``training_class_evaluation_metrics``), the confusion matrix and the class distribution, each
as a text report and/or a plot, plus the classified training cloud and the point-wise
activations of the network. ``autoval_metrics`` are computed on the held-out validation data.
The runtime is :mod:`vl3d_focal.training.evaluation`.

Example:
    >>> sorted(training_reports_properties())[:2]
    ['autoval_metrics', 'training_activations_path']
"""

from __future__ import annotations

from typing import Any

from vl3d_focal.reports.vl3d_metrics import CLASS_METRICS, GLOBAL_METRICS
from vl3d_focal.schema_annotations import CLOUD_SUFFIXES, PLOT_SUFFIXES, optional_output_schema

REPORT_KEYS = {
    "training_evaluation_report_path": "The overall metrics (training_evaluation_metrics), as a text table.",
    "training_class_evaluation_report_path": "The class-wise metrics (training_class_evaluation_metrics), "
    "as a text table.",
    "training_confusion_matrix_report_path": "The confusion matrix (rows: reference), as a text table.",
    "training_class_distribution_report_path": "Points per class, reference and predicted, as a text table.",
}
PLOT_KEYS = {
    "training_confusion_matrix_plot_path": "The confusion matrix as a picture.",
    "training_class_distribution_plot_path": "The class distribution as a picture.",
}
CLOUD_KEYS = {
    "training_classified_point_cloud_path": "The training clouds in VL3D's layout: classification the "
    "reference as read, Prediction (the predicted class, as the Writer writes it), Success (1 where it is "
    "the reference class, else 0) and one probability dimension per class, named by the class.",
    "training_activations_path": "The training clouds with the network's point-wise features (the input of "
    "its last layer), one extra dimension each (f1..fn, VL3D's names), averaged over the fields.",
}
"""With several training clouds, each cloud's file gets the cloud's name before the suffix."""


def _metric_list(names: tuple[str, ...], description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "uniqueItems": True,
        "items": {"enum": list(names), "title": "metric"},
        "default": list(names),
        "description": description,
    }


def training_reports_properties() -> dict[str, Any]:
    """The train step's properties naming VL3D's training evaluation and its outputs.

    Example:
        >>> training_reports_properties()["training_class_evaluation_metrics"]["default"]
        ['P', 'R', 'F1', 'IoU']
    """
    note = " Written after training, from predictions on the training clouds (ignored points left out)."
    properties: dict[str, Any] = {
        "autoval_metrics": {
            "description": "Overall metrics of the validation data (validation_split or validation_pcloud), "
            "computed on the validation fields after training and logged; for the random forest, of the points "
            "training_type 'autoval' or 'stratified_kfold' holds out; null: none (the forest: all).",
            "default": None,
            "anyOf": [
                {"type": "null", "title": "null"},
                {**_metric_list(GLOBAL_METRICS, "The metrics."), "title": "a list of metric names"},
            ],
        },
        "training_evaluation_metrics": _metric_list(
            GLOBAL_METRICS,
            "The overall metrics of "
            "training_evaluation_report_path (OA, macro and "
            "weighted P, R, F1, IoU, MCC, Kappa).",
        ),
        "training_class_evaluation_metrics": _metric_list(
            CLASS_METRICS, "The class-wise metrics of training_class_evaluation_report_path."
        ),
    }
    for key, description in REPORT_KEYS.items():
        properties[key] = optional_output_schema(description + note)
    for key, description in PLOT_KEYS.items():
        properties[key] = optional_output_schema(description + note, suffixes=PLOT_SUFFIXES)
    for key, description in CLOUD_KEYS.items():
        every = " Written after training, from predictions on every point of the training clouds."
        properties[key] = optional_output_schema(description + every, suffixes=CLOUD_SUFFIXES)
    return properties
