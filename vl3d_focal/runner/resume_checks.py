"""Why a tile that a previous survey run completed is predicted again by ``--resume``: its phase's
fingerprint is another (:func:`phase_fingerprint`; one an earlier version gave the same phase
still matches: :func:`earlier_phase_fingerprints`), its input
file is another one (:func:`input_changes`), the neighbour files its buffer read changed
(:func:`buffer_changes`), its final cloud is missing or another file than the one the run that
did it wrote (:func:`final_cloud_changes`), or one of its outputs is missing (:func:`missing_outputs`). Each compares a tile's entry of the previous ``survey.json``
(:class:`~vl3d_focal.runner.survey.SurveyRecord`) with what the run finds now.

Example:
    >>> input_changes({"status": "done", "input": [120, 7, 9]}, identity=[120, 7, 9])
    []
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.io.buffer_neighbours import BufferNeighbours
from vl3d_focal.io.footprints import TileIndex
from vl3d_focal.io.json_identity import one_null_dropped, without_nulls
from vl3d_focal.io.output_guard import file_identity


def _phase_hash(steps: Any, *, model_fingerprint: str | None) -> str:
    text = json.dumps({"model": model_fingerprint, "steps": steps}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def phase_fingerprint(steps: Sequence[Mapping[str, Any]], *, model_fingerprint: str | None) -> str:
    """What a tile's phase depends on: the model and the steps (their normalised keys), without
    their null-valued keys (:func:`~vl3d_focal.io.json_identity.without_nulls`), so an optional key
    that the package adds later with a null default does not make ``--resume`` redo every tile.

    Example:
        >>> steps = [{"eval": "ClassificationEvaluator"}]
        >>> phase_fingerprint(steps, model_fingerprint=None) == phase_fingerprint(
        ...     [{"eval": "ClassificationEvaluator", "new_key": None}], model_fingerprint=None)
        True
        >>> len(phase_fingerprint(steps, model_fingerprint=None))
        64
    """
    return _phase_hash(without_nulls(list(steps)), model_fingerprint=model_fingerprint)


def earlier_phase_fingerprints(steps: Sequence[Mapping[str, Any]], *, model_fingerprint: str | None) -> set[str]:
    """The fingerprints that earlier versions, which kept the null-valued keys, gave the same
    phase: of the steps with all their null-valued keys, or without one of them (recorded before
    the package added that key; a record older than two such keys is not matched).

    Example:
        >>> steps = [{"eval": "ClassificationEvaluator", "report_path": None, "new_key": None}]
        >>> older = _phase_hash([{"eval": "ClassificationEvaluator", "report_path": None}], model_fingerprint="m")
        >>> older in earlier_phase_fingerprints(steps, model_fingerprint="m")
        True
    """
    variants = [list(steps), *one_null_dropped(list(steps))]
    return {_phase_hash(variant, model_fingerprint=model_fingerprint) for variant in variants}


def input_changes(old: Mapping[str, Any] | None, *, identity: Any) -> list[str]:
    """``["input changed since it was done"]`` when the tile's input file (its ``identity`` now)
    is another than the one the previous record's run read (``old``, its entry there), else []; a
    record written before records held the identity: [].

    Example:
        >>> input_changes({"status": "done", "input": [120, 7, 9]}, identity=[60, 8, 4])
        ['input changed since it was done']
    """
    old = old or {}
    if "input" not in old or old["input"] == identity:
        return []
    return ["input changed since it was done"]


def recorded_buffer(old: Mapping[str, Any] | None, *, phase: int) -> dict[str, Any] | None:
    """The buffer's neighbours that a tile's previous entry ``old`` holds for ``phase``, or None
    (no buffer, or a record written before records held them).

    Example:
        >>> recorded_buffer({"buffers": [{"metres": 2.0}]}, phase=0), recorded_buffer({}, phase=0)
        ({'metres': 2.0}, None)
    """
    buffers = (old or {}).get("buffers") or []
    return buffers[phase] if len(buffers) > phase else None


def buffer_changes(path: str, *, previous: Mapping[str, Mapping[str, Any]], phase: int, index: TileIndex) -> list[str]:
    """How the neighbours the tile's buffer would read now differ from those the ``previous``
    record (tile entries by path) holds for the phase (:meth:`BufferNeighbours.changes`), and the
    neighbours it left out although they were done themselves (their points failed to read once):
    a tile the previous run completed is predicted again when this is not empty.

    Example:
        >>> old = {"a.laz": {"buffers": [{"metres": 2.0, "used": ["b.laz"], "left_out": {}}]}}
        >>> buffer_changes("a.laz", previous=old, phase=0, index=TileIndex(footprints=()))
        ['b.laz used, no longer readable']
    """
    recorded = recorded_buffer(previous.get(str(path)), phase=phase)
    if recorded is None:
        return []
    neighbours = BufferNeighbours.from_json(recorded)
    found = neighbours.changes(path, index=index)
    found += [  # its points did not read for the buffer, yet the tile itself was done: a passing error
        f"{Path(other).name} left out, yet done itself"
        for other in neighbours.left_out
        if (previous.get(other) or {}).get("status") in ("done", "skipped")
        and not any(phrase.startswith(Path(other).name + " ") for phrase in found)
    ]
    return found


def final_cloud_changes(old: Mapping[str, Any] | None, *, final: str | None) -> list[str]:
    """Why the tile's final cloud ``final`` (an ``out_pcloud`` entry naming a cloud file, None
    without one) is not the one the previous record's run wrote after the tile's last phase: it is
    missing, or its identity (``[size, mtime_ns]``,
    :func:`~vl3d_focal.io.output_guard.file_identity`) is not the one its entry ``old`` holds (another
    run wrote it, or a record written before records held it); else [].

    Example:
        >>> final_cloud_changes({"status": "done"}, final=None), final_cloud_changes({}, final=f"{out}/no.laz")
        ([], ['final cloud no.laz missing'])
    """
    if final is None:
        return []
    found = file_identity(final)
    if found is None:
        return [f"final cloud {Path(final).name} missing"]
    if (old or {}).get("final_cloud") != found:
        return [f"final cloud {Path(final).name} not written by the run that did it"]
    return []


def missing_outputs(outputs: Sequence[str], *, prefix: str) -> list[str]:
    """The tile's phase ``outputs`` that are missing, each named from the folder that holds the
    tile's output prefix ``prefix`` on (``out/tile_1/`` names ``out/tile_1/p.laz`` ``tile_1/p.laz``).

    Example:
        >>> missing_outputs([f"{out}/tile_1/p.laz", f"{out}/tile_1/eval/r.json"], prefix=f"{out}/tile_1/")
        ['output tile_1/p.laz missing', 'output tile_1/eval/r.json missing']
    """
    base = Path(prefix).parent
    return [
        f"output {Path(os.path.relpath(output, base)).as_posix()} missing"
        for output in outputs
        if not Path(output).is_file()
    ]
