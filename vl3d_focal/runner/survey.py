"""The record of a survey (a run of several clouds): ``<first prefix>survey.json`` and its map
``<first prefix>survey.geojson``.

Per tile: its status (``pending``, ``done``, ``failed`` with the error's message, ``skipped``
when ``--resume`` found its outputs complete for the same model and steps), points, CRS (its
header's, also on the map; the survey's ``warnings`` say when the tiles' differ), seconds,
output files, warnings, the eval step's metrics and confusion matrix, the peak memory of the
process (Dask worker) that ran it, the fingerprint of each phase it completed and, for each,
the neighbour tiles its buffered prediction read (``buffers``: used and left out, None without
buffer; :class:`~vl3d_focal.io.buffer_neighbours.BufferNeighbours`); for the survey: the
counts, the points done, and the metrics of the summed confusion matrices (every tile scored,
each point counted once). Both files are written atomically as tiles finish (at most every
:data:`WRITE_INTERVAL_S` seconds, less often when a write takes more than :data:`WRITE_SHARE`
of the time, and at the end), one tile per line, so an interrupted run leaves a consistent
record, which ``--resume`` reads.

:data:`KILL_AFTER_VARIABLE` is for tests only: with ``k`` in it, the process kills itself
(SIGKILL) right after the k-th tile it processed is written to the record, which makes an
interrupted survey reproducible without timing.

Example:
    >>> summed_metrics([{"metrics": {"class_names": ["a", "b"], "confusion_matrix": [[3, 1], [0, 4]]}},
    ...                 {"metrics": None}])["OA"]
    0.875
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.config.prefixes import SURVEY_FILES, expand_output
from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.io.buffer_neighbours import BufferNeighbours
from vl3d_focal.io.footprints import TileIndex
from vl3d_focal.io.json_listing import dumps_listing
from vl3d_focal.reports.metrics import classification_metrics
from vl3d_focal.reports.survey_map import write_survey_map
from vl3d_focal.runner.cloud_task import CloudOutcome

logger = logging.getLogger(__name__)

KILL_AFTER_VARIABLE = "VL3D_FOCAL_TEST_KILL_AFTER_TILES"
FORMAT_VERSION = 1
WRITE_INTERVAL_S = 2.0
WRITE_SHARE = 0.05
"""Most of a run's time the record's writes may take: after a write of ``d`` seconds the next
waits at least ``d / WRITE_SHARE``. A record of 10,000 evaluated tiles takes 0.7-0.8 s to write
on a 2-core VM (``python -m benchmarks.survey_record``; 1.3-1.6 s indented by the json module):
every 2 s, that would be a quarter of a one-process survey's time."""
KEPT_METRICS = ("OA", "mIoU", "macro_F1", "MCC", "Kappa", "class_names", "confusion_matrix")
FINISHED = ("done", "skipped")


def summed_metrics(tiles: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The metrics of the summed confusion matrices of the tiles evaluated with the same classes.

    Example:
        >>> summed_metrics([]) is None
        True
    """
    scored = [tile["metrics"] for tile in tiles if tile.get("metrics")]
    if not scored:
        return None
    names = list(scored[0]["class_names"])
    matrices = [np.asarray(m["confusion_matrix"], dtype=np.int64) for m in scored if list(m["class_names"]) == names]
    metrics = classification_metrics(np.sum(matrices, axis=0), class_names=names)
    metrics["tiles_evaluated"] = len(matrices)
    return metrics


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class SurveyRecord:
    """The survey record of a run (see the module docstring).

    Args:
        tiles: one entry per input cloud, in ``in_pcloud`` order.
        model_prefix: the first output prefix (where the files go).
        crs: the clouds' CRS for the map.
        previous: the tiles of the record an interrupted run left, by path (``--resume``).
        warnings: the survey's own (tiles not all in one CRS).
    """

    def __init__(
        self,
        *,
        tiles: list[dict[str, Any]],
        model_prefix: str,
        crs: str | None,
        previous: Mapping[str, Mapping[str, Any]],
        warnings: Sequence[str] = (),
    ) -> None:
        self.tiles, self.crs, self.previous, self.warnings = tiles, crs, dict(previous), list(warnings)
        self.json_path = Path(expand_output(SURVEY_FILES["json"], prefix=model_prefix))
        self.map_path = Path(expand_output(SURVEY_FILES["geojson"], prefix=model_prefix))
        self._by_path = {tile["path"]: tile for tile in tiles}
        self.phases: list[dict[str, Any]] = []
        self.started, self._next_write, self._processed = _now(), 0.0, 0
        kill = os.environ.get(KILL_AFTER_VARIABLE, "")
        self._kill_after = int(kill) if kill.isdigit() else None

    @classmethod
    def start(
        cls,
        *,
        inputs: Sequence[str],
        prefixes: Sequence[str],
        failures: Mapping[str, str],
        model_prefix: str,
        index: TileIndex,
        resume: bool,
    ) -> SurveyRecord:
        """A new record of every input cloud (``failures``: those already failed, with their
        message), with the previous record's tiles when resuming.

        Example:
            >>> record = SurveyRecord.start(inputs=["a.laz"], prefixes=["out/a/"], failures={},
            ...                             model_prefix="out/", index=TileIndex(footprints=()), resume=False)
            >>> record.tiles[0]["status"], record.json_path.as_posix()
            ('pending', 'out/survey.json')
        """
        tiles = []
        for path, prefix in zip(inputs, prefixes):
            footprint = index.get(path)
            tiles.append(
                {
                    "path": str(path),
                    "prefix": prefix,
                    "status": "pending",
                    "points": footprint.points if footprint else None,
                    "bounds": [*footprint.low[:2], *footprint.high[:2]] if footprint else None,
                    "crs": footprint.crs if footprint else None,
                    "seconds": 0.0,
                    "outputs": [],
                    "metrics": None,
                    "error": None,
                    "warnings": [],
                    "peak_memory_mib": None,
                    "phases": [],
                    "buffers": [],
                }
            )
        record = cls(
            tiles=tiles, model_prefix=model_prefix, crs=index.crs(), previous={}, warnings=index.crs_warnings()
        )
        if resume and record.json_path.is_file():
            try:
                old = json.loads(record.json_path.read_text(encoding="utf-8"))
                record.previous = {tile["path"]: tile for tile in old.get("tiles", [])}
            except (ValueError, KeyError, TypeError) as err:
                logger.warning("%s: unreadable (%s); every tile is processed again", record.json_path, err)
        for path, message in failures.items():
            record.fail(path, message)
        return record

    def _tile(self, path: str) -> dict[str, Any]:
        return self._by_path[str(path)]

    def open_tiles(self) -> list[dict[str, Any]]:
        """The tiles that have not failed."""
        return [tile for tile in self.tiles if tile["status"] != "failed"]

    def begin_phase(self, *, kinds: Sequence[str], model_fingerprint: str | None, fingerprint: str) -> int:
        """Records a phase (a run of per-cloud steps) about to start; returns its number."""
        self.phases.append({"steps": list(kinds), "model_fingerprint": model_fingerprint, "fingerprint": fingerprint})
        return len(self.phases) - 1

    def fail(self, path: str, message: str) -> None:
        """Marks a tile failed before any phase (e.g. an unreadable header)."""
        self._tile(path).update(status="failed", error=message)

    def is_complete(self, path: str, *, phase: int, outputs: Sequence[str]) -> bool:
        """Whether the previous record finished this phase of the tile with the same fingerprint
        and its outputs exist.

        Example:
            >>> SurveyRecord(tiles=[], model_prefix="o/", crs=None, previous={}).is_complete(
            ...     "a.laz", phase=0, outputs=[])
            False
        """
        old = self.previous.get(str(path))
        if old is None or old.get("status") not in FINISHED or phase >= len(self.phases):
            return False
        done = old.get("phases") or []
        return (
            len(done) > phase
            and done[phase] == self.phases[phase]["fingerprint"]
            and all(Path(output).is_file() for output in outputs)
        )

    def skip(self, path: str, *, phase: int, outputs: Sequence[str]) -> None:
        """Records a tile whose phase the previous run completed (its facts are kept)."""
        tile, old = self._tile(path), self.previous[str(path)]
        tile.update(
            status="skipped" if tile["status"] in ("pending", "skipped") else tile["status"],
            metrics=old.get("metrics") or tile["metrics"],
            warnings=list(old.get("warnings") or []),
        )
        tile["phases"].append(self.phases[phase]["fingerprint"])
        tile["buffers"].append(self._previous_buffer(path, phase=phase))
        tile["outputs"] = list(dict.fromkeys(tile["outputs"] + list(outputs)))

    def _previous_buffer(self, path: str, *, phase: int) -> dict[str, Any] | None:
        """The buffer's neighbours the previous record holds for the tile's phase, or None (no
        buffer, or a record written before records held them)."""
        buffers = self.previous[str(path)].get("buffers") or []
        return buffers[phase] if len(buffers) > phase else None

    def buffer_changes(self, path: str, *, phase: int, index: TileIndex) -> list[str]:
        """How the neighbours the tile's buffer would read now differ from those the previous
        record holds for the phase (:meth:`BufferNeighbours.changes`), and the neighbours it left
        out although they were done themselves (their points failed to read once): a tile the
        previous run completed is predicted again when this is not empty.

        Example:
            >>> old = {"a.laz": {"buffers": [{"metres": 2.0, "used": ["b.laz"], "left_out": {}}]}}
            >>> SurveyRecord(tiles=[], model_prefix="o/", crs=None, previous=old).buffer_changes(
            ...     "a.laz", phase=0, index=TileIndex(footprints=()))
            ['b.laz used, no longer readable']
        """
        recorded = self._previous_buffer(path, phase=phase)
        if recorded is None:
            return []
        neighbours = BufferNeighbours.from_json(recorded)
        found = neighbours.changes(path, index=index)
        found += [  # its points did not read for the buffer, yet the tile itself was done: a passing error
            f"{Path(other).name} left out, yet done itself"
            for other in neighbours.left_out
            if (self.previous.get(other) or {}).get("status") in ("done", "skipped")
            and not any(phrase.startswith(Path(other).name + " ") for phrase in found)
        ]
        return found

    def tile_metrics(self, path: str) -> dict[str, Any] | None:
        """A tile's recorded metrics with its confusion matrix and class names, or None.

        Example:
            >>> SurveyRecord(tiles=[], model_prefix="o/", crs=None, previous={}).tile_metrics("a.laz") is None
            True
        """
        metrics = self._by_path.get(str(path), {}).get("metrics") or {}
        return metrics if "confusion_matrix" in metrics and "class_names" in metrics else None

    def record(self, outcome: CloudOutcome, *, phase: int, outputs: Sequence[str]) -> None:
        """Records what a task did with its tile, and writes the record (throttled)."""
        tile = self._tile(outcome.path)
        tile["seconds"] = round(tile["seconds"] + outcome.seconds, 3)
        tile["peak_memory_mib"] = outcome.peak_memory_mib
        tile["warnings"] = list(dict.fromkeys(tile["warnings"] + list(outcome.warnings)))
        if outcome.status == "done":
            tile["status"] = "done"
            tile["phases"].append(self.phases[phase]["fingerprint"])
            tile["buffers"].append(None if outcome.buffer_neighbours is None else outcome.buffer_neighbours.to_json())
            tile["outputs"] = list(dict.fromkeys(tile["outputs"] + list(outputs)))
            if outcome.metrics is not None:
                tile["metrics"] = {key: outcome.metrics[key] for key in KEPT_METRICS if key in outcome.metrics}
        else:
            tile.update(status="failed", error=outcome.error)
        self._processed += 1
        killing = self._kill_after is not None and self._processed >= self._kill_after
        self.write(force=killing)
        if killing:
            logger.warning("%s=%d: killing this process (tests only)", KILL_AFTER_VARIABLE, self._kill_after)
            os.kill(os.getpid(), signal.SIGKILL)

    def counts(self) -> dict[str, int]:
        """Tiles per status."""
        found = {status: 0 for status in ("done", "skipped", "failed", "pending")}
        for tile in self.tiles:
            found[tile["status"]] += 1
        return found

    def document(self, *, finished: bool) -> dict[str, Any]:
        """The JSON document of the record."""
        finished_tiles = [tile for tile in self.tiles if tile["status"] in FINISHED]
        return {
            "format_version": FORMAT_VERSION,
            "status": "finished" if finished else "running",
            "started": self.started,
            "updated": _now(),
            "crs": self.crs,
            "warnings": self.warnings,
            "model_fingerprint": self.phases[-1]["model_fingerprint"] if self.phases else None,
            "phases": self.phases,
            "tiles_total": len(self.tiles),
            "counts": self.counts(),
            "points_done": int(sum(tile["points"] or 0 for tile in finished_tiles)),
            "metrics": summed_metrics(finished_tiles),
            "tiles": self.tiles,
        }

    def write(self, *, force: bool = False, finished: bool = False) -> None:
        """Writes survey.json and survey.geojson, unless ``force`` is False and the last write
        was less than :data:`WRITE_INTERVAL_S` ago, or less than its duration divided by
        :data:`WRITE_SHARE`."""
        start = time.monotonic()
        if not force and start < self._next_write:
            return
        with atomic_output(self.json_path) as tmp:
            tmp.write_text(dumps_listing(self.document(finished=finished), key="tiles"), encoding="utf-8")
        write_survey_map(self.map_path, self.tiles, crs=self.crs)
        end = time.monotonic()
        self._next_write = end + max(WRITE_INTERVAL_S, (end - start) / WRITE_SHARE)

    def failed_tiles(self) -> list[dict[str, Any]]:
        """The tiles that failed."""
        return [tile for tile in self.tiles if tile["status"] == "failed"]
