"""The pipeline runner: executes a validated spec's ``sequential_pipeline`` in order.

Each step is told apart by its kind key (``class_mapping``, ``train``, ``predict``, ``eval``,
``writer``) and the value of that key; the steps share one
:class:`~vl3d_focal.steps.state.PipelineState`. The steps themselves live in
:mod:`vl3d_focal.steps`.

Example:
    >>> from vl3d_focal.spec import load_spec
    >>> run_pipeline(load_spec("examples/demo_pipeline.json"))   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from vl3d_focal.errors import DataError
from vl3d_focal.steps.evaluate import run_eval
from vl3d_focal.steps.distribution import build_strategy, is_chief, step_distribution
from vl3d_focal.steps.paths import remove_stale_partials
from vl3d_focal.steps.preflight import check_outputs, output_files
from vl3d_focal.steps.prediction import MODEL_SOURCES, run_predict
from vl3d_focal.steps.reading import read_inputs, run_class_mapping
from vl3d_focal.steps.state import PipelineState
from vl3d_focal.steps.training import run_train
from vl3d_focal.steps.writers import run_model_writer, run_pcloud_writer

logger = logging.getLogger(__name__)

StepHandler = Callable[[Mapping[str, Any], PipelineState], None]

STEP_KINDS: tuple[str, ...] = ("class_mapping", "train", "predict", "eval", "writer")
"""The keys that name a step's kind, in VL3D's vocabulary."""

KIND_HANDLERS: dict[str, StepHandler] = {"train": run_train}
"""Step kinds whose value names a registry entry (the ``train`` model comes from ``MODELS``)."""

HANDLERS: dict[tuple[str, str], StepHandler] = {
    ("class_mapping", "LASClassMapping"): run_class_mapping,
    ("eval", "ClassificationEvaluator"): run_eval,
    ("writer", "PredictiveModelWriter"): run_model_writer,
    ("writer", "ClassifiedPcloudWriter"): run_pcloud_writer,
    **{("predict", source): run_predict for source in MODEL_SOURCES},
}
"""Step handlers by (kind, value) for the other kinds."""

CHIEF_ONLY_KINDS: tuple[str, ...] = ("predict", "eval", "writer")
"""Step kinds that only the chief of a multi-worker training runs (they write outputs)."""


def step_handler(step: Mapping[str, Any], *, index: int) -> tuple[str, StepHandler]:
    """The kind of a step and the function that runs it.

    Args:
        step: one entry of ``sequential_pipeline``.
        index: its position, for error messages.

    Raises:
        DataError: when the step has no known kind key or an unknown value.

    Example:
        >>> step_handler({"eval": "ClassificationEvaluator"}, index=0)[0]
        'eval'
    """
    kinds = [kind for kind in STEP_KINDS if kind in step]
    if len(kinds) != 1:
        raise DataError(
            f"sequential_pipeline[{index}]: expected exactly one of the keys {list(STEP_KINDS)}, "
            f"got {sorted(step)}"
        )
    kind = kinds[0]
    handler = KIND_HANDLERS.get(kind) or HANDLERS.get((kind, step[kind]))
    if handler is None:
        known = sorted(value for key, value in HANDLERS if key == kind)
        raise DataError(f"sequential_pipeline[{index}].{kind}: expected one of {known}, got {step[kind]!r}")
    return kind, handler


def remove_stale_outputs(spec: Mapping[str, Any]) -> list[Path]:
    """Deletes the temporary files an interrupted run left in the spec's output folders.

    Every folder a step writes into is cleaned (:func:`vl3d_focal.steps.paths.remove_stale_partials`:
    only our temporary files, never the outputs or other files); each deletion is logged.

    Example:
        >>> remove_stale_outputs({"in_pcloud": [], "out_pcloud": ["no/such/out/"],
        ...                       "sequential_pipeline": [{"train": "PointNetPwiseClassifier"}]})
        []
    """
    folders: dict[Path, list[Path]] = {}
    for path in output_files(spec):
        folders.setdefault(path.parent, []).append(path)
    removed: list[Path] = []
    for folder, outputs in folders.items():
        for stale in remove_stale_partials(folder=folder, outputs=outputs):
            logger.info("removed %s, a temporary file left by an interrupted run", stale)
            removed.append(stale)
    return removed


def execute_pipeline(spec: Mapping[str, Any], *, resume: bool = False) -> PipelineState:
    """Runs every step of a validated, normalised spec and returns the final state.

    Before any step runs, the output folders are checked (writable, enough free disk), the
    distribution strategies of the train steps are created (``multi_worker_mirrored`` must
    exist before any other TensorFlow work) and the temporary files an interrupted run left
    in the output folders are deleted (:func:`remove_stale_outputs`). A multi-worker worker
    that is not the chief writes nothing: it trains, and skips the ``predict``, ``eval``
    and ``writer`` steps.

    Args:
        spec: with ``in_pcloud`` (list of paths), ``out_pcloud`` (list of prefixes) and
            ``sequential_pipeline`` (list of steps).
        resume: continue each train step from its last resumable checkpoint.

    Returns:
        The final pipeline state (clouds, predictions, model), for callers that want it.

    Example:
        >>> from vl3d_focal.spec import load_spec
        >>> state = execute_pipeline(load_spec("examples/demo_pipeline.json"))   # doctest: +SKIP
        >>> state.clouds[0].predictions.shape                  # doctest: +SKIP
        (94208,)
    """
    import vl3d_focal.losses  # noqa: F401  (registers the built-in losses)
    import vl3d_focal.models  # noqa: F401  (registers the built-in models)

    steps = list(spec["sequential_pipeline"])
    handlers = [step_handler(step, index=index) for index, step in enumerate(steps)]
    check_outputs(spec)
    for step in steps:
        if "train" in step:
            build_strategy(step_distribution(step))
    chief = is_chief()
    if chief:
        remove_stale_outputs(spec)
    start = time.perf_counter()
    state = read_inputs(inputs=list(spec.get("in_pcloud", [])), prefixes=list(spec.get("out_pcloud", [])))
    state.resume = bool(resume)
    for index, (step, (kind, handler)) in enumerate(zip(steps, handlers)):
        if not chief and kind in CHIEF_ONLY_KINDS:
            logger.info("step %d/%d: %s %s skipped (not the chief worker)", index + 1, len(steps), kind, step[kind])
            continue
        begin = time.perf_counter()
        logger.info("step %d/%d: %s %s", index + 1, len(steps), kind, step[kind])
        handler(step, state)
        logger.info("step %d/%d done (%.1f s)", index + 1, len(steps), time.perf_counter() - begin)
    logger.info("pipeline finished in %.1f s", time.perf_counter() - start)
    return state


def run_pipeline(spec: Mapping[str, Any], *, resume: bool = False) -> None:
    """Runs every step of a validated, normalised spec (as :func:`vl3d_focal.spec.load_spec` returns).

    Args:
        spec: with ``in_pcloud`` (list of paths), ``out_pcloud`` (list of prefixes) and
            ``sequential_pipeline`` (list of steps).
        resume: continue each train step from its last resumable checkpoint (``--resume``).

    Example:
        >>> from vl3d_focal.spec import load_spec
        >>> run_pipeline(load_spec("examples/demo_pipeline.json"))   # doctest: +SKIP
    """
    execute_pipeline(spec, resume=resume)
