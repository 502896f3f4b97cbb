"""The run manifest and the prefix lock: one run at a time per output prefix, a re-run that says
which files it wrote, and an ``--overwrite`` that deletes only the previous run's own files.

The runs here write their files by hand between ``claim`` and ``finish``; the modification
times are set explicitly to the run's start (a file's time may trail the clock by a few
milliseconds on Linux).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vl3d_focal.io.prefix_lock import PrefixBusy, PrefixLock
from vl3d_focal.runner.manifest import OutputsTaken, RunManifest, spec_fingerprint


def _spec(root: Path, *, report: str = "*eval/r.json", steps: tuple[dict, ...] = ()) -> dict:
    return {
        "in_pcloud": [str(root / "a.las")],
        "out_pcloud": [f"{root / 'out'}/"],
        "sequential_pipeline": [*steps, {"eval": "ClassificationEvaluator", "report_path": report}],
    }


def _write(path: Path, text: str, *, at: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (at, at))


def _manifest(root: Path) -> dict:
    return json.loads((root / "out" / "run.json").read_text())


def test_a_second_run_into_a_live_prefix_stops_before_touching_anything(tmp_path):
    first = RunManifest(_spec(tmp_path), spec_file="first.json")
    first.claim()
    second = RunManifest(_spec(tmp_path, report="*other/r.json"), spec_file="second.json", overwrite=True)
    with pytest.raises(OutputsTaken, match=r"another run is writing these outputs now \(first\.json, process \d+ on "):
        second.claim()
    assert _manifest(tmp_path)["spec_file"] == "first.json"  # the live run's manifest is untouched
    first.finish("done")
    assert not (tmp_path / "out" / "run.lock").exists()
    second.claim()  # the prefix is free again: --overwrite replaces the finished run
    second.finish("done")
    assert _manifest(tmp_path)["spec_file"] == "second.json"


def test_a_killed_holder_leaves_a_lock_file_that_the_next_run_takes_over(tmp_path):
    lock = tmp_path / "out" / "run.lock"
    code = (
        "import sys; from vl3d_focal.io.prefix_lock import PrefixLock; "
        f"PrefixLock({str(lock)!r}, holder='killed.json').acquire(); print('held', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(PrefixBusy, match="killed.json, process"):
            PrefixLock(lock).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert lock.is_file()  # SIGKILL: nobody deleted it, but the system released the lock
    with PrefixLock(lock, holder="next.json"):
        facts = json.loads(lock.read_text())
        assert facts["spec_file"] == "next.json" and facts["started"].endswith("+00:00")  # as the records: UTC
    assert not lock.exists()


def test_a_failed_resumed_rerun_lists_only_what_it_wrote_and_keeps_the_earlier_files_apart(tmp_path):
    spec = _spec(tmp_path)
    done = RunManifest(spec)
    done.claim()
    _write(tmp_path / "out" / "eval" / "r.json", "first run", at=done.started)
    done.finish("done")
    assert _manifest(tmp_path)["files"] == ["eval/r.json", "run.json"]

    rerun = RunManifest(spec, resume=True)  # a --resume keeps what the earlier run wrote
    rerun.claim()
    _write(tmp_path / "out" / "report.json", "the rerun's record", at=rerun.started)
    rerun.finish("failed")

    manifest = _manifest(tmp_path)
    assert manifest["status"] == "failed"
    assert manifest["files"] == ["run.json", "report.json"]  # not the first run's evaluation
    assert manifest["earlier_files"] == ["eval/r.json"]

    rerun_again = RunManifest(spec, resume=True)
    rerun_again.claim()
    _write(tmp_path / "out" / "eval" / "r.json", "third run", at=rerun_again.started)
    rerun_again.finish("done")
    assert _manifest(tmp_path)["files"] == ["eval/r.json", "run.json"]
    assert _manifest(tmp_path)["earlier_files"] == ["report.json"]  # the failed run's, not rewritten here


def test_overwrite_after_a_killed_run_deletes_only_what_that_run_changed(tmp_path):
    outside = tmp_path / "elsewhere" / "predicted.laz"
    killed_spec = _spec(tmp_path, steps=({"writer": "ClassifiedPcloudWriter", "out_pcloud": str(outside)},))
    killed = RunManifest(killed_spec, spec_file="killed.json")
    killed.claim()
    _write(outside, "a user's file the killed run never reached", at=killed.started - 60)
    _write(tmp_path / "out" / "eval" / "r.json", "written before the kill", at=killed.started + 1)
    _write(tmp_path / "out" / "eval" / "r.txt", "an older file of the user's", at=killed.started - 60)
    killed.lock.release()  # SIGKILL: the manifest still says running, the system drops the lock
    assert _manifest(tmp_path)["status"] == "running"

    RunManifest(_spec(tmp_path, report="*other/r.json"), overwrite=True).claim()

    assert outside.read_text() == "a user's file the killed run never reached"
    assert (tmp_path / "out" / "eval" / "r.txt").read_text() == "an older file of the user's"
    assert not (tmp_path / "out" / "eval" / "r.json").exists()


def test_overwrite_never_deletes_a_file_the_new_spec_reads(tmp_path):
    old = RunManifest(_spec(tmp_path, report="*model/m.json"), spec_file="train.json")
    old.claim()
    model = tmp_path / "out" / "model" / "m.json"
    _write(model, "the trained model", at=old.started + 1)
    old.finish("done")

    reader = _spec(tmp_path, steps=({"predict": "ModelLoader", "model_path": str(model)},))
    with pytest.raises(OutputsTaken, match=r"--overwrite would delete model/m\.json in .*that this spec reads"):
        RunManifest(reader, overwrite=True).claim()
    assert model.read_text() == "the trained model"
    assert _manifest(tmp_path)["spec_file"] == "train.json"
    assert not (tmp_path / "out" / "run.lock").exists()  # a refused claim lets go of the prefix


def test_how_a_run_is_executed_is_not_part_of_its_identity(tmp_path):
    spec = _spec(tmp_path)
    local = spec_fingerprint(spec)
    assert spec_fingerprint({**spec, "executor": {"engine": "dask", "workers": 2}}) == local
    assert spec_fingerprint({**spec, "out_pcloud": [f"{tmp_path / 'b'}/"]}) != local


def test_a_closed_stdout_ends_the_command_quietly(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line (| head -0)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "vl3d_focal", "list", "losses"], stdout=write_end, stderr=subprocess.PIPE, text=True
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_a_busy_lock_with_an_unreadable_holder_still_says_it_is_busy(tmp_path):
    lock = tmp_path / "run.lock"
    with PrefixLock(lock):
        lock.write_text("not json")
        with pytest.raises(PrefixBusy, match="another run is writing these outputs now .its details could not be read"):
            PrefixLock(lock).acquire()


def test_a_run_in_a_nested_prefix_never_takes_files_of_the_enclosing_run(tmp_path):
    survey = RunManifest(_spec(tmp_path), spec_file="survey.json")
    survey.claim()
    _write(tmp_path / "out" / "eval" / "r.json", "the survey's evaluation", at=survey.started)
    survey.finish("done")

    nested = _spec(tmp_path)
    nested["out_pcloud"] = [f"{tmp_path / 'out' / 'eval'}/"]
    nested["sequential_pipeline"][-1]["report_path"] = "*r.json"  # out/eval/r.json: the survey's file
    with pytest.raises(OutputsTaken, match=r"r\.json in .*: written by another run \(spec survey\.json"):
        RunManifest(nested, overwrite=True).claim()
    assert (tmp_path / "out" / "eval" / "r.json").read_text() == "the survey's evaluation"
    assert not (tmp_path / "out" / "eval" / "run.json").exists()

    enclosing = _spec(tmp_path)
    enclosing["out_pcloud"] = [f"{tmp_path}/"]
    enclosing["sequential_pipeline"][-1]["report_path"] = "*out/eval/r.json"
    with pytest.raises(OutputsTaken, match=r"r\.json in .*: written by another run \(spec survey\.json"):
        RunManifest(enclosing).claim()

    apart = _spec(tmp_path)
    apart["out_pcloud"] = [f"{tmp_path / 'out' / 'eval'}/"]
    apart["sequential_pipeline"][-1]["report_path"] = "*other.json"  # nested (VL3D's predict/ under a training run)
    RunManifest(apart).claim()
    beside = _spec(tmp_path)
    beside["out_pcloud"] = [f"{tmp_path / 'beside'}/"]
    RunManifest(beside).claim()


def test_a_file_prefix_claims_its_own_manifest_not_the_folders(tmp_path):
    spec = _spec(tmp_path)
    spec["out_pcloud"] = [f"{tmp_path / 'out'}/a_"]
    run = RunManifest(spec)
    run.claim()
    run.finish("done")
    assert json.loads((tmp_path / "out" / "a_run.json").read_text())["files"] == ["a_run.json"]
    folder_run = RunManifest(_spec(tmp_path))  # out/: its run.json is no file of out/a_'s
    folder_run.claim()
    folder_run.finish("done")
    rerun = RunManifest(_spec(tmp_path))
    rerun.claim()
    rerun.finish("done")
    assert _manifest(tmp_path)["files"] == ["run.json"]


def test_overwrite_after_a_killed_run_spares_its_folders_and_keeps_the_new_lock(tmp_path):
    board = {
        "train": "PointNetPwiseClassifier",
        "fnames": [],
        "model_args": {"model_handling": {"tensorboard_dir": "*tb"}},
    }
    killed = RunManifest(_spec(tmp_path, steps=(board,)), spec_file="killed.json")
    killed.claim()
    assert _manifest(tmp_path)["planned_folders"] == ["tb"]
    _write(tmp_path / "out" / "tb" / "events.out.tfevents.other_run", "another run's logs", at=killed.started + 1)
    _write(tmp_path / "out" / "notes.txt", "written while the run trained", at=killed.started + 1)
    killed.lock.release()  # SIGKILL

    new = RunManifest(_spec(tmp_path, report="*other/r.json"), spec_file="new.json", overwrite=True)
    new.claim()
    assert (tmp_path / "out" / "tb" / "events.out.tfevents.other_run").is_file()
    assert (tmp_path / "out" / "notes.txt").is_file()
    with pytest.raises(OutputsTaken, match=r"new\.json, process"):  # the lock it holds was not deleted
        RunManifest(_spec(tmp_path, report="*other/r.json")).claim()
    new.finish("done")
    assert "tb/events.out.tfevents.other_run" not in _manifest(tmp_path)["files"]


def test_overwrite_removes_the_folders_it_empties_under_every_prefix_of_the_previous_run(tmp_path):
    two_prefixes = {
        "in_pcloud": [str(tmp_path / "a.las"), str(tmp_path / "b.las")],
        "out_pcloud": [f"{tmp_path / 'x' / 'out'}/", f"{tmp_path / 'y' / 'out'}/"],
        "sequential_pipeline": [{"eval": "ClassificationEvaluator", "report_path": "*eval/deep/r.json"}],
    }
    old = RunManifest(two_prefixes, spec_file="old.json")
    old.claim()
    for prefix in ("x", "y"):
        _write(tmp_path / prefix / "out" / "eval" / "deep" / "r.json", "the old run's", at=old.started + 1)
    _write(tmp_path / "y" / "out" / "eval" / "notes.txt", "a user's file", at=old.started - 60)
    old.finish("done")
    assert sorted(_manifest_at(tmp_path / "x" / "out")["files"])[0].endswith("y/out/eval/deep/r.json")

    new = {**two_prefixes, "sequential_pipeline": [{"eval": "ClassificationEvaluator", "report_path": "*e/r.json"}]}
    RunManifest(new, spec_file="new.json", overwrite=True).claim()

    assert not (tmp_path / "x" / "out" / "eval").exists()  # under the first prefix, as before
    assert not (tmp_path / "y" / "out" / "eval" / "deep").exists()  # under the second prefix too
    assert (tmp_path / "y" / "out" / "eval" / "notes.txt").read_text() == "a user's file"  # its folder stays
    assert (tmp_path / "y" / "out").is_dir()  # a prefix's own folder stays


def _manifest_at(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text())
