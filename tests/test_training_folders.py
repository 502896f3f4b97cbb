"""Each train step of a spec writes its training files (history, class weights, checkpoints) to a
folder of its own: the first to ``<first prefix>training/``, the k-th to ``training_<k>/``. The
run manifest owns both (``--overwrite`` deletes both), the run record names each training's own
files, and ``--resume`` continues each training from its own checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import laspy
import numpy as np
from helpers import DEMO_CLASSES, tiny_pointnet_args

from vl3d_focal.cli import main
from vl3d_focal.config import check_spec
from vl3d_focal.data.synthetic import generate_urban_scene, write_demo_scene
from vl3d_focal.training.checkpoints import read_checkpoint_state

MAPPING = {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]}


def _forest(depth: int, seed: int, *, training: str) -> dict:
    return {
        "train": "RandomForestClassifier",
        "fnames": ["intensity", "height_above_ground"],
        "random_seed": seed,
        "model_args": {
            "n_estimators": 3,
            "max_depth": depth,
            "n_jobs": 1,
            "model_handling": {"training_pcloud": training},
        },
    }


def _spec(folder: Path, name: str, steps: list[dict], *, inputs: list[str]) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"in_pcloud": inputs, "out_pcloud": "out/*", "sequential_pipeline": steps}))
    return path


def _class_counts(cloud: Path) -> dict[str, int]:
    """The points of each class of ``DEMO_CLASSES`` in ``cloud``."""
    codes = np.asarray(laspy.read(cloud).classification)
    return {entry["name"]: int(np.isin(codes, entry["codes"]).sum()) for entry in DEMO_CLASSES}


def test_two_trainings_keep_their_own_files_and_overwrite_deletes_both(tmp_path):
    for seed, name in ((3, "a"), (5, "b"), (4, "test")):
        generate_urban_scene(seed=seed, size_m=10.0).write(tmp_path / f"{name}.las")
    steps = [MAPPING, _forest(2, 1, training="a.las"), _forest(3, 2, training="b.las")]
    spec = _spec(tmp_path, "two", steps, inputs=["test.las"])
    checked = check_spec(json.loads(spec.read_text()), base_dir=tmp_path)
    assert checked.issues == [] and not [note for note in checked.notes if "also written by" in str(note)]

    assert main(["run", str(spec)]) == 0
    out = tmp_path / "out"
    folders = {"a": out / "training", "b": out / "training_2"}
    for cloud, folder in folders.items():  # each training's class counts: its own training cloud's
        weights = json.loads((folder / "class_weights.json").read_text())
        assert weights["class_counts"] == _class_counts(tmp_path / f"{cloud}.las")
    assert _class_counts(tmp_path / "a.las") != _class_counts(tmp_path / "b.las")
    record = json.loads((out / "report.json").read_text())
    assert [t["files"]["class_weights"] for t in record["trainings"]] == [
        str(folder / "class_weights.json") for folder in folders.values()
    ]
    owned = set(json.loads((out / "run.json").read_text())["files"])
    assert {"training/class_weights.json", "training_2/class_weights.json"} <= owned

    one = _spec(tmp_path, "one", [MAPPING, _forest(3, 2, training="b.las")], inputs=["test.las"])
    assert main(["run", str(one)]) == 2  # the prefix holds another spec's run
    assert main(["run", str(one), "--overwrite"]) == 0
    assert not (out / "training_2" / "class_weights.json").exists()  # the other run's second training: deleted
    weights = json.loads((out / "training" / "class_weights.json").read_text())
    assert weights["class_counts"] == _class_counts(tmp_path / "b.las")  # this run's only training
    assert "training_2/class_weights.json" not in json.loads((out / "run.json").read_text())["files"]


def test_resume_continues_each_training_from_its_own_checkpoint(tmp_path):
    write_demo_scene(tmp_path / "data" / "scene.las", seed=2, size_m=12.0, density=1.0)
    trainings = []
    for seed, epochs in ((1, 2), (2, 1)):
        args = tiny_pointnet_args(5)
        args["model_handling"]["training_epochs"] = epochs
        trainings.append(
            {"train": "PointNetPwiseClassifier", "fnames": ["intensity"], "random_seed": seed, "model_args": args}
        )
    spec = _spec(tmp_path, "spec", [MAPPING, *trainings], inputs=["data/scene.las"])
    assert main(["run", str(spec)]) == 0
    out = tmp_path / "out"
    saved = [read_checkpoint_state(out / folder / "resume" / "checkpoint.npz") for folder in ("training", "training_2")]
    first = json.loads((out / "report.json").read_text())["trainings"]
    assert [len(training["history"]) for training in first] == [2, 1] and all(state["finished"] for state in saved)

    assert main(["run", str(spec), "--resume"]) == 0
    again = json.loads((out / "report.json").read_text())["trainings"]
    assert [training["resumed_finished"] for training in again] == [True, True]  # neither fits again
    assert [training["history"] for training in again] == [training["history"] for training in first]


def test_the_interruption_note_names_the_checkpoint_of_each_training_kept(tmp_path):
    from vl3d_focal.runner.interruption_note import interruption_note

    steps = [{"train": "PointNetPwiseClassifier"}, {"train": "RandomForestClassifier"}]
    spec = {"in_pcloud": ["t.laz"], "out_pcloud": [f"{tmp_path}/"], "sequential_pipeline": steps}
    first, second = (tmp_path / folder / "resume" / "checkpoint.npz" for folder in ("training", "training_2"))
    second.parent.mkdir(parents=True)
    second.write_bytes(b"kept")
    resume = "continue with: vl3d-focal run s.json --resume"
    assert interruption_note(spec, spec_file="s.json") == f"the training checkpoint {second} was kept; {resume}"
    first.parent.mkdir(parents=True)
    first.write_bytes(b"kept")
    assert (
        interruption_note(spec, spec_file="s.json") == f"the training checkpoints {first}, {second} were kept; {resume}"
    )
