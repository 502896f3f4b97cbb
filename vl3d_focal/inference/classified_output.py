"""Writing a classified cloud: every input dimension, the header and the CRS kept, the
predicted classes as LAS codes and, on request, one probability dimension per class.

The file is written chunk by chunk (:class:`~vl3d_focal.io.chunks.ChunkedCloudWriter`), to a
temporary file renamed into place, so a cloud is never copied whole in memory.

Example:
    >>> probability_dimension("high vegetation")
    'prob_high_vegetation'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import laspy
import numpy as np

from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.records import Chunk
from vl3d_focal.io.chunks import ChunkedCloudWriter, read_header
from vl3d_focal.progress import Progress

PROBABILITY_PREFIX = "prob_"
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
    path: str | Path, *, source: Path, header: laspy.LasHeader | None, chunks: Iterable[Chunk],
    mapping: ClassMapping, class_names: list[str], prediction_dimension: str | None, probabilities: bool,
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
        >>> write_classified_cloud("out/pred.laz", source=record.path, header=None,
        ...     chunks=record.result.iter_chunks(), mapping=mapping, class_names=names,
        ...     prediction_dimension=None, probabilities=False)      # doctest: +SKIP
    """
    extra_types: dict[str, str] = {}
    if prediction_dimension:
        extra_types[prediction_dimension] = "uint8"
    if probabilities:
        extra_types.update({probability_dimension(name): "float32" for name in class_names})
    header = read_header(source) if header is None else header
    progress = Progress(f"writing {Path(path).name}", total=header.point_count, unit="points")
    with ChunkedCloudWriter(path, header=header, extra_dims=extra_types, source_path=source) as writer, progress:
        for _, points, predicted, chunk_probabilities in chunks:
            progress.advance(len(predicted))
            codes = np.asarray(mapping.to_las_codes(predicted))
            extra: dict[str, np.ndarray] = {}
            if prediction_dimension:
                extra[prediction_dimension] = codes.astype(np.uint8)
            if probabilities:
                for column, name in enumerate(class_names):
                    extra[probability_dimension(name)] = np.asarray(chunk_probabilities[:, column], dtype=np.float32)
            writer.write(points, classification=None if prediction_dimension else codes, extra=extra)
