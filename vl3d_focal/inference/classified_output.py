"""Writing the outputs of a classification: clouds and predicted labels.

- :func:`write_classified_cloud`: every input dimension, the header and the CRS kept, the
  predicted classes as LAS codes and, on request, one probability dimension per class;
- :func:`write_state_cloud` (VL3D's ``Writer``): the cloud as the pipeline sees it, with its
  reduced classification after a ``ClassReducer`` and the predicted class in an extra
  dimension ``prediction``;
- :func:`write_predictions` (VL3D's ``PredictionsWriter``): one predicted class per line;
- :func:`write_with_dimensions`: a cloud in memory with new extra dimensions (model outputs,
  activations).

Clouds are written chunk by chunk (:class:`~vl3d_focal.io.chunks.ChunkedCloudWriter`), to a
temporary file renamed into place, so a cloud is never copied whole in memory.

Example:
    >>> probability_dimension("high vegetation")
    'prob_high_vegetation'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import laspy
import numpy as np

from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.records import CHUNK_POINTS, Chunk, CloudRecord
from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.io.chunks import ChunkedCloudWriter, read_header
from vl3d_focal.io.las import max_classification_code
from vl3d_focal.progress import Progress

logger = logging.getLogger(__name__)

PROBABILITY_PREFIX = "prob_"
PREDICTION_DIMENSION = "prediction"
"""The extra dimension VL3D's ``Writer`` gives the predicted class (its index)."""
MAX_DIMENSION_NAME = 32  # LAS extra-bytes names are 32 bytes


def probability_dimension(class_name: str) -> str:
    """The extra-dimension name holding one class's probability.

    Example:
        >>> probability_dimension("low veg. (2)")
        'prob_low_veg_2'
    """
    cleaned = re.sub(r"[^0-9A-Za-z_]+", "_", class_name).strip("_") or "class"
    return f"{PROBABILITY_PREFIX}{cleaned}"[:MAX_DIMENSION_NAME]


def write_classified_cloud(
    path: str | Path,
    *,
    source: Path,
    header: laspy.LasHeader | None,
    chunks: Iterable[Chunk],
    mapping: ClassMapping,
    class_names: list[str],
    prediction_dimension: str | None,
    probabilities: bool,
) -> None:
    """Writes a classified cloud.

    Args:
        path: the output (.las or .laz).
        source: the input cloud (its header and VLRs are copied).
        header: the input's header, or None to read it from ``source``.
        chunks: the chunks of every point, in order (e.g. ``record.result.iter_chunks()``).
        mapping: gives the LAS code of each class.
        class_names: the model's classes (probability dimension names).
        prediction_dimension: extra dimension receiving the predicted class's LAS code; None
            writes it to ``classification``.
        probabilities: also write one float32 ``prob_<class>`` dimension per class.

    Example:
        >>> from vl3d_focal.inference.prediction import predict_cloud
        >>> predict_cloud(record, bundle)
        >>> write_classified_cloud(out / "pred.laz", source=record.path, header=None, chunks=record.result.iter_chunks(),
        ...     mapping=mapping, class_names=bundle.class_names, prediction_dimension=None, probabilities=True)
        >>> list(laspy.read(out / "pred.laz").point_format.extra_dimension_names)[:2]
        ['prob_ground', 'prob_vegetation']
    """
    probability_names = [probability_dimension(name) for name in class_names] if probabilities else []
    if prediction_dimension in probability_names:
        raise DataError(
            f"writing {path}: prediction_dimension {prediction_dimension!r} is also the name of a class's "
            "probability dimension; give it another name"
        )
    extra_types = {prediction_dimension: "uint8"} if prediction_dimension else {}
    extra_types.update({name: "float32" for name in probability_names})
    header = read_header(source) if header is None else header
    existing = [name for name in extra_types if name in header.point_format.dimension_names]
    if prediction_dimension in existing:
        raise DataError(
            f"writing {path}: {source} already has a dimension {prediction_dimension!r}, whose values would be "
            "replaced (every input dimension is kept); give prediction_dimension another name"
        )
    if existing:
        logger.warning("writing %s: the probabilities replace the values of %s's dimensions %s", path, source, existing)
    progress = Progress(f"writing {Path(path).name}", total=header.point_count, unit="points")
    with ChunkedCloudWriter(path, header=header, extra_dims=extra_types, source_path=source) as writer, progress:
        for _, points, predicted, chunk_probabilities in chunks:
            assert predicted is not None  # the chunks of a predicted cloud
            progress.advance(len(predicted))
            codes = np.asarray(mapping.to_las_codes(predicted))
            extra: dict[str, np.ndarray] = {}
            if prediction_dimension:
                extra[prediction_dimension] = codes.astype(np.uint8)
            if probabilities:
                assert chunk_probabilities is not None  # kept where probabilities are written
                for column, name in enumerate(class_names):
                    extra[probability_dimension(name)] = np.asarray(chunk_probabilities[:, column], dtype=np.float32)
            writer.write(points, classification=None if prediction_dimension else codes, extra=extra)


def source_chunks(record: CloudRecord) -> Iterator[Chunk]:
    """The chunks of a cloud without predictions (``classes`` and ``probabilities`` None), from
    memory or its file (:meth:`~vl3d_focal.data.records.CloudRecord.point_chunks`).

    Example:
        >>> next(source_chunks(record))[2] is None
        True
    """
    for start, points in record.point_chunks():
        yield start, points, None, None


def write_state_cloud(
    path: str | Path,
    *,
    source: Path,
    header: laspy.LasHeader | None,
    chunks: Iterable[Chunk],
    classes: Callable[[np.ndarray], np.ndarray] | None,
    predictions: bool,
    features: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Writes a cloud as the pipeline sees it (VL3D's ``Writer``).

    Args:
        path: the output (.las or .laz).
        source: the input cloud (header, VLRs and every dimension are copied).
        header: the input's header, or None to read it from ``source``.
        chunks: the chunks of every point (with predictions, or :func:`source_chunks`).
        classes: maps a chunk's classification codes to the classification written (the
            reduced classes' values; -1, a point in no class, becomes the highest code the
            point format stores); None keeps the classification.
        predictions: write each point's predicted class to the extra dimension ``prediction``.
        features: float32 extra dimensions by name, a value per point in file order (the
            features of the pipeline's miners); a dimension of the source with that name gets them.

    Example:
        >>> write_state_cloud(out / "state.laz", source=record.path, header=None, chunks=source_chunks(record),
        ...     classes=None, predictions=False, features={"score": np.zeros(1531)})
        >>> list(laspy.read(out / "state.laz").header.point_format.extra_dimension_names)
        ['score']
    """
    header = read_header(source) if header is None else header
    top = max_classification_code(header.point_format.id)
    features = features or {}
    extra_types = {**({PREDICTION_DIMENSION: "int32"} if predictions else {}), **dict.fromkeys(features, "float32")}
    unclassified = 0
    with ChunkedCloudWriter(path, header=header, extra_dims=extra_types, source_path=source) as writer:
        for start, points, predicted, _ in chunks:
            codes = None
            if classes is not None:
                codes = np.asarray(classes(np.asarray(points.classification)), dtype=np.int64)
                unclassified += int(np.sum(codes < 0))
                codes = np.where(codes < 0, top, codes)
            extra = {name: values[start : start + len(points)] for name, values in features.items()}
            if predictions:
                extra[PREDICTION_DIMENSION] = np.asarray(predicted, dtype=np.int32)
            writer.write(points, classification=codes, extra=extra)
    if unclassified:
        logger.info("%s: %d points of no reduced class written with classification %d", path, unclassified, top)


def write_predictions(path: str | Path, *, chunks: Iterable[Chunk]) -> None:
    """Writes the predicted class of every point, one integer per line, in file order.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "predictions.lbl"
        >>> write_predictions(path, chunks=[(0, None, np.array([2, 0]), None), (2, None, np.array([1]), None)])
        >>> path.read_text().split()
        ['2', '0', '1']
    """
    with atomic_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            for _, _, predicted, _ in chunks:
                np.savetxt(handle, np.asarray(predicted, dtype=np.int64), fmt="%d")
    logger.info("wrote %s", path)


def write_with_dimensions(
    path: str | Path, *, source: Path, las: laspy.LasData, columns: Mapping[str, np.ndarray]
) -> None:
    """Writes a cloud held in memory with one new extra dimension per column (float32 or int32).

    Example:
        >>> write_with_dimensions(out / "activations.laz", source=record.path, las=record.cloud.las,
        ...                       columns={"activation_0": np.zeros(record.num_points)})
        >>> list(laspy.read(out / "activations.laz").point_format.extra_dimension_names)
        ['activation_0']
    """
    arrays = {name: np.asarray(values) for name, values in columns.items()}
    types = {name: "int32" if np.issubdtype(values.dtype, np.integer) else "float32" for name, values in arrays.items()}
    with ChunkedCloudWriter(path, header=las.header, extra_dims=types, source_path=source) as writer:
        for start in range(0, len(las.points), CHUNK_POINTS):
            stop = min(start + CHUNK_POINTS, len(las.points))
            writer.write(
                las.points[start:stop],
                extra={name: values[start:stop].astype(types[name]) for name, values in arrays.items()},
            )
