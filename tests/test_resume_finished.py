"""``vl3d-focal run SPEC --resume`` on a run whose training finished: it does not fit again, and
its report keeps the training's fit time and history (not "fit 0.0 s")."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert 0 < saved["fit_seconds"] <= first["fit_seconds"]  # the checkpoint keeps the fit time (to its last epoch)

    caplog.clear()
    assert cli.main(["run", str(spec), "--resume"]) == 0
    assert "is of a finished training: not fitting again" in caplog.text
    again = json.loads((tmp_path / "out" / "report.json").read_text())["trainings"][0]
    assert again["resumed_finished"] and again["fit_seconds"] == round(saved["fit_seconds"], 3)
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
