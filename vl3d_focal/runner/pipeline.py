"""The pipeline runner: executes a validated spec's ``sequential_pipeline`` in order.

Each step is found in ``registry.STEPS`` by its kind key and value
(:func:`vl3d_focal.config.schemas.find_step`); the steps share one
:class:`~vl3d_focal.steps.state.PipelineState`.

Example:
    >>> from vl3d_focal.config import load_spec
    >>> run_pipeline(load_spec("examples/demo_pipeline.json"))   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Mapping

from vl3d_focal.config.schemas import find_step
from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import remove_stale_partials
from vl3d_focal.registry import RegistryEntry
from vl3d_focal.runner.inputs import read_inputs
from vl3d_focal.runner.manifest import RunManifest
from vl3d_focal.runner.outputs import output_folders
from vl3d_focal.runner.preflight import check_outputs
from vl3d_focal.runner.run_record import RunRecorder
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
            raise DataError(f"sequential_pipeline[{index}]: not a registered step: {sorted(step)}; "
                            "validate the spec first (vl3d-focal validate)")
        found.append(located)
    return found


def remove_stale_outputs(spec: Mapping[str, Any]) -> list[Path]:
    """Deletes the temporary files an interrupted run left in the spec's output folders.

    Only our temporary files (:func:`vl3d_focal.io.atomic.is_partial_name`) are deleted, never
    outputs or other files; each deletion is logged.

    Example:
        >>> remove_stale_outputs({"in_pcloud": [], "out_pcloud": ["no/such/out/"],
        ...                       "sequential_pipeline": [{"eval": "ClassificationEvaluator",
        ...                                                "report_path": "*r.json"}]})
        []
    """
    removed: list[Path] = []
    for folder in output_folders(spec):
        for stale in remove_stale_partials(folder):
            logger.info("removed %s, a temporary file left by an interrupted run", stale)
            removed.append(stale)
    return removed


def _prepare_distribution(spec: Mapping[str, Any]) -> bool:
    """Creates the train steps' distribution strategies (``multi_worker_mirrored`` must exist
    before any other TensorFlow work) and tells whether this process is the chief."""
    from vl3d_focal.training.distribution import build_strategy, is_chief
    from vl3d_focal.training.distribution_settings import DistributionSettings

    for step in spec["sequential_pipeline"]:
        if "distribution" in step:
            build_strategy(DistributionSettings.from_config(step["distribution"]))
    return is_chief()


def execute_pipeline(spec: Mapping[str, Any], *, resume: bool = False, overwrite: bool = False,
                     spec_file: str = "") -> PipelineState:
    """Runs every step of a validated, normalised spec and returns the final state.

    Before any step runs, the output folders are checked (writable, enough free disk), the
    distribution strategies of the train steps are created, the output prefix is claimed
    (:class:`~vl3d_focal.runner.manifest.RunManifest`: another spec's outputs are never mixed
    with this run's) and the temporary files an interrupted run left in the output folders are
    deleted (:func:`remove_stale_outputs`). A multi-worker worker that is not the chief writes
    nothing: it skips the steps whose registry entry says ``chief_only``. The chief keeps the
    run's record and writes its report, also when the run fails, once the output prefix is its
    own (:mod:`vl3d_focal.runner.run_record`).

    Args:
        spec: with ``in_pcloud`` (list of paths), ``out_pcloud`` (list of prefixes) and
            ``sequential_pipeline`` (list of steps).
        resume: continue each train step from its last resumable checkpoint.
        overwrite: replace another run's outputs in the output prefix (deleting its files).
        spec_file: the spec's file, recorded in the manifest.

    Returns:
        The final pipeline state (clouds, predictions, model), for callers that want it.

    Example:
        >>> from vl3d_focal.config import load_spec
        >>> state = execute_pipeline(load_spec("examples/demo_pipeline.json"))   # doctest: +SKIP
    """
    entries = step_entries(spec)
    recorder = RunRecorder(spec=spec, kinds=[kind for kind, _ in entries], resume=resume)
    with recorder.collecting():
        return _run_claimed(spec, entries, recorder=recorder, resume=resume, overwrite=overwrite, spec_file=spec_file)


def _run_claimed(spec: Mapping[str, Any], entries: list[tuple[str, RegistryEntry]], *, recorder: RunRecorder,
                 resume: bool, overwrite: bool, spec_file: str) -> PipelineState:
    check_outputs(spec)
    chief = _prepare_distribution(spec)
    manifest = RunManifest(spec, spec_file=spec_file, overwrite=overwrite) if chief else None
    if manifest is not None:
        manifest.claim()
        remove_stale_outputs(spec)
    recorder.writes = chief  # the prefix is this run's: its record goes there, also when it fails
    status = "failed"
    try:
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


def _run_steps(spec: Mapping[str, Any], entries: list[tuple[str, RegistryEntry]], *, chief: bool,
               resume: bool, recorder: RunRecorder) -> PipelineState:
    steps = list(spec["sequential_pipeline"])
    start = time.perf_counter()
    state = read_inputs(inputs=list(spec["in_pcloud"]), prefixes=list(spec["out_pcloud"]))
    state.resume = bool(resume)
    recorder.attach(state)
    for index, (step, (kind, entry)) in enumerate(zip(steps, entries)):
        skipped = not chief and bool(entry.metadata.get("chief_only"))
        with recorder.step(index, state=state, skipped=skipped):
            if skipped:
                logger.info("step %d/%d: %s %s skipped (not the chief worker)", index + 1, len(steps), kind,
                            step[kind])
                continue
            begin = time.perf_counter()
            logger.info("step %d/%d: %s %s", index + 1, len(steps), kind, step[kind])
            state.later_needs = frozenset(need for _, later in entries[index + 1:] for need in later.metadata["needs"])
            entry.load()(step, state)
            logger.info("step %d/%d done (%.1f s)", index + 1, len(steps), time.perf_counter() - begin)
    logger.info("pipeline finished in %.1f s", time.perf_counter() - start)
    return state


def run_pipeline(spec: Mapping[str, Any], *, resume: bool = False, overwrite: bool = False,
                 spec_file: str = "") -> None:
    """Runs every step of a validated, normalised spec (as :func:`vl3d_focal.config.load_spec`
    returns); arguments as :func:`execute_pipeline`'s.

    Example:
        >>> from vl3d_focal.config import load_spec
        >>> run_pipeline(load_spec("examples/demo_pipeline.json"))   # doctest: +SKIP
    """
    execute_pipeline(spec, resume=resume, overwrite=overwrite, spec_file=spec_file)
