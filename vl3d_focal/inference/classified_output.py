"""Writing the outputs of a classification: clouds and predicted labels.

- :func:`write_classified_cloud`: every input dimension, the header and the CRS kept, the
  predicted classes as LAS codes and, on request, one probability dimension per class;
- :func:`write_state_cloud` (VL3D's ``Writer``): the cloud as the pipeline sees it, with its
  reduced classification after a ``ClassReducer`` and the predicted class in an extra
  dimension ``prediction``;
- :func:`write_predictions` (VL3D's ``PredictionsWriter``): one predicted class per line;
- :func:`write_with_dimensions`: a cloud in memory with new extra dimensions (model outputs,
  activations);
- :func:`report_columns` and :func:`activation_columns`: the extra dimensions of VL3D's
  ``ClassifiedPcloudReport`` (``Prediction``, ``Success``, one probability per class named by
  the class) and ``PwiseActivationsReport`` (``f1``..``fn``), for the clouds a training and a
  ``DLModelEvaluator`` write; ``classification`` keeps the reference.

The predicted class of ``write_state_cloud`` and ``write_predictions`` is written as VL3D
writes it (:meth:`~vl3d_focal.data.labels.ClassMapping.prediction_values`): its classification
code where the classes are the cloud's codes (no class step), else its index (the classes of a
class mapping or ``ClassReducer``).

Clouds are written chunk by chunk (:class:`~vl3d_focal.io.chunks.ChunkedCloudWriter`), to a
temporary file renamed into place, so a cloud is never copied whole in memory.

Example:
    >>> probability_dimension("high vegetation")
    'prob_high_vegetation'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import laspy
import numpy as np

from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.records import CHUNK_POINTS, Chunk, CloudRecord
from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.io.chunks import ChunkedCloudWriter, read_header
from vl3d_focal.io.extra_names import cut_name
from vl3d_focal.io.las import STANDARD_DIMENSIONS, max_classification_code
from vl3d_focal.progress import Progress

logger = logging.getLogger(__name__)

PROBABILITY_PREFIX = "prob_"
PREDICTION_DIMENSION = "prediction"
"""The extra dimension VL3D's ``Writer`` gives the predicted class."""
MAX_DIMENSION_NAME = 32  # LAS extra-bytes names are 32 bytes
PREDICTION, SUCCESS = "Prediction", "Success"
"""VL3D's classified-cloud report dimensions: the predicted class and whether it is the
reference class (1) or not (0)."""
ACTIVATION_PREFIX = "f"
"""VL3D's names of the activations: ``f1``..``fn``."""


def probability_names(class_names: Sequence[str]) -> list[str]:
    """The extra dimensions of the class probabilities: the classes' names (VL3D's), cut to the
    32 bytes of a LAS extra dimension's name (:func:`~vl3d_focal.io.extra_names.cut_name`).

    Example:
        >>> probability_names(["Ground", "Urban furniture"])
        ['Ground', 'Urban furniture']
    """
    return [cut_name(name=name) for name in class_names]


def report_name_problems(class_names: Sequence[str]) -> list[tuple[int, str]]:
    """``(index, problem)`` for each class whose probability cannot have its own dimension named
    by the class in VL3D's classified-cloud layout: a standard LAS dimension, ``Prediction`` or
    ``Success``, or the (cut) name of an earlier class.

    Example:
        >>> report_name_problems(["ground", "Red", "ground"])[0][1]
        "'Red' is a standard LAS dimension: its probability cannot be written under that name; give the class another name"
        >>> [index for index, _ in report_name_problems(["ground", "Red", "ground"])]
        [1, 2]
    """
    found, taken = [], {PREDICTION, SUCCESS}
    for index, (name, written) in enumerate(zip(class_names, probability_names(class_names))):
        if written.lower() in STANDARD_DIMENSIONS:
            found.append(
                (
                    index,
                    f"{name!r} is a standard LAS dimension: its probability cannot be written under "
                    "that name; give the class another name",
                )
            )
        elif written in taken:
            found.append(
                (
                    index,
                    f"{name!r} would be written as {written!r}, the name of another dimension of the "
                    "classified cloud (Prediction, Success or an earlier class, names cut to 32 "
                    "bytes); give the class another name",
                )
            )
        taken.add(written)
    return found


def report_columns(
    *, labels: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str], mapping: ClassMapping
) -> dict[str, np.ndarray]:
    """VL3D's ``ClassifiedPcloudReport`` extra dimensions: ``Prediction`` (the most probable
    class, written as the other prediction outputs write it:
    :meth:`~vl3d_focal.data.labels.ClassMapping.prediction_values` of ``mapping``, the mapping
    of the predicted classes), ``Success`` (1 where that class is the reference class of
    ``labels``, else 0, also for a point without reference class, -1, as VL3D compares them) and
    one float32 probability per class named by the class (:func:`probability_names`).

    Raises:
        DataError: a class name :func:`report_name_problems` refuses.

    Example:
        >>> columns = report_columns(labels=np.array([1, 0, -1]), probabilities=np.array([[0.2, 0.8], [0.3, 0.7], [1, 0]]),
        ...                          class_names=["ground", "tree"], mapping=ClassMapping.from_codes(np.array([2, 5])))
        >>> {name: values.tolist() for name, values in columns.items()}
        {'Prediction': [5, 5, 2], 'Success': [1, 0, 0], 'ground': [0.20000000298023224, 0.30000001192092896, 1.0], \
'tree': [0.800000011920929, 0.699999988079071, 0.0]}
    """
    problems = report_name_problems(class_names)
    if problems:
        raise DataError(f"classified cloud: {problems[0][1]}")
    probabilities = np.asarray(probabilities)
    predicted = np.argmax(probabilities, axis=1)
    columns = {
        PREDICTION: mapping.prediction_values(predicted).astype(np.int32),
        SUCCESS: (np.asarray(labels) == predicted).astype(np.int32),
    }
    columns.update(zip(probability_names(class_names), probabilities.T.astype(np.float32)))
    return columns


def activation_columns(values: np.ndarray) -> dict[str, np.ndarray]:
    """VL3D's ``PwiseActivationsReport`` extra dimensions: one float32 ``f1``..``fn`` per activation.

    Example:
        >>> list(activation_columns(np.zeros((4, 3))))
        ['f1', 'f2', 'f3']
    """
    values = np.asarray(values, dtype=np.float32)
    return {f"{ACTIVATION_PREFIX}{k + 1}": values[:, k] for k in range(values.shape[1])}


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
    keep_codes: Sequence[int] = (),
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
        keep_codes: input codes a point keeps in ``classification`` (its predicted class's code
            goes to ``prediction_dimension`` all the same). A point of a code in no class (an
            ignored or unmapped code) and not kept gets its predicted class's code, logged per code.

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
    kept, relabelled = 0, np.zeros(256, dtype=np.int64)  # relabelled: per LAS code, points of no class overwritten
    class_codes = np.asarray([code for codes in mapping.codes for code in codes], dtype=np.int64)
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
            written = codes
            if not prediction_dimension:
                given = np.asarray(points.classification).astype(np.int64)
                keep = np.isin(given, np.asarray(keep_codes, dtype=np.int64))
                written, kept = np.where(keep, given, codes), kept + int(keep.sum())
                relabelled += np.bincount(given[~keep & ~np.isin(given, class_codes)], minlength=256)[:256]
            writer.write(points, classification=None if prediction_dimension else written, extra=extra)
    if keep_codes and not prediction_dimension:
        logger.info("%s: %d points kept their input code (keep_codes %s)", path, kept, list(keep_codes))
    if relabelled.any():  # ignored codes (ignore_codes, unmapped): never trained on nor scored, but predicted
        listing = {int(code): int(count) for code, count in enumerate(relabelled) if count}
        logger.info(
            "%s: %d points with ignored codes %s were given predicted classes; list them in "
            "ClassifiedPcloudWriter's keep_codes to keep them",
            path,
            int(relabelled.sum()),
            listing,
        )


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
    predictions: ClassMapping | None,
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
        predictions: the mapping of the predicted classes, to write each point's predicted class
            to the extra dimension ``prediction`` (its ``prediction_values``); None writes none.
        features: float32 extra dimensions by name, a value per point in file order (the
            features of the pipeline's miners); a dimension of the source with that name gets them.

    Example:
        >>> write_state_cloud(out / "state.laz", source=record.path, header=None, chunks=source_chunks(record),
        ...     classes=None, predictions=None, features={"score": np.zeros(1531)})
        >>> list(laspy.read(out / "state.laz").header.point_format.extra_dimension_names)
        ['score']
    """
    header = read_header(source) if header is None else header
    top = max_classification_code(header.point_format.id)
    features = features or {}
    extra_types = {
        **({PREDICTION_DIMENSION: "int32"} if predictions is not None else {}),
        **dict.fromkeys(features, "float32"),
    }
    unclassified = 0
    with ChunkedCloudWriter(path, header=header, extra_dims=extra_types, source_path=source) as writer:
        for start, points, predicted, _ in chunks:
            codes = None
            if classes is not None:
                codes = np.asarray(classes(np.asarray(points.classification)), dtype=np.int64)
                unclassified += int(np.sum(codes < 0))
                codes = np.where(codes < 0, top, codes)
            extra = {name: values[start : start + len(points)] for name, values in features.items()}
            if predictions is not None:
                assert predicted is not None  # predictions are written from the chunks of a predicted cloud
                extra[PREDICTION_DIMENSION] = predictions.prediction_values(predicted).astype(np.int32)
            writer.write(points, classification=codes, extra=extra)
    if unclassified:
        logger.info("%s: %d points of no reduced class written with classification %d", path, unclassified, top)


def write_predictions(path: str | Path, *, chunks: Iterable[Chunk], mapping: ClassMapping) -> None:
    """Writes the predicted class of every point, one integer per line, in file order: the
    ``prediction_values`` of ``mapping``, the mapping of the predicted classes.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "predictions.lbl"
        >>> chunks = [(0, None, np.array([2, 0]), None), (2, None, np.array([1]), None)]
        >>> write_predictions(path, chunks=chunks, mapping=ClassMapping.from_codes(np.array([2, 5, 6])))
        >>> path.read_text().split()
        ['6', '2', '5']
    """
    with atomic_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            for _, _, predicted, _ in chunks:
                assert predicted is not None  # the chunks of a predicted cloud
                np.savetxt(handle, mapping.prediction_values(predicted), fmt="%d")
    logger.info("wrote %s", path)


def write_with_dimensions(
    path: str | Path, *, source: Path, las: laspy.LasData, columns: Mapping[str, np.ndarray]
) -> None:
    """Writes a cloud held in memory with one new extra dimension per column (float32 or int32).

    Example:
        >>> write_with_dimensions(out / "activations.laz", source=record.path, las=record.cloud.las,
        ...                       columns={"f1": np.zeros(record.num_points)})
        >>> list(laspy.read(out / "activations.laz").point_format.extra_dimension_names)
        ['f1']
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
