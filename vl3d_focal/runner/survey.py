"""The record of a survey (a run of several clouds): ``<first prefix>survey.json`` and its map
``<first prefix>survey.geojson``.

Per tile: its status (``pending``, ``done``, ``failed`` with the error's message, ``skipped`` when
``--resume`` found its outputs complete for the same model, steps and input, or with a ``reason``
when it holds no point), its input file's identity (``input``:
:attr:`~vl3d_focal.io.footprints.Footprint.identity`), points, CRS (its header's, also on the map;
the survey's ``warnings`` say when the tiles' differ), seconds, output files, warnings, the eval
step's metrics and confusion matrix, the ``model`` it scored and its ``evaluation`` file (a tile
that scores several models: its first evaluation's, the others in ``further_evaluations``;
:mod:`~vl3d_focal.runner.survey_scores`), the peak memory of the process (Dask worker) that ran
it, the ``final_cloud`` its last phase wrote (``[size, mtime_ns]`` or None), the fingerprint of
each phase it completed and, for each, the neighbour tiles its buffered prediction read
(``buffers``: used and left out, None without buffer;
:class:`~vl3d_focal.io.buffer_neighbours.BufferNeighbours`); for the survey: the counts, the
points done, and the metrics of the summed confusion matrices (every tile scored, each point
counted once), grouped as the run report groups them (``models``: one sum per model and class
set; ``metrics`` when there is one; :func:`~vl3d_focal.runner.survey_scores.survey_sums`), with
``tiles_scored`` and ``tiles_summed``. Both files are written atomically as tiles finish (at most
every :data:`WRITE_INTERVAL_S` seconds, less often when a write takes more than
:data:`WRITE_SHARE` of the time, and at the end), one tile per line, so an interrupted run
leaves a consistent record, which ``--resume`` reads. The survey's ``status``: ``running``, ``finished``, ``failed`` (with
``error``: stopped before its tiles were processed) or ``interrupted`` (Ctrl-C, SIGTERM).

A resumed run's record shows the previous record's entry of a tile until this run processes or
skips it (a done tile stays done, with the input and neighbours it was done with): a resumed run
that fails before its tiles loses nothing. A run without ``--resume`` writes its record from its
first phase on: one that fails before leaves the previous record, which describes the outputs
still on disk. A failed tile's outputs of an earlier run are deleted (by the phase runner), as
its ``error`` and ``removed_outputs`` say.

:data:`KILL_AFTER_VARIABLE` is for tests only: with ``k`` in it, the process kills itself
(SIGKILL) right after the k-th tile it processed is written to the record, which makes an
interrupted survey reproducible without timing.

Example:
    >>> record = SurveyRecord(tiles=[{"path": "a.laz", "status": "done", "metrics": {"class_names": ["a", "b"],
    ...                       "confusion_matrix": [[3, 1], [0, 4]]}}], model_prefix="o/", crs=None, previous={})
    >>> document = record.document(finished=True)
    >>> document["metrics"]["OA"], document["tiles_scored"], document["tiles_summed"]
    (0.875, 1, 1)
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.config.prefixes import SURVEY_FILES, expand_output
from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.io.footprints import TileIndex
from vl3d_focal.io.json_listing import dumps_listing
from vl3d_focal.io.timestamps import now
from vl3d_focal.reports.survey_map import tile_evaluations, write_survey_map
from vl3d_focal.runner.cloud_task import CloudOutcome
from vl3d_focal.runner.resume_checks import buffer_changes, input_changes, recorded_buffer
from vl3d_focal.runner.survey_scores import kept_scores, survey_sums, tile_scores
from vl3d_focal.runner.survey_tiles import empty_footprint, new_tile

logger = logging.getLogger(__name__)

KILL_AFTER_VARIABLE = "VL3D_FOCAL_TEST_KILL_AFTER_TILES"
FORMAT_VERSION = 1
WRITE_INTERVAL_S = 2.0
WRITE_SHARE = 0.05
"""Most of a run's time the record's writes may take: after a write of ``d`` seconds the next
waits at least ``d / WRITE_SHARE``. A record of 10,000 evaluated tiles takes 0.7-0.8 s to write
on a 2-core VM (``python -m benchmarks.survey_record``; 1.3-1.6 s indented by the json module):
every 2 s, that would be a quarter of a one-process survey's time."""
FINISHED = ("done", "skipped")


class SurveyRecord:
    """The survey record of a run (see the module docstring).

    Args:
        tiles: one entry per input cloud, in ``in_pcloud`` order.
        model_prefix: the first output prefix (where the files go).
        crs: the clouds' CRS for the map.
        previous: the tiles of the record an interrupted run left, by path (``--resume``).
        warnings: the survey's own (tiles not all in one CRS).
        index: the run's tile index (the identities of the neighbours a buffer used), or None.
        resume: the run resumes: its record is written also before its first phase.
        kinds: the run's step kinds (``train``, ``eval``...), which name the models scored as the
            run report does (:func:`~vl3d_focal.reports.run_summary.model_label`).
    """

    def __init__(
        self,
        *,
        tiles: list[dict[str, Any]],
        model_prefix: str,
        crs: str | None,
        previous: Mapping[str, Mapping[str, Any]],
        warnings: Sequence[str] = (),
        index: TileIndex | None = None,
        resume: bool = False,
        kinds: Sequence[str] = (),
    ) -> None:
        self.steps = [{"kind": kind} for kind in kinds]
        self.tiles, self.crs, self.previous, self.warnings = tiles, crs, dict(previous), list(warnings)
        self.index, self.resume, self.status = index, resume, "running"
        self.error: str | None = None
        self.previous_phases: list[dict[str, Any]] = []
        self.json_path = Path(expand_output(SURVEY_FILES["json"], prefix=model_prefix))
        self.map_path = Path(expand_output(SURVEY_FILES["geojson"], prefix=model_prefix))
        self._by_path = {tile["path"]: tile for tile in tiles}
        self.phases: list[dict[str, Any]] = []
        self._matching: list[set[str]] = []  # per phase: the fingerprints a previous record's tile may hold
        self.started, self._next_write, self._processed = now(), 0.0, 0
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
        set_aside: Mapping[str, str] | None = None,
        kinds: Sequence[str] = (),
    ) -> SurveyRecord:
        """A new record of every input cloud (``failures``: those already failed, with their
        message; ``set_aside``: those skipped, with the reason; ``kinds``: the run's step kinds),
        with the previous record's tiles when resuming.

        Example:
            >>> record = SurveyRecord.start(inputs=["a.laz"], prefixes=["out/a/"], failures={},
            ...                             model_prefix="out/", index=TileIndex(footprints=()), resume=False)
            >>> record.tiles[0]["status"], record.json_path.as_posix()
            ('pending', 'out/survey.json')
        """
        set_aside = dict(set_aside or {})
        tiles = [
            new_tile(path, prefix=prefix, footprint=index.get(path))
            if str(path) not in set_aside
            else new_tile(path, prefix=prefix, footprint=empty_footprint(path), empty=True)
            for path, prefix in zip(inputs, prefixes)
        ]
        record = cls(
            tiles=tiles,
            model_prefix=model_prefix,
            crs=index.crs(),
            previous={},
            warnings=index.crs_warnings(),
            index=index,
            resume=resume,
            kinds=kinds,
        )
        if resume and record.json_path.is_file():
            try:
                old = json.loads(record.json_path.read_text(encoding="utf-8"))
                record.previous = {tile["path"]: tile for tile in old.get("tiles", [])}
                record.previous_phases = list(old.get("phases") or [])
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                logger.warning("%s: unreadable (%s); every tile is processed again", record.json_path, err)
        for path, message in failures.items():
            record.fail(path, message)
        for path, reason in set_aside.items():
            record._tile(path).update(status="skipped", reason=reason, warnings=[reason])
        return record

    def _tile(self, path: str) -> dict[str, Any]:
        return self._by_path[str(path)]

    def shown_tiles(self) -> list[dict[str, Any]]:
        """The tiles as the record shows them: this run's entry of a tile it processed, skipped or
        found failed, else the previous record's (``--resume``; see the module docstring).

        Example:
            >>> previous = {"a.laz": {"path": "a.laz", "status": "done"}}
            >>> SurveyRecord(tiles=[{"path": "a.laz", "status": "pending"}], model_prefix="o/", crs=None,
            ...              previous=previous).shown_tiles()
            [{'path': 'a.laz', 'status': 'done'}]
        """
        return [
            dict(self.previous[tile["path"]])
            if tile["status"] == "pending" and "status" in (self.previous.get(tile["path"]) or {})
            else tile
            for tile in self.tiles
        ]

    def open_tiles(self) -> list[dict[str, Any]]:
        """The tiles that have not failed."""
        return [tile for tile in self.tiles if tile["status"] != "failed"]

    def begin_phase(
        self, *, kinds: Sequence[str], model_fingerprint: str | None, fingerprint: str, earlier: Collection[str] = ()
    ) -> int:
        """Records a phase (a run of per-cloud steps) about to start; returns its number (``earlier``:
        :func:`~vl3d_focal.runner.resume_checks.earlier_phase_fingerprints`, also matched on resume)."""
        self.phases.append({"steps": list(kinds), "model_fingerprint": model_fingerprint, "fingerprint": fingerprint})
        self._matching.append({fingerprint, *earlier})
        return len(self.phases) - 1

    def fail(self, path: str, message: str) -> None:
        """Marks a tile failed before any phase (e.g. an unreadable header)."""
        self._tile(path).update(status="failed", error=message)

    def is_complete(self, path: str, *, phase: int, outputs: Sequence[str]) -> bool:
        """Whether the previous record finished this phase of the tile with the same fingerprint
        (or one an earlier version gave the same phase: :meth:`begin_phase`) and its outputs exist.

        Example:
            >>> SurveyRecord(tiles=[], model_prefix="o/", crs=None, previous={}).is_complete(
            ...     "a.laz", phase=0, outputs=[])
            False
        """
        old = self.previous.get(str(path))
        if not isinstance(old, Mapping) or old.get("status") not in FINISHED or phase >= len(self.phases):
            return False
        done = old.get("phases") or []
        matching = len(done) > phase and done[phase] in self._matching[phase]
        return matching and all(Path(output).is_file() for output in outputs)

    def skip(self, path: str, *, phase: int, outputs: Sequence[str]) -> None:
        """Records a tile whose phase the previous run completed (its facts are kept)."""
        tile, old = self._tile(path), self.previous[str(path)]
        tile.update(
            status="skipped" if tile["status"] in ("pending", "skipped") else tile["status"],
            **kept_scores(tile, old),
            warnings=list(old.get("warnings") or []),
            final_cloud=old.get("final_cloud"),
        )
        tile["phases"].append(self.phases[phase]["fingerprint"])
        tile["buffers"].append(recorded_buffer(self.previous.get(str(path)), phase=phase))
        tile["outputs"] = list(dict.fromkeys(tile["outputs"] + list(outputs)))

    def input_changes(self, path: str) -> list[str]:
        """:func:`~vl3d_focal.runner.resume_checks.input_changes` of the tile against the previous record."""
        return input_changes(self.previous.get(str(path)), identity=self._tile(path).get("input"))

    def buffer_changes(self, path: str, *, phase: int, index: TileIndex) -> list[str]:
        """:func:`~vl3d_focal.runner.resume_checks.buffer_changes` of the tile against the previous record."""
        return buffer_changes(path, previous=self.previous, phase=phase, index=index)

    def tile_evaluations(self, path: str, *, outputs: Sequence[str]) -> list[dict[str, Any]]:
        """A tile's recorded evaluations that hold a confusion matrix and class names
        (:func:`~vl3d_focal.reports.survey_map.tile_evaluations`), in step order: those of a
        phase whose files are ``outputs`` (and those that do not name their file).

        Example:
            >>> SurveyRecord(tiles=[], model_prefix="o/", crs=None, previous={}).tile_evaluations("a.laz", outputs=[])
            []
        """
        return [
            evaluation
            for evaluation in tile_evaluations(self._by_path.get(str(path), {}))
            if {"confusion_matrix", "class_names"} <= set(evaluation.get("metrics") or {})
            and evaluation.get("evaluation") in {None, *outputs}
        ]

    def record(
        self,
        outcome: CloudOutcome,
        *,
        phase: int,
        outputs: Sequence[str],
        removed: Sequence[str] = (),
        final_cloud: Sequence[int] | None = None,
    ) -> None:
        """Records what a task did with its tile (``removed``: the outputs of an earlier run the
        driver deleted as the tile failed; ``final_cloud``: the identity of the final cloud it
        wrote), and writes the record (throttled)."""
        tile = self._tile(outcome.path)
        tile["seconds"] = round(tile["seconds"] + outcome.seconds, 3)
        tile["peak_memory_mib"] = outcome.peak_memory_mib
        tile["warnings"] = list(dict.fromkeys(tile["warnings"] + list(outcome.warnings)))
        if outcome.status == "done":
            tile["status"] = "done"
            tile["phases"].append(self.phases[phase]["fingerprint"])
            neighbours = outcome.buffer_neighbours
            if neighbours is not None and self.index is not None:
                neighbours = neighbours.identified(index=self.index)
            tile["buffers"].append(None if neighbours is None else neighbours.to_json())
            tile["outputs"] = list(dict.fromkeys(tile["outputs"] + list(outputs)))
            tile["final_cloud"] = None if final_cloud is None else list(final_cloud)
            scored = [
                {"model": e.model, "metrics": e.metrics, "report_path": e.report_path}
                for e in outcome.facts.evaluations
            ]
            if scored:
                tile.update(tile_scores(tile, scored))
        else:
            tile.update(status="failed", error=outcome.error)
            self.removed_outputs(outcome.path, removed=removed)
        self._processed += 1
        killing = self._kill_after is not None and self._processed >= self._kill_after
        self.write(force=killing)
        if killing:
            logger.warning("%s=%d: killing this process (tests only)", KILL_AFTER_VARIABLE, self._kill_after)
            os.kill(os.getpid(), signal.SIGKILL)

    def removed_outputs(self, path: str, *, removed: Sequence[str]) -> None:
        """Records the outputs of an earlier run deleted as the failed tile ``path`` failed (in
        its ``error`` too).

        Example:
            >>> record = SurveyRecord(tiles=[{"path": "a.laz", "status": "failed", "error": "boom",
            ...                               "removed_outputs": []}], model_prefix="o/", crs=None, previous={})
            >>> record.removed_outputs("a.laz", removed=["o/a/p.laz"])
            >>> record.tiles[0]["error"]
            'boom (the outputs an earlier run left for it were deleted: p.laz)'
        """
        if not removed:
            return
        tile = self._tile(path)
        tile["removed_outputs"] = list(dict.fromkeys([*tile.get("removed_outputs", []), *removed]))
        names = ", ".join(Path(name).name for name in removed)
        tile["error"] = f"{tile['error']} (the outputs an earlier run left for it were deleted: {names})"

    def counts(self) -> dict[str, int]:
        """Tiles per status, as the record shows them (:meth:`shown_tiles`)."""
        found = {status: 0 for status in ("done", "skipped", "failed", "pending")}
        for tile in self.shown_tiles():
            found[tile["status"]] = found.get(tile["status"], 0) + 1
        return found

    def document(self, *, finished: bool) -> dict[str, Any]:
        """The JSON document of the record (``finished``: the run processed every tile)."""
        tiles = self.shown_tiles()
        finished_tiles = [tile for tile in tiles if tile["status"] in FINISHED]
        phases = self.phases or self.previous_phases  # a resumed run that stopped before its phases
        sums = survey_sums(finished_tiles, steps=self.steps)  # grouped as the run report's evaluations
        note = sums.pop("note")
        if note and (finished or self.status != "running"):  # once, as the run ends
            logger.warning(
                "%s: %s (its metrics are null, tiles_summed 0; each one's sums are in models)", self.json_path, note
            )
        return {
            "format_version": FORMAT_VERSION,
            "status": "finished" if finished else self.status,
            "error": None if finished else self.error,
            "started": self.started,
            "updated": now(),
            "crs": self.crs,
            "warnings": self.warnings + ([f"scores not summed: {note}"] if note else []),
            "model_fingerprint": phases[-1].get("model_fingerprint") if phases else None,
            "phases": phases,
            "tiles_total": len(tiles),
            "counts": self.counts(),
            "points_done": int(sum(tile.get("points") or 0 for tile in finished_tiles)),
            **sums,
            "tiles": tiles,
        }

    def end(self, *, error: BaseException | None) -> None:
        """Writes the record as the run's phases end: ``finished`` (``error`` None), ``interrupted``
        (a KeyboardInterrupt: Ctrl-C or SIGTERM) or ``failed`` with the error's message. A run
        that failed neither resuming nor in a phase writes nothing: the previous record stays.

        Example:
            >>> record = SurveyRecord(tiles=[], model_prefix=f"{out}/", crs=None, previous={}, resume=True)
            >>> record.end(error=KeyboardInterrupt())
            >>> json.loads(record.json_path.read_text())["status"]
            'interrupted'
        """
        if error is not None:
            self.status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
            self.error = str(error) or type(error).__name__
        if error is None or self.phases or self.resume:
            self.write(force=True, finished=error is None)

    def write(self, *, force: bool = False, finished: bool = False) -> None:
        """Writes survey.json and survey.geojson, unless ``force`` is False and the last write
        was less than :data:`WRITE_INTERVAL_S` ago, or less than its duration divided by
        :data:`WRITE_SHARE`."""
        start = time.monotonic()
        if not force and start < self._next_write:
            return
        document = self.document(finished=finished)
        with atomic_output(self.json_path) as tmp:
            tmp.write_text(dumps_listing(document, key="tiles"), encoding="utf-8")
        write_survey_map(self.map_path, document["tiles"], crs=self.crs, steps=self.steps)
        end = time.monotonic()
        self._next_write = end + max(WRITE_INTERVAL_S, (end - start) / WRITE_SHARE)

    def failed_tiles(self) -> list[dict[str, Any]]:
        """The tiles that failed."""
        return [tile for tile in self.tiles if tile["status"] == "failed"]
