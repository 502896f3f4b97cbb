"""``vl3d-focal run SPEC --resume`` on a run whose training finished: it does not fit again, and
its model is the one the training kept, and its report keeps the training's fit time, history and
kept epoch (not "fit 0.0 s")."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from test_resume import small_spec

from vl3d_focal import cli
from vl3d_focal.data.synthetic import write_demo_scene
from vl3d_focal.runner.run_record import RunRecorder
from vl3d_focal.training.checkpoints import read_checkpoint_state


def test_resuming_a_finished_training_keeps_its_fit_time_and_history(tmp_path: Path, caplog):
    write_demo_scene(tmp_path / "data" / "scene.las", seed=2, size_m=12.0, density=2.0)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(small_spec(epochs=2, batch_size=8)), encoding="utf-8")
    assert cli.main(["run", str(spec)]) == 0
    first = json.loads((tmp_path / "out" / "report.json").read_text())["trainings"][0]
    saved = read_checkpoint_state(tmp_path / "out" / "training" / "resume" / "checkpoint.npz")
    assert saved["finished"] and first["fit_seconds"] > 0 and not first["resumed_finished"]
    # the checkpoint keeps the whole fit's time (end-of-training work included), as the record does
    assert round(saved["fit_seconds"], 3) == first["fit_seconds"]

    caplog.clear()
    assert cli.main(["run", str(spec), "--resume"]) == 0
    assert "is of a finished training: not fitting again" in caplog.text
    again = json.loads((tmp_path / "out" / "report.json").read_text())["trainings"][0]
    assert again["resumed_finished"] and again["fit_seconds"] == first["fit_seconds"]
    assert again["history"] == first["history"] and [row["epoch"] for row in again["history"]] == [1, 2]
    html = (tmp_path / "out" / "report.html").read_text()
    assert f"<b>{saved['fit_seconds']:.1f} s</b><span>fit (earlier runs)</span>" in html
    assert "training step (wall, this run: no fit)" in html
    assert "2 epochs" in html and "did not fit" in html


def test_a_checkpoint_without_fit_time_takes_it_from_the_record_it_replaces(tmp_path: Path):
    spec = {"in_pcloud": [], "out_pcloud": [f"{tmp_path}/"], "sequential_pipeline": []}
    earlier = {"format": "vl3d_focal run record", "trainings": [{"fit_seconds": 25.7, "history": [{"epoch": 1}]}]}
    (tmp_path / "report.json").write_text(json.dumps(earlier), encoding="utf-8")
    recorder = RunRecorder(spec=spec, kinds=[], resume=True)

    class Facts:
        def to_dict(self) -> dict:
            training = {"resumed_finished": True, "fit_seconds": None, "history": [{"epoch": 1}]}
            return {"trainings": [training], "loaded_models": [], "evaluations": [], "uncertainties": [], "notes": []}

    class State:
        facts = Facts()

    recorder.take_facts(State())  # type: ignore[arg-type]
    assert recorder.data["trainings"][0]["fit_seconds"] == 25.7
    fresh = RunRecorder(spec=spec, kinds=[], resume=False)  # a run that does not resume takes nothing
    assert fresh.earlier_trainings == []


def _model_weights(out: Path) -> list:
    return keras.models.load_model(out / "model" / "model.keras", compile=False).get_weights()


@pytest.mark.parametrize("keep", ["restore_best_weights", "checkpoint"])
def test_resuming_a_finished_training_keeps_the_model_it_kept(tmp_path: Path, keep: str):
    """Early stopping's ``restore_best_weights`` (epoch 1 of 3) or the best-epoch checkpoint chose the
    kept epoch: ``--resume`` of the finished training writes that model again, not the last epoch's."""
    write_demo_scene(tmp_path / "data" / "scene.las", seed=2, size_m=12.0, density=2.0)
    spec = small_spec(epochs=4, batch_size=8)
    handling = spec["sequential_pipeline"][1]["model_args"]["model_handling"]
    # no later epoch improves by a million: epoch 1 stays the best, patience 2 stops after epoch 3
    stopping = {"monitor": "val_loss", "patience": 2, "min_delta": 1e6}
    handling["early_stopping"] = {**stopping, "restore_best_weights": keep == "restore_best_weights"}
    handling["checkpoint"] = keep == "checkpoint"
    (tmp_path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    out = tmp_path / "out"
    assert cli.main(["run", str(tmp_path / "spec.json")]) == 0
    first, first_weights = json.loads((out / "report.json").read_text())["trainings"][0], _model_weights(out)
    last = read_checkpoint_state(out / "training" / "resume" / "checkpoint.npz")
    assert last["finished"] and last["epoch"] == 2
    kept = first["epochs"]["kept"]
    assert kept["by"] == ("early_stopping" if keep == "restore_best_weights" else "checkpoint")
    assert kept["epoch"] == 1 or keep == "checkpoint"  # the checkpoint's best epoch: whichever val_loss says

    assert cli.main(["run", str(tmp_path / "spec.json"), "--resume"]) == 0
    again = json.loads((out / "report.json").read_text())["trainings"][0]
    assert again["resumed_finished"] and again["epochs"] == first["epochs"]
    for got, expected in zip(_model_weights(out), first_weights, strict=True):
        np.testing.assert_array_equal(got, expected)
    with np.load(out / "training" / "resume" / "checkpoint.npz") as archive:  # the last epoch's weights
        last_weights = [archive[f"w{i}"] for i in range(len(first_weights))]
    assert any(not np.array_equal(a, b) for a, b in zip(last_weights, first_weights)) == (kept["epoch"] != 3)
