"""Whose a file is: a file outside the run's folder (a path without ``*``) that another run wrote
is never replaced or deleted silently; a re-run never leaves the previous run's files beside its
own; a record of a killed run reads as interrupted; an output that cannot be replaced is found
before any work, and a failed replace is one clear line.

The runs here claim their prefix and write their files by hand (through ``atomic_output``, as the
steps do); "another process" is a plain write, at an explicit point, never a race.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import OutputNotWritten, atomic_output
from vl3d_focal.io.output_guard import OutputChanged, file_identity
from vl3d_focal.io.prefix_lock import INTERRUPTED_SILENTLY, PrefixLock, is_held, recorded_status
from vl3d_focal.runner.manifest import OutputsTaken, RunManifest
from vl3d_focal.runner.preflight import check_outputs, check_replaceable


def _spec(root: Path, run: str, *, model: str) -> dict:
    """A spec whose prefix is ``root/runs/<run>/`` and whose model goes to ``model`` (no ``*``)."""
    return {
        "in_pcloud": [str(root / "a.las")],
        "out_pcloud": [f"{root / 'runs' / run}/"],
        "sequential_pipeline": [
            {"eval": "ClassificationEvaluator", "report_path": "*eval/r.json"},
            {"writer": "PredictiveModelWriter", "out_model": model},
        ],
    }


def _write(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def _manifest(root: Path, run: str) -> dict:
    return json.loads((root / "runs" / run / "run.json").read_text())


def _run(spec: dict, *, model: Path, text: str, overwrite: bool = False, resume: bool = False) -> RunManifest:
    run = RunManifest(spec, spec_file=f"{text}.json", overwrite=overwrite, resume=resume)
    run.claim()
    _write(Path(spec["out_pcloud"][0]) / "eval" / "r.json", text)
    _write(model, text)
    run.finish("done")
    return run


def test_a_file_outside_the_folder_that_another_run_wrote_is_neither_replaced_nor_deleted(tmp_path, caplog):
    shared = tmp_path / "models" / "shared.keras"
    m1 = _spec(tmp_path, "M1", model=str(shared))
    _run(m1, model=shared, text="M1")
    recorded = _manifest(tmp_path, "M1")
    assert str(shared) in recorded["files"] and recorded["outside"] == [str(shared)]
    assert recorded["identities"][str(shared)] == file_identity(shared)
    assert recorded["identities"]["eval/r.json"] == file_identity(tmp_path / "runs" / "M1" / "eval" / "r.json")

    m3 = _spec(tmp_path, "M3", model=str(shared))
    with pytest.raises(OutputsTaken, match=r"models/shared\.keras: exists outside .* --overwrite to replace it"):
        RunManifest(m3, spec_file="M3.json").claim()
    assert shared.read_text() == "M1"
    assert not (tmp_path / "runs" / "M3" / "run.json").exists()

    _run(m1, model=shared, text="M1 again")  # its own previous run wrote it: a re-run replaces it
    assert shared.read_text() == "M1 again"

    _run(m3, model=shared, text="M3", overwrite=True)  # the user said so
    assert shared.read_text() == "M3"
    with pytest.raises(OutputsTaken, match="shared.keras: exists outside"):  # M1's file no more
        RunManifest(m1, spec_file="M1.json").claim()

    m1b = _spec(tmp_path, "M1", model="*model/model.keras")  # another spec into M1's folder
    with caplog.at_level(logging.INFO, logger="vl3d_focal.runner.manifest"):
        RunManifest(m1b, spec_file="M1b.json", overwrite=True).claim()
    assert shared.read_text() == "M3"  # not deleted: it is no longer the file M1 wrote
    assert not (tmp_path / "runs" / "M1" / "eval" / "r.json").exists()  # M1's own file went
    assert f"--overwrite: kept {shared}: it was rewritten by something else since the previous run" in caplog.text


def test_a_file_written_by_another_process_during_the_run_is_not_replaced_nor_claimed(tmp_path):
    shared = tmp_path / "models" / "shared.keras"
    spec = _spec(tmp_path, "M2", model=str(shared))
    run = RunManifest(spec, spec_file="M2.json")
    run.claim()  # absent at its start
    shared.parent.mkdir()
    shared.write_text("another run's model")  # another process finishes first
    with pytest.raises(OutputChanged, match=r"shared\.keras: was written by another process while this run ran"):
        _write(shared, "M2")
    assert shared.read_text() == "another run's model"
    assert [path.name for path in shared.parent.iterdir()] == ["shared.keras"]  # no temporary file left
    run.finish("failed")
    assert str(shared) not in _manifest(tmp_path, "M2")["files"]  # not claimed as this run's


def test_an_outside_file_is_recorded_as_soon_as_it_is_written_and_rewritten_by_the_run_itself(tmp_path):
    shared = tmp_path / "models" / "shared.keras"
    run = RunManifest(_spec(tmp_path, "K", model=str(shared)), spec_file="K.json")
    run.claim()
    _write(shared, "first")
    _write(shared, "its best epoch")  # the run's own second write is no other process's
    running = _manifest(tmp_path, "K")  # a SIGKILL here leaves this record
    assert running["status"] == "running"
    assert running["files"] == [str(shared)] and running["identities"][str(shared)] == file_identity(shared)
    run.lock.release()  # killed
    RunManifest(_spec(tmp_path, "K", model=str(shared)), spec_file="K.json").claim()  # still its file


def test_a_rerun_deletes_the_previous_runs_files_it_writes_again_unless_it_resumes(tmp_path, caplog):
    shared = tmp_path / "shared.keras"
    spec = _spec(tmp_path, "P", model=str(shared))
    _run(spec, model=shared, text="first")
    evaluation = tmp_path / "runs" / "P" / "eval" / "r.json"

    resumed = RunManifest(spec, spec_file="P.json", resume=True)
    resumed.claim()
    assert resumed.remove_previous() == []
    assert evaluation.read_text() == "first" and shared.read_text() == "first"
    resumed.finish("done")

    failed_early = RunManifest(spec, spec_file="P.json")  # stopped by its inputs, before its steps
    failed_early.claim()
    failed_early.finish("failed")
    assert evaluation.read_text() == "first" and _manifest(tmp_path, "P")["earlier_files"] == [
        "eval/r.json",
        str(shared),
    ]

    rerun = RunManifest(spec, spec_file="P.json")
    rerun.claim()
    _write(tmp_path / "runs" / "P" / "report.json", "the rerun's record")  # its record: no step's file yet
    assert evaluation.read_text() == "first" and shared.read_text() == "first"
    with caplog.at_level(logging.INFO, logger="vl3d_focal.runner.manifest"):
        _write(evaluation, "rerun")  # its first step's file: the previous run's files go first
    assert evaluation.read_text() == "rerun" and not shared.exists()  # a kill now leaves no mix of two runs
    assert (tmp_path / "runs" / "P" / "report.json").read_text() == "the rerun's record"
    assert (  # named from the folder that holds them all
        f"this run writes again: deleted 2 files of the previous run (P.json) in {tmp_path}: "
        "runs/P/eval/r.json, shared.keras\n"
    ) in caplog.text
    assert "kept" not in caplog.text
    assert rerun.remove_previous() == []  # once
    rerun.finish("interrupted")
    assert _manifest(tmp_path, "P")["earlier_files"] == []
    assert _manifest(tmp_path, "P")["files"] == ["eval/r.json", "run.json", "report.json"]


def test_a_killed_reruns_new_files_are_cleaned_by_the_next_rerun(tmp_path):
    spec = _spec(tmp_path, "Q", model="*model.keras")
    out = tmp_path / "runs" / "Q"
    _run(spec, model=out / "model.keras", text="first")
    killed = RunManifest(spec, spec_file="Q.json")
    killed.claim()
    _write(out / "eval" / "r.json", "killed rerun")  # the previous run's files go first
    assert not (out / "model.keras").exists()
    killed.lock.release()  # SIGKILL: no finish
    killed._guarding.close()
    nxt = RunManifest(spec, spec_file="Q.json")
    nxt.claim()
    _write(out / "model.keras", "next")  # its first file: the killed run's evaluation goes
    assert not (out / "eval" / "r.json").exists() and (out / "model.keras").read_text() == "next"
    nxt.finish("done")


def test_a_record_left_running_by_a_killed_process_reads_as_interrupted(tmp_path, caplog):
    lock = tmp_path / "out" / "run.lock"
    assert recorded_status("running", lock=lock) == INTERRUPTED_SILENTLY  # no lock file: nobody runs
    assert recorded_status("running", lock=None) == "running"  # a record from before records named it
    with PrefixLock(lock, holder="live.json"):
        assert is_held(lock) and recorded_status("running", lock=lock) == "running"
    code = (
        "import sys; from vl3d_focal.io.prefix_lock import PrefixLock; "
        f"PrefixLock({str(lock)!r}, holder='killed.json').acquire(); print('held', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    assert recorded_status("running", lock=lock) == "running"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert lock.is_file() and not is_held(lock)  # left behind, its process gone
    assert recorded_status("running", lock=lock) == INTERRUPTED_SILENTLY
    assert recorded_status("finished", lock=lock) == "finished"

    spec = _spec(tmp_path, "S", model="*m.keras")
    killed = RunManifest(spec, spec_file="S.json")
    killed.claim()
    manifest = _manifest(tmp_path, "S")
    assert recorded_status(manifest["status"], lock=manifest["lock"]) == "running"
    killed.lock.release()
    assert recorded_status(manifest["status"], lock=manifest["lock"]) == INTERRUPTED_SILENTLY
    with caplog.at_level(logging.WARNING, logger="vl3d_focal.runner.manifest"):
        RunManifest(spec, spec_file="S.json").claim()
    assert f"is recorded as running, but its process is gone: {INTERRUPTED_SILENTLY}" in caplog.text


def test_an_output_folder_inside_another_runs_folder_keeps_both_runs_files_apart(tmp_path):
    model = tmp_path / "runs" / "shared" / "model" / "m.keras"
    _run(_spec(tmp_path, "shared", model="*model/m.keras"), model=model, text="B")
    nested = _spec(tmp_path, "shared/predict", model="*m.keras")  # VL3D's predict/ under its training run
    _run(nested, model=tmp_path / "runs" / "shared" / "predict" / "m.keras", text="Y")
    outer = json.loads((tmp_path / "runs" / "shared" / "run.json").read_text())
    inner = json.loads((tmp_path / "runs" / "shared" / "predict" / "run.json").read_text())
    assert not any("predict" in name for name in outer["files"])
    assert not any("model/" in name for name in inner["files"])
    RunManifest(_spec(tmp_path, "shared", model="*model/m.keras"), overwrite=True).claim()
    assert (tmp_path / "runs" / "shared" / "predict" / "m.keras").read_text() == "Y"


def test_a_failed_replace_is_one_line_naming_the_file(tmp_path, monkeypatch):
    target = tmp_path / "predicted.laz"
    target.write_text("kept")

    def refuse(source: str, destination: str) -> None:
        raise PermissionError(1, "Operation not permitted", str(source), None, str(destination))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OutputNotWritten, match=r"^output .*predicted\.laz: cannot be replaced \(Operation not perm"):
        _write(target, "new")
    assert target.read_text() == "kept" and [p.name for p in tmp_path.iterdir()] == ["predicted.laz"]
    assert issubclass(OutputNotWritten, DataError) and issubclass(OutputNotWritten, OSError)


def test_preflight_refuses_an_existing_output_that_cannot_be_replaced(tmp_path):
    spec = {
        "in_pcloud": [str(tmp_path / "a.las")],
        "out_pcloud": [f"{tmp_path / 'imm'}/"],
        "sequential_pipeline": [{"eval": "ClassificationEvaluator", "report_path": "*r.json"}],
    }
    target = tmp_path / "imm" / "r.json"
    target.parent.mkdir()
    target.write_text("an earlier run's")
    check_outputs(spec)  # replaceable
    os.chmod(target, 0o444)
    check_replaceable(target)  # read-only, yet ours to rename over
    if subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i needs root and a file system with attributes")
    try:
        with pytest.raises(DataError, match=r"output .*imm/r\.json: exists and cannot be replaced \(Operation not"):
            check_outputs(spec)
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)
