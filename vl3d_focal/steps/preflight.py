"""Checks made before a pipeline runs: its output folders can be written and hold its outputs.

The output folders are those of the ``*`` paths of the steps under every output prefix, and
the training folder. Each must be creatable: its nearest existing ancestor must be a folder
in which a file can really be created (a probe file is created and removed, which also
catches read-only file systems). The free space of their file systems must exceed an estimate
of the outputs: the model (the loaded model file's size, else :data:`MODEL_ALLOWANCE_BYTES`)
three times over (model file, best weights, resumable checkpoint with optimizer moments), each
classified cloud (points x (input record + probabilities)) and the reports.

Example:
    >>> check_outputs(spec, clouds=["in.laz"], prefixes=["out/"])     # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

from vl3d_focal.errors import DataError
from vl3d_focal.steps.paths import (
    PREFIX_MARK, RESUME_CHECKPOINT, TRAINING_FOLDER, cloud_prefixes, expand_output, model_prefix,
)

logger = logging.getLogger(__name__)

MODEL_ALLOWANCE_BYTES = 64 * 2**20
"""Size allowed for a model trained by the pipeline (PointNet models are a few MiB)."""
REPORT_ALLOWANCE_BYTES = 4 * 2**20
"""Size allowed for the reports of one evaluated cloud (JSON, text, CSV, PNG pictures)."""
OUTPUT_KEYS = ("out_model", "out_pcloud", "report_path")
TRAINING_OUTPUTS: tuple[str, ...] = (f"{TRAINING_FOLDER}history.csv", f"{TRAINING_FOLDER}{RESUME_CHECKPOINT}")
"""Files of a train step under the model prefix (one per folder it writes into)."""


def output_files(spec: Mapping[str, Any]) -> list[Path]:
    """The files a spec's steps write (``*`` paths under every output prefix), one per folder at least.

    Example:
        >>> [p.as_posix() for p in output_files({"in_pcloud": ["a.las"], "out_pcloud": ["o/"],
        ...     "sequential_pipeline": [{"eval": "ClassificationEvaluator", "report_path": "*eval/r.json"}]})]
        ['o/eval/r.json']
    """
    inputs = [str(path) for path in spec.get("in_pcloud", [])]
    given = [str(prefix) for prefix in spec.get("out_pcloud", [])]
    first = model_prefix(inputs=inputs, prefixes=given)
    prefixes = list(dict.fromkeys([first, *cloud_prefixes(inputs=inputs, prefixes=given)]))
    files: list[Path] = []
    for step in spec.get("sequential_pipeline", []):
        for path in (str(step[key]) for key in OUTPUT_KEYS if isinstance(step.get(key), str)):
            starred = path.startswith(PREFIX_MARK)
            files += [Path(expand_output(path, prefix=prefix)) for prefix in (prefixes if starred else [""])]
        if "train" in step:
            files += [Path(f"{first}{rest}") for rest in TRAINING_OUTPUTS]
    return list(dict.fromkeys(files))


def output_folders(spec: Mapping[str, Any]) -> list[Path]:
    """The folders a spec's steps write into (those of :func:`output_files`).

    Example:
        >>> [p.as_posix() for p in output_folders({"in_pcloud": ["a.las"], "out_pcloud": ["o/"],
        ...     "sequential_pipeline": [{"eval": "ClassificationEvaluator", "report_path": "*eval/r.json"}]})]
        ['o/eval']
    """
    return list(dict.fromkeys(path.parent for path in output_files(spec)))


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
        raise DataError(f"output folder {folder}: expected a writable folder, cannot write in {ancestor} ({err})") from err
    return ancestor


def cloud_output_bytes(path: str | Path, *, extra_bytes_per_point: int) -> int:
    """Estimated size of a cloud written back with ``extra_bytes_per_point`` more per point.

    Example:
        >>> cloud_output_bytes("no/such.laz", extra_bytes_per_point=4)
        0
    """
    path = Path(path)
    if not path.is_file():
        return 0
    try:
        import laspy

        with laspy.open(str(path)) as reader:
            header = reader.header
            return int(header.offset_to_point_data
                       + header.point_count * (header.point_format.size + extra_bytes_per_point))
    except Exception:  # noqa: BLE001  (a bad file is reported by the reader step, not here)
        return 2 * path.stat().st_size


def estimate_output_bytes(spec: Mapping[str, Any]) -> int:
    """Bytes a spec's run is expected to write (see the module docstring).

    Example:
        >>> estimate_output_bytes({"in_pcloud": [], "sequential_pipeline": [{"train": "M"}]}) > 0
        True
    """
    steps = list(spec.get("sequential_pipeline", []))
    inputs = list(spec.get("in_pcloud", []))
    total = 0
    model_bytes = MODEL_ALLOWANCE_BYTES
    for step in steps:
        if step.get("model_path") and Path(step["model_path"]).is_file():
            model_bytes = Path(step["model_path"]).stat().st_size
    num_classes = max([int(s.get("model_args", {}).get("num_classes", 0)) for s in steps if "train" in s] + [32])
    for step in steps:
        if "train" in step:
            total += 3 * model_bytes
        elif step.get("out_model"):
            total += model_bytes
        elif step.get("report_path"):
            total += REPORT_ALLOWANCE_BYTES * max(1, len(inputs))
        elif step.get("out_pcloud"):
            extra = 1 + (4 * num_classes if step.get("probabilities") else 0)
            total += sum(cloud_output_bytes(path, extra_bytes_per_point=extra) for path in inputs)
    return total


def check_outputs(spec: Mapping[str, Any]) -> None:
    """Reports unwritable output folders and too little free disk, before any step runs.

    Raises:
        DataError: naming the folder and the problem.

    Example:
        >>> check_outputs({"in_pcloud": [], "out_pcloud": ["out/"], "sequential_pipeline": []})
    """
    devices: dict[int, Path] = {}
    for folder in output_folders(spec):
        ancestor = check_writable(folder)
        devices.setdefault(ancestor.stat().st_dev, ancestor)
    needed = estimate_output_bytes(spec)
    for ancestor in devices.values():
        free = shutil.disk_usage(ancestor).free
        if free < needed:
            raise DataError(
                f"output folder {ancestor}: expected at least {needed / 2**20:.0f} MiB of free disk for "
                f"the outputs (model, clouds, reports), got {free / 2**20:.0f} MiB free"
            )
    logger.debug("outputs: about %.1f MiB in %d file system(s)", needed / 2**20, len(devices))
