"""``vl3d-focal run SPEC --resume`` after a change of ``training_epochs`` only: "train longer"
continues from the checkpoint (or, with fewer epochs than done, does not fit); any other change
is still refused."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np
import pytest
from test_resume import small_spec

from vl3d_focal import cli
from vl3d_focal.data.synthetic import write_demo_scene
from vl3d_focal.runner.manifest import RunManifest
from vl3d_focal.runner.owned_files import OutputsTaken
from vl3d_focal.runner.spec_identity import spec_fingerprint


def _write(folder: Path, *, epochs: int, gamma: float | None = None) -> Path:
    spec = small_spec(epochs=epochs, batch_size=8)
    if gamma is not None:
        spec["sequential_pipeline"][1]["model_args"]["compilation_args"]["loss"]["gamma"] = gamma
    path = folder / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def _checkpoint(folder: Path) -> tuple[dict, list[np.ndarray]]:
    with np.load(folder / "out" / "training" / "resume" / "checkpoint.npz") as archive:
        state = json.loads(archive["state_json"].tobytes())
        weights = [archive[f"w{i}"] for i in range(sum(1 for key in archive.files if key.startswith("w")))]
    return state, weights


def _history(folder: Path) -> list[str]:
    return (folder / "out" / "training" / "history.csv").read_text().splitlines()


def _model_weights(folder: Path) -> list[np.ndarray]:
    return keras.models.load_model(folder / "out" / "model" / "model.keras", compile=False).get_weights()


def test_resume_with_more_then_fewer_epochs_continues_then_keeps_the_checkpoint(tmp_path: Path, caplog, capsys):
    caplog.set_level(logging.INFO, logger="vl3d_focal")
    runs = {name: tmp_path / name for name in ("longer", "whole")}
    for folder in runs.values():
        write_demo_scene(folder / "data" / "scene.las", seed=2, size_m=12.0, density=2.0)
    longer = runs["longer"]
    spec = _write(longer, epochs=1)
    assert cli.main(["run", str(spec)]) == 0
    one_state, one_weights = _checkpoint(longer)
    one_history = _history(longer)
    assert one_state["finished"] and one_state["epoch"] == 0 and len(one_history) == 2  # header, epoch 1
    one_fingerprint = json.loads((longer / "out" / "run.json").read_text())["fingerprint"]

    # (b) another change with it (gamma): still refused, naming the differences; nothing deleted
    _write(longer, epochs=2, gamma=1.0)
    caplog.clear()
    capsys.readouterr()
    assert cli.main(["run", str(spec), "--resume"]) == 2
    error = capsys.readouterr().err
    assert "the spec differs in" in error and "gamma: 2.0 -> 1.0" in error and "training_epochs: 1 -> 2" in error
    assert "differs only in training_epochs" not in caplog.text
    assert _checkpoint(longer)[0] == one_state

    # (a) training_epochs 1 -> 2: the second epoch is fitted from the checkpoint of the first
    _write(longer, epochs=2)
    caplog.clear()
    assert cli.main(["run", str(spec), "--resume"]) == 0
    assert "--resume: the spec differs only in training_epochs" in caplog.text
    assert "training_epochs: 1 -> 2): the training continues" in caplog.text
    assert "resuming from" in caplog.text and "not fitting again" not in caplog.text
    two_state, two_weights = _checkpoint(longer)
    history, two_model = _history(longer), _model_weights(longer)
    assert (
        two_state["finished"] and two_state["epoch"] == 1 and [row["epoch"] for row in two_state["history"]] == [1, 2]
    )
    assert history[:2] == one_history and len(history) == 3 and history[2].startswith("2,")
    assert two_state["fit_seconds"] > one_state["fit_seconds"]
    record = json.loads((longer / "out" / "run.json").read_text())
    assert record["status"] == "done" and record["fingerprint"] != one_fingerprint
    assert record["fingerprint"] == spec_fingerprint(record["spec"])  # the new spec's
    assert record["spec"]["sequential_pipeline"][1]["model_args"]["model_handling"]["training_epochs"] == 2

    # the same weights as an uninterrupted 2-epoch training: it did continue from epoch 1's weights
    assert cli.main(["run", str(_write(runs["whole"], epochs=2))]) == 0
    whole_state, whole_weights = _checkpoint(runs["whole"])
    assert whole_state["history"] == two_state["history"]
    for got, expected in zip(two_weights, whole_weights):
        np.testing.assert_array_equal(got, expected)
    assert any(not np.array_equal(a, b) for a, b in zip(two_weights, one_weights))

    # (c) training_epochs 2 -> 1: no fit, said so; the checkpoint and history stay those of 2 epochs
    _write(longer, epochs=1)
    caplog.clear()
    assert cli.main(["run", str(spec), "--resume"]) == 0
    assert "training_epochs: 2 -> 1): the training continues" in caplog.text
    assert "holds 2 epochs, more than training_epochs (1): not fitting again" in caplog.text
    state, weights = _checkpoint(longer)
    assert state == two_state and _history(longer) == history
    for got, expected in zip(weights, two_weights):
        np.testing.assert_array_equal(got, expected)
    for got, expected in zip(_model_weights(longer), two_model):  # the model written again is the same
        np.testing.assert_array_equal(got, expected)


def _spec(folder: Path, *, epochs: int, gamma: float = 2.0) -> dict:
    handling = {"training_epochs": epochs, "batch_size": 8}
    loss = {"function": "class_weighted_focal_categorical_crossentropy", "gamma": gamma}
    train = {"train": "M", "model_args": {"model_handling": handling, "compilation_args": {"loss": loss}}}
    return {"in_pcloud": [], "out_pcloud": [f"{folder}/"], "sequential_pipeline": [train]}


@pytest.mark.parametrize("resume", [True, False])
def test_the_manifest_takes_over_a_run_of_other_epochs_only_on_resume(tmp_path: Path, resume: bool):
    first = RunManifest(_spec(tmp_path, epochs=4), spec_file="s.json")
    first.claim()
    first.finish("done")
    longer = RunManifest(_spec(tmp_path, epochs=5), spec_file="s.json", resume=resume)
    if not resume:  # a plain run of another spec: refused as before
        with pytest.raises(OutputsTaken, match=r"training_epochs: 4 -> 5"):
            longer.claim()
        return
    longer.claim()
    longer.finish("done")
    assert json.loads((tmp_path / "run.json").read_text())["fingerprint"] == longer.fingerprint != first.fingerprint
    other = RunManifest(_spec(tmp_path, epochs=6, gamma=1.0), spec_file="s.json", resume=True)
    with pytest.raises(OutputsTaken, match=r"gamma: 2.0 -> 1.0.*training_epochs: 5 -> 6"):
        other.claim()
