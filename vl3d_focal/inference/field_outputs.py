"""The receptive-field reports of a prediction: class distribution among the fields, field centres,
one cloud per field.

A model trained in this pipeline carries the ``pre_processing`` paths
``receptive_fields_distribution_report_path``, ``receptive_fields_distribution_plot_path``,
``support_points_report_path`` and the folder ``receptive_fields_dir``
(:attr:`~vl3d_focal.models.bundle.ModelBundle.field_reports`); a cloud predicted in memory (in
one go or block by block) tallies its fields' predicted classes (and reference classes when the
cloud is labelled) and centres, then writes them, and writes each field as it comes
(:class:`~vl3d_focal.inference.field_clouds.FieldClouds`).

Example:
    >>> tally = FieldReportTally(num_classes=2, labels=np.array([0, 1, 1]))
    >>> tally.add(np.array([[[0.9, 0.1], [0.2, 0.8]]]), np.array([[0, 2]]), np.zeros((1, 3)))
    >>> tally.predicted.points.tolist(), tally.reference.points.tolist()
    ([1, 1], [1, 1])
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.inference.field_clouds import FieldClouds
from vl3d_focal.io.las import write_points
from vl3d_focal.reports.field_reports import FieldClassCounts, write_field_distribution

logger = logging.getLogger(__name__)


class FieldReportTally:
    """Predicted (and reference) class counts and centres of a cloud's prediction fields.

    Args:
        num_classes: the model's classes.
        labels: the cloud's ``(N,)`` reference classes (-1: ignored), or None when unlabelled.
        clouds: writes each field as its own cloud (``receptive_fields_dir``); None: none.
    """

    def __init__(self, *, num_classes: int, labels: np.ndarray | None, clouds: FieldClouds | None = None) -> None:
        self.predicted = FieldClassCounts(np.zeros(num_classes, np.int64), np.zeros(num_classes, np.int64))
        self.reference = (
            None
            if labels is None
            else FieldClassCounts(np.zeros(num_classes, np.int64), np.zeros(num_classes, np.int64))
        )
        self.labels = labels
        self.clouds = clouds
        self.centres: list[np.ndarray] = []

    def add(self, probabilities: np.ndarray, indices: np.ndarray, centres: np.ndarray) -> None:
        """Counts fields (and writes them, with ``clouds``): ``(M, P, C)`` probabilities, ``(M, P)``
        point indices, ``(M, 3)`` centres."""
        if self.clouds is not None:
            self.clouds.add(probabilities, indices)
        self.predicted.add(np.argmax(probabilities, axis=-1))
        if self.reference is not None and self.labels is not None:  # both or neither
            self.reference.add(self.labels[indices])
        self.centres.append(np.asarray(centres, dtype=np.float64))

    def write(self, paths: Mapping[str, Path], *, class_names: Sequence[str], template: Any) -> None:
        """Writes the reports whose path is given (``template``: the cloud, for the centres' header).

        Example:
            >>> tally = FieldReportTally(num_classes=2, labels=None)
            >>> tally.add(np.array([[[0.9, 0.1], [0.2, 0.8]]]), np.array([[0, 1]]), np.zeros((1, 3)))
            >>> tally.write({"receptive_fields_distribution_report_path": out / "fields.log"},
            ...             class_names=["ground", "pole"], template=None)
            >>> print(*(out / "fields.log").read_text().splitlines()[:3], sep="\\n")
            CLASS                   ,       PRED COUNT,    PRED FREQ (%),    PRED RF COUNT, PRED RF FREQ (%)
            ground                  ,                1,          50.0000,                1,         100.0000
            pole                    ,                1,          50.0000,                1,         100.0000
        """
        write_field_distribution(
            self.predicted,
            self.reference,
            class_names=class_names,
            report_path=paths.get("receptive_fields_distribution_report_path"),
            plot_path=paths.get("receptive_fields_distribution_plot_path"),
        )
        if self.clouds is not None:
            logger.info("wrote %d receptive fields to %s", self.clouds.count, self.clouds.folder)
        if paths.get("support_points_report_path"):
            write_points(paths["support_points_report_path"], np.concatenate(self.centres), template=template)
