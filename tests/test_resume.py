"""``vl3d-focal run SPEC --resume``: a training killed with SIGKILL mid-epoch continues and finishes."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
from helpers import DEMO_CLASSES, PINNED_KEYS

from vl3d_focal.data.synthetic import write_demo_scene
from vl3d_focal.training.checkpoints import read_checkpoint_state

EPOCHS = 4


def small_spec(*, epochs: int, batch_size: int = 2) -> dict:
    """A small but complete pipeline on ``data/scene.las``, many short steps per epoch."""
    return {
        "in_pcloud": "data/scene.las",
        "out_pcloud": "out/*",
        "sequential_pipeline": [
            {"class_mapping": "LASClassMapping", "classes": copy.deepcopy(DEMO_CLASSES), "ignore_codes": [0, 7]},
            {
                "train": "PointNetPwiseClassifier",
                "fnames": ["intensity"],
                "random_seed": 4,
                "model_args": {
                    "num_classes": 5,
                    "pre_processing": {"neighborhood": {"type": "sphere", "radius": 3.0}, "num_points": 32},
                    "num_pwise_feats": 8,
                    "pretransf_feats_spec": [{"filters": 8}],
                    "postransf_feats_spec": [{"filters": 16}],
                    "tnet_pre_filters_spec": [],
                    "tnet_post_filters_spec": [],
                    "model_handling": {"training_epochs": epochs, "batch_size": batch_size, "validation_split": 0.2},
                    "compilation_args": {
                        "loss": {
                            "function": "class_weighted_focal_categorical_crossentropy",
                            "class_weight": {"strategy": "balanced", "on_absent_class": "zero"},
                        }
                    },
                },
            },
            {"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"},
            {"predict": "PreviousModel"},
            {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
            {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"},
        ],
    }


def _run(spec: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        [sys.executable, "-m", "vl3d_focal", "run", str(spec), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=spec.parent,
    )


def _run_killed(spec: Path, *, epoch: int, batch: int | None = None) -> subprocess.CompletedProcess:
    """Runs ``spec`` in a process that SIGKILLs itself at a fixed point of the training: after
    the resumable checkpoint of ``epoch``, or at ``batch`` of ``epoch`` (mid-epoch). Nothing
    depends on timing: the same point on any machine."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    where = [str(epoch)] + ([] if batch is None else [str(batch)])
    return subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), spec.name, *where],
        cwd=spec.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_sigkill_mid_epoch_then_resume_finishes_with_valid_outputs(tmp_path):
    write_demo_scene(tmp_path / "data" / "scene.las", seed=2, size_m=20.0, density=4.0)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(small_spec(epochs=EPOCHS)))
    checkpoint = tmp_path / "out" / "training" / "resume" / "checkpoint.npz"

    first = _run_killed(spec, epoch=1, batch=2)  # in epoch 1, after the checkpoint of epoch 0
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    killed_at = read_checkpoint_state(checkpoint)
    assert not killed_at["finished"] and killed_at["epoch"] == 0
    assert not (tmp_path / "out" / "model" / "model.keras").exists()

    second = _run(spec, "--resume")
    _, stderr = second.communicate(timeout=120)
    assert second.returncode == 0, stderr[-3000:]
    assert f"resuming from {checkpoint}" in stderr

    history = (tmp_path / "out" / "training" / "history.csv").read_text().splitlines()
    assert [int(line.split(",")[0]) for line in history[1:]] == list(range(1, EPOCHS + 1))  # as the logs count
    final = read_checkpoint_state(checkpoint)
    assert final["finished"] and final["epoch"] == EPOCHS - 1
    assert final["fit_seconds"] > killed_at["fit_seconds"] > 0  # the killed run's fitting time is kept
    model = keras.models.load_model(tmp_path / "out" / "model" / "model.keras", compile=False)
    assert type(model).__name__ == "Functional" and model.output_shape[-1] == 5
    report = json.loads((tmp_path / "out" / "eval" / "evaluation.json").read_text())
    assert PINNED_KEYS <= set(report)
    assert 0.0 <= report["OA"] <= 1.0
    assert (tmp_path / "out" / "predicted.laz").stat().st_size > 0
    assert not [p for p in tmp_path.rglob("*") if ".partial" in p.name]


def test_resume_without_checkpoint_trains_from_the_first_epoch_and_repeats_the_data_order(tmp_path):
    """The data order of an epoch depends only on the seed and the epoch: resumed batches match."""
    from vl3d_focal.training.datasets import epoch_dataset

    x = np.arange(7, dtype="float32")[:, None]

    def orders(first_epoch: int) -> list[list[float]]:
        batches = epoch_dataset(
            [x],
            targets=np.zeros(7, "int32"),
            sample_weight=np.ones(7, "float32"),
            batch_size=7,
            seed=9,
            first_epoch=first_epoch,
            epochs=3,
        )
        return [batch[0][0].numpy().ravel().tolist() for batch in batches]

    full, resumed = orders(0), orders(2)
    assert resumed == full[2:] and full[0] != full[1]
    assert all(sorted(order) == list(range(7)) for order in full)


KILLED_AFTER_EPOCH = 1
"""The killed run dies (SIGKILL to itself) right after the checkpoint of this epoch (0-based)."""


def _handled_spec(*, epochs: int) -> dict:
    """Adam, early stopping, learning-rate reduction on plateau (with a cooldown) and VL3D's data
    augmentation: state and randomness a resume must restore. No epoch improves on the first by a
    million: early stopping keeps the first epoch's weights (before the kill) as its best."""
    spec = small_spec(epochs=epochs, batch_size=8)
    handling = spec["sequential_pipeline"][1]["model_args"]["model_handling"]
    handling["early_stopping"] = {"monitor": "val_loss", "patience": 3, "min_delta": 1e6, "restore_best_weights": True}
    handling["reduce_lr_on_plateau"] = {"monitor": "loss", "factor": 0.5, "patience": 1, "cooldown": 1}
    handling["training_sequencer"] = {
        "type": "DLSequencer",
        "random_shuffle_indices": True,
        "augmentor": {
            "transformations": [
                {"type": "Rotation", "angle_distribution": {"type": "uniform", "start": -3.14, "end": 3.14}},
                {"type": "Jitter", "noise_distribution": {"type": "normal", "mean": 0.0, "stdev": 0.01}},
            ]
        },
    }
    return spec


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return {key: archive[key] for key in archive.files}


def test_a_run_killed_after_an_epoch_and_resumed_ends_with_the_same_weights(tmp_path):
    """Bitwise: same batches, same restored weights, optimizer moments and callback state."""
    write_demo_scene(tmp_path / "scene.las", seed=2, size_m=20.0, density=4.0)
    runs = {name: tmp_path / name for name in ("whole", "killed")}
    for folder in runs.values():
        (folder / "data").mkdir(parents=True)
        (folder / "data" / "scene.las").write_bytes((tmp_path / "scene.las").read_bytes())
        (folder / "spec.json").write_text(json.dumps(_handled_spec(epochs=EPOCHS)))
    whole = _run(runs["whole"] / "spec.json")
    killed = _run_killed(runs["killed"] / "spec.json", epoch=KILLED_AFTER_EPOCH)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    checkpoint = runs["killed"] / "out" / "training" / "resume" / "checkpoint.npz"
    assert read_checkpoint_state(checkpoint)["epoch"] == KILLED_AFTER_EPOCH
    assert not (runs["killed"] / "out" / "model" / "model.keras").exists()

    resumed = _run(runs["killed"] / "spec.json", "--resume")
    for process in (whole, resumed):
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-3000:]

    final = {name: _arrays(folder / "out" / "training" / "resume" / "checkpoint.npz") for name, folder in runs.items()}
    states = {name: json.loads(arrays.pop("state_json").tobytes()) for name, arrays in final.items()}
    assert states["killed"]["epoch"] == states["whole"]["epoch"] > KILLED_AFTER_EPOCH
    assert states["killed"]["history"] == states["whole"]["history"]
    assert states["killed"]["callbacks"] == states["whole"]["callbacks"]
    assert sorted(final["killed"]) == sorted(final["whole"])
    for key, expected in final["whole"].items():  # weights (w*) and optimizer variables (o*)
        np.testing.assert_array_equal(final["killed"][key], expected, err_msg=key)
    models = {
        name: keras.models.load_model(folder / "out" / "model" / "model.keras", compile=False)
        for name, folder in runs.items()
    }
    for got, expected in zip(models["killed"].get_weights(), models["whole"].get_weights()):
        np.testing.assert_array_equal(got, expected)
    # early stopping's best weights (b*, the first epoch's, compared above) came back with the resume
    best = [key for key in final["whole"] if key.startswith("b")]
    assert best and any(not np.array_equal(final["whole"][key], final["whole"]["w" + key[1:]]) for key in best)
    histories = {name: (folder / "out" / "training" / "history.csv").read_text() for name, folder in runs.items()}
    assert histories["killed"] == histories["whole"]
    # the run did learn: the weights moved from epoch to epoch (the comparison is not of constants)
    assert len({row["loss"] for row in states["whole"]["history"]}) == len(states["whole"]["history"])


def _die_at(epoch_to_die: int, batch_to_die: int | None) -> None:
    """Makes this process SIGKILL itself right after the resumable checkpoint of an epoch, or
    at a batch of that epoch."""
    from vl3d_focal.training.checkpoints import ResumeCheckpoint

    after_epoch = ResumeCheckpoint.on_epoch_end

    def on_epoch_begin(self, epoch, logs=None):
        self.current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if batch_to_die is not None and self.current_epoch == epoch_to_die and batch == batch_to_die:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_epoch_end(self, epoch, logs=None):
        after_epoch(self, epoch, logs)
        if batch_to_die is None and epoch == epoch_to_die:
            os.kill(os.getpid(), signal.SIGKILL)

    ResumeCheckpoint.on_epoch_begin = on_epoch_begin
    ResumeCheckpoint.on_train_batch_end = on_train_batch_end
    ResumeCheckpoint.on_epoch_end = on_epoch_end


if __name__ == "__main__":
    from vl3d_focal.cli import main

    _die_at(int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else None)
    sys.exit(main(["run", sys.argv[1]]))
