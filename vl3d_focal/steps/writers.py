"""The ``writer`` steps: the model file and the classified clouds.

Example:
    >>> run_pcloud_writer({"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"},
    ...                   state)                                 # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
from typing import Any, Mapping

import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.steps.paths import expand_output
from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)

PROBABILITY_PREFIX = "prob_"
MAX_DIMENSION_NAME = 32  # LAS extra-bytes names are 32 bytes
WRITE_CHUNK_POINTS = 500_000
"""Points written per chunk: the classified cloud is never copied whole in memory."""


def probability_dimension(class_name: str) -> str:
    """The extra-dimension name holding one class's probability.

    Example:
        >>> probability_dimension("high vegetation")
        'prob_high_vegetation'
    """
    cleaned = re.sub(r"[^0-9A-Za-z_]+", "_", class_name).strip("_") or "class"
    return f"{PROBABILITY_PREFIX}{cleaned}"[:MAX_DIMENSION_NAME]


def run_model_writer(step: Mapping[str, Any], state: PipelineState) -> None:
    """``PredictiveModelWriter``: saves the current model with what it needs to predict.

    ``out_model`` is a model-level output: ``*`` is the first output prefix.

    Example:
        >>> run_model_writer({"writer": "PredictiveModelWriter",
        ...                   "out_model": "*model/model.keras"}, state)   # doctest: +SKIP
    """
    from vl3d_focal.steps.model_file import save_bundle

    bundle = state.require_bundle(step="PredictiveModelWriter")
    save_bundle(bundle, expand_output(step["out_model"], prefix=state.model_prefix))


def _extra_types(step: Mapping[str, Any], bundle: Any) -> dict[str, str]:
    extra_types: dict[str, str] = {}
    if step.get("prediction_dimension"):
        extra_types[str(step["prediction_dimension"])] = "uint8"
    if step.get("probabilities", False):
        extra_types.update({probability_dimension(name): "float32" for name in bundle.class_names})
    return extra_types


def _write_streamed(record: Any, step: Mapping[str, Any], bundle: Any, *, extra_types: dict[str, str]) -> None:
    """The writer of a streamed cloud: its file's chunks with their on-disk predictions."""
    from vl3d_focal.io.chunks import ChunkedCloudWriter, read_header

    dimension = step.get("prediction_dimension")
    path = expand_output(step["out_pcloud"], prefix=record.prefix)
    with ChunkedCloudWriter(path, header=read_header(record.path), extra_dims=extra_types,
                            source_path=record.path) as writer:
        for _, points, predicted, probabilities in record.streamed.iter_chunks():
            codes = np.asarray(bundle.mapping.to_las_codes(predicted))
            extra: dict[str, np.ndarray] = {}
            if dimension:
                extra[str(dimension)] = codes.astype(np.uint8)
            if step.get("probabilities", False):
                for column, name in enumerate(bundle.class_names):
                    extra[probability_dimension(name)] = probabilities[:, column]
            writer.write(points, classification=None if dimension else codes, extra=extra)


def run_pcloud_writer(step: Mapping[str, Any], state: PipelineState) -> None:
    """``ClassifiedPcloudWriter``: writes each cloud with its predicted classes.

    The predicted classes are written as the classes' LAS codes to ``classification``, or
    to the extra dimension ``prediction_dimension`` when it is given (``classification``
    then keeps the reference). With ``probabilities``, one float32 extra dimension per class
    (``prob_<class>``) is added. Every input dimension, the header and the CRS are kept. The
    file is written :data:`WRITE_CHUNK_POINTS` points at a time
    (:class:`~vl3d_focal.io.chunks.ChunkedCloudWriter`), to a temporary file renamed into place.

    Example:
        >>> run_pcloud_writer({"writer": "ClassifiedPcloudWriter", "out_pcloud": "*pred.laz",
        ...                    "probabilities": True}, state)     # doctest: +SKIP
    """
    from vl3d_focal.io.chunks import ChunkedCloudWriter

    bundle = state.require_bundle(step="ClassifiedPcloudWriter")
    mapping = bundle.mapping
    dimension = step.get("prediction_dimension")
    with_probabilities = bool(step.get("probabilities", False))
    for record in state.clouds:
        if record.streamed is not None:
            _write_streamed(record, step, bundle, extra_types=_extra_types(step, bundle))
            continue
        if record.predictions is None:
            raise DataError(
                f"ClassifiedPcloudWriter: cloud {record.path} has no predictions; "
                "expected a 'predict' step before the writer"
            )
        extra_types = _extra_types(step, bundle)
        las = record.cloud.las
        path = expand_output(step["out_pcloud"], prefix=record.prefix)
        with ChunkedCloudWriter(path, header=las.header, extra_dims=extra_types,
                                source_path=record.cloud.path) as writer:
            for start in range(0, record.num_points, WRITE_CHUNK_POINTS):
                stop = min(start + WRITE_CHUNK_POINTS, record.num_points)
                codes = np.asarray(mapping.to_las_codes(record.predictions[start:stop]))
                extra: dict[str, np.ndarray] = {}
                if dimension:
                    extra[str(dimension)] = codes.astype(np.uint8)
                if with_probabilities:
                    for column, name in enumerate(bundle.class_names):
                        extra[probability_dimension(name)] = record.probabilities[start:stop, column].astype(np.float32)
                writer.write(las.points[start:stop], classification=None if dimension else codes, extra=extra)
