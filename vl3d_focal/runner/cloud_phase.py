"""The per-cloud phases of a run: consecutive per-cloud steps, cloud by cloud, on an executor.

Steps whose registry entry says ``per_cloud`` (predict, eval, cloud writers) are grouped into
phases: a run of consecutive per-cloud steps, a new phase starting at a step with a
``prepare`` hook (a step that brings its own model). The other steps (class mapping,
training, model writers) run once, in the driver. For each phase, :class:`CloudPhases`

1. runs the ``prepare`` hooks in the driver (a ``ModelLoader`` loads its model: a bad file
   fails before any tile);
2. fingerprints the phase (the model's weights and metadata, the steps, null-valued keys left
   out: :func:`~vl3d_focal.runner.resume_checks.phase_fingerprint`): ``--resume`` skips the
   tiles whose record holds that fingerprint (or one an earlier version gave the same phase)
   and whose outputs exist, unless the
   neighbour tiles their buffer read differ from those it would read now
   (:meth:`~vl3d_focal.runner.survey.SurveyRecord.buffer_changes`: a neighbour that failed
   then and was repaired since, or was replaced since it was used), the tile's own input file
   is another (:meth:`~vl3d_focal.runner.survey.SurveyRecord.input_changes`) or, in the phase
   that writes them, its final cloud is missing or not the one the record says it wrote
   (:func:`~vl3d_focal.runner.resume_checks.final_cloud_changes`;
   :mod:`~vl3d_focal.runner.phase_plan`); a resumed run opens its executor only if a tile is left;
3. runs one task per remaining cloud (:func:`~vl3d_focal.runner.cloud_task.run_cloud_task`) on
   the executor (:mod:`~vl3d_focal.runner.executor`); on Dask, a model trained in this run is
   first saved to a temporary model file beside the outputs, which each worker loads once;
4. records every outcome as it arrives: in the survey record (:mod:`~vl3d_focal.runner.survey`),
   in the run's facts (the tiles' evaluations, for the run record) and in the progress (tiles
   done of the total, failed, points per second, time left: a bar on a terminal, log lines
   every few seconds elsewhere; :class:`~vl3d_focal.progress.Progress`), and logs what the
   task logged on a Dask worker, once, naming its tile (:mod:`~vl3d_focal.runner.task_log`).

A run of one cloud is no survey: no record, and a failure raises as it happens. In a survey a
failed tile is recorded, its outputs of the phase that an earlier run left are deleted (they
would look complete; so are those of a tile that failed before the phase), and the others go
on; :meth:`CloudPhases.finish` then raises a
:class:`~vl3d_focal.errors.DataError` naming the failed tiles (exit status 2).

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> kinds = [STEPS.get(n) for n in ("LASClassMapping", "PreviousModel", "ClassificationEvaluator")]
    >>> step_groups(kinds, [{}, {}, {}])
    [[0], [1, 2]]
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.config.checks import runs_per_cloud
from vl3d_focal.config.prefixes import LOCK_NAME, PREFIX_MARK, expand_output
from vl3d_focal.config.schemas import find_step
from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import check_output_path, partial_path
from vl3d_focal.io.output_guard import check_unchanged, file_identity, guarded_files, note_written
from vl3d_focal.progress import Progress
from vl3d_focal.registry import RegistryEntry
from vl3d_focal.runner.cloud_task import (
    FAILED_STEP_ATTRIBUTE,
    CloudOutcome,
    CloudTask,
    ModelRef,
    PhaseContext,
    run_cloud_task,
)
from vl3d_focal.runner.executor import ExecutorSettings, open_executor
from vl3d_focal.runner.outcome_stream import next_outcome
from vl3d_focal.runner.outputs import declared_outputs
from vl3d_focal.runner.phase_plan import anything_left, expand_patterns, plan_tasks, remove_tile_outputs
from vl3d_focal.runner.resume_checks import earlier_phase_fingerprints, phase_fingerprint
from vl3d_focal.runner.run_owner import RunOwner
from vl3d_focal.runner.survey import SurveyRecord
from vl3d_focal.runner.survey_tally import progress_note, tally_line
from vl3d_focal.runner.task_log import relay_messages
from vl3d_focal.steps.state import PipelineState
from vl3d_focal.wording import counted, shortened

logger = logging.getLogger(__name__)

TEMPORARY_MODEL = "survey_model.keras"
"""Name (under the first prefix, as a hidden temporary file) of a model trained in the run and
shipped to Dask workers."""
PROGRESS_LOG_S = 5.0
"""Seconds between two progress lines in the log (no terminal)."""


def later_needs(entries: Sequence[tuple[str, RegistryEntry]], index: int) -> frozenset[str]:
    """What the steps after step ``index`` need (their registry ``needs``).

    Example:
        >>> from vl3d_focal.registry import STEPS
        >>> sorted(later_needs([("predict", STEPS.get("ModelLoader")), ("eval", STEPS.get("ClassificationEvaluator"))], 0))
        ['mapping', 'predictions']
    """
    return frozenset(need for _, later in entries[index + 1 :] for need in later.metadata["needs"])


def step_groups(entries: Sequence[RegistryEntry], steps: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """Step indices grouped: one group per non-per-cloud step, one per phase (module docstring).

    Example:
        >>> from vl3d_focal.registry import STEPS
        >>> step_groups([STEPS.get("ModelLoader"), STEPS.get("ClassificationEvaluator"),
        ...              STEPS.get("ModelLoader")], [{}, {}, {}])
        [[0, 1], [2]]
    """
    groups: list[list[int]] = []
    for index, (entry, step) in enumerate(zip(entries, steps)):
        per_cloud = runs_per_cloud(entry, step)
        joins = (
            per_cloud
            and groups
            and runs_per_cloud(entries[groups[-1][-1]], steps[groups[-1][-1]])
            and entry.metadata.get("prepare") is None
        )
        if joins:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def cloud_output_patterns(steps: Sequence[Mapping[str, Any]]) -> list[str]:
    """The per-cloud output paths of the steps as written (``*`` for the cloud's prefix): found
    once per phase (a walk of the spec against the schemas), expanded for every tile.

    Example:
        >>> cloud_output_patterns([{"writer": "ClassifiedPcloudWriter", "out_pcloud": "*p.laz"}])
        ['*p.laz']
    """
    return [path for scope, path, _ in declared_outputs({"sequential_pipeline": list(steps)}) if scope == "cloud"]


def driver_loads_models(spec: Mapping[str, Any]) -> bool:
    """Whether the process that runs a normalised spec trains or loads a model itself: with the
    local executor, or a train step; on Dask, only for a model file that stores no fingerprint
    (written before files stored one; :meth:`CloudPhases._model` loads it to compute it). The
    command line imports Keras first where it does.

    Example:
        >>> driver_loads_models({"executor": {"engine": "dask"}, "sequential_pipeline": [
        ...     {"predict": "ModelLoader", "model_path": str(model_file)}]})
        False
    """
    from vl3d_focal.models.model_file import stored_fingerprint

    if spec["executor"]["engine"] != "dask":
        return True
    for step in spec["sequential_pipeline"]:
        if "train" in step:
            return True
        if "predict" in step and "model_path" in step:
            try:
                if stored_fingerprint(step["model_path"]) is None:
                    return True
            except DataError:  # the predict step reports it
                return True
    return False


class CloudPhases:
    """Runs the per-cloud phases of one run (see the module docstring).

    Args:
        settings: the executor.
        state: the driver's pipeline state (its clouds are the run's readable clouds).
        record: the survey record, or None for a run of one cloud.
    """

    def __init__(self, *, settings: ExecutorSettings, state: PipelineState, record: SurveyRecord | None) -> None:
        self.settings, self.state, self.record = settings, state, record
        self._stack = contextlib.ExitStack()
        self._executor: Any = None
        self._started = time.monotonic()

    def __enter__(self) -> CloudPhases:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()
        if self.record is not None:
            self.record.end(error=exc[1] if exc[0] is not None else None)

    def _open(self) -> Any:
        if self._executor is None:
            self._executor = self._stack.enter_context(open_executor(self.settings))
        return self._executor

    def _model(self, *, in_process: bool) -> tuple[ModelRef | None, str | None]:
        """The model reference for workers and the model's fingerprint (``in_process``: the
        local executor, no workers)."""
        if self.state.bundle is None:
            return None, None
        from vl3d_focal.models.model_file import bundle_fingerprint, save_bundle, stored_fingerprint

        path = self.state.model_file
        stored = None if in_process or path is None else stored_fingerprint(path)
        if stored is not None:  # the workers load the model: this process needs only its fingerprint
            return ModelRef(path=str(path), fingerprint=stored, source=str(path)), stored
        bundle = self.state.require_bundle(step="predict")  # loaded here once if only described
        fingerprint = bundle_fingerprint(bundle)
        if in_process:
            return None, fingerprint
        if path is not None:
            return ModelRef(path=str(path), fingerprint=fingerprint, source=str(path)), fingerprint
        # trained in this run: a temporary file the workers load, removed at the end
        target = check_output_path(Path(expand_output(PREFIX_MARK + TEMPORARY_MODEL, prefix=self.state.model_prefix)))
        temporary = partial_path(target)
        self._stack.callback(temporary.unlink, missing_ok=True)
        save_bundle(bundle, temporary, logged=False)
        logger.info("dask: the workers load the model trained in this run (a copy, removed at the end)")
        return ModelRef(path=str(temporary), fingerprint=fingerprint), fingerprint

    def run(
        self,
        steps: Sequence[Mapping[str, Any]],
        *,
        needs: Sequence[frozenset[str]],
        final_clouds: Mapping[str, str] | None = None,
    ) -> list[float]:
        """Runs one phase over every cloud that has not failed (``needs``: for each step, what the
        steps after it need; ``final_clouds``: in the run's last phase, each cloud's final cloud by
        its prefix, :mod:`~vl3d_focal.runner.final_clouds`); returns each step's time summed over the clouds."""
        entries = []
        for step in steps:
            located = find_step(step)
            assert located is not None  # the pipeline located every step first (step_entries)
            entries.append(located)
        for step, (_, entry) in zip(steps, entries):
            prepare = entry.metadata.get("prepare")
            if prepare is not None:
                prepare(step, self.state)
        local = self.settings.engine != "dask"
        record = self.record
        resumed = record is not None and self.state.resume
        executor = None if resumed else self._open()  # resumed: only if a tile is left to run (below)
        model, model_fingerprint = self._model(in_process=local)
        fingerprint = phase_fingerprint(steps, model_fingerprint=model_fingerprint)
        survey = record is not None
        context = PhaseContext(
            steps=list(steps),
            needs=list(needs),
            model_prefix=self.state.model_prefix,
            mapping=self.state.mapping,
            tile_index=self.state.tile_index,
            model=model,
            survey=survey,
            raise_failures=local and not survey,
            bundle=self.state.bundle if local else None,
            model_file=self.state.model_file if local else None,
            model_training=self.state.model_training,
            records={str(r.path): r for r in self.state.clouds} if local else {},
            classes_rewritten=self.state.classes_rewritten,
            miners=tuple(self.state.miners),
            imputers=tuple(self.state.imputers),
            relay_log=not local,
            final_clouds=dict(final_clouds or {}),
        )
        phase = (
            None
            if record is None
            else record.begin_phase(
                kinds=[kind for kind, _ in entries],
                model_fingerprint=model_fingerprint,
                fingerprint=fingerprint,
                earlier=earlier_phase_fingerprints(steps, model_fingerprint=model_fingerprint),
            )
        )
        patterns = cloud_output_patterns(steps)
        finals = context.final_clouds
        if executor is None and anything_left(record, self.state, patterns, phase=phase, finals=finals):
            executor = self._open()  # before any tile is recorded: a failure leaves them as they were
        tasks = plan_tasks(record, self.state, patterns, phase=phase, finals=finals)
        by_number = {task.number: task for task in tasks}
        tiles = len(tasks) if record is None else len(record.tiles)
        failed_before = 0 if record is None else len(record.failed_tiles())
        if executor is not None and not local:
            context.guarded = self._before_workers_write(tasks, patterns, finals=finals)
            lock = f"{self.state.model_prefix}{LOCK_NAME}"
            context.owner = RunOwner.of(lock)  # a task outliving its run publishes nothing
        outcomes = iter(()) if executor is None else executor.run(run_cloud_task, tasks, shared=context)
        counts, start, step_seconds = {"done": 0, "failed": 0}, time.monotonic(), [0.0] * len(steps)
        with Progress(
            "survey" if survey else "clouds",
            total=sum(t.points for t in tasks),
            unit="points",
            log_every_s=PROGRESS_LOG_S,
        ) as progress:
            stop: KeyboardInterrupt | None = None
            while (outcome := next_outcome(outcomes, stop=stop)) is not None:
                stop, task = None, by_number[outcome.number]
                try:
                    if outcome.messages or outcome.status == "failed":
                        progress.clear()  # a log line follows: not on the bar's line
                    self._take(outcome, task=task, patterns=patterns, phase=phase, final=finals.get(task.prefix))
                    step_seconds = [total + seconds for total, seconds in zip(step_seconds, outcome.step_seconds)]
                    counts[outcome.status] += 1
                    done = task.points if outcome.status == "done" else 0  # a failed tile's: not done
                    rate = (progress.done + done) / max(time.monotonic() - start, 1e-9)
                    progress.note = progress_note(
                        tiles=tiles,
                        tasks=len(tasks),
                        done=counts["done"],
                        failed=counts["failed"],
                        failed_before=failed_before,
                        rate=rate,
                    )
                    progress.advance(task.points, failed=outcome.status == "failed")
                except KeyboardInterrupt as interrupted:  # the outcomes that came back already are taken first
                    stop = interrupted
        if record is not None:
            record.write(force=True)
        return step_seconds

    @staticmethod
    def _before_workers_write(
        tasks: Sequence[CloudTask], patterns: Sequence[str], *, finals: Mapping[str, str]
    ) -> dict[str, list[int] | None]:
        """Checks the files the ``tasks`` write as the first write in this process would (the run's
        guard, :mod:`~vl3d_focal.io.output_guard`: a re-run's cleanup of its previous run's files
        then happens here, before a worker writes, so that a killed run never leaves a mix of
        both runs' files); returns the guarded files with the identities the workers must find."""
        for task in tasks:
            for path in [*expand_patterns(patterns, prefix=task.prefix), finals.get(task.prefix)]:
                if path is not None:
                    check_unchanged(path)
        return guarded_files()

    def _take(
        self,
        outcome: CloudOutcome,
        *,
        task: CloudTask,
        patterns: Sequence[str],
        phase: int | None,
        final: str | None = None,
    ) -> None:
        """Adds a task's outcome to the run's facts and the survey record (``patterns``: the
        phase's :func:`cloud_output_patterns`; ``final``: the tile's final cloud the task wrote,
        whose identity the record keeps for ``--resume``); a failed task of a run that is no survey (one
        cloud on Dask workers) raises its error, a survey's is logged at ERROR. What a task on a
        Dask worker logged is logged here, once, naming its tile (:mod:`~vl3d_focal.runner.task_log`),
        so that the run's log, record and report, which collect this process's messages, hold it."""
        relay_messages(outcome.messages, tile=task.path)
        for path, identity in outcome.written_outside:  # written on a worker: the run's, as if written here
            note_written(path, identity)
        if outcome.status == "failed" and self.record is not None:
            logger.error("%s: failed: %s", Path(task.path).name, outcome.error)
        if outcome.status == "failed" and self.record is None:  # not a survey: the run fails with it
            error = DataError(f"{Path(task.path).name}: {outcome.error}")
            setattr(error, FAILED_STEP_ATTRIBUTE, outcome.failed_step)  # the run's record names that step
            raise error
        self.state.facts.evaluations.extend(outcome.facts.evaluations)
        self.state.facts.uncertainties.extend(outcome.facts.uncertainties)
        self.state.facts.notes.extend(outcome.facts.notes)
        if self.record is not None and phase is not None:  # a survey's phases have numbers
            earlier = self.record.previous.get(str(task.path))
            removed = (
                []
                if outcome.status == "done"
                else remove_tile_outputs(patterns, task.path, prefix=task.prefix, final=final, earlier=earlier)
            )
            self.record.record(
                outcome,
                phase=phase,
                outputs=expand_patterns(patterns, prefix=task.prefix),
                removed=removed,
                final_cloud=None if final is None else file_identity(final),
            )

    def finish(self) -> None:
        """Raises when tiles failed, naming them (after the record is complete).

        Raises:
            DataError: the failed tiles and their messages.
        """
        record = self.record
        if record is None:
            return
        counts, seconds = record.counts(), time.monotonic() - self._started
        points = sum(tile.get("points") or 0 for tile in record.tiles if tile["status"] == "done")
        logger.info("%s", tally_line(counts, points=int(points), seconds=seconds))
        failed = record.failed_tiles()
        if not failed:
            return
        first_lines = [(Path(tile["path"]).name, str(tile["error"]).partition("\n")[0]) for tile in failed]
        listing = shortened([f"{name}: {line}" for name, line in first_lines], 20, separator="; ")
        raise DataError(
            f"survey: {len(failed)} of {counted(len(record.tiles), 'tile')} failed ({listing}); "
            f"see {record.json_path}; fix them and run again with --resume to process "
            "only what is missing"
        )
