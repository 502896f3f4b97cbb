"""The quality benchmark's timings of a run: the training's fit seconds (from the run record) and
the points and seconds of its predictions, in memory and streamed tile by tile (from the library's
own log formats), so that they cannot drift silently from what the library logs."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import laspy
import pytest
from helpers import TWO_CLASS_MAPPING, tiny_pointnet_args

from vl3d_focal.data.synthetic import write_demo_scene
from vl3d_focal.inference.prediction import PREDICTED_LOG
from vl3d_focal.inference.streaming import STREAMED_LOG

# benchmarks/ is a top-level folder of the repository, not part of the installed package.
sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.run_variant import run_spec_here  # noqa: E402


def _timing(folder: Path, name: str, cloud: Path, steps: list[dict]) -> dict:
    """Runs a spec of ``steps`` on ``cloud`` through ``run_spec_here``; returns its timings."""
    spec = {"in_pcloud": [str(cloud)], "out_pcloud": [f"{folder / name}/*"], "sequential_pipeline": steps}
    (folder / f"{name}.json").write_text(json.dumps(spec), encoding="utf-8")
    assert run_spec_here(spec_path=folder / f"{name}.json", timing_out=folder / f"{name}.timing.json") == 0
    return json.loads((folder / f"{name}.timing.json").read_text(encoding="utf-8"))


@pytest.mark.usefixtures("restore_logging")
def test_a_runs_timings_hold_its_fit_seconds_and_predicted_points(tmp_path: Path, caplog) -> None:
    cloud = write_demo_scene(tmp_path / "scene.las", seed=3, size_m=16.0, density=4.0)
    points = len(laspy.read(cloud).points)
    train = {"train": "PointNetPwiseClassifier", "fnames": ["intensity"], "random_seed": 1}
    writer = {"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"}
    steps = [copy.deepcopy(TWO_CLASS_MAPPING), {**train, "model_args": tiny_pointnet_args(2)}, writer]
    trained = _timing(tmp_path, "train", cloud, steps)
    record = json.loads((tmp_path / "train" / "report.json").read_text(encoding="utf-8"))
    assert trained["fit_s"] > 0 and trained["fit_s"] == pytest.approx(record["trainings"][0]["fit_seconds"])
    assert (trained["predicted_points"], trained["predict_step_s"]) == (0, 0.0)
    model = str(tmp_path / "train" / "model" / "model.keras")
    for chunk_points in (None, 1000):  # in memory, then streamed tile by tile
        loader = {"predict": "ModelLoader", "model_path": model, "chunk_points": chunk_points}
        predicted = _timing(tmp_path, f"predict_{chunk_points}", cloud, [loader])
        assert predicted["fit_s"] is None
        assert predicted["predicted_points"] == points and predicted["predict_step_s"] > 0
    assert [r.msg for r in caplog.records if r.msg in (PREDICTED_LOG, STREAMED_LOG)] == [PREDICTED_LOG, STREAMED_LOG]
