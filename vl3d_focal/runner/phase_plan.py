"""Which tiles a per-cloud phase runs (:class:`~vl3d_focal.runner.cloud_phase.CloudPhases`): every
cloud that has not failed, less those a resumed survey finds done before with the same phase
fingerprint, input, buffer neighbours and outputs, and, in the phase that writes them, the same
final cloud (:func:`changes_since_done`), which are recorded as
skipped; and the outputs an earlier run left for tiles that have none now (failed, or empty)
are deleted, as they would look complete, their final cloud too when the previous record says
its run wrote it.

:func:`anything_left` asks the same question without recording anything, so that a resumed run
opens its executor (a Dask cluster: seconds) only when a tile is left to run, and a run whose
executor fails to open leaves the record's tiles as they were.

Example:
    >>> expand_patterns(["*p.laz", "fixed.txt"], prefix="o/a/")
    ['o/a/p.laz', 'fixed.txt']
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.config.prefixes import PREFIX_MARK, expand_output
from vl3d_focal.reports.metrics import classification_metrics
from vl3d_focal.runner.cloud_task import CloudTask
from vl3d_focal.runner.outputs import remove_files
from vl3d_focal.runner.resume_checks import final_cloud_changes, missing_outputs
from vl3d_focal.runner.survey import SurveyRecord
from vl3d_focal.steps.evaluate import model_origin
from vl3d_focal.steps.facts import EvaluationFacts
from vl3d_focal.steps.state import PipelineState
from vl3d_focal.wording import counted, shortened

logger = logging.getLogger(__name__)


def expand_patterns(patterns: Sequence[str], *, prefix: str) -> list[str]:
    """A phase's per-cloud output paths (``*`` for the cloud's prefix) for the cloud of output
    prefix ``prefix``.

    Example:
        >>> expand_patterns(["*eval/r.json"], prefix="o/b/")
        ['o/b/eval/r.json']
    """
    return [expand_output(path, prefix=prefix) for path in patterns]


def remove_tile_outputs(
    patterns: Sequence[str],
    path: str,
    *,
    prefix: str,
    why: str = "failed",
    final: str | None = None,
    earlier: Mapping[str, Any] | None = None,
) -> list[str]:
    """Deletes the phase's outputs (under its prefix) an earlier run left for the tile ``path``,
    which has none now (``why``: it failed, or the reason it was skipped), and its final cloud
    ``final`` when the tile's entry ``earlier`` in the previous record says that run wrote it
    (:func:`~vl3d_focal.runner.resume_checks.final_cloud_changes`: none); returns them.

    Example:
        >>> from vl3d_focal.io.output_guard import file_identity
        >>> (out / "a.laz").write_bytes(b"x")
        1
        >>> written = {"final_cloud": file_identity(out / "a.laz")}
        >>> [Path(p).name for p in remove_tile_outputs(["*p.laz"], "a.laz", prefix=f"{out}/a/",
        ...                                            final=str(out / "a.laz"), earlier=written)]
        ['a.laz']
    """
    own = [pattern for pattern in patterns if pattern.startswith(PREFIX_MARK)]
    written = final is not None and earlier is not None and not final_cloud_changes(earlier, final=final)
    removed = remove_files(
        paths=[*expand_patterns(own, prefix=prefix), *([final] if written and final is not None else [])]
    )
    if removed:
        logger.warning(
            "%s: %s; deleted the outputs an earlier run left for it: %s", Path(path).name, why, ", ".join(removed)
        )
    return removed


def changes_since_done(
    record: SurveyRecord,
    state: PipelineState,
    path: str,
    *,
    phase: int,
    outputs: Sequence[str],
    prefix: str,
    final: str | None = None,
) -> list[str] | None:
    """None when the previous record did not complete the tile's phase (or the run is not
    resumed); else what changed since (its ``outputs`` under its output ``prefix`` missing, its
    input, its buffer's neighbours, its final cloud ``final`` when the phase writes it): [] for a
    tile to skip.

    Example:
        >>> changes_since_done(SurveyRecord(tiles=[], model_prefix="o/", crs=None, previous={}),
        ...                    PipelineState(clouds=[], model_prefix="o/"), "a.laz", phase=0, outputs=[],
        ...                    prefix="o/a/") is None
        True
    """
    if not state.resume or not record.is_complete(path, phase=phase, outputs=[]):
        return None
    assert state.tile_index is not None  # read_inputs indexes a survey's clouds
    changes = missing_outputs(outputs, prefix=prefix) + record.input_changes(path)
    changes += record.buffer_changes(path, phase=phase, index=state.tile_index)
    return changes + final_cloud_changes(record.previous.get(str(path)), final=final)


def _open_clouds(record: SurveyRecord | None, state: PipelineState) -> list[tuple[int, str]]:
    """The phase's clouds (position in ``in_pcloud``, path): those that have not failed."""
    open_paths = None if record is None else {tile["path"] for tile in record.open_tiles()}
    return [
        (number, str(cloud.path))
        for number, cloud in enumerate(state.clouds)
        if open_paths is None or str(cloud.path) in open_paths
    ]


def anything_left(
    record: SurveyRecord | None,
    state: PipelineState,
    patterns: Sequence[str],
    *,
    phase: int | None,
    finals: Mapping[str, str] | None = None,
) -> bool:
    """Whether :func:`plan_tasks` would give the phase a task (nothing is recorded; arguments as
    its own).

    Example:
        >>> anything_left(None, PipelineState(clouds=[], model_prefix="o/"), [], phase=None)
        False
    """
    for number, path in _open_clouds(record, state):
        if record is None or phase is None:
            return True
        prefix = state.clouds[number].prefix
        outputs, final = expand_patterns(patterns, prefix=prefix), (finals or {}).get(prefix)
        if changes_since_done(record, state, path, phase=phase, outputs=outputs, prefix=prefix, final=final) != []:
            return True
    return False


def _keep_earlier_evaluation(
    record: SurveyRecord, state: PipelineState, path: str, *, outputs: Sequence[str], evaluated: set[str]
) -> None:
    """The scores of a tile an earlier run evaluated in the phase (``outputs``: its files) and this
    one skips count in the run's record, as if evaluated now, each with the model it scored (the
    phase's for a record that does not say); once each: ``evaluated`` are the evaluation files
    and clouds the run's record has (a cloud: records whose evaluations do not name their file)."""
    for evaluation in record.tile_evaluations(path, outputs=outputs):
        if (evaluation.get("evaluation") or path) in evaluated:
            continue
        evaluated.add(evaluation.get("evaluation") or path)
        scores = evaluation["metrics"]
        metrics = classification_metrics(scores["confusion_matrix"], class_names=scores["class_names"], quiet=True)
        model, report = evaluation.get("model") or model_origin(state), evaluation.get("evaluation") or ""
        state.facts.evaluations.append(
            EvaluationFacts(cloud=path, report_path=report, metrics=metrics, earlier_run=True, model=model)
        )


def plan_tasks(
    record: SurveyRecord | None,
    state: PipelineState,
    patterns: Sequence[str],
    *,
    phase: int | None,
    finals: Mapping[str, str] | None = None,
) -> list[CloudTask]:
    """The tasks of the phase (``patterns``: its per-cloud output paths; ``finals``: the final
    clouds it writes, by output prefix, in the run's last phase); the tiles a resumed record
    completed are recorded as skipped (see the module docstring).

    Example:
        >>> plan_tasks(None, PipelineState(clouds=[], model_prefix="o/"), [], phase=None)
        []
    """
    tasks, skipped, redone = [], 0, []
    evaluated = {key for evaluation in state.facts.evaluations for key in (evaluation.report_path, evaluation.cloud)}
    if record is not None:
        for tile in record.tiles:  # failed before this phase, or skipped as empty (not the input of an earlier run)
            if tile["status"] != "failed" and not tile.get("reason"):
                continue
            final, earlier = (finals or {}).get(tile["prefix"]), record.previous.get(tile["path"])
            why = tile.get("reason") or "failed"
            removed = remove_tile_outputs(
                patterns, tile["path"], prefix=tile["prefix"], why=why, final=final, earlier=earlier
            )
            if tile["status"] == "failed":
                record.removed_outputs(tile["path"], removed=removed)
    for number, path in _open_clouds(record, state):
        cloud = state.clouds[number]
        outputs = expand_patterns(patterns, prefix=cloud.prefix)
        final = (finals or {}).get(cloud.prefix)
        changes = (
            None
            if record is None or phase is None
            else changes_since_done(record, state, path, phase=phase, outputs=outputs, prefix=cloud.prefix, final=final)
        )
        if record is not None and phase is not None and changes == []:
            record.skip(path, phase=phase, outputs=outputs)
            _keep_earlier_evaluation(record, state, path, outputs=outputs, evaluated=evaluated)
            skipped += 1
            continue
        if changes:
            redone.append(f"{cloud.path.name} ({', '.join(changes)})")
        tasks.append(CloudTask(number=number, path=path, prefix=cloud.prefix, points=cloud.num_points))
    if skipped:
        logger.info("resume: %s already done with the same model and steps, skipped", counted(skipped, "tile"))
    if redone:
        logger.info(
            "resume: %s done before processed again, as something changed since: %s",
            counted(len(redone), "tile"),
            shortened(redone, 20, separator="; "),
        )
    return tasks
