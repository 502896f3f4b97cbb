"""Outputs you can trust: everyday mistakes caught before the work, runs never mixed in one
output prefix, files that follow the umask, hints that can be followed as written.

Each case is a row of the corpus: the mistake, the exit code, the message fragment, and what is
on disk afterwards.
"""

from __future__ import annotations

import copy
import json
import os
import stat
from pathlib import Path

import pytest
from test_resume import small_spec

from vl3d_focal.cli import main
from vl3d_focal.data.synthetic import write_demo_scene
from vl3d_focal.io.prefix_lock import PrefixLock


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scene") / "scene.las"
    write_demo_scene(path, seed=2, size_m=16.0, density=3.0)
    return path


def _project(tmp_path: Path, scene: Path, spec: dict) -> Path:
    (tmp_path / "data").mkdir(parents=True, exist_ok=True)
    (tmp_path / "data" / "scene.las").write_bytes(scene.read_bytes())
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _run(spec: Path, *options: str) -> int:
    return main(["run", str(spec), *options])


def test_output_path_that_is_a_folder_is_caught_before_any_work(tmp_path, scene, capsys):
    spec = _project(tmp_path, scene, small_spec(epochs=1))
    (tmp_path / "out" / "predicted.laz").mkdir(parents=True)
    (tmp_path / "out" / "model" / "model.keras").mkdir(parents=True)
    assert main(["validate", str(spec)]) == 2
    assert _run(spec) == 2
    err = capsys.readouterr().err
    for name in ("predicted.laz", "model/model.keras"):
        assert f"{tmp_path / 'out' / name} is an existing folder; expected the path of a file to write" in err
    assert _files(tmp_path / "out") == []  # no training ran, nothing half-written


def test_output_under_a_file_is_caught_before_any_work(tmp_path, scene, capsys):
    spec = _project(tmp_path, scene, small_spec(epochs=1))
    (tmp_path / "out").write_text("a file where the output folder should be")
    assert _run(spec) == 2
    assert f"cannot be written: {tmp_path / 'out'} is a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "out").read_text() == "a file where the output folder should be"


def test_a_misspelt_feature_is_caught_with_did_you_mean(tmp_path, scene, capsys):
    document = small_spec(epochs=1)
    document["sequential_pipeline"][1]["fnames"] = ["intensity", "intensty"]
    spec = _project(tmp_path, scene, document)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "$.sequential_pipeline[1].fnames[1]: 'intensty' is not a feature of" in err
    assert "did you mean 'intensity'?" in err
    assert not (tmp_path / "out").exists()


def test_empty_fnames_trains_on_coordinates_with_a_warning(tmp_path, scene, caplog):
    document = small_spec(epochs=1)
    document["sequential_pipeline"][1]["fnames"] = []
    spec = _project(tmp_path, scene, document)
    assert _run(spec) == 0
    assert "fnames is empty: PointNetPwiseClassifier learns from the coordinates alone" in caplog.text


def test_runs_of_two_specs_never_mix_in_one_prefix(tmp_path, scene, capsys):
    first = small_spec(epochs=1)
    spec = _project(tmp_path, scene, first)
    assert _run(spec) == 0
    written = _files(tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["status"] == "done" and "eval/evaluation.json" in manifest["files"]
    assert sorted(manifest["files"]) == written

    assert _run(spec) == 0  # the same spec again replaces its own files
    assert _files(tmp_path / "out") == written

    other = copy.deepcopy(first)
    other["sequential_pipeline"] = other["sequential_pipeline"][:3]  # train and write the model only
    spec.write_text(json.dumps(other))
    before = {name: (tmp_path / "out" / name).read_bytes() for name in written}
    assert _run(spec) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'out'}: holds the outputs of an earlier run of this spec file" in err, err
    assert "done; see" in err and "the spec differs in $.sequential_pipeline: 6 entries -> 3" in err, err
    assert "--overwrite" in err and "training checkpoint" not in err  # a finished training keeps none
    assert {name: (tmp_path / "out" / name).read_bytes() for name in written} == before

    assert _run(spec, "--overwrite") == 0
    after = _files(tmp_path / "out")
    assert "eval/evaluation.json" not in after and "predicted.laz" not in after  # the old run's, deleted
    assert "model/model.keras" in after
    assert sorted(json.loads((tmp_path / "out" / "run.json").read_text())["files"]) == after


def test_a_run_into_a_prefix_another_run_is_writing_stops_before_touching_it(tmp_path, scene, capsys):
    spec = _project(tmp_path, scene, small_spec(epochs=1))
    assert _run(spec) == 0
    capsys.readouterr()
    live = tmp_path / "out" / "training" / "resume" / ".checkpoint.zz99yy88.partial.npz"
    live.write_bytes(b"the live run's checkpoint, half written")
    before = {name: (tmp_path / "out" / name).read_bytes() for name in _files(tmp_path / "out")}
    with PrefixLock(tmp_path / "out" / "run.lock", holder="live.json"):
        assert _run(spec, "--overwrite") == 2
    err = capsys.readouterr().err
    assert "run.lock: another run is writing these outputs now (live.json, process" in err
    assert "report.html" not in err  # that page is the other run's
    assert {name: (tmp_path / "out" / name).read_bytes() for name in _files(tmp_path / "out")} == before


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_output_follows_the_umask(tmp_path, scene, umask):
    spec = _project(tmp_path, scene, small_spec(epochs=1))
    previous = os.umask(umask)
    try:
        assert _run(spec) == 0
    finally:
        os.umask(previous)
    files = _files(tmp_path / "out")
    for name in (
        "model/model.keras",
        "training/best.weights.h5",
        "training/class_weights.json",
        "training/history.csv",
        "training/resume/checkpoint.npz",
        "eval/evaluation.json",
        "predicted.laz",
        "run.json",
    ):
        assert name in files
    modes = {name: stat.S_IMODE((tmp_path / "out" / name).stat().st_mode) for name in files}
    assert modes == {name: 0o666 & ~umask for name in files}


def test_an_absent_class_hint_names_the_spec_key_and_the_class(tmp_path, scene, capsys):
    document = small_spec(epochs=1)
    document["sequential_pipeline"][0]["classes"].append({"name": "bridge", "codes": [17]})
    train = document["sequential_pipeline"][1]["model_args"]
    train["num_classes"] = 6
    train["compilation_args"]["loss"]["class_weight"] = "balanced"
    spec = _project(tmp_path, scene, document)
    assert _run(spec) == 2
    err = capsys.readouterr().err
    assert "model_args.compilation_args.loss.class_weight: no training point of the classes [" in err
    assert "'bridge']; strategy 'balanced' would weight them infinitely" in err
    assert "class_weight: {strategy: balanced, on_absent_class: zero}" in err


def test_weighting_an_absent_class_zero_logs_a_warning_not_a_python_warning(tmp_path, scene, capsys):
    document = small_spec(epochs=1)
    document["sequential_pipeline"][0]["classes"].append({"name": "bridge", "codes": [17]})
    train = document["sequential_pipeline"][1]["model_args"]
    train["num_classes"] = 6
    train["compilation_args"]["loss"]["class_weight"] = {"strategy": "balanced", "on_absent_class": "zero"}
    spec = _project(tmp_path, scene, document)
    assert _run(spec) == 0
    err = capsys.readouterr().err
    assert "'bridge']; their class weight is 0" in err
    assert "RuntimeWarning" not in err and ".py:" not in err


def test_an_unmapped_code_of_a_loaded_model_fails_before_prediction_with_a_followable_hint(tmp_path, scene, capsys):
    trained = _project(tmp_path / "train", scene, small_spec(epochs=1))
    assert _run(trained) == 0
    capsys.readouterr()
    document = {
        "in_pcloud": "data/other.las",
        "out_pcloud": "out/*",
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": str(tmp_path / "train" / "out" / "model" / "model.keras")},
            {"eval": "ClassificationEvaluator"},
            {"writer": "ClassifiedPcloudWriter"},
        ],
    }
    spec = _project(tmp_path / "apply", scene, document)
    import laspy

    las = laspy.read(spec.parent / "data" / "scene.las")
    las.classification[:9] = 9  # water: a code the model's classes do not cover
    las.write(spec.parent / "data" / "other.las")
    assert _run(spec) == 2
    err = capsys.readouterr().err
    assert "LAS codes neither mapped to a class nor ignored (9: 9 points)" in err
    assert "add a class_mapping step before the predict step" in err and "set unmapped" not in err
    assert "predicted" not in err  # found when the cloud is read, before any prediction
    assert _files(spec.parent / "out") == ["report.html", "report.json", "run.json"]  # the failed run's record only


@pytest.mark.parametrize("prefix", ["out/", "out/run_"])
def test_a_killed_training_edited_and_run_again_is_told_what_changed_and_what_overwrite_loses(
    tmp_path, scene, capsys, prefix
):
    import time

    from vl3d_focal.config import load_spec
    from vl3d_focal.runner.manifest import RunManifest
    from vl3d_focal.training.files import TrainingFiles

    first = small_spec(epochs=300)
    first["out_pcloud"] = [f"{prefix}*"] if isinstance(first["out_pcloud"], list) else f"{prefix}*"
    spec = _project(tmp_path, scene, first)
    killed = RunManifest(load_spec(spec), spec_file=str(spec))
    killed.claim()  # then SIGKILLed at epoch 137: its manifest says running, its lock is free
    checkpoint = TrainingFiles.under(f"{tmp_path}/{prefix}").resume_checkpoint
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.write_text("weights")
    os.utime(checkpoint, (time.time() + 1, time.time() + 1))
    killed.lock.release()
    edited = copy.deepcopy(first)
    edited["sequential_pipeline"][1]["model_args"]["model_handling"]["training_epochs"] = 140
    edited["sequential_pipeline"][1]["model_args"]["compilation_args"]["loss"]["gamma"] = 1.0  # not epochs only
    spec.write_text(json.dumps(edited))
    assert _run(spec, "--resume") == 2
    err = capsys.readouterr().err
    assert "holds the outputs of an earlier run of this spec file (started" in err and "interrupted; see" in err, err
    assert "the spec differs in $.sequential_pipeline[1].model_args.compilation_args.loss.gamma: 2.0 -> 1.0" in err
    assert "$.sequential_pipeline[1].model_args.model_handling.training_epochs: 300 -> 140" in err
    assert "(its training checkpoint among them: a --resume then trains from the first epoch)" in err
    assert checkpoint.read_text() == "weights"
