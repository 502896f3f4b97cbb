"""One input cloud and what the pipeline computed for it, and its reference labels.

Example:
    >>> record = CloudRecord(path=Path("a.las"), cloud=None, prefix="out/", num_points=10)
    >>> record.loaded, record.num_points
    (False, 10)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vl3d_focal.errors import DataError

logger = logging.getLogger(__name__)


class CloudRecord:
    """One input cloud and what the steps computed for it.

    The cloud may be read lazily: built with ``cloud=None`` and ``num_points`` (from the
    header), it is read whole (:func:`vl3d_focal.io.las.read_cloud`) the first time a step uses
    :attr:`cloud`; a step that streams the file instead (prediction, eval, writer of a cloud
    not trained on) never reads it whole. Likewise the labels of a ``class_mapping`` step are
    mapped when first used (:attr:`labels`).

    Attributes:
        path: where the cloud was read from.
        prefix: the output prefix of this cloud (``*`` in per-cloud paths).
        probabilities: ``(N, C)`` predicted class probabilities (in-memory prediction).
        predictions: ``(N,)`` predicted class indices (in-memory prediction).
        streamed: the on-disk predictions of a streamed prediction
            (:class:`~vl3d_focal.inference.streaming.StreamedPredictions`), else None.
        pending_mapping: the class mapping whose labels are mapped on first use.
        fields_cache: receptive fields already built, keyed by field configuration.
        features_cache: raw ``(N, F)`` features already extracted, keyed by feature names.

    Example:
        >>> record = CloudRecord(path=Path("a.las"), cloud=None, prefix="out/", num_points=10)
        >>> record.loaded, record.num_points
        (False, 10)
    """

    def __init__(
        self,
        *,
        path: Path,
        cloud: Any = None,
        prefix: str = "",
        labels: np.ndarray | None = None,
        num_points: int | None = None,
    ) -> None:
        self.path = Path(path)
        self._cloud = cloud
        self.prefix = prefix
        self._labels = labels
        self._num_points = num_points
        self.pending_mapping: Any = None
        self.probabilities: np.ndarray | None = None
        self.predictions: np.ndarray | None = None
        self.streamed: Any = None
        self.fields_cache: dict[str, Any] = {}
        self.features_cache: dict[tuple[str, ...], np.ndarray] = {}

    @property
    def loaded(self) -> bool:
        """Whether the whole cloud is in memory."""
        return self._cloud is not None

    @property
    def cloud(self) -> Any:
        """The ``PointCloud``, read whole on first use."""
        if self._cloud is None:
            from vl3d_focal.io.las import read_cloud

            self._cloud = read_cloud(self.path)
        return self._cloud

    @property
    def labels(self) -> np.ndarray | None:
        """Mapped reference classes (``-1`` = ignored), once a mapping is known; None when the
        cloud has no point of a mapped class."""
        if self._labels is None and self.pending_mapping is not None:
            mapping, self.pending_mapping = self.pending_mapping, None
            codes = np.asarray(self.cloud.las.classification)
            labels = np.asarray(mapping.map(codes, source=str(self.path)), dtype=np.int64)
            self._labels = labels if np.any(labels >= 0) else None
        return self._labels

    @labels.setter
    def labels(self, value: np.ndarray | None) -> None:
        self._labels = value
        self.pending_mapping = None

    @property
    def num_points(self) -> int:
        """Number of points of the cloud."""
        if self._cloud is None and self._num_points is not None:
            return int(self._num_points)
        return int(self.cloud.xyz.shape[0])


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
