"""The pipeline runner: executes a validated spec's ``sequential_pipeline`` in order.

Each step is found in ``registry.STEPS`` by its kind key and value
(:func:`vl3d_focal.config.schemas.find_step`); the steps share one
:class:`~vl3d_focal.steps.state.PipelineState`. Consecutive per-cloud steps run cloud by cloud
on the spec's executor (:mod:`vl3d_focal.runner.cloud_phase`); a run of several clouds keeps a
survey record (:mod:`vl3d_focal.runner.survey`).

Example:
    >>> from vl3d_focal.config import load_spec
    >>> run_pipeline(load_spec(spec_file))  # ModelLoader, then ClassificationEvaluator on a tile
    >>> sorted(path.name for path in (out / "run" / "eval").iterdir())[:3]
    ['evaluation.json', 'evaluation.txt', 'evaluation_class_distribution.csv']
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.config.checks import is_survey, runs_per_cloud
from vl3d_focal.config.prefixes import PREFIX_MARK, cloud_prefixes, expand_output, final_clouds
from vl3d_focal.config.schemas import find_step
from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import remove_stale_partials
from vl3d_focal.registry import RegistryEntry
from vl3d_focal.runner.cloud_phase import TEMPORARY_MODEL, CloudPhases, later_needs, step_groups
from vl3d_focal.runner.cloud_task import FAILED_STEP_ATTRIBUTE
from vl3d_focal.runner.executor import ExecutorSettings
from vl3d_focal.runner.final_clouds import write_final_clouds
from vl3d_focal.runner.inputs import read_concatenated_input, read_inputs
from vl3d_focal.runner.manifest import RunManifest
from vl3d_focal.runner.outputs import output_files, remove_empty_folders, spec_prefix
from vl3d_focal.runner.preflight import check_outputs
from vl3d_focal.runner.run_record import RunRecorder
from vl3d_focal.runner.survey import SurveyRecord
from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)


def step_entries(spec: Mapping[str, Any]) -> list[tuple[str, RegistryEntry]]:
    """The kind key and registry entry of every step of a validated spec.

    Raises:
        DataError: a step with no single known kind or an unknown value (a spec that was not
            validated).

    Example:
        >>> step_entries({"sequential_pipeline": [{"eval": "ClassificationEvaluator"}]})[0][0]
        'eval'
    """
    found = []
    for index, step in enumerate(spec["sequential_pipeline"]):
        located = find_step(step)
        if located is None:
            raise DataError(
                f"sequential_pipeline[{index}]: not a registered step: {sorted(step)}; "
                "validate the spec first (vl3d-focal validate)"
            )
        found.append(located)
    return found


def remove_stale_outputs(spec: Mapping[str, Any]) -> list[Path]:
    """Deletes the temporary files an interrupted run left for the spec's output files (and for
    the model a survey ships to its Dask workers, :data:`~vl3d_focal.runner.cloud_phase.TEMPORARY_MODEL`).

    Only the temporary files named after those outputs
    (:func:`vl3d_focal.io.atomic.remove_stale_partials`) are deleted, never outputs, other files
    or the temporary files of another prefix's outputs in a shared folder; each deletion is logged.

    Example:
        >>> remove_stale_outputs({"in_pcloud": [], "out_pcloud": ["no/such/out/"],
        ...                       "sequential_pipeline": [{"eval": "ClassificationEvaluator",
        ...                                                "report_path": "*r.json"}]})
        []
    """
    temporary_model = Path(expand_output(PREFIX_MARK + TEMPORARY_MODEL, prefix=spec_prefix(spec)))
    removed = remove_stale_partials([*output_files(spec), temporary_model])
    for stale in removed:
        logger.info("removed %s, a temporary file left by an interrupted run", stale)
    return removed


def _prepare_distribution(spec: Mapping[str, Any]) -> bool:
    """Creates the train steps' distribution strategies (``multi_worker_mirrored`` must exist
    before any other TensorFlow work) and tells whether this process is the chief (without a
    ``distribution``, the only process: TensorFlow is not imported for it)."""
    distributed = [step["distribution"] for step in spec["sequential_pipeline"] if "distribution" in step]
    if not distributed:
        return True
    from vl3d_focal.training.distribution import build_strategy, is_chief
    from vl3d_focal.training.distribution_settings import DistributionSettings

    for config in distributed:
        build_strategy(DistributionSettings.from_config(config))
    return is_chief()


def execute_pipeline(
    spec: Mapping[str, Any],
    *,
    resume: bool = False,
    overwrite: bool = False,
    spec_file: str = "",
    step_origins: Sequence[str] = (),
) -> PipelineState:
    """Runs every step of a validated, normalised spec and returns the final state.

    Before any step runs, the output folders are checked (writable, enough free disk), the
    distribution strategies of the train steps are created, the output prefix is claimed
    (:class:`~vl3d_focal.runner.manifest.RunManifest`: another spec's outputs are never mixed
    with this run's; a run it refuses leaves no folder it made) and the temporary files an
    interrupted run left in the output folders are deleted (:func:`remove_stale_outputs`). A multi-worker worker that is not the chief writes
    nothing: it skips the steps whose registry entry says ``chief_only``. The chief keeps the
    run's record and writes its report, also when the run fails, once the output prefix is its
    own (:mod:`vl3d_focal.runner.run_record`).

    Args:
        spec: with ``in_pcloud`` (list of paths), ``out_pcloud`` (list of prefixes) and
            ``sequential_pipeline`` (list of steps).
        resume: continue each train step from its last resumable checkpoint; in a survey,
            skip the tiles whose outputs the survey record says are complete.
        overwrite: replace another run's outputs in the output prefix (deleting its files).
        spec_file: the spec's file, recorded in the manifest.
        step_origins: where each step comes from in the spec file, when VL3D's forms rewrote its
            steps (:func:`vl3d_focal.config.read_spec`): the log and the report name it beside
            the step's number; () (steps as written): numbers alone.

    Returns:
        The final pipeline state (clouds, predictions of a run of one cloud, model).

    Raises:
        DataError: tiles of a survey failed (after every other tile was processed).

    Example:
        >>> from vl3d_focal.config import load_spec
        >>> state = execute_pipeline(load_spec(spec_file))
        >>> state.clouds[0].result.classes.shape, state.bundle.class_names[0]
        ((1531,), 'ground')
    """
    from vl3d_focal.data.eigen_features import forget_isolated_points

    forget_isolated_points()  # each cloud's isolated points are logged once per run
    entries = step_entries(spec)
    recorder = RunRecorder(spec=spec, kinds=[kind for kind, _ in entries], resume=resume, origins=step_origins)
    with recorder.collecting():
        return _run_claimed(spec, entries, recorder=recorder, resume=resume, overwrite=overwrite, spec_file=spec_file)


def _run_claimed(
    spec: Mapping[str, Any],
    entries: list[tuple[str, RegistryEntry]],
    *,
    recorder: RunRecorder,
    resume: bool,
    overwrite: bool,
    spec_file: str,
) -> PipelineState:
    check_outputs(spec)
    chief = _prepare_distribution(spec)
    manifest = RunManifest(spec, spec_file=spec_file, overwrite=overwrite, resume=resume) if chief else None
    if manifest is not None:
        _claim(manifest)  # from here the prefix is this run's (finish() releases it)
    recorder.writes = chief  # its record goes there, also when it fails
    status = "failed"
    try:
        if manifest is not None:
            remove_stale_outputs(spec)
        state = _run_steps(spec, entries, chief=chief, resume=resume, recorder=recorder)
        status = "done"
    except BaseException as error:
        status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        recorder.fail(error)
        raise
    finally:
        recorder.finish()
        if manifest is not None:
            manifest.finish(status)
    return state


def _claim(manifest: RunManifest) -> None:
    """Claims the output prefix; when the claim refuses the run, deletes the folders the claim
    made for the prefix's lock that stay empty (never a folder that existed before it)."""
    folder = manifest.lock.path.parent.absolute()
    existing = next(place for place in [folder, *folder.parents] if place.exists())
    try:
        manifest.claim()
    except BaseException:
        for removed in remove_empty_folders(files=[manifest.lock.path], root=existing):
            logger.debug("removed %s, a folder made for this refused run", removed)
        raise


def _run_steps(
    spec: Mapping[str, Any],
    entries: list[tuple[str, RegistryEntry]],
    *,
    chief: bool,
    resume: bool,
    recorder: RunRecorder,
) -> PipelineState:
    steps = list(spec["sequential_pipeline"])
    start = time.perf_counter()
    inputs, survey = list(spec["in_pcloud"]), is_survey(spec)
    failures: dict[str, str] = {}
    set_aside: dict[str, str] = {}  # a survey's empty tiles, skipped
    if "in_pcloud_concat" in spec:
        state = read_concatenated_input(spec["in_pcloud_concat"], prefixes=list(spec["out_pcloud"]))
    else:
        state = read_inputs(
            inputs=inputs,
            prefixes=list(spec["out_pcloud"]),
            failures=failures if survey else None,
            set_aside=set_aside if survey else None,
        )
    state.resume = bool(resume)
    recorder.attach(state)
    record = None
    if survey and chief:
        assert state.tile_index is not None  # read_inputs indexes the input clouds
        record = SurveyRecord.start(
            inputs=inputs,
            prefixes=cloud_prefixes(inputs=inputs, prefixes=spec["out_pcloud"]),
            failures=failures,
            set_aside=set_aside,
            model_prefix=state.model_prefix,
            index=state.tile_index,
            resume=resume,
            kinds=[kind for kind, _ in entries],
        )
    finals, groups = final_clouds(spec), step_groups([entry for _, entry in entries], steps)
    with CloudPhases(settings=ExecutorSettings.from_spec(spec), state=state, record=record) as phases:
        for group in groups:  # a step, or a phase of per-cloud steps
            entry, named = entries[group[0]][1], ", ".join(f"{entries[i][0]} {steps[i][entries[i][0]]}" for i in group)
            where = f"{group[0] + 1}" + (f"-{group[-1] + 1}" if len(group) > 1 else "") + f"/{len(steps)}"
            if recorder.origins:  # "step 3/7 (spec step 2's out_pcloud)": the numbers of the rewritten steps
                where += f" ({', '.join(dict.fromkeys(recorder.origins[i] for i in group))})"
            skipped = not chief and bool(entry.metadata.get("chief_only"))
            with contextlib.ExitStack() as recording:
                for index in group:
                    recording.enter_context(recorder.step(index, state=state, skipped=skipped))
                if skipped:
                    logger.info("step %s: %s skipped (not the chief worker)", where, named)
                    continue
                begin = time.perf_counter()
                logger.info(
                    "step %s: %s%s", where, named, " (per cloud)" if runs_per_cloud(entry, steps[group[0]]) else ""
                )
                state.later_needs = later_needs(entries, group[-1])
                weights = [1.0]
                if runs_per_cloud(entry, steps[group[0]]):
                    try:
                        weights = phases.run(
                            [steps[i] for i in group],
                            needs=[later_needs(entries, i) for i in group],
                            final_clouds=finals if group is groups[-1] else None,  # written after the last step
                        )
                    except Exception as error:
                        recorder.phase_failed(group, step=getattr(error, FAILED_STEP_ATTRIBUTE, None))
                        raise
                else:
                    entry.load()(steps[group[0]], state)
                    if group is groups[-1] and chief:  # a pipeline ending with a driver step (a miner)
                        write_final_clouds(state, targets=finals)
                logger.info("step %s done (%.1f s)", where, time.perf_counter() - begin)
            recorder.split_seconds(group, weights)
    logger.info("pipeline finished in %.1f s", time.perf_counter() - start)
    phases.finish()
    return state


def run_pipeline(
    spec: Mapping[str, Any],
    *,
    resume: bool = False,
    overwrite: bool = False,
    spec_file: str = "",
    step_origins: Sequence[str] = (),
) -> None:
    """Runs every step of a validated, normalised spec (as :func:`vl3d_focal.config.load_spec`
    returns); arguments as :func:`execute_pipeline`'s.

    Example:
        >>> from vl3d_focal.config import load_spec
        >>> run_pipeline(load_spec(spec_file))
        >>> (out / "run" / "eval" / "evaluation.json").is_file()
        True
    """
    execute_pipeline(spec, resume=resume, overwrite=overwrite, spec_file=spec_file, step_origins=step_origins)
