"""One input cloud and what the pipeline computed for it, and its reference labels.

Example:
    >>> record = CloudRecord(path=Path("a.las"), cloud=None, prefix="out/", num_points=10)
    >>> record.loaded, record.num_points
    (False, 10)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.errors import DataError
from vl3d_focal.io.buffer_neighbours import BufferNeighbours
from vl3d_focal.io.las import PointCloud, las_dimensions, read_cloud

logger = logging.getLogger(__name__)

Chunk = tuple[int, Any, np.ndarray | None, np.ndarray | None]
"""``(start, points, classes (n,), probabilities (n, C))`` of one chunk of a cloud, in file order;
``points`` is a laspy point record; ``classes`` and ``probabilities`` are None in chunks without
predictions (and ``probabilities`` where they are not kept)."""
CHUNK_POINTS = 500_000
"""Points per chunk of an in-memory cloud."""


class Predictions(Protocol):
    """The per-point predictions of a cloud, read chunk by chunk in file order."""

    num_classes: int

    def iter_chunks(self) -> Iterator[Chunk]:
        """The chunks of every point, in file order."""

    def close(self) -> None:
        """Releases what holds the predictions (temporary files)."""


class InMemoryPredictions:
    """Predictions of a cloud held in memory.

    Attributes:
        cloud: the predicted cloud.
        probabilities: ``(N, C)`` float32 class probabilities.
        classes: ``(N,)`` the most probable class of each point.

    Example:
        >>> import laspy
        >>> las = laspy.create(point_format=1); las.x = [0.0, 1.0]; las.y = [0.0, 0.0]; las.z = [0.0, 0.0]
        >>> result = InMemoryPredictions(PointCloud.from_las(las), np.array([[0.9, 0.1], [0.2, 0.8]]))
        >>> result.classes.tolist(), [start for start, *_ in result.iter_chunks()]
        ([0, 1], [0])
    """

    def __init__(self, cloud: PointCloud, probabilities: np.ndarray) -> None:
        self.cloud = cloud
        self.probabilities = np.asarray(probabilities, dtype=np.float32)
        self.classes = np.argmax(self.probabilities, axis=1).astype(np.int64)
        self.num_classes = int(self.probabilities.shape[1])

    def iter_chunks(self) -> Iterator[Chunk]:
        """The cloud's points with their predictions, :data:`CHUNK_POINTS` at a time."""
        points = self.cloud.las.points
        for start in range(0, len(self.classes), CHUNK_POINTS):
            stop = min(start + CHUNK_POINTS, len(self.classes))
            yield start, points[start:stop], self.classes[start:stop], self.probabilities[start:stop]

    def close(self) -> None:
        """Nothing to release."""


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
        result: the predictions of the last predict step (:class:`Predictions`: in memory,
            or on disk for a streamed cloud), None before any.
        pending_mapping: the class mapping whose labels are mapped on first use.
        fields_cache: receptive fields already built, keyed by field configuration.
        features_cache: raw ``(N, F)`` features already extracted, keyed by feature names.
        warnings: what the steps noted about this cloud without failing (a survey records them).
        feature_warnings: what the last prediction found about the cloud's features (features
            far from the model's training data, :mod:`vl3d_focal.data.feature_shift`); also
            among ``warnings``.
        left_out_points: the points the last prediction left out with a ``RemovalImputer`` and gave
            their nearest kept point's prediction (:mod:`vl3d_focal.data.model_view`).
        buffer_neighbours: the neighbour tiles the buffered predictions of its phase read
            (:class:`~vl3d_focal.io.buffer_neighbours.BufferNeighbours`; a survey records
            them), None without buffer.

    Example:
        >>> record = CloudRecord(path=Path("a.las"), cloud=None, prefix="out/", num_points=10)
        >>> record.loaded, record.num_points
        (False, 10)
    """

    def __init__(
        self,
        *,
        path: Path,
        cloud: PointCloud | None = None,
        prefix: str = "",
        labels: np.ndarray | None = None,
        num_points: int | None = None,
    ) -> None:
        self.path = Path(path)
        self._cloud = cloud
        self.prefix = prefix
        self._labels = labels
        self._num_points = num_points
        self.pending_mapping: ClassMapping | None = None
        self.result: Predictions | None = None
        self.fields_cache: dict[str, Any] = {}
        self.features_cache: dict[tuple[str, ...], np.ndarray] = {}
        self.warnings: list[str] = []
        self.feature_warnings: list[str] = []
        self.left_out_points = 0
        self.buffer_neighbours: BufferNeighbours | None = None

    @property
    def loaded(self) -> bool:
        """Whether the whole cloud is in memory."""
        return self._cloud is not None

    @property
    def cloud(self) -> PointCloud:
        """The cloud, read whole on first use."""
        if self._cloud is None:
            self._cloud = read_cloud(self.path)
        return self._cloud

    def point_chunks(self) -> Iterator[tuple[int, Any]]:
        """``(start, points)`` of every point in file order: from memory when the cloud is read
        whole (a concatenated cloud has no one file), else chunk by chunk from its file.

        Example:
            >>> [start for start, _ in CloudRecord(path=tile, prefix="out/", num_points=1531).point_chunks()]
            [0]
        """
        if self._cloud is None:
            from vl3d_focal.io.chunks import iter_chunks

            yield from iter_chunks(self.path)
            return
        points = self._cloud.las.points
        for start in range(0, len(points), CHUNK_POINTS):
            yield start, points[start : start + CHUNK_POINTS]

    @property
    def streamed(self) -> bool:
        """Whether the predictions live on disk (a cloud predicted tile by tile from its file)."""
        return self.result is not None and not isinstance(self.result, InMemoryPredictions)

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
    def dimension_names(self) -> list[str]:
        """The cloud's point dimensions (:func:`~vl3d_focal.io.las.las_dimensions`), from its
        header when it is not read whole.

        Example:
            >>> CloudRecord(path=tile, prefix="out/", num_points=1531).dimension_names[:2]
            ['intensity', 'return_number']
        """
        from vl3d_focal.io.chunks import read_header

        return las_dimensions(self._cloud.las if self._cloud is not None else read_header(self.path))

    @property
    def num_points(self) -> int:
        """Number of points of the cloud."""
        if self._cloud is None and self._num_points is not None:
            return int(self._num_points)
        return int(self.cloud.xyz.shape[0])


def no_labels_error(path: Any, code_counts: np.ndarray) -> DataError:
    """The error for a cloud with no point of a mapped class, listing the codes it has.

    Args:
        path: the cloud's file, for the message.
        code_counts: points per classification code (``np.bincount`` of the codes).

    Example:
        >>> "(codes present: 0: 2 points, 1: 1 points)" in str(no_labels_error("a.las", np.array([2, 1])))
        True
    """
    present = [f"{code}: {int(count)} points" for code, count in enumerate(code_counts) if count]
    listing = (", ".join(present[:10]) + (", ..." if len(present) > 10 else "")) or "no points"
    return DataError(
        f"point cloud {path}: no reference labels: no point has the classification code of a "
        f"mapped class (codes present: {listing}); training and evaluation need a classified cloud"
    )


def map_labels(cloud: PointCloud, mapping: ClassMapping) -> np.ndarray:
    """The mapped classes of a cloud (``-1`` for ignored points), possibly all ignored.

    Example:
        >>> labels = map_labels(cloud, mapping)
        >>> labels.shape, int((labels == -1).sum())  # the noise points (code 7) are ignored
        ((1531,), 1)
    """
    codes = np.asarray(cloud.las.classification)
    return np.asarray(mapping.map(codes, source=str(cloud.path or cloud.name)), dtype=np.int64)


def reference_labels(cloud: PointCloud, mapping: ClassMapping) -> np.ndarray:
    """The mapped reference classes of a cloud (``-1`` for ignored points), for training or scoring.

    Raises:
        DataError: A code neither mapped nor ignored, or no point of a mapped class (e.g. a
            cloud never classified: every code 0); the message names the file and the codes.

    Example:
        >>> labels = reference_labels(cloud, mapping)
        >>> np.bincount(labels[labels >= 0], minlength=5).tolist()  # ground, vegetation, building, vehicle, pole
        [1184, 98, 0, 54, 194]
    """
    labels = map_labels(cloud, mapping)
    if not np.any(labels >= 0):
        raise no_labels_error(cloud.path or cloud.name, np.bincount(np.asarray(cloud.las.classification)))
    return labels


def check_codes(record: CloudRecord, mapping: ClassMapping) -> None:
    """Raises the mapping's error when the cloud has a code the mapping neither maps nor ignores.

    A cloud in memory is checked at once; one that is not (a big cloud predicted from its file)
    is read chunk by chunk, its classification only kept.

    Example:
        >>> check_codes(record, mapping)  # every code of the tile is mapped or ignored: no error
        >>> record.cloud.las.classification[0] = 17
        >>> check_codes(record, mapping)
        Traceback (most recent call last):
        vl3d_focal.errors.DataError: .../tile.las: LAS codes neither mapped to a class nor ignored (17: 1 points); add them to a class or to ignore_codes of the class_mapping step, or set its unmapped to 'ignore'
    """
    if record.loaded:
        mapping.map(np.asarray(record.cloud.las.classification), source=str(record.path))
        return
    from vl3d_focal.io.chunks import iter_chunks

    counts = np.zeros(256, dtype=np.int64)
    for _, points in iter_chunks(record.path):
        counts += np.bincount(np.asarray(points.classification), minlength=256)[:256]
    mapping.check_code_counts(counts, source=str(record.path))


def require_points(record: CloudRecord, *, minimum: int, what: str) -> None:
    """Raises a DataError when a cloud has fewer than ``minimum`` points.

    Args:
        record: the cloud.
        minimum: the number of points needed (e.g. ``pre_processing.num_points``).
        what: what needs them, for the message.

    Example:
        >>> require_points(record, minimum=4096, what="a receptive field (num_points)")
        Traceback (most recent call last):
        ...
        vl3d_focal.errors.DataError: ...
    """
    if record.num_points < minimum:
        raise DataError(
            f"point cloud {record.path}: {record.num_points} points, fewer than the {minimum} points {what} needs"
        )


def log_class_histogram(labels: np.ndarray, *, class_names: Sequence[str], what: str) -> None:
    """Logs points per class (and ignored points) of one label array.

    Example:
        >>> with logged():
        ...     log_class_histogram(np.array([0, 0, 1, -1]), class_names=["ground", "pole"], what="demo")
        INFO: demo: ground=2, pole=1, ignored=1
    """
    counts = np.bincount(labels[labels >= 0], minlength=len(class_names))
    parts = [f"{name}={int(count)}" for name, count in zip(class_names, counts)]
    logger.info("%s: %s, ignored=%d", what, ", ".join(parts), int(np.sum(labels < 0)))
