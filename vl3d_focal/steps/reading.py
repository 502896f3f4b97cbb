"""Reading the input clouds and the ``class_mapping`` step.

Example:
    >>> state = read_inputs(inputs=["scene.las"], prefixes=["out/"])   # doctest: +SKIP
    >>> state.clouds[0].num_points                       # doctest: +SKIP
    120000
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vl3d_focal.errors import DataError
from vl3d_focal.steps.paths import cloud_prefixes, model_prefix
from vl3d_focal.steps.state import CloudRecord, PipelineState

logger = logging.getLogger(__name__)


def read_inputs(*, inputs: Sequence[str | Path], prefixes: Sequence[str | Path]) -> PipelineState:
    """Opens every input cloud (one log line each) into a new pipeline state.

    Only the header is read and checked here (:func:`vl3d_focal.io.las.check_file`): a
    cloud is read whole when a step first uses it (training, in-memory prediction), while
    prediction, evaluation and writing of a big cloud nobody trains on stream its file
    (:mod:`vl3d_focal.steps.streaming`), so that memory stays bounded for any cloud size.

    Args:
        inputs: ``in_pcloud`` paths (already resolved against the spec's folder).
        prefixes: ``out_pcloud`` prefixes (one, or one per input).

    Returns:
        A :class:`PipelineState` holding one :class:`CloudRecord` per input.

    Example:
        >>> read_inputs(inputs=[], prefixes=["out/"]).clouds
        []
    """
    from vl3d_focal.io.las import check_file

    per_cloud = cloud_prefixes(inputs=inputs, prefixes=prefixes)
    records = []
    for number, (path, prefix) in enumerate(zip(inputs, per_cloud), start=1):
        count = check_file(path)
        logger.info("cloud %d/%d: %s, %d points", number, len(inputs), path, count)
        records.append(CloudRecord(path=Path(path), cloud=None, prefix=prefix, num_points=count))
    return PipelineState(clouds=records, model_prefix=model_prefix(inputs=inputs, prefixes=prefixes))


def _code_listing(codes: np.ndarray) -> str:
    values, counts = np.unique(codes, return_counts=True)
    shown = ", ".join(f"{v}: {c} points" for v, c in zip(values.tolist()[:10], counts.tolist()[:10]))
    return shown + (", ..." if len(values) > 10 else "")


def map_labels(cloud: Any, mapping: Any) -> np.ndarray:
    """The mapped classes of a cloud (``-1`` for ignored points), possibly all ignored.

    Example:
        >>> labels = map_labels(cloud, mapping)               # doctest: +SKIP
    """
    codes = np.asarray(cloud.las.classification)
    return np.asarray(mapping.map(codes, source=str(cloud.path or cloud.name)), dtype=np.int64)


def reference_labels(cloud: Any, mapping: Any) -> np.ndarray:
    """The mapped reference classes of a cloud (``-1`` for ignored points), for training or scoring.

    Raises:
        DataError: A code neither mapped nor ignored, or no point of a mapped class (e.g. a
            cloud never classified: every code 0); the message names the file and the codes.

    Example:
        >>> labels = reference_labels(cloud, mapping)        # doctest: +SKIP
    """
    labels = map_labels(cloud, mapping)
    if not np.any(labels >= 0):
        codes = np.asarray(cloud.las.classification)
        present = _code_listing(codes) if codes.size else "no points"
        raise DataError(
            f"point cloud {cloud.path or cloud.name}: no reference labels: no point has the "
            f"classification code of a mapped class (codes present: {present}); training and "
            "evaluation need a classified cloud"
        )
    return labels


def require_points(record: CloudRecord, *, minimum: int, what: str) -> None:
    """Raises a DataError when a cloud has fewer than ``minimum`` points.

    Args:
        record: the cloud.
        minimum: the number of points needed (e.g. ``pre_processing.num_points``).
        what: what needs them, for the message.

    Example:
        >>> require_points(record, minimum=512, what="a receptive field (num_points)")  # doctest: +SKIP
    """
    if record.num_points < minimum:
        raise DataError(
            f"point cloud {record.path}: {record.num_points} points, fewer than the {minimum} "
            f"points {what} needs"
        )


def log_class_histogram(labels: np.ndarray, *, class_names: Sequence[str], what: str) -> None:
    """Logs points per class (and ignored points) of one label array.

    Example:
        >>> log_class_histogram(np.array([0, 0, -1]), class_names=["a"], what="demo")
    """
    counts = np.bincount(labels[labels >= 0], minlength=len(class_names))
    parts = [f"{name}={int(count)}" for name, count in zip(class_names, counts)]
    logger.info("%s: %s, ignored=%d", what, ", ".join(parts), int(np.sum(labels < 0)))


def run_class_mapping(step: Mapping[str, Any], state: PipelineState) -> None:
    """The ``class_mapping`` step: maps every cloud's LAS codes to class indices.

    Ignored codes become ``-1``; those points are never trained on and never scored. A cloud
    without any point of a mapped class (e.g. never classified) keeps ``labels = None``: it
    can still be predicted, and a step that needs its labels gets the error of
    :func:`reference_labels`.

    Example:
        >>> run_class_mapping({"class_mapping": "LASClassMapping", "classes": [
        ...     {"name": "ground", "codes": [2]}], "ignore_codes": [0]}, state)   # doctest: +SKIP
    """
    from vl3d_focal.data.labels import ClassMapping

    state.mapping = ClassMapping.from_spec(step)
    for record in state.clouds:
        if not record.loaded:  # mapped on first use (never, for a streamed cloud)
            record.pending_mapping = state.mapping
            continue
        labels = map_labels(record.cloud, state.mapping)
        if not np.any(labels >= 0):
            logger.warning("%s: no point of a mapped class; it can be predicted but not trained on "
                           "nor evaluated", record.path)
            continue  # labels stay None: a step that needs them calls reference_labels, which explains
        record.labels = labels
        log_class_histogram(record.labels, class_names=list(state.mapping.names), what=record.path.name)


def ensure_labels(state: PipelineState, *, mapping: Any) -> None:
    """Maps the clouds that have no labels yet with ``mapping`` (e.g. the model's).

    Example:
        >>> ensure_labels(PipelineState(clouds=[], model_prefix=""), mapping=None)
    """
    for record in state.clouds:
        if record.labels is None:
            record.labels = reference_labels(record.cloud, mapping)
