"""Reading the input clouds and the ``class_mapping`` step.

Example:
    >>> state = read_inputs(inputs=["scene.las"], prefixes=["out/"])   # doctest: +SKIP
    >>> state.clouds[0].num_points                       # doctest: +SKIP
    120000
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vl3d_focal.steps.paths import cloud_prefixes, model_prefix
from vl3d_focal.steps.state import CloudRecord, PipelineState

logger = logging.getLogger(__name__)


def read_inputs(*, inputs: Sequence[str | Path], prefixes: Sequence[str | Path]) -> PipelineState:
    """Reads every input cloud (one log line each) into a new pipeline state.

    Args:
        inputs: ``in_pcloud`` paths (already resolved against the spec's folder).
        prefixes: ``out_pcloud`` prefixes (one, or one per input).

    Returns:
        A :class:`PipelineState` holding one :class:`CloudRecord` per input.

    Example:
        >>> read_inputs(inputs=[], prefixes=["out/"]).clouds
        []
    """
    from vl3d_focal.io.las import read_cloud

    per_cloud = cloud_prefixes(inputs=inputs, prefixes=prefixes)
    records = []
    for number, (path, prefix) in enumerate(zip(inputs, per_cloud), start=1):
        start = time.perf_counter()
        cloud = read_cloud(path)
        logger.info(
            "cloud %d/%d: %s, %d points (%.1f s)",
            number, len(inputs), path, cloud.num_points, time.perf_counter() - start,
        )
        records.append(CloudRecord(path=Path(path), cloud=cloud, prefix=prefix))
    return PipelineState(clouds=records, model_prefix=model_prefix(inputs=inputs, prefixes=prefixes))


def reference_labels(cloud: Any, mapping: Any) -> np.ndarray:
    """The mapped reference classes of a cloud (``-1`` for ignored points).

    Example:
        >>> labels = reference_labels(cloud, mapping)        # doctest: +SKIP
    """
    codes = np.asarray(cloud.las.classification)
    return np.asarray(mapping.map(codes, source=str(cloud.path or cloud.name)), dtype=np.int64)


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

    Ignored codes become ``-1``; those points are never trained on and never scored.

    Example:
        >>> run_class_mapping({"class_mapping": "LASClassMapping", "classes": [
        ...     {"name": "ground", "codes": [2]}], "ignore_codes": [0]}, state)   # doctest: +SKIP
    """
    from vl3d_focal.data.labels import ClassMapping

    state.mapping = ClassMapping.from_spec(step)
    for record in state.clouds:
        record.labels = reference_labels(record.cloud, state.mapping)
        log_class_histogram(record.labels, class_names=list(state.mapping.names), what=record.path.name)


def ensure_labels(state: PipelineState, *, mapping: Any) -> None:
    """Maps the clouds that have no labels yet with ``mapping`` (e.g. the model's).

    Example:
        >>> ensure_labels(PipelineState(clouds=[], model_prefix=""), mapping=None)
    """
    for record in state.clouds:
        if record.labels is None:
            record.labels = reference_labels(record.cloud, mapping)
