"""One point cloud per receptive field of a prediction (VL3D's ``receptive_fields_dir``).

A model trained in this pipeline with ``pre_processing.receptive_fields_dir`` writes, for each
cloud a predict step predicts with it, every prediction field as its own file
``receptive_field_<i>.laz`` in that folder, ``i`` counting the cloud's fields from 0 (on across
the blocks of a cloud predicted block by block, each block's fields written as they come;
a streamed cloud's tile by tile: :mod:`~vl3d_focal.inference.tile_field_clouds`). A file
holds:

- the cloud's own points the field covers, each once (a point that padding repeats in the
  field takes the mean of its probabilities, as the propagation does), in the cloud's order,
  with every dimension, the header (scales, offsets) and the CRS of the cloud;
- one float32 extra dimension per class, the field's probability of that class, named by the
  class as the classified-cloud reports name them
  (:func:`~vl3d_focal.inference.classified_output.probability_names`);
- ``Prediction``: the field's most probable class, written as the other prediction outputs
  write it (:meth:`~vl3d_focal.data.labels.ClassMapping.prediction_values`);
- ``classification``: the cloud's own, as read (its LAS codes, the reference where it has one,
  an ignored point's code included), as the training's and ``DLModelEvaluator``'s classified clouds
  keep it (:func:`~vl3d_focal.inference.classified_output.report_columns`), whether the model was
  trained in the pipeline or loaded from a file.

Example:
    >>> ids, probabilities = field_points(np.array([[0.2, 0.8], [0.6, 0.4], [0.4, 0.6]]), np.array([7, 3, 7]))
    >>> ids.tolist(), probabilities.round(2).tolist()
    ([3, 7], [[0.6, 0.4], [0.3, 0.7]])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import laspy
import numpy as np

from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.errors import DataError
from vl3d_focal.inference.classified_output import PREDICTION, probability_names, report_name_problems
from vl3d_focal.io.chunks import ChunkedCloudWriter

logger = logging.getLogger(__name__)

FIELDS_DIR = "receptive_fields_dir"
"""The ``pre_processing`` key of the fields' folder."""
TRAINING_FIELDS_DIR = "training_receptive_fields_dir"
"""The ``pre_processing`` key of the training fields' folder (written after training, the same way:
:func:`~vl3d_focal.training.evaluation.report_training_fields`)."""
FIELD_FILE = "receptive_field_{}.laz"
"""The name of field ``i``'s file (VL3D's)."""
FIELD_PATTERN = FIELD_FILE.format("*")
"""The glob pattern of the fields' files (the run manifest lists those written)."""


def field_points(probabilities: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A field's distinct point ids, increasing, and their ``(n, C)`` probabilities (float64): a
    point the field holds several times (padding) takes the mean of its probabilities.

    Example:
        >>> field_points(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([4, 4]))[1].tolist()
        [[0.5, 0.5]]
    """
    ids, inverse = np.unique(np.asarray(indices), return_inverse=True)
    sums = np.zeros((len(ids), probabilities.shape[-1]), dtype=np.float64)
    np.add.at(sums, inverse, np.asarray(probabilities, dtype=np.float64))
    return ids, sums / np.bincount(inverse, minlength=len(ids))[:, None]


class FieldCloudWriter:
    """Writes one field's cloud: its distinct points, their classification as read, their
    probabilities and ``Prediction`` (safe to call from several threads at once).

    Args:
        header: the cloud's header (its scales, offsets, CRS and point format).
        class_names: the model's classes, in output order.
        mapping: the mapping of the predicted classes.

    Raises:
        DataError: a class whose probability cannot be named by it
            (:func:`~vl3d_focal.inference.classified_output.report_name_problems`).

    Example:
        >>> writer = FieldCloudWriter(header=record.cloud.las.header, class_names=bundle.class_names,
        ...                           mapping=bundle.mapping)
        >>> writer.write(out / "field.laz", points=record.cloud.las.points[:2],
        ...              probabilities=np.full((2, bundle.num_classes), 1.0 / bundle.num_classes))
        >>> laspy.read(out / "field.laz").header.point_count
        2
    """

    def __init__(self, *, header: laspy.LasHeader, class_names: Sequence[str], mapping: ClassMapping) -> None:
        problems = report_name_problems(class_names)
        if problems:
            raise DataError(f"receptive_fields_dir: {problems[0][1]}")
        self.header, self.mapping = header, mapping
        self.names = probability_names(class_names)
        self.types = {**dict.fromkeys(self.names, "float32"), PREDICTION: "int32"}

    def write(self, path: Path, *, points: Any, probabilities: np.ndarray) -> None:
        """Writes a field's ``points`` (a point record of the cloud's format, every dimension kept)
        and their ``(n, C)`` probabilities."""
        extra = {name: probabilities[:, k].astype(np.float32) for k, name in enumerate(self.names)}
        extra[PREDICTION] = self.mapping.prediction_values(np.argmax(probabilities, axis=1)).astype(np.int32)
        with ChunkedCloudWriter(path, header=self.header, extra_dims=self.types, log_level=logging.DEBUG) as writer:
            writer.write(points, extra=extra)


class FieldClouds:
    """Writes the fields of the prediction of a cloud held in memory, one file each, numbered on
    across calls.

    Args:
        folder: where the files go (created).
        las: the cloud (its points, header and CRS).
        class_names: the model's classes, in output order.
        mapping: the mapping of the predicted classes.
        first: the number of the first field (another cloud's fields numbered before).

    Raises:
        DataError: a class whose probability cannot be named by it
            (:func:`~vl3d_focal.inference.classified_output.report_name_problems`).

    Example:
        >>> clouds = FieldClouds(out / "fields", las=record.cloud.las, class_names=bundle.class_names,
        ...                      mapping=bundle.mapping)
        >>> clouds.add(np.full((2, 3, bundle.num_classes), 1.0 / bundle.num_classes), np.array([[0, 1, 1], [2, 3, 4]]))
        >>> clouds.count, sorted(path.name for path in (out / "fields").iterdir())
        (2, ['receptive_field_0.laz', 'receptive_field_1.laz'])
    """

    def __init__(
        self, folder: Path, *, las: laspy.LasData, class_names: Sequence[str], mapping: ClassMapping, first: int = 0
    ) -> None:
        self.writer = FieldCloudWriter(header=las.header, class_names=class_names, mapping=mapping)
        self.folder, self.las = Path(folder), las
        self.count = first
        self.folder.mkdir(parents=True, exist_ok=True)

    def add(self, probabilities: np.ndarray, indices: np.ndarray) -> None:
        """Writes fields: ``(M, P, C)`` probabilities and ``(M, P)`` point indices of the cloud."""
        for field_probabilities, field_indices in zip(probabilities, indices):
            ids, mean = field_points(field_probabilities, field_indices)
            self.writer.write(
                self.folder / FIELD_FILE.format(self.count), points=self.las.points[ids], probabilities=mean
            )
            self.count += 1
