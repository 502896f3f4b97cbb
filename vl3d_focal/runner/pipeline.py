"""The pipeline runner: executes a validated spec's ``sequential_pipeline`` in order.

Each step is found in ``registry.STEPS`` by its kind key and value
(:func:`vl3d_focal.config.schemas.find_step`); the steps share one
:class:`~vl3d_focal.steps.state.PipelineState`. Consecutive per-cloud steps run cloud by cloud
on the spec's executor (:mod:`vl3d_focal.runner.cloud_phase`); a run of several clouds keeps a
survey record (:mod:`vl3d_focal.runner.survey`).

Example:
    >>> from vl3d_focal.config import load_spec
    >>> run_pipeline(load_spec("examples/demo_pipeline.json"))   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Mapping

from vl3d_focal.config.prefixes import cloud_prefixes
from vl3d_focal.config.schemas import find_step
from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import remove_stale_partials
from vl3d_focal.registry import RegistryEntry
from vl3d_focal.runner.cloud_phase import CloudPhases, step_groups
from vl3d_focal.runner.executor import ExecutorSettings
from vl3d_focal.runner.inputs import read_inputs
from vl3d_focal.runner.outputs import output_folders
from vl3d_focal.runner.preflight import check_outputs
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


def execute_pipeline(spec: Mapping[str, Any], *, resume: bool = False) -> PipelineState:
    """Runs every step of a validated, normalised spec and returns the final state.

    Before any step runs, the output folders are checked (writable, enough free disk), the
    distribution strategies of the train steps are created and the temporary files an
    interrupted run left in the output folders are deleted (:func:`remove_stale_outputs`). A
    multi-worker worker that is not the chief writes nothing: it skips the steps whose
    registry entry says ``chief_only``. Per-cloud steps run in phases (module docstring).

    Args:
        spec: with ``in_pcloud`` (list of paths), ``out_pcloud`` (list of prefixes) and
            ``sequential_pipeline`` (list of steps).
        resume: continue each train step from its last resumable checkpoint; in a survey,
            skip the tiles whose outputs the survey record says are complete.

    Returns:
        The final pipeline state (clouds, predictions of a run of one cloud, model).

    Raises:
        DataError: tiles of a survey failed (after every other tile was processed).

    Example:
        >>> from vl3d_focal.config import load_spec
        >>> state = execute_pipeline(load_spec("examples/demo_pipeline.json"))   # doctest: +SKIP
    """
    steps = list(spec["sequential_pipeline"])
    entries = step_entries(spec)
    check_outputs(spec)
    chief = _prepare_distribution(spec)
    if chief:
        remove_stale_outputs(spec)
    start = time.perf_counter()
    inputs, survey = list(spec["in_pcloud"]), len(spec["in_pcloud"]) > 1
    failures: dict[str, str] = {}
    state = read_inputs(inputs=inputs, prefixes=list(spec["out_pcloud"]), failures=failures if survey else None)
    state.resume = bool(resume)
    record = SurveyRecord.start(
        inputs=inputs, prefixes=cloud_prefixes(inputs=inputs, prefixes=spec["out_pcloud"]), failures=failures,
        model_prefix=state.model_prefix, index=state.tile_index, resume=resume) if survey and chief else None
    with CloudPhases(settings=ExecutorSettings.from_spec(spec), state=state, record=record) as phases:
        for group in step_groups([entry for _, entry in entries]):
            entry, step = entries[group[0]][1], steps[group[0]]
            named = ", ".join(f"{entries[i][0]} {steps[i][entries[i][0]]}" for i in group)
            where = f"{group[0] + 1}" + (f"-{group[-1] + 1}" if len(group) > 1 else "")
            if not chief and entry.metadata.get("chief_only"):
                logger.info("step %s/%d: %s skipped (not the chief worker)", where, len(steps), named)
                continue
            begin = time.perf_counter()
            per_cloud = bool(entry.metadata.get("per_cloud"))
            logger.info("step %s/%d: %s%s", where, len(steps), named, " (per cloud)" if per_cloud else "")
            if per_cloud:
                phases.run([steps[i] for i in group])
            else:
                entry.load()(step, state)
            logger.info("step %s/%d done (%.1f s)", where, len(steps), time.perf_counter() - begin)
    logger.info("pipeline finished in %.1f s", time.perf_counter() - start)
    phases.finish()
    return state


def run_pipeline(spec: Mapping[str, Any], *, resume: bool = False) -> None:
    """Runs every step of a validated, normalised spec (as :func:`vl3d_focal.config.load_spec` returns).

    Example:
        >>> from vl3d_focal.config import load_spec
        >>> run_pipeline(load_spec("examples/demo_pipeline.json"))   # doctest: +SKIP
    """
    execute_pipeline(spec, resume=resume)
