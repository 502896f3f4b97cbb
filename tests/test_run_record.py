"""The run record a real run writes (report.json, report.html), from the command line as a user runs it."""

from __future__ import annotations

import csv
import datetime
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_resume import small_spec

from vl3d_focal.data.synthetic import write_demo_scene
from vl3d_focal.runner.demo import DEMO_TILES, demo_spec_text
from vl3d_focal.runner.run_record import RunRecorder, json_ready
from vl3d_focal.steps.state import PipelineState

TF_NATIVE_LINE = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|oneDNN|cuInit|cuda", re.M)
"""TensorFlow's C++ log lines (absl format) and its start-up notes."""


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}  # as a user has it
    return subprocess.run(
        [sys.executable, "-m", "vl3d_focal", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A small run with a package warning (no validation data for a val_loss monitor) and TensorBoard logs."""
    root = tmp_path_factory.mktemp("record")
    write_demo_scene(root / "data" / "scene.las", seed=2, size_m=20.0, density=4.0)
    spec = small_spec(epochs=2)
    handling = spec["sequential_pipeline"][1]["model_args"]["model_handling"]
    handling.update(validation_split=0.0, tensorboard_dir="*training/tensorboard")
    (root / "spec.json").write_text(json.dumps(spec))
    done = _cli("run", "spec.json", cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root, done, json.loads((root / "out" / "report.json").read_text())


def test_no_tensorflow_native_log_line_reaches_the_terminal(run):
    root, done, _ = run
    assert TF_NATIVE_LINE.findall(done.stderr) == []
    assert f"report: {root / 'out' / 'report.html'}" in done.stdout


def test_the_record_has_every_step_with_its_time_and_the_spec_as_run(run):
    root, _, record = run
    assert record["status"] == "finished" and record["error"] is None
    assert [(s["kind"], s["status"]) for s in record["steps"]] == [
        ("class_mapping", "done"),
        ("train", "done"),
        ("writer", "done"),
        ("predict", "done"),
        ("eval", "done"),
        ("writer", "done"),
    ]
    assert all(s["seconds"] >= 0 for s in record["steps"])
    assert record["seconds"] >= sum(s["seconds"] for s in record["steps"])
    assert record["spec"]["sequential_pipeline"][1]["model_args"]["model_handling"]["batch_size"] == 2
    assert record["clouds"] == [
        {
            "path": str(root / "data" / "scene.las"),
            "points": record["clouds"][0]["points"],
            "prefix": f"{root / 'out'}/",
        }
    ]
    assert record["versions"]["tensorflow"] != "not installed" and record["machine"]["cpu_count"] >= 1


def test_the_record_and_the_manifest_stamp_their_times_alike_in_utc(run):
    root, _, record = run
    manifest = json.loads((root / "out" / "run.json").read_text())
    stamps = [datetime.datetime.fromisoformat(record[key]) for key in ("started", "finished")]
    stamps += [datetime.datetime.fromisoformat(manifest[key]) for key in ("started", "ended")]
    assert [stamp.utcoffset() for stamp in stamps] == [datetime.timedelta(0)] * 4  # explicit +00:00, one clock
    assert stamps[0] <= stamps[2] <= stamps[1] <= stamps[3]  # the record is made first, the manifest ends last


def test_the_training_facts_equal_the_training_files(run):
    root, _, record = run
    training = record["trainings"][0]
    weights = json.loads((root / "out" / "training" / "class_weights.json").read_text())
    assert training["class_weight"] == list(weights["class_weight"].values())
    assert training["class_counts"] == list(weights["class_counts"].values())
    assert training["class_weight_spec"]["strategy"] == "balanced"
    assert training["class_weight_rule"].startswith("balanced, on_absent_class=zero")
    assert "N / (C n_c)" in training["class_weight_rule"]
    with open(root / "out" / "training" / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(training["history"]) == len(rows) == 2
    assert [row["learning_rate"] for row in training["history"]] == [pytest.approx(0.001)] * 2  # Adam's default
    assert float(rows[1]["loss"]) == pytest.approx(training["history"][1]["loss"])


def test_the_evaluation_facts_equal_the_evaluation_file(run):
    root, _, record = run
    evaluation = record["evaluations"][0]
    assert evaluation["metrics"] == json.loads((root / "out" / "eval" / "evaluation.json").read_text())
    assert Path(evaluation["pictures"]["topdown_svg"]).is_file()


def test_package_warnings_are_recorded_with_their_step(run):
    _, _, record = run
    found = [w for w in record["warnings"] if "no validation data" in w["message"]]
    assert found and found[0]["step"] == 1 and found[0]["logger"] == "vl3d_focal.training.callbacks"


def test_tensorboard_logs_are_written_where_asked(run):
    root, _, record = run
    events = list((root / "out" / "training" / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and record["trainings"][0]["files"]["tensorboard_dir"] == str(
        root / "out" / "training" / "tensorboard"
    )


def test_the_tensorboard_folder_is_recorded_and_a_rerun_writes_beside_its_logs(run):
    root, _, _ = run
    board = root / "out" / "training" / "tensorboard"
    events = sorted(path.relative_to(root / "out").as_posix() for path in board.rglob("events.out.tfevents.*"))
    manifest = json.loads((root / "out" / "run.json").read_text())
    assert manifest["planned_folders"] == ["training/tensorboard"]
    assert events and not set(events) & set(manifest["files"])  # other runs may log there: never deleted
    checked = _cli("validate", "spec.json", cwd=root)  # the folder now exists: still a valid place for the logs
    assert checked.returncode == 0, checked.stderr


def test_the_page_is_written_with_the_run(run):
    root, _, record = run
    page = (root / "out" / "report.html").read_text()
    assert f"{record['evaluations'][0]['metrics']['mIoU']:.3f}" in page
    assert "no validation data" in page and "tensorboard --logdir" in page


def test_a_failed_run_writes_what_ran_and_its_error(tmp_path):
    write_demo_scene(tmp_path / "data" / "scene.las", seed=2, size_m=10.0, density=2.0)
    spec = small_spec(epochs=1)
    spec["sequential_pipeline"][0]["classes"][0]["codes"] = [99]  # ground (code 2) no longer mapped
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    done = _cli("run", "spec.json", cwd=tmp_path)
    assert done.returncode == 2
    assert f"what ran, and the error: {tmp_path / 'out' / 'report.html'}" in done.stderr
    record = json.loads((tmp_path / "out" / "report.json").read_text())
    assert record["status"] == "failed" and record["error"]["step"] == 1 and record["error"]["type"] == "DataError"
    assert [s["status"] for s in record["steps"]] == ["done", "failed", "pending", "pending", "pending", "pending"]
    assert "LAS codes neither mapped to a class nor ignored" in record["error"]["message"]
    assert "LAS codes neither mapped to a class nor ignored" in (tmp_path / "out" / "report.html").read_text()


def test_the_recorder_only_collects_the_package_warnings_while_it_runs():
    recorder = RunRecorder(spec={"in_pcloud": [], "out_pcloud": ["o/"], "sequential_pipeline": []}, kinds=[])
    with recorder.collecting():
        logging.getLogger("vl3d_focal.data.features").warning("kept")
        logging.getLogger("vl3d_focal.data.features").info("not a warning")
        logging.getLogger("other.library").warning("not ours")
    logging.getLogger("vl3d_focal.data.features").warning("after the run")
    assert [w["message"] for w in recorder.data["warnings"]] == ["kept"]
    recorder.take_facts(PipelineState(clouds=[], model_prefix="o/"))
    assert recorder.data["trainings"] == [] and recorder.data["evaluations"] == []


def test_records_hold_strict_json():
    assert json.dumps(json_ready({"loss": float("inf"), "t": (1, 2)}), allow_nan=False) == '{"loss": null, "t": [1, 2]}'


def test_the_demo_spec_reads_the_demo_tiles_beside_it(tmp_path):
    document = json.loads(demo_spec_text())
    assert document["in_pcloud"] == ["data/demo_test.las"] and document["out_pcloud"] == ["*"]
    handling = next(
        step["model_args"]["model_handling"] for step in document["sequential_pipeline"] if "model_args" in step
    )
    assert handling["training_pcloud"] == ["data/demo_train.las"]
    assert sorted(DEMO_TILES) == sorted([*document["in_pcloud"], *handling["training_pcloud"]])
