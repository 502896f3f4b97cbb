"""Checks made before a pipeline runs: its output folders can be written and hold its outputs.

The output folders are those of the files the steps write
(:func:`vl3d_focal.runner.outputs.output_files`). Each must be creatable: its nearest existing ancestor must be a folder
in which a file can really be created (a probe file is created and removed, which also
catches read-only file systems). Each of those files that exists already must be replaceable
(:func:`check_replaceable`: not immutable, not another user's in a sticky folder), so that a run
never fails at its last write after hours of training. The free space of their file systems must exceed an estimate
of the outputs: every model-sized file (model, best weights, resumable checkpoint) at the
loaded model file's size, else :data:`MODEL_ALLOWANCE_BYTES`; each classified cloud (points x
(input record + prediction byte + probabilities), a ``.laz`` one with its input's compression:
:func:`cloud_output_bytes`); each report file at :data:`REPORT_ALLOWANCE_BYTES`.

Example:
    >>> check_outputs({"in_pcloud": [], "out_pcloud": ["out/"], "sequential_pipeline": []})
"""

from __future__ import annotations

import errno
import logging
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vl3d_focal.errors import DataError
from vl3d_focal.io.las_header import readable_header
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
"""Classes assumed for the probabilities written when no step of the spec gives ``num_classes``."""
LAZ_RATIO_FLOOR = 0.1
"""Smallest compression ratio assumed for a LAZ output (LAZ files are typically 7-25 % of their
LAS size; a ratio measured lower, e.g. on a tiny or constant cloud, is not trusted)."""


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


def cloud_output_bytes(path: str | Path, *, extra_bytes_per_point: int, compressed: bool = False) -> int:
    """Estimated size of the cloud ``path`` written back with ``extra_bytes_per_point`` more per
    point: its header, then per point its record and the extra bytes. A ``compressed`` (LAZ)
    output has its records compressed like the input's (:func:`laz_ratio` of the input's point
    data: a LAS input gives 1, so no compression is assumed) while the extra bytes, new values,
    count uncompressed: ``offset + ceil(points x record x ratio) + points x extra``. An unreadable
    file counts twice its size; an absent one 0.

    Example:
        >>> import laspy
        >>> header = laspy.read(tile).header
        >>> las = cloud_output_bytes(tile, extra_bytes_per_point=9)
        >>> las - cloud_output_bytes(tile, extra_bytes_per_point=1) == header.point_count * 8
        True
        >>> las == cloud_output_bytes(tile, extra_bytes_per_point=9, compressed=True)  # LAS input: ratio 1
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
    ratio = laz_ratio(path.stat().st_size - offset, points * record) if compressed else 1.0
    return offset + math.ceil(points * record * ratio) + points * extra_bytes_per_point


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
    classes = [
        int(step["model_args"]["num_classes"])
        for step in steps
        if isinstance(step.get("model_args"), Mapping) and "num_classes" in step["model_args"]
    ]
    num_classes = max(classes) if classes else UNKNOWN_CLASSES
    total = 0
    for scope, path, step in declared_outputs(spec):
        suffix = Path(path).suffix.lower()
        if suffix in MODEL_SUFFIXES:
            total += model_bytes
        elif suffix in CLOUD_SUFFIXES:
            extra = 1 + (4 * num_classes if step.get("probabilities") else 0)
            compressed = suffix == ".laz"
            total += sum(
                cloud_output_bytes(cloud, extra_bytes_per_point=extra, compressed=compressed) for cloud in inputs
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
