"""One cloud through a run of per-cloud steps: the task an executor runs, here or on a worker.

A task carries the cloud (path, output prefix, points) and shares a :class:`PhaseContext` with
every task of its phase: the steps, the class mapping, the tile index and the model. In this
process (``local`` executor) the context holds the driver's own objects (its cloud records, the
model in memory); on a Dask worker it holds a :class:`ModelRef` instead, and the worker loads
that model once (:class:`ModelCache`, keyed by file and fingerprint)
for all the clouds it processes (:data:`CACHE`).

:func:`run_cloud_task` never raises for a cloud of a survey that fails: it returns a
:class:`CloudOutcome` with the error's message, so the other clouds go on. Nor on a Dask worker:
the driver raises a failed cloud's message for a run of one cloud.

Example:
    >>> CloudTask(number=0, path="a.laz", prefix="out/a/", points=10).failed("boom").status
    'failed'
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vl3d_focal.config.schemas import find_step
from vl3d_focal.data.imputers import Imputer
from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.miners import MinedFeatures
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.errors import DataError, VL3DFocalError
from vl3d_focal.io.atomic import publishing_while
from vl3d_focal.io.buffer_neighbours import BufferNeighbours
from vl3d_focal.io.footprints import TileIndex
from vl3d_focal.io.output_guard import Identity, recording_written
from vl3d_focal.models.bundle import ModelBundle
from vl3d_focal.runner.final_clouds import write_final_clouds
from vl3d_focal.runner.outputs import remove_empty_folders
from vl3d_focal.runner.run_owner import RunOwner
from vl3d_focal.runner.task_log import TaskMessage, captured_messages
from vl3d_focal.steps.facts import RunFacts
from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRef:
    """A model file and the fingerprint of the model it must hold.

    Attributes:
        path: the file a worker loads: the user's model file, or a temporary copy of a model
            trained in this run.
        fingerprint: the fingerprint of the model it must hold.
        source: the user's model file, as messages name it; None for a model trained in this run.

    Example:
        >>> ModelRef(path="out/.survey_model.x.partial.keras", fingerprint="f").described
        'the model trained in this run'
    """

    path: str
    fingerprint: str
    source: str | None = None

    @property
    def described(self) -> str:
        """The model as the user knows it: its file, or the model trained in this run."""
        return f"model {self.source}" if self.source else "the model trained in this run"


class ModelCache:
    """The model this process loaded last, by (file, fingerprint): one load per worker process.

    Attributes:
        loads: how many times this process loaded a model file (a worker that processed many
            clouds of one phase loaded it once).
    """

    def __init__(self) -> None:
        self.key: tuple[str, str] | None = None
        self.bundle: ModelBundle | None = None
        self.loads = 0

    def get(self, ref: ModelRef) -> ModelBundle:
        """The model of ``ref``, loaded on first use and checked against its fingerprint.

        Raises:
            DataError: the file now holds another model.

        Example:
            >>> from vl3d_focal.models.model_file import bundle_fingerprint
            >>> cache, ref = ModelCache(), ModelRef(path=str(model_file), fingerprint=bundle_fingerprint(bundle))
            >>> cache.get(ref) is cache.get(ref), cache.loads
            (True, 1)
        """
        if self.key != (ref.path, ref.fingerprint) or self.bundle is None:
            from vl3d_focal.models.model_file import bundle_fingerprint, load_bundle

            bundle = load_bundle(ref.path)
            self.loads += 1
            if bundle_fingerprint(bundle) != ref.fingerprint:
                raise DataError(
                    f"{ref.described} ({ref.path}): the file changed during the run, or its weights are not "
                    "the ones it was saved with (its model's fingerprint differs from the one the run "
                    "started with, which the file stores); run again, or save the model again"
                )
            self.key, self.bundle = (ref.path, ref.fingerprint), bundle
            logger.info("worker: loaded %s", ref.described)
        return self.bundle


CACHE = ModelCache()
"""This process's model cache (on a Dask worker: the worker's)."""
FAILED_STEP_ATTRIBUTE = "vl3d_focal_failed_step"
"""Set on the error a run of one cloud raises: which of the phase's steps (0-based) failed."""


@dataclass(frozen=True)
class CloudOutcome:
    """What a task did with its cloud.

    Attributes:
        number: the cloud's position in ``in_pcloud``.
        path: the cloud.
        status: ``"done"`` or ``"failed"``.
        seconds: time spent.
        step_seconds: time spent in each step of the phase.
        facts: what the steps told (their evaluations), for the run record.
        error: the failure's message, or None.
        warnings: what the steps noted without failing.
        peak_memory_mib: the peak resident memory of the process that ran it, so far (None
            where the system does not tell).
        buffer_neighbours: the neighbour tiles its buffered prediction read, or None (no buffer).
        failed_step: the phase's step (0-based) that failed, or None.
        messages: what the task (the package or a library it called) logged at WARNING and
            above or warned on a Dask worker, for the run to log (:mod:`~vl3d_focal.runner.task_log`);
            empty in this process, where it is logged.
        written_outside: each file outside the run's folders that the task wrote on a Dask worker,
            with its identity (size, mtime_ns) after the write, for the run to record as its own
            (:func:`~vl3d_focal.io.output_guard.note_written`); empty in this process, where the run's
            guard records them as they are written.
    """

    number: int
    path: str
    status: str
    seconds: float = 0.0
    step_seconds: tuple[float, ...] = ()
    facts: RunFacts = field(default_factory=RunFacts)
    error: str | None = None
    warnings: tuple[str, ...] = ()
    peak_memory_mib: float | None = None
    buffer_neighbours: BufferNeighbours | None = None
    failed_step: int | None = None
    messages: tuple[TaskMessage, ...] = ()
    written_outside: tuple[tuple[str, Identity], ...] = ()

    @property
    def metrics(self) -> Mapping[str, Any] | None:
        """The metrics of the cloud's last evaluation (OA, mIoU, ..., confusion matrix), or None."""
        return self.facts.evaluations[-1].metrics if self.facts.evaluations else None


@dataclass(frozen=True)
class CloudTask:
    """One cloud to process: its position in ``in_pcloud``, file, output prefix and points."""

    number: int
    path: str
    prefix: str
    points: int

    def failed(self, message: str) -> CloudOutcome:
        """The outcome of this task when it failed with ``message``."""
        return CloudOutcome(number=self.number, path=self.path, status="failed", error=message)


@dataclass
class PhaseContext:
    """What every task of a phase shares (scattered once to each Dask worker).

    Attributes:
        steps: the phase's steps (normalised).
        needs: for each step, what the steps after it need (``state.later_needs``).
        model_prefix: the first output prefix.
        mapping: the driver's class mapping, or None.
        tile_index: the footprints of every input cloud.
        model: the model to load on a worker (None in process, or without a model).
        bundle: the driver's model (in process only).
        model_file: the file the driver's model came from (in process only; None when trained).
        model_training: the driver's ``state.model_training`` (which training gave its model).
        records: the driver's cloud records by path (in process only).
        survey: a run of several clouds: each cloud's predictions are released once its phase
            is done (a run of one cloud keeps them in its state, for callers of the runner).
        raise_failures: a failure is raised (a run of one cloud in this process) instead of
            returned as a failed outcome (a survey's tile, or any task on a Dask worker, which
            would otherwise log the raised error's traceback before the driver's message).
        classes_rewritten: the driver's ``state.classes_rewritten`` (a ``ClassReducer`` ran).
        miners: the driver's ``state.miners`` (the recipes of the miner steps run so far).
        imputers: the driver's ``state.imputers`` (the recipes of the imputer steps run so far).
        relay_log: the task runs on a Dask worker: what it (or a library it calls) logs at
            WARNING and above or warns is kept in its outcome's ``messages`` for the run to log,
            instead of printed by the worker.
        final_clouds: in the run's last phase, each cloud's final cloud by its output prefix,
            written after the phase's steps (:mod:`~vl3d_focal.runner.final_clouds`); else empty.
        guarded: on a Dask worker, the files outside the run's folders that the run guards, with
            the identity it expects (:func:`~vl3d_focal.io.output_guard.guarded_files`): the task
            writes one only while it is that file, and reports what it wrote; empty in this process,
            where the run's own guard is in force.
        owner: on a Dask worker, the run that submitted the task: each file is published only
            while it still owns the task (:mod:`~vl3d_focal.runner.run_owner`); a task that
            outlived its run publishes nothing. None in this process.
    """

    steps: Sequence[Mapping[str, Any]]
    needs: Sequence[frozenset[str]]
    model_prefix: str
    mapping: ClassMapping | None
    tile_index: TileIndex | None
    model: ModelRef | None = None
    bundle: ModelBundle | None = None
    model_file: str | None = None
    model_training: int | None = None
    records: Mapping[str, CloudRecord] = field(default_factory=dict)
    survey: bool = True
    raise_failures: bool = False
    classes_rewritten: bool = False
    miners: Sequence[MinedFeatures] = ()
    imputers: Sequence[Imputer] = ()
    relay_log: bool = False
    final_clouds: Mapping[str, str] = field(default_factory=dict)
    guarded: Mapping[str, Identity | None] = field(default_factory=dict)
    owner: RunOwner | None = None


def peak_memory_mib() -> float | None:
    """This process's peak resident memory so far, in MiB (None where unknown).

    Example:
        >>> peak_memory_mib() is None or peak_memory_mib() > 0
        True
    """
    try:
        import resource
    except ImportError:  # not on this system
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def _message(error: BaseException) -> str:
    return str(error) if isinstance(error, VL3DFocalError) else f"{type(error).__name__}: {error}"


def _state(task: CloudTask, context: PhaseContext) -> PipelineState:
    record = context.records.get(task.path) or CloudRecord(
        path=Path(task.path), cloud=None, prefix=task.prefix, num_points=task.points
    )
    if context.model is None:
        bundle, model_file = context.bundle, context.model_file
    else:
        bundle, model_file = CACHE.get(context.model), context.model.source
    return PipelineState(
        clouds=[record],
        model_prefix=context.model_prefix,
        mapping=context.mapping,
        bundle=bundle,
        model_file=model_file,
        model_training=context.model_training,
        tile_index=context.tile_index,
        classes_rewritten=context.classes_rewritten,
        miners=list(context.miners),
        imputers=list(context.imputers),
    )


def run_cloud_task(task: CloudTask, context: PhaseContext) -> CloudOutcome:
    """Runs the phase's steps on one cloud (see the module docstring).

    Example:
        >>> from vl3d_focal.config import load_spec
        >>> steps = load_spec(spec_file)["sequential_pipeline"]  # ModelLoader, ClassificationEvaluator
        >>> context = PhaseContext(steps=steps, needs=[frozenset()] * 2, model_prefix=f"{out}/", mapping=None,
        ...                        tile_index=None)
        >>> outcome = run_cloud_task(CloudTask(number=0, path=str(tile), prefix=f"{out}/a/", points=1531), context)
        >>> outcome.status, sorted(outcome.metrics)[:2]
        ('done', ['Kappa', 'MCC'])
    """
    if not context.relay_log:
        return _run_steps(task, context)
    publishing = contextlib.nullcontext() if context.owner is None else publishing_while(context.owner.gone)
    with captured_messages() as messages, recording_written(context.guarded) as written, publishing:
        outcome = _run_steps(task, context)
    owner = context.owner
    if outcome.status == "failed" and owner is not None and owner.gone() is not None and not owner.taken_over():
        _remove_empty_cloud_folders(task.prefix)  # not where another run took over: it may be about to fill them
    return dataclasses.replace(outcome, messages=tuple(messages), written_outside=tuple(written))


def _remove_empty_cloud_folders(prefix: str) -> None:
    """Deletes the cloud's output folder (``prefix``, where it names one) and the folders in it
    that a task whose run is gone made and left empty: it published no file there."""
    folder = Path(prefix)
    if not prefix.endswith(("/", os.sep)) or not folder.is_dir():
        return
    # remove_empty_folders deletes the folders of files: one name in each folder of the tree
    remove_empty_folders(files=[Path(inner, "-") for inner, _, _ in os.walk(folder)], root=folder.parent)


def _run_steps(task: CloudTask, context: PhaseContext) -> CloudOutcome:
    start, record = time.perf_counter(), None
    times: list[float] = []
    try:
        state = _state(task, context)
        record = state.clouds[0]
        record.warnings.clear()
        record.buffer_neighbours = None
        for step, needs in zip(context.steps, context.needs):
            located = find_step(step)
            if located is None:
                raise DataError(f"not a registered step: {sorted(step)}; validate the spec first")
            state.later_needs = needs
            begin = time.perf_counter()
            located[1].load()(step, state)
            if len(times) == len(context.steps) - 1:  # the phase's last step: then the final cloud
                write_final_clouds(state, targets=context.final_clouds)
            times.append(time.perf_counter() - begin)
        return CloudOutcome(
            number=task.number,
            path=task.path,
            status="done",
            seconds=time.perf_counter() - start,
            step_seconds=tuple(times),
            facts=state.facts,
            warnings=tuple(record.warnings),
            peak_memory_mib=peak_memory_mib(),
            buffer_neighbours=record.buffer_neighbours,
        )
    except Exception as error:  # noqa: BLE001  (any failure of one cloud is recorded, the others go on)
        if context.raise_failures:
            setattr(error, FAILED_STEP_ATTRIBUTE, len(times))  # the run's record names that step
            raise
        # the run that receives the outcome tells the failure (CloudPhases), once, at ERROR
        logger.debug("%s: failed: %s", Path(task.path).name, _message(error), exc_info=True)
        return CloudOutcome(
            number=task.number,
            path=task.path,
            status="failed",
            seconds=time.perf_counter() - start,
            error=_message(error),
            warnings=tuple(record.warnings) if record else (),
            peak_memory_mib=peak_memory_mib(),
            failed_step=len(times),
        )
    finally:
        if context.survey and record is not None and record.result is not None:
            record.result.close()  # predictions do not outlive their phase (temporary tiles freed)
            record.result = None
