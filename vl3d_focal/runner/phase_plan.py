"""Which tiles a per-cloud phase runs (:class:`~vl3d_focal.runner.cloud_phase.CloudPhases`): every
cloud that has not failed, less those a resumed survey finds done before with the same phase
fingerprint, input and buffer neighbours (:func:`changes_since_done`), which are recorded as
skipped; and the outputs an earlier run left for tiles that have none now (failed, or empty)
are deleted, as they would look complete.

:func:`anything_left` asks the same question without recording anything, so that a resumed run
opens its executor (a Dask cluster: seconds) only when a tile is left to run, and a run whose
executor fails to open leaves the record's tiles as they were.

Example:
    >>> expand_patterns(["*p.laz", "fixed.txt"], prefix="o/a/")
    ['o/a/p.laz', 'fixed.txt']
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from vl3d_focal.config.prefixes import PREFIX_MARK, expand_output
from vl3d_focal.reports.metrics import classification_metrics
from vl3d_focal.runner.cloud_task import CloudTask
from vl3d_focal.runner.outputs import remove_files
from vl3d_focal.runner.survey import SurveyRecord
from vl3d_focal.steps.evaluate import model_origin
from vl3d_focal.steps.facts import EvaluationFacts
from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)


def expand_patterns(patterns: Sequence[str], *, prefix: str) -> list[str]:
    """A phase's per-cloud output paths (``*`` for the cloud's prefix) for the cloud of output
    prefix ``prefix``.

    Example:
        >>> expand_patterns(["*eval/r.json"], prefix="o/b/")
        ['o/b/eval/r.json']
    """
    return [expand_output(path, prefix=prefix) for path in patterns]


def remove_tile_outputs(patterns: Sequence[str], path: str, *, prefix: str, why: str = "failed") -> list[str]:
    """Deletes the phase's outputs (under its prefix) an earlier run left for the tile ``path``,
    which has none now (``why``: it failed, or the reason it was skipped); returns them.

    Example:
        >>> remove_tile_outputs(["*p.laz"], "a.laz", prefix=f"{out}/a/")
        []
    """
    own = [pattern for pattern in patterns if pattern.startswith(PREFIX_MARK)]
    removed = remove_files(paths=expand_patterns(own, prefix=prefix))
    if removed:
        logger.warning(
            "%s: %s; deleted the outputs an earlier run left for it: %s", Path(path).name, why, ", ".join(removed)
        )
    return removed


def changes_since_done(
    record: SurveyRecord, state: PipelineState, path: str, *, phase: int, outputs: Sequence[str]
) -> list[str] | None:
    """None when the previous record did not complete the tile's phase (or the run is not
    resumed); else what changed since (its input, its buffer's neighbours): [] for a tile to skip.

    Example:
        >>> changes_since_done(SurveyRecord(tiles=[], model_prefix="o/", crs=None, previous={}),
        ...                    PipelineState(clouds=[], model_prefix="o/"), "a.laz", phase=0, outputs=[]) is None
        True
    """
    if not state.resume or not record.is_complete(path, phase=phase, outputs=outputs):
        return None
    assert state.tile_index is not None  # read_inputs indexes a survey's clouds
    return record.input_changes(path) + record.buffer_changes(path, phase=phase, index=state.tile_index)


def _open_clouds(record: SurveyRecord | None, state: PipelineState) -> list[tuple[int, str]]:
    """The phase's clouds (position in ``in_pcloud``, path): those that have not failed."""
    open_paths = None if record is None else {tile["path"] for tile in record.open_tiles()}
    return [
        (number, str(cloud.path))
        for number, cloud in enumerate(state.clouds)
        if open_paths is None or str(cloud.path) in open_paths
    ]


def anything_left(
    record: SurveyRecord | None, state: PipelineState, patterns: Sequence[str], *, phase: int | None
) -> bool:
    """Whether :func:`plan_tasks` would give the phase a task (nothing is recorded).

    Example:
        >>> anything_left(None, PipelineState(clouds=[], model_prefix="o/"), [], phase=None)
        False
    """
    for number, path in _open_clouds(record, state):
        if record is None or phase is None:
            return True
        outputs = expand_patterns(patterns, prefix=state.clouds[number].prefix)
        if changes_since_done(record, state, path, phase=phase, outputs=outputs) != []:
            return True
    return False


def _keep_earlier_evaluation(record: SurveyRecord, state: PipelineState, path: str, *, evaluated: set[str]) -> None:
    """The scores of a tile an earlier run evaluated and this one skips count in the run's
    record, as if evaluated now (once per tile: ``evaluated`` are the clouds the record has)."""
    kept = record.tile_metrics(path)
    if kept is None or path in evaluated:
        return
    metrics = classification_metrics(kept["confusion_matrix"], class_names=kept["class_names"])
    state.facts.evaluations.append(
        EvaluationFacts(cloud=path, report_path="", metrics=metrics, earlier_run=True, model=model_origin(state))
    )
    evaluated.add(path)


def plan_tasks(
    record: SurveyRecord | None, state: PipelineState, patterns: Sequence[str], *, phase: int | None
) -> list[CloudTask]:
    """The tasks of the phase (``patterns``: its per-cloud output paths); the tiles a resumed
    record completed are recorded as skipped (see the module docstring).

    Example:
        >>> plan_tasks(None, PipelineState(clouds=[], model_prefix="o/"), [], phase=None)
        []
    """
    tasks, skipped, redone = [], 0, []
    evaluated = {evaluation.cloud for evaluation in state.facts.evaluations}
    if record is not None:
        for tile in record.failed_tiles():  # failed before this phase
            removed = remove_tile_outputs(patterns, tile["path"], prefix=tile["prefix"])
            record.removed_outputs(tile["path"], removed=removed)
        for tile in record.tiles:  # skipped as empty: an earlier run's outputs are not of this input
            if tile.get("reason"):
                remove_tile_outputs(patterns, tile["path"], prefix=tile["prefix"], why=tile["reason"])
    for number, path in _open_clouds(record, state):
        cloud = state.clouds[number]
        outputs = expand_patterns(patterns, prefix=cloud.prefix)
        changes = (
            None
            if record is None or phase is None
            else changes_since_done(record, state, path, phase=phase, outputs=outputs)
        )
        if record is not None and phase is not None and changes == []:
            record.skip(path, phase=phase, outputs=outputs)
            _keep_earlier_evaluation(record, state, path, evaluated=evaluated)
            skipped += 1
            continue
        if changes:
            redone.append(f"{cloud.path.name} ({', '.join(changes)})")
        tasks.append(CloudTask(number=number, path=path, prefix=cloud.prefix, points=cloud.num_points))
    if skipped:
        logger.info("resume: %d tile(s) already done with the same model and steps, skipped", skipped)
    if redone:
        more = f"; and {len(redone) - 20} more" if len(redone) > 20 else ""
        logger.info(
            "resume: %d tile(s) done before processed again, as their input or the neighbour tiles of their "
            "buffer changed: %s%s",
            len(redone),
            "; ".join(redone[:20]),
            more,
        )
    return tasks
