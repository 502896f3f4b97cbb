"""VL3D's reports of a training: the model evaluated on its training data and on its fields.

- :func:`evaluate_training_clouds`: the training clouds predicted like a predict step (every
  point), scored (ignored points left out) and written as asked by the train step's
  ``training_*`` keys: overall and class-wise metrics, confusion matrix, class distribution (text
  and plots), the classified clouds (VL3D's layout: ``classification`` the reference as read,
  ``Prediction``, ``Success``, a probability per class named by the class) and the network's
  point-wise activations (``f1``..``fn``);
  the prediction also writes the ``pre_processing`` receptive-field reports of a prediction
  (``receptive_fields_distribution_*``, ``support_points_report_path``; '*' the train step's output
  prefix), as VL3D's prediction after training does; a spec that names them gets the prediction
  even without any ``training_*`` evaluation output;
- :func:`report_training_fields`: the class distribution among the training receptive fields
  (predicted and reference), their centres and each field as its own cloud, written as the
  prediction's fields are (:class:`~vl3d_focal.inference.field_clouds.FieldClouds`: the field's
  points with every dimension, ``classification`` as read, the probabilities and ``Prediction`` of
  the model after training), VL3D's ``pre_processing.training_*`` keys;
- :func:`autovalidate`: ``autoval_metrics`` of the validation fields, logged.

With several training clouds, each cloud's file gets the cloud's name before the suffix.

Example:
    >>> cloud_output(Path("out/classified.laz"), cloud=Path("a.las"), clouds=2).as_posix()
    'out/classified_a.laz'
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.inference.activations import pointwise_outputs
from vl3d_focal.inference.classified_output import activation_columns, report_columns, write_with_dimensions
from vl3d_focal.inference.field_clouds import TRAINING_FIELDS_DIR, FieldClouds
from vl3d_focal.inference.network import predict_fields
from vl3d_focal.inference.prediction import cloud_probabilities
from vl3d_focal.io.las import write_points
from vl3d_focal.models.bundle import ModelBundle
from vl3d_focal.models.inputs import ModelInputs
from vl3d_focal.reports.field_reports import FieldClassCounts, write_field_distribution
from vl3d_focal.reports.metrics import confusion_matrix
from vl3d_focal.reports.vl3d_evaluation import write_vl3d_evaluation
from vl3d_focal.reports.vl3d_metrics import global_metrics
from vl3d_focal.training.fields import LabelledFields, training_labels
from vl3d_focal.training.files import CLOUD_OUTPUTS, cloud_output

logger = logging.getLogger(__name__)

EVALUATION_OUTPUTS = {
    "training_evaluation_report_path": "report_path",
    "training_class_evaluation_report_path": "class_report_path",
    "training_confusion_matrix_report_path": "confusion_matrix_report_path",
    "training_confusion_matrix_plot_path": "confusion_matrix_plot_path",
    "training_class_distribution_report_path": "class_distribution_report_path",
    "training_class_distribution_plot_path": "class_distribution_plot_path",
}
"""Train step key -> output of :func:`~vl3d_focal.reports.vl3d_evaluation.write_vl3d_evaluation`."""
FIELD_OUTPUTS = (
    "training_receptive_fields_distribution_report_path",
    "training_receptive_fields_distribution_plot_path",
    "training_support_points_report_path",
)


@dataclass(frozen=True)
class TrainingReports:
    """What the train step asks to report: metric names and the output paths given (expanded).

    Attributes:
        metrics: ``training_evaluation_metrics``.
        class_metrics: ``training_class_evaluation_metrics``.
        autoval: ``autoval_metrics`` (None: no auto-validation).
        outputs: spec key -> path, for every output path the step gives.
        field_reports: the prediction's receptive-field reports of the training clouds'
            prediction (``pre_processing`` key -> path; the keys of
            :class:`~vl3d_focal.inference.field_outputs.FieldReportTally`).
        mapping: the class mapping the training fields' clouds write ``Prediction`` with.
    """

    metrics: Sequence[str] = ()
    class_metrics: Sequence[str] = ()
    autoval: Sequence[str] | None = None
    outputs: Mapping[str, Path] = dataclasses.field(default_factory=dict)
    field_reports: Mapping[str, Path] = dataclasses.field(default_factory=dict)
    mapping: ClassMapping | None = None

    def given(self, keys: Sequence[str]) -> bool:
        """Whether any of ``keys`` has a path.

        Example:
            >>> TrainingReports(outputs={"a": Path("x")}).given(["a", "b"])
            True
        """
        return any(key in self.outputs for key in keys)


def _write_clouds(
    record: CloudRecord, probabilities: np.ndarray, bundle: ModelBundle, *, reports: TrainingReports, clouds: int
) -> None:
    paths = {
        key: cloud_output(reports.outputs[key], cloud=record.path, clouds=clouds)
        for key in CLOUD_OUTPUTS
        if key in reports.outputs
    }
    if "training_classified_point_cloud_path" in paths:
        write_with_dimensions(
            paths["training_classified_point_cloud_path"],
            source=record.path,
            las=record.cloud.las,
            columns=report_columns(
                labels=training_labels(record),
                probabilities=probabilities,
                class_names=list(bundle.class_names),
                mapping=bundle.mapping,
            ),
        )
    if "training_activations_path" in paths:
        write_with_dimensions(
            paths["training_activations_path"],
            source=record.path,
            las=record.cloud.las,
            columns=activation_columns(pointwise_outputs(record, bundle)[1]),
        )


def _same_paths(paths: Mapping[str, Path], _prefix: str) -> dict[str, Path]:
    """``paths``, whatever the cloud's prefix (a bundle's ``field_reports``)."""
    return dict(paths)


def evaluate_training_clouds(
    records: Sequence[CloudRecord], bundle: ModelBundle, *, reports: TrainingReports
) -> np.ndarray | None:
    """Predicts and evaluates the training clouds, writing what ``reports`` asks (see the module docstring).

    Returns:
        The ``(C, C)`` confusion matrix over the training clouds, or None when nothing was asked.

    Example:
        >>> reports = TrainingReports(outputs={"training_evaluation_report_path": out / "report.log"})
        >>> int(evaluate_training_clouds([record], bundle, reports=reports).sum())  # every mapped point, predicted
        1530
        >>> (out / "report.log").exists()
        True
    """
    if not reports.given([*EVALUATION_OUTPUTS, *CLOUD_OUTPUTS]) and not reports.field_reports:
        return None
    bundle = dataclasses.replace(bundle, field_reports=None)  # a predict step's paths (under its cloud's prefix)
    confusion = np.zeros((bundle.num_classes, bundle.num_classes), dtype=np.int64)
    for record in records:
        paths = {
            key: cloud_output(path, cloud=record.path, clouds=len(records))
            for key, path in reports.field_reports.items()
        }  # the training's: under the train step's output prefix
        own = dataclasses.replace(bundle, field_reports=functools.partial(_same_paths, paths) if paths else None)
        probabilities, _ = cloud_probabilities(record, own, chunk_points=None)
        confusion += confusion_matrix(
            training_labels(record), np.argmax(probabilities, axis=1), num_classes=bundle.num_classes
        )
        _write_clouds(record, probabilities, bundle, reports=reports, clouds=len(records))
    outputs = {name: reports.outputs[key] for key, name in EVALUATION_OUTPUTS.items() if key in reports.outputs}
    write_vl3d_evaluation(
        confusion,
        class_names=list(bundle.class_names),
        metrics=list(reports.metrics),
        class_metrics=list(reports.class_metrics),
        paths=outputs,
    )
    return confusion


def _field_probabilities(
    model: Any, data: LabelledFields, *, batch_size: int, model_inputs: ModelInputs | None
) -> np.ndarray:
    def make_inputs(coordinates: np.ndarray, features: np.ndarray) -> list[np.ndarray]:
        if model_inputs is None:
            return [coordinates, features]
        return model_inputs(coordinates=coordinates, features=features)

    return predict_fields(model, (data.coordinates, data.features), batch_size=batch_size, make_inputs=make_inputs)


def _write_field_clouds(
    folder: Path,
    data: LabelledFields,
    probabilities: np.ndarray,
    *,
    reports: TrainingReports,
    class_names: Sequence[str],
) -> None:
    """Writes each of the fields ``data`` as its own cloud, numbered from 0 across the training clouds."""
    origins, mapping = data.origins, reports.mapping
    assert origins is not None and mapping is not None, "training fields without origins or class mapping"
    count = 0
    for number, record in enumerate(origins.clouds):
        rows = np.flatnonzero(origins.cloud == number)
        clouds = FieldClouds(folder, las=record.cloud.las, class_names=class_names, mapping=mapping, first=count)
        clouds.add(probabilities[rows], origins.indices[rows])
        count = clouds.count
    logger.info("wrote %d training receptive fields to %s", count, folder)


def report_training_fields(
    model: Any,
    data: LabelledFields,
    *,
    centres: np.ndarray,
    reports: TrainingReports,
    class_names: Sequence[str],
    template: CloudRecord,
    batch_size: int,
    model_inputs: ModelInputs | None = None,
) -> None:
    """The class distribution among the fields ``data`` (predicted by ``model`` and reference) and
    the training field ``centres`` (validation split included), as the ``pre_processing.training_*``
    paths ask. ``model_inputs``: the model's inputs for a batch of fields (with a hierarchy's
    index arrays, :func:`~vl3d_focal.models.inputs.field_inputs_for`; None: coordinates and features).

    Example:
        >>> from vl3d_focal.training.fields import labelled_fields
        >>> data = labelled_fields([record], field_spec=bundle.field_spec, seed=0, feature_names=["intensity"],
        ...                        normalizer=bundle.normalizer)
        >>> reports = TrainingReports(outputs={"training_receptive_fields_distribution_report_path": out / "fields.log"})
        >>> report_training_fields(bundle.model, data, centres=data.centres, reports=reports,
        ...                        class_names=bundle.class_names, template=record, batch_size=32)
        >>> (out / "fields.log").exists()
        True
    """
    outputs = reports.outputs
    if outputs.get("training_support_points_report_path"):
        write_points(outputs["training_support_points_report_path"], centres, template=template.cloud)
    if not reports.given([*FIELD_OUTPUTS[:2], TRAINING_FIELDS_DIR]):
        return
    probabilities = _field_probabilities(model, data, batch_size=batch_size, model_inputs=model_inputs)
    if TRAINING_FIELDS_DIR in outputs:
        _write_field_clouds(outputs[TRAINING_FIELDS_DIR], data, probabilities, reports=reports, class_names=class_names)
    if not reports.given(FIELD_OUTPUTS[:2]):
        return
    predicted = FieldClassCounts.of(np.argmax(probabilities, axis=-1), num_classes=len(class_names))
    reference = FieldClassCounts.of(data.labels, num_classes=len(class_names))
    write_field_distribution(
        predicted,
        reference,
        class_names=class_names,
        report_path=outputs.get(FIELD_OUTPUTS[0]),
        plot_path=outputs.get(FIELD_OUTPUTS[1]),
    )


def autovalidate(
    model: Any,
    data: LabelledFields | None,
    *,
    names: Sequence[str] | None,
    num_classes: int,
    batch_size: int,
    model_inputs: ModelInputs | None = None,
) -> dict[str, float | None] | None:
    """``autoval_metrics`` of the validation fields' points (ignored points left out), logged;
    ``model_inputs`` as for :func:`report_training_fields`.

    Example:
        >>> autovalidate(None, None, names=None, num_classes=2, batch_size=8) is None
        True
    """
    if names is None or data is None:
        if names is not None:
            logger.warning(
                "autoval_metrics: no validation data (validation_split or validation_pcloud); nothing computed"
            )
        return None
    predicted = np.argmax(_field_probabilities(model, data, batch_size=batch_size, model_inputs=model_inputs), axis=-1)
    values = global_metrics(
        confusion_matrix(data.labels.ravel(), predicted.ravel(), num_classes=num_classes), names=names
    )
    logger.info(
        "auto-validation on %d fields: %s",
        len(data.labels),
        ", ".join(f"{k}={'n/a' if v is None else f'{100 * v:.3f}'}" for k, v in values.items()),
    )
    return values
