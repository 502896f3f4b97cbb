"""VL3D's class reduction: groups of input classes become the classes of a smaller set.

A reduction is given by groups of input class indices, one group per output class; an input
class in no group is ignored from then on (VL3D labels such points -1). Applied to the class
mapping (:func:`reduce_mapping`), it reduces the reference classes of every cloud; applied to
predictions (:class:`ReducedPredictions`), the predicted class of a point becomes the output
class of its group (as VL3D reduces the predicted labels) and the probabilities of a group's
classes are summed.

Example:
    >>> mapping = ClassMapping.from_values(["noclass", "ground", "car", "truck"])
    >>> reduced = reduce_mapping(mapping, groups=[[1], [2, 3]], names=["ground", "vehicle"])
    >>> reduced.map(np.array([0, 1, 2, 3])).tolist(), reduced.las_codes
    ([-1, 0, 1, 1], [0, 1])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.records import Chunk, CloudRecord, Predictions
from vl3d_focal.errors import DataError
from vl3d_focal.io.chunks import iter_chunks


def reduce_mapping(mapping: ClassMapping, *, groups: Sequence[Sequence[int]], names: Sequence[str]) -> ClassMapping:
    """The mapping whose class ``j`` is the union of ``mapping``'s classes ``groups[j]``.

    Codes of classes in no group become ignored codes. The output code of a reduced class is
    its index for VL3D's classification values (``mapping.vl3d_values``), else the output code
    of the group's first class.

    Raises:
        DataError: a group is empty, names an unknown class, or shares a class with another.

    Example:
        >>> m = ClassMapping(names=["ground", "low", "high"], codes=[[2], [3], [4, 5]])
        >>> r = reduce_mapping(m, groups=[[0], [1, 2]], names=["ground", "vegetation"])
        >>> r.codes, r.las_codes
        ([[2], [3, 4, 5]], [2, 3])
    """
    owner: dict[int, int] = {}
    for j, group in enumerate(groups):
        if not group:
            raise DataError(f"class reduction: group {j} ({names[j]!r}) is empty")
        for index in group:
            if not 0 <= index < mapping.num_classes:
                raise DataError(f"class reduction: class index {index} is not one of the {mapping.num_classes} classes")
            if index in owner:
                raise DataError(f"class reduction: class {mapping.names[index]!r} is in groups {owner[index]} and {j}")
            owner[index] = j
    if len(names) != len(groups):
        raise DataError(f"class reduction: {len(names)} output class names for {len(groups)} groups")
    codes = [sorted(code for index in group for code in mapping.codes[index]) for group in groups]
    dropped = [code for index in range(mapping.num_classes) if index not in owner for code in mapping.codes[index]]
    assert mapping.las_codes is not None  # filled by ClassMapping.__post_init__
    las_codes = list(range(len(groups))) if mapping.vl3d_values else [mapping.las_codes[group[0]] for group in groups]
    return ClassMapping(
        names=list(names),
        codes=codes,
        ignore_codes=sorted(set(mapping.ignore_codes) | set(dropped)),
        las_codes=las_codes,
        unmapped=mapping.unmapped,
        vl3d_values=mapping.vl3d_values,
    )


def group_table(groups: Sequence[Sequence[int]], *, num_classes: int) -> np.ndarray:
    """``(num_classes,)`` the output class of each input class; -1 for a class in no group.

    Example:
        >>> group_table([[1], [0, 2]], num_classes=4).tolist()
        [1, 0, 1, -1]
    """
    table = np.full(num_classes, -1, dtype=np.int64)
    for j, group in enumerate(groups):
        table[list(group)] = j
    return table


class ReducedPredictions:
    """Predictions of another :class:`~vl3d_focal.data.records.Predictions` in reduced classes.

    Every predicted class must belong to a group (a ClassReducer on predictions checks it).

    Example:
        >>> import laspy
        >>> from vl3d_focal.data.records import InMemoryPredictions
        >>> from vl3d_focal.io.las import PointCloud
        >>> las = laspy.create(point_format=6, file_version="1.4"); las.x = [0.0, 1.0]; las.y = las.z = [0.0, 0.0]
        >>> inner = InMemoryPredictions(PointCloud.from_las(las), np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]]))
        >>> [(c.tolist(), p.astype(float).round(2).tolist())
        ...  for _, _, c, p in ReducedPredictions(inner, groups=[[0], [1, 2]]).iter_chunks()]
        [([1, 0], [[0.2, 0.8], [0.6, 0.4]])]
    """

    def __init__(self, inner: Predictions, *, groups: Sequence[Sequence[int]]) -> None:
        self.inner = inner
        self.table = group_table(groups, num_classes=inner.num_classes)
        if np.any(self.table < 0):
            missing = np.flatnonzero(self.table < 0).tolist()
            raise DataError(
                f"class reduction of predictions: classes {missing} are in no group; every "
                "predicted class needs a reduced class"
            )
        self.num_classes = len(groups)
        self.matrix = np.zeros((inner.num_classes, self.num_classes), dtype=np.float32)
        self.matrix[np.arange(inner.num_classes), self.table] = 1.0

    def iter_chunks(self) -> Iterator[Chunk]:
        """The inner chunks with reduced classes and summed probabilities."""
        for start, points, classes, probabilities in self.inner.iter_chunks():
            yield start, points, self.table[np.asarray(classes)], np.asarray(probabilities) @ self.matrix

    def close(self) -> None:
        """Closes the inner predictions."""
        self.inner.close()


def count_classes(record: CloudRecord, *, mappings: Sequence[ClassMapping]) -> list[np.ndarray]:
    """Points per class of the cloud under each mapping (ignored points left out).

    A cloud not in memory is read chunk by chunk (its classification only is kept).

    Raises:
        DataError: a classification value or code one of the mappings does not know.

    Example:
        >>> import laspy, tempfile
        >>> from pathlib import Path
        >>> las = laspy.create(point_format=6, file_version="1.4")
        >>> las.x = las.y = las.z = [0.0, 1.0, 2.0]; las.classification = [0, 2, 2]
        >>> path = Path(tempfile.mkdtemp()) / "c.las"; las.write(path)
        >>> before = ClassMapping.from_values(["a", "b", "c"])
        >>> after = reduce_mapping(before, groups=[[0, 2]], names=["ac"])
        >>> [c.tolist() for c in count_classes(CloudRecord(path=path, num_points=3), mappings=[before, after])]
        [[1, 0, 2], [3]]
    """
    counts = [np.zeros(mapping.num_classes, dtype=np.int64) for mapping in mappings]
    if record.loaded:
        parts: Iterator[np.ndarray] = iter([np.asarray(record.cloud.las.classification)])
    else:
        parts = (np.asarray(points.classification) for _, points in iter_chunks(record.path))
    for codes in parts:
        for total, mapping in zip(counts, mappings):
            labels = mapping.map(codes, source=str(record.path))
            total += np.bincount(labels[labels >= 0], minlength=mapping.num_classes)
    return counts
