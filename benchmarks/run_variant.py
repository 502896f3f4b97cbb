"""The quality benchmark's runs: one variant's train and predict+eval specs, each in a fresh Python.

Each spec runs through the library (``load_spec`` + ``run_pipeline``) in its own subprocess
(``python -m benchmarks.run_variant SPEC TIMING_JSON``), so runs share no TensorFlow state and
each has its own wall time; the variant's outputs are then read back.

Example (``benchmarks.quality`` writes the variant folders and calls it)::

    run = run_variant(name="ce", variant_dir=Path("out/quality/ce"), evaluations={"77060": path})
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.quality_report import SENSOR_ROWS
from benchmarks.quality_tiles import pooled_evaluation, tiles_text

REPO = Path(__file__).resolve().parents[1]


class _Predicted(logging.Handler):
    """Adds up the points and seconds of the predictions' log records (``formats``: each log
    format, the index of the points and of the seconds in its args)."""

    def __init__(self, formats: Mapping[str, tuple[int, int]]) -> None:
        super().__init__(level=logging.INFO)
        self.formats = dict(formats)
        self.points, self.seconds = 0, 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg in self.formats and isinstance(record.args, tuple):
            args: tuple[Any, ...] = record.args
            points, seconds = self.formats[record.msg]
            self.points += int(args[points])
            self.seconds += float(args[seconds])


def _fit_seconds(spec: Mapping[str, Any]) -> float | None:
    """The fitting seconds of the run's trainings, from its record (None: no training fitted)."""
    from vl3d_focal.reports.run_summary import fitted_seconds, read_record
    from vl3d_focal.runner.outputs import spec_prefix
    from vl3d_focal.runner.run_record import report_paths

    return fitted_seconds(read_record(report_paths(spec_prefix(spec))["json"]).get("trainings") or [])


def run_spec_here(*, spec_path: Path, timing_out: Path) -> int:
    """Runs one spec through the library in this process and writes its timings as JSON.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "train.json").write_text('{"sequential_pipeline": []}')
        >>> run_spec_here(spec_path=folder / "train.json", timing_out=folder / "t.json")
        Traceback (most recent call last):
        ...
        vl3d_focal.errors.SpecError: ...train.json: $: missing required key 'in_pcloud'
        ...
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from vl3d_focal.config import load_spec
    from vl3d_focal.inference.prediction import PREDICTED_LOG
    from vl3d_focal.inference.streaming import STREAMED_LOG
    from vl3d_focal.runner.pipeline import run_pipeline

    predicted = _Predicted({PREDICTED_LOG: (1, 3), STREAMED_LOG: (1, 5)})
    package = logging.getLogger("vl3d_focal")
    level = package.level
    package.setLevel(logging.INFO)  # the records counted, whatever the caller's logging keeps
    package.addHandler(predicted)
    try:
        start = time.perf_counter()
        spec = load_spec(spec_path)
        loaded = time.perf_counter()
        run_pipeline(spec)
        end = time.perf_counter()
    finally:
        package.removeHandler(predicted)
        package.setLevel(level)
    timing = {
        "load_spec_s": loaded - start,
        "run_pipeline_s": end - loaded,
        "fit_s": _fit_seconds(spec),
        "predicted_points": predicted.points,
        "predict_step_s": predicted.seconds,
    }
    timing_out.write_text(json.dumps(timing) + "\n", encoding="utf-8")
    return 0


def run_spec_subprocess(*, spec_path: Path) -> dict[str, Any]:
    """Runs a spec in a fresh Python (``run_spec_here``); returns its timings, exit code and log path.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "train.json").write_text('{"sequential_pipeline": []}')
        >>> result = run_spec_subprocess(spec_path=folder / "train.json")
        >>> result["returncode"], "missing required key 'in_pcloud'" in result["log_tail"]
        (1, True)
    """
    log = spec_path.with_suffix(".log")
    timing = spec_path.with_suffix(".timing.json")
    timing.unlink(missing_ok=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.run_variant", str(spec_path), str(timing)],
            cwd=REPO,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    result: dict[str, Any] = {"returncode": done.returncode, "process_s": time.perf_counter() - start, "log": str(log)}
    if done.returncode == 0 and timing.is_file():
        result.update(json.loads(timing.read_text(encoding="utf-8")))
    else:
        result["log_tail"] = log.read_text(encoding="utf-8", errors="replace")[-2000:]
    return result


def run_variant(*, name: str, variant_dir: Path, evaluations: Mapping[str, Path]) -> dict[str, Any]:
    """Trains, then predicts and evaluates, one variant; reads back what it wrote.

    Example (a variant whose training spec is invalid: the failure is recorded, nothing predicted):
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "train.json").write_text('{"sequential_pipeline": []}')
        >>> run = run_variant(name="bad", variant_dir=folder, evaluations={})
        [bad] training ...
        [bad] training FAILED (see ...train.log)
        >>> run["train"]["returncode"], run["evaluation"], "predict" in run
        (1, None, False)
    """
    for sub in ("train", "predict"):  # no stale results from an earlier run
        shutil.rmtree(variant_dir / sub, ignore_errors=True)
    run: dict[str, Any] = {"dir": str(variant_dir), "evaluation": None}
    print(f"[{name}] training ...", flush=True)
    run["train"] = run_spec_subprocess(spec_path=variant_dir / "train.json")
    if run["train"]["returncode"] != 0:
        print(f"[{name}] training FAILED (see {run['train']['log']})", flush=True)
        return run
    run["train_s"], run["fit_s"] = run["train"].get("run_pipeline_s"), run["train"].get("fit_s")
    training = variant_dir / "train" / "training"
    history = training / "history.csv"
    if history.is_file():
        run["epochs_run"] = max(0, len(history.read_text(encoding="utf-8").strip().splitlines()) - 1)
    weights = training / "class_weights.json"
    if weights.is_file():
        run["class_weights"] = json.loads(weights.read_text(encoding="utf-8"))
    print(f"[{name}] predicting + evaluating ...", flush=True)
    run["predict"] = run_spec_subprocess(spec_path=variant_dir / "predict_eval.json")
    run["predict_s"] = run["predict"].get("run_pipeline_s")
    if run["predict"].get("predict_step_s"):
        run["predict_points_per_s"] = run["predict"]["predicted_points"] / run["predict"]["predict_step_s"]
    run["evaluations"] = {
        tile: json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None for tile, p in evaluations.items()
    }
    run["evaluation"] = pooled_evaluation(run["evaluations"])  # the tiles together, the --sensors copies apart
    run["copies"] = {suffix: pooled_evaluation(run["evaluations"], copies=suffix) for suffix in SENSOR_ROWS}
    print(f"[{name}] {tiles_text(run['evaluations'], run['evaluation'])}", flush=True)
    if run["evaluation"] is None:
        print(f"[{name}] no evaluation (see {run['predict']['log']})", flush=True)
    return run


def main(*, argv: list[str] | None = None) -> int:
    """Entry point of a run's subprocess: ``python -m benchmarks.run_variant SPEC TIMING_JSON``.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "train.json").write_text('{"sequential_pipeline": []}')
        >>> main(argv=[str(folder / "train.json"), str(folder / "t.json")])
        Traceback (most recent call last):
        ...
        vl3d_focal.errors.SpecError: ...
    """
    parser = argparse.ArgumentParser(description="Runs one spec and writes its timings (quality benchmark).")
    parser.add_argument("spec", type=Path, help="the spec to run")
    parser.add_argument("timing_out", type=Path, help="where the timings JSON goes")
    args = parser.parse_args(argv)
    return run_spec_here(spec_path=args.spec, timing_out=args.timing_out)


if __name__ == "__main__":
    sys.exit(main())
