"""The record of a run: ``<first output prefix>report.json``, and the ``report.html`` built from it.

The runner fills the record as the run goes (:class:`RunRecorder`): the spec as run, the
versions and the machine, the clouds, each step with its time (and its ``origin`` in the spec
file when VL3D's forms rewrote the steps: ``"spec step 2"``), what the steps told through
``state.facts`` (trainings: class weights and how they came, history; evaluations: metrics and
pictures), every WARNING logged by the package while the run lasted, and the error of a failed
run. The JSON is rewritten (atomically) after every step, so a killed run leaves the record of
what it did (its ``lock``, the prefix's lock file, tells a reader whether a record that says
``running`` still runs: :func:`vl3d_focal.io.prefix_lock.recorded_status`); at the end, finished
or failed, the HTML page is rendered from it
(:func:`vl3d_focal.reports.html_report.write_report`). ``vl3d-focal compare`` reads only these
JSON files, never the clouds.

Example:
    >>> record = RunRecorder(spec={"in_pcloud": [], "out_pcloud": ["out/"], "sequential_pipeline": []}, kinds=[])
    >>> record.paths["json"].as_posix(), record.data["status"]
    ('out/report.json', 'running')
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import math
import os
import platform
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal import __version__
from vl3d_focal.config.prefixes import LOCK_NAME, REPORT_FILES, SURVEY_FILES, expand_output
from vl3d_focal.errors import DataError, VL3DFocalError
from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.io.timestamps import now
from vl3d_focal.reports.run_summary import RECORD_FORMAT, read_record
from vl3d_focal.runner.outputs import output_files, spec_prefix
from vl3d_focal.runner.survey_origin import earlier_survey
from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)

RECORD_VERSION = 1
PACKAGES = ("tensorflow", "keras", "numpy", "scipy", "laspy", "matplotlib", "jsonschema")


def report_paths(prefix: str) -> dict[str, Path]:
    """The report files of a run whose first output prefix is ``prefix``.

    Example:
        >>> report_paths("out/run_")["html"].as_posix()
        'out/run_report.html'
    """
    return {name: Path(expand_output(path, prefix=prefix)) for name, path in REPORT_FILES.items()}


def command_line() -> list[str]:
    """The command that runs: ``vl3d-focal ARGS`` when it is the command line, else ``sys.argv``.

    Example:
        >>> isinstance(command_line(), list)
        True
    """
    program = Path(sys.argv[0]) if sys.argv else Path()
    if program.name == "vl3d-focal" or (program.name == "__main__.py" and program.parent.name == "vl3d_focal"):
        return ["vl3d-focal", *sys.argv[1:]]
    return list(sys.argv)


def json_ready(value: Any) -> Any:
    """``value`` with tuples as lists, numpy scalars as numbers, paths as strings and NaN or
    infinities as None, so that strict JSON can hold it.

    Example:
        >>> json_ready({"a": (1, float("nan")), "b": Path("x")})
        {'a': [1, None], 'b': 'x'}
    """
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalars
        return json_ready(value.item())
    return str(value)


def versions() -> dict[str, str]:
    """Python's, this package's and its main dependencies' versions (installed, not imported).

    Example:
        >>> versions()["vl3d_focal"] == __version__
        True
    """
    found = {"python": platform.python_version(), "vl3d_focal": __version__}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine() -> dict[str, Any]:
    """The operating system, processor, cores, memory and, when TensorFlow is loaded, its devices.

    Example:
        >>> machine()["cpu_count"] >= 1
        True
    """
    facts: dict[str, Any] = {
        "system": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count() or 1,
    }
    with contextlib.suppress(ValueError, OSError, AttributeError):
        facts["memory_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None:
        with contextlib.suppress(Exception):  # a broken device query must not fail the run
            facts["devices"] = [f"{d.device_type} {d.name}" for d in tensorflow.config.list_physical_devices()]
    return facts


class _WarningCollector(logging.Handler):
    """Keeps every WARNING (and worse) record of the package, with the step it came in."""

    def __init__(self, recorder: RunRecorder) -> None:
        super().__init__(level=logging.WARNING)
        self.recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:  # noqa: D102
        phase = self.recorder.phase
        self.recorder.data["warnings"].append(
            {
                "step": self.recorder.current_step if len(phase) < 2 else None,
                "phase": [phase[0], phase[-1]] if len(phase) > 1 else None,
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


def _earlier_trainings(path: Path) -> list[dict[str, Any]]:
    """The trainings of the record a resumed run replaces (none when there is no readable one)."""
    try:
        return list(read_record(path).get("trainings") or [])
    except DataError:
        return []


class RunRecorder:
    """Fills and writes the record of one run (see the module docstring).

    Args:
        spec: the validated, normalised spec being run.
        kinds: the kind key of each step (``"train"``, ``"eval"``...).
        resume: whether the run resumes an interrupted training.
        origins: where each step comes from in the spec file when VL3D's forms rewrote its steps
            (``"spec step 2"``, each step's ``origin``); () when they are as written.

    Example:
        >>> recorder = RunRecorder(spec={"in_pcloud": [], "out_pcloud": ["o/"], "sequential_pipeline": []}, kinds=[])
        >>> with recorder.collecting():
        ...     logging.getLogger("vl3d_focal.data").warning("intensity beyond its training range")
        >>> recorder.data["warnings"][0]["message"]
        'intensity beyond its training range'
    """

    def __init__(
        self, *, spec: Mapping[str, Any], kinds: list[str], resume: bool = False, origins: Sequence[str] = ()
    ) -> None:
        inputs = [str(path) for path in spec["in_pcloud"]]
        self.origins = tuple(origins)
        self.prefix = spec_prefix(spec)
        self.paths = report_paths(self.prefix)
        self.earlier_trainings = _earlier_trainings(self.paths["json"]) if resume else []
        self.writes = False  # set by the runner once the output prefix is this run's
        self.current_step: int | None = None
        self.phase: list[int] = []  # the steps running together (a per-cloud phase: several)
        self._start = time.perf_counter()
        self.data: dict[str, Any] = {
            "format": RECORD_FORMAT,
            "version": RECORD_VERSION,
            "status": "running",
            "started": now(),
            "finished": None,
            "seconds": None,
            "command": command_line(),
            "resume": bool(resume),
            "output_prefix": self.prefix,
            "spec": json_ready(spec),
            "versions": versions(),
            "machine": {},
            "clouds": [{"path": path, "points": None, "prefix": None} for path in inputs],
            "steps": [
                {
                    "index": index,
                    "kind": kind,
                    "name": step[kind],
                    "origin": self.origins[index] if self.origins else None,
                    "status": "pending",
                    "seconds": None,
                }
                for index, (step, kind) in enumerate(zip(spec["sequential_pipeline"], kinds))
            ],
            "trainings": [],
            "loaded_models": [],
            "evaluations": [],
            "uncertainties": [],
            "notes": [],
            "warnings": [],
            "error": None,
            "survey": None,
            "files": {name: str(path) for name, path in self.paths.items()},
            "lock": f"{self.prefix}{LOCK_NAME}",  # held while the run lasts: io.prefix_lock.recorded_status
            "outputs": [str(path) for path in output_files(spec)],
        }

    @contextlib.contextmanager
    def collecting(self) -> Iterator[None]:
        """Collects the package's warnings while the block runs."""
        handler = _WarningCollector(self)
        package = logging.getLogger("vl3d_focal")
        package.addHandler(handler)
        try:
            yield
        finally:
            package.removeHandler(handler)

    def attach(self, state: PipelineState) -> None:
        """Takes the clouds of a new pipeline state.

        Example:
            >>> recorder = RunRecorder(spec={"in_pcloud": [], "out_pcloud": ["o/"], "sequential_pipeline": [
            ...     {"eval": "ClassificationEvaluator", "report_path": "*e.json"}]}, kinds=["eval"])
            >>> recorder.attach(PipelineState(clouds=[], model_prefix="o/"))
            >>> recorder.data["steps"][0]["name"], recorder.data["clouds"]
            ('ClassificationEvaluator', [])
        """
        self.data["clouds"] = [
            {"path": str(record.path), "points": int(record.num_points), "prefix": record.prefix}
            for record in state.clouds
        ]

    @contextlib.contextmanager
    def step(self, index: int, *, state: PipelineState, skipped: bool = False) -> Iterator[None]:
        """Times step ``index``; its facts are copied from ``state`` and the JSON rewritten after it."""
        entry = self.data["steps"][index]
        if skipped:
            entry["status"] = "skipped"
            yield
            return
        self.current_step, entry["status"] = index, "running"
        self.phase.append(index)
        if len(self.phase) > 1:  # entered inside another step: they run as one phase
            for member in self.phase:
                self.data["steps"][member]["phase"] = [self.phase[0], index]
        begin = time.perf_counter()
        try:
            yield
        except BaseException:
            if entry["status"] == "running":  # else set by phase_failed
                entry["status"] = "failed"
            raise
        else:
            entry["status"] = "done"
        finally:
            entry["seconds"] = round(time.perf_counter() - begin, 3)
            self.phase.remove(index)
            self.current_step = self.phase[-1] if self.phase else None
            self.take_facts(state)
            self.write_json()

    def phase_failed(self, indices: list[int], *, step: int | None) -> None:
        """Steps ``indices`` ran together on a cloud and the one at ``step`` (its position among
        them) failed: those before it are done, those after it never ran. ``step`` None: unknown.

        Example:
            >>> step = {"eval": "ClassificationEvaluator", "report_path": "*e.json"}
            >>> recorder = RunRecorder(spec={"in_pcloud": [], "out_pcloud": ["o/"], "sequential_pipeline": [
            ...     step, step, step]}, kinds=["eval"] * 3)
            >>> recorder.phase_failed([0, 1, 2], step=1)
            >>> [entry["status"] for entry in recorder.data["steps"]]
            ['done', 'failed', 'pending']
        """
        if step is None:
            return
        for position, index in enumerate(indices):
            status = "done" if position < step else "failed" if position == step else "pending"
            self.data["steps"][index]["status"] = status

    def split_seconds(self, indices: list[int], weights: list[float]) -> None:
        """Shares the time of steps that ran together (a per-cloud phase, each timed as a whole)
        between them, in proportion to ``weights`` (their time summed over the clouds).

        Example:
            >>> step = {"eval": "ClassificationEvaluator", "report_path": "*e.json"}
            >>> recorder = RunRecorder(spec={"in_pcloud": [], "out_pcloud": ["o/"], "sequential_pipeline": [
            ...     step, step]}, kinds=["eval", "eval"])
            >>> for entry in recorder.data["steps"]:
            ...     entry["seconds"] = 9.0
            >>> recorder.split_seconds([0, 1], [2.0, 1.0])
            >>> [entry["seconds"] for entry in recorder.data["steps"]]
            [6.0, 3.0]
        """
        total, weight = self.data["steps"][indices[0]]["seconds"], sum(weights)
        if total is None or len(indices) < 2:
            return
        for index, share in zip(indices, weights):
            self.data["steps"][index]["phase_seconds"] = total
            self.data["steps"][index]["seconds"] = round(
                total * (share / weight if weight > 0 else 1 / len(indices)), 3
            )
        self.write_json()

    def take_facts(self, state: PipelineState) -> None:
        """Copies what the steps told (``state.facts``) into the record."""
        facts = json_ready(state.facts.to_dict())
        self.data.update(
            {key: facts[key] for key in ("trainings", "loaded_models", "evaluations", "uncertainties", "notes")}
        )
        for training, earlier in zip(self.data["trainings"], self.earlier_trainings):
            if training.get("resumed_finished") and training.get("fit_seconds") is None:
                training["fit_seconds"] = earlier.get("fit_seconds")  # a checkpoint that did not keep them

    def fail(self, error: BaseException) -> None:
        """Records the error that ended the run."""
        failed = next((s["index"] for s in self.data["steps"] if s["status"] == "failed"), None)
        expected = isinstance(error, VL3DFocalError)
        self.data["status"] = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        self.data["error"] = {
            "step": failed,
            "type": type(error).__name__,
            "message": str(error) or type(error).__name__,
            "traceback": None if expected else "".join(traceback.format_exception(error)[-12:]),
        }

    def write_json(self) -> None:
        """Writes the record (atomically); a failure to write is logged, never raised."""
        if not self.writes:
            return
        try:
            with atomic_output(self.paths["json"]) as tmp:
                tmp.write_text(json.dumps(json_ready(self.data), indent=1, allow_nan=False) + "\n", encoding="utf-8")
        except OSError as error:
            logger.error("could not write the run record %s: %s", self.paths["json"], error)

    def finish(self) -> None:
        """Closes the record (status, times, survey files, machine), writes the JSON and the HTML."""
        if self.data["status"] == "running":
            self.data["status"] = "finished"
        self.data["finished"] = now()
        self.data["seconds"] = round(time.perf_counter() - self._start, 3)
        self.data["machine"] = machine()
        survey = {name: expand_output(path, prefix=self.prefix) for name, path in SURVEY_FILES.items()}
        if any(Path(path).is_file() for path in survey.values()):
            self.data["survey"] = survey
            self.data["survey_earlier"] = earlier_survey(survey["json"], started=self.data["started"])
        self.write_json()
        if not self.writes:
            return
        from vl3d_focal.reports.html_report import write_report

        try:
            write_report(self.data, path=self.paths["html"])
        except Exception as error:  # noqa: BLE001  (a broken page must not fail, or hide, the run's result)
            logger.error("could not write the run report %s: %s: %s", self.paths["html"], type(error).__name__, error)
        else:
            logger.info("run report: %s", self.paths["html"])
