"""Checks made before a pipeline runs: its output folders can be written and hold its outputs.

The output folders are those of the files the steps write
(:func:`vl3d_focal.runner.outputs.output_files`). Each must be creatable: its nearest existing ancestor must be a folder
in which a file can really be created (a probe file is created and removed, which also
catches read-only file systems). Each of those files that exists already must be replaceable
(:func:`check_replaceable`: not immutable, not another user's in a sticky folder), so that a run
never fails at its last write after hours of training. The free space of their file systems must exceed an estimate
of the outputs: every model-sized file (model, best weights, resumable checkpoint) at the
loaded model file's size, else :data:`MODEL_ALLOWANCE_BYTES`; each classified cloud (points x
(input record + prediction byte + probabilities, one a class of the spec's ``num_classes`` or of
the loaded model file's class names: :func:`probability_classes`), a ``.laz`` one with its
points compressed as LAZ compresses them: :func:`cloud_output_bytes`); each report file at
:data:`REPORT_ALLOWANCE_BYTES`.

Example:
    >>> check_outputs({"in_pcloud": [], "out_pcloud": ["out/"], "sequential_pipeline": []})
"""

from __future__ import annotations

import errno
import io
import logging
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import laspy

from vl3d_focal.errors import DataError
from vl3d_focal.io.las_header import open_reader, readable_header
from vl3d_focal.runner.outputs import declared_outputs, output_files, output_folders
from vl3d_focal.schema_annotations import CLOUD_SUFFIXES
from vl3d_focal.wording import counted

logger = logging.getLogger(__name__)

MODEL_ALLOWANCE_BYTES = 64 * 2**20
"""Size allowed for a model trained by the pipeline (PointNet models are a few MiB)."""
REPORT_ALLOWANCE_BYTES = 4 * 2**20
"""Size allowed for one report file (JSON, text, CSV, PNG picture)."""
MODEL_SUFFIXES = (".keras", ".h5", ".npz", ".model", ".pipe")
"""Files the size of a model: the model, its best weights, the resumable checkpoint (VL3D's
model and pipeline names included; any other name of a model file counts as a report)."""
UNKNOWN_CLASSES = 32
"""Classes assumed for the probabilities written when neither a step of the spec (``num_classes``)
nor a loaded model file (its class names) says how many there are."""
LAZ_RATIO_FLOOR = 0.1
"""Smallest compression ratio assumed for a LAZ output (LAZ files are typically 7-25 % of their
LAS size; a ratio measured lower, e.g. on a tiny or constant cloud, is not trusted)."""
LAZ_SAMPLE_POINTS = 50_000
"""Points of an uncompressed (LAS) input compressed in memory to measure the ratio of its LAZ
output (one LAZ chunk: a few tens of milliseconds)."""


def _existing_ancestor(folder: Path) -> Path:
    current = folder.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def check_writable(folder: Path) -> Path:
    """Raises when ``folder`` cannot be created or written; returns its nearest existing ancestor.

    Example:
        >>> import tempfile
        >>> check_writable(Path(tempfile.mkdtemp()) / "new" / "sub").is_dir()
        True
    """
    ancestor = _existing_ancestor(folder)
    if not ancestor.is_dir():
        raise DataError(f"output folder {folder}: cannot be created, {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise DataError(f"output folder {folder}: expected a writable folder, {ancestor} is not writable")
    try:
        handle, probe = tempfile.mkstemp(prefix=".vl3d-focal-probe-", dir=ancestor)
        os.close(handle)
        os.unlink(probe)
    except OSError as err:
        raise DataError(
            f"output folder {folder}: expected a writable folder, cannot write in {ancestor} ({err})"
        ) from err
    return ancestor


def check_replaceable(path: Path) -> None:
    """Raises when the existing file ``path`` could not be replaced by a new one (renamed over):
    it cannot be opened for appending because it is immutable or append-only, or its permissions
    forbid it while the folder is sticky and neither is ours. Nothing is written (an open for
    appending changes neither the file nor its time); an absent file passes.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "predicted.laz"
        >>> _ = target.write_bytes(b"x")
        >>> check_replaceable(target), check_replaceable(target.parent / "absent.laz")
        (None, None)
    """
    if not path.is_file():
        return
    try:
        with open(path, "ab"):
            return
    except OSError as error:
        if error.errno == errno.EACCES and _renamable(path):
            return  # read-only for us, yet ours to rename over (os.replace needs the folder only)
        raise DataError(
            f"output {path}: exists and cannot be replaced ({error.strerror or error}); make it writable "
            "(chattr -i, chmod, or its owner) or move it away, then run again"
        ) from None


def _renamable(path: Path) -> bool:
    """Whether a file we may not write can still be renamed over: its folder is writable and
    either not sticky, or the file or the folder is ours."""
    folder = path.parent.stat()
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return False
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    return not folder.st_mode & stat.S_ISVTX or uid in (0, path.stat().st_uid, folder.st_uid)


def laz_ratio(stored_bytes: int, raw_bytes: int) -> float:
    """Compression ratio of a cloud file: its point data's bytes on disk (``stored_bytes``: the
    file's size less its header) over their uncompressed size (``raw_bytes``: points x record length),
    kept within [:data:`LAZ_RATIO_FLOOR`, 1]; 1 for a cloud without points.

    Example:
        >>> laz_ratio(30_000, 100_000), laz_ratio(4_489, 6_200_000), laz_ratio(700, 30), laz_ratio(0, 0)
        (0.3, 0.1, 1.0, 1.0)
    """
    if raw_bytes <= 0:
        return 1.0
    return min(1.0, max(LAZ_RATIO_FLOOR, stored_bytes / raw_bytes))


def sample_laz_ratio(path: str | Path) -> float:
    """The :func:`laz_ratio` of the uncompressed cloud ``path`` once compressed: its first
    :data:`LAZ_SAMPLE_POINTS` points written as LAZ in memory; 1 (no compression assumed) when
    they cannot be (no LAZ backend, points that do not read), said in the debug log.

    Example:
        >>> LAZ_RATIO_FLOOR <= sample_laz_ratio(tile) < 1
        True
    """
    try:
        with open_reader(path) as reader:
            points = reader.read_points(LAZ_SAMPLE_POINTS)
            header = reader.header
        buffer = io.BytesIO()
        with laspy.LasWriter(buffer, header=header, do_compress=True, closefd=False) as writer:
            writer.write_points(points)
        offset = laspy.open(io.BytesIO(buffer.getvalue())).header.offset_to_point_data
    except (DataError, laspy.LaspyException, OSError, ValueError) as error:
        logger.debug("outputs: %s not compressed to measure its LAZ ratio (%s); ratio 1 assumed", path, error)
        return 1.0
    return laz_ratio(len(buffer.getvalue()) - offset, len(points) * header.point_format.size)


def cloud_output_bytes(
    path: str | Path, *, extra_bytes_per_point: int, compressed: bool = False, ratios: dict[int, float] | None = None
) -> int:
    """Estimated size of the cloud ``path`` written back with ``extra_bytes_per_point`` more per
    point: its header, then per point its record and the extra bytes. A ``compressed`` (LAZ)
    output has its records compressed as LAZ compresses them: the :func:`laz_ratio` of a LAZ
    input's point data, of a sample of a LAS input's points compressed (:func:`sample_laz_ratio`;
    with ``ratios``, once per point format, kept there for the other inputs of that format),
    while the extra bytes, new values, count uncompressed:
    ``offset + ceil(points x record x ratio) + points x extra``. An unreadable file counts twice
    its size; an absent one 0.

    Example:
        >>> import laspy
        >>> header = laspy.read(tile).header
        >>> las = cloud_output_bytes(tile, extra_bytes_per_point=9)
        >>> las - cloud_output_bytes(tile, extra_bytes_per_point=1) == header.point_count * 8
        True
        >>> las > cloud_output_bytes(tile, extra_bytes_per_point=9, compressed=True)  # LAS input, LAZ output
        True
        >>> cloud_output_bytes("no/such.laz", extra_bytes_per_point=4)
        0
    """
    path = Path(path)
    if not path.is_file():
        return 0
    header = readable_header(path)
    if header is None:  # a bad file is reported by the reader step, not here
        return 2 * path.stat().st_size
    offset, points, record = int(header.offset_to_point_data), int(header.point_count), header.point_format.size
    ratio = 1.0
    if compressed:
        stored = path.stat().st_size - offset
        if stored < points * record:
            ratio = laz_ratio(stored, points * record)
        else:
            known, point_format = ({} if ratios is None else ratios), header.point_format.id
            if point_format not in known:
                known[point_format] = sample_laz_ratio(path)
            ratio = known[point_format]
    return offset + math.ceil(points * record * ratio) + points * extra_bytes_per_point


def probability_classes(steps: list[Mapping[str, Any]]) -> int:
    """Classes of the probabilities a run writes: the most a step's ``model_args.num_classes``
    or a loaded model file's stored class names give; :data:`UNKNOWN_CLASSES` when none does,
    said in the debug log.

    Example:
        >>> probability_classes([{"predict": "ModelLoader", "model_path": str(model_file)}])
        5
        >>> probability_classes([{"train": "PointNetPwiseClassifier", "model_args": {"num_classes": 3}}])
        3
        >>> probability_classes([{"predict": "ModelLoader", "model_path": "no/such.keras"}]) == UNKNOWN_CLASSES
        True
    """
    from vl3d_focal.steps.model_file_checks import model_metadata  # SciPy with it: only for a model file

    classes = [
        int(step["model_args"]["num_classes"])
        for step in steps
        if isinstance(step.get("model_args"), Mapping) and "num_classes" in step["model_args"]
    ]
    for step in steps:
        metadata = model_metadata(step.get("model_path"), at=())[0] if step.get("model_path") else None
        classes += [len(metadata["class_names"])] if metadata is not None else []
    if not classes:
        logger.debug("outputs: no num_classes nor model file with class names; %d classes assumed", UNKNOWN_CLASSES)
    return max(classes) if classes else UNKNOWN_CLASSES


def estimate_output_bytes(spec: Mapping[str, Any]) -> int:
    """Bytes a spec's run is expected to write (see the module docstring).

    Example:
        >>> estimate_output_bytes({"in_pcloud": [], "out_pcloud": ["o/"], "sequential_pipeline": [
        ...     {"writer": "PredictiveModelWriter", "out_model": "*m.keras"}]}) == MODEL_ALLOWANCE_BYTES
        True
    """
    steps = list(spec.get("sequential_pipeline", []))
    inputs = list(spec.get("in_pcloud", []))
    model_bytes = MODEL_ALLOWANCE_BYTES
    for step in steps:
        if step.get("model_path") and Path(step["model_path"]).is_file():
            model_bytes = Path(step["model_path"]).stat().st_size
    declared = declared_outputs(spec)
    num_classes = probability_classes(steps) if any(step.get("probabilities") for _, _, step in declared) else 0
    total, ratios = 0, dict[int, float]()  # a LAS input's LAZ ratio per point format, measured once
    for scope, path, step in declared:
        suffix = Path(path).suffix.lower()
        if suffix in MODEL_SUFFIXES:
            total += model_bytes
        elif suffix in CLOUD_SUFFIXES:
            extra = 1 + (4 * num_classes if step.get("probabilities") else 0)
            compressed = suffix == ".laz"
            total += sum(
                cloud_output_bytes(cloud, extra_bytes_per_point=extra, compressed=compressed, ratios=ratios)
                for cloud in inputs
            )
        else:
            total += REPORT_ALLOWANCE_BYTES * (max(1, len(inputs)) if scope == "cloud" else 1)
    return total


def check_outputs(spec: Mapping[str, Any]) -> None:
    """Reports unwritable output folders, existing outputs that cannot be replaced
    (:func:`check_replaceable`) and too little free disk, before any step runs.

    Raises:
        DataError: naming the folder and the problem.

    Example:
        >>> check_outputs({"in_pcloud": [], "out_pcloud": ["out/"], "sequential_pipeline": []})  # writable: no error
        >>> _ = (out / "a_file").write_text("x")
        >>> check_outputs({"in_pcloud": [], "out_pcloud": [f"{out}/a_file/run/"], "sequential_pipeline": []})
        Traceback (most recent call last):
        vl3d_focal.errors.DataError: output folder .../a_file/run: cannot be created, .../a_file is a file, not a folder
    """
    devices: dict[int, Path] = {}
    for folder in output_folders(spec):
        ancestor = check_writable(folder)
        devices.setdefault(ancestor.stat().st_dev, ancestor)
    for path in output_files(spec):
        check_replaceable(path)
    needed = estimate_output_bytes(spec)
    for ancestor in devices.values():
        free = shutil.disk_usage(ancestor).free
        if free < needed:
            raise DataError(
                f"output folder {ancestor}: expected at least {needed / 2**20:.0f} MiB of free disk for "
                f"the outputs (model, clouds, reports), got {free / 2**20:.0f} MiB free"
            )
    logger.debug("outputs: about %.1f MiB in %s", needed / 2**20, counted(len(devices), "file system"))
