"""Scores computed on a cloud the model trained on are flagged: in the log and in the run's warnings."""

from __future__ import annotations

import json
import logging

import pytest
from helpers import DEMO_CLASSES

from vl3d_focal.config import load_spec
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.models.model_file import load_bundle, read_metadata
from vl3d_focal.runner.pipeline import run_pipeline

MAPPING = {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]}
EVAL = {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json", "pictures": False}
WARNING = "scores computed on {}, a cloud the model trained on: they overstate what it does on new data"


def _run(folder, name: str, cloud: str, steps: list) -> list[str]:
    spec = {"in_pcloud": [cloud], "out_pcloud": [f"{name}/"], "sequential_pipeline": steps}
    (folder / f"{name}.json").write_text(json.dumps(spec))
    run_pipeline(load_spec(folder / f"{name}.json"))
    return [w["message"] for w in json.loads((folder / name / "report.json").read_text())["warnings"]]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A forest trained on scene.las and scored on it in the same run; its record's warnings and log."""
    folder = tmp_path_factory.mktemp("trained")
    generate_urban_scene(seed=8, size_m=30.0).write(folder / "scene.las")
    generate_urban_scene(seed=9, size_m=30.0).write(folder / "other.las")
    train = {
        "train": "RandomForestClassifier",
        "random_seed": 3,
        "fnames": ["intensity", "height_above_ground"],
        "model_args": {"num_classes": 5, "n_estimators": 3, "max_depth": 4},
    }
    steps = [MAPPING, train, {"writer": "PredictiveModelWriter", "out_model": "*model.keras"}]
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("vl3d_focal").addHandler(handler)
    try:
        warnings = _run(folder, "run", str(folder / "scene.las"), [*steps, {"predict": "PreviousModel"}, EVAL])
    finally:
        logging.getLogger("vl3d_focal").removeHandler(handler)
    return folder, warnings, [r.getMessage() for r in records if r.levelno == logging.WARNING]


def test_a_run_scoring_its_training_cloud_warns_in_the_log_and_the_record(trained):
    folder, warnings, logged = trained
    assert warnings.count(WARNING.format("scene.las")) == 1 and logged.count(WARNING.format("scene.las")) == 1
    assert WARNING.format("scene.las") in (folder / "run" / "report.html").read_text()


def test_a_loaded_model_scored_on_its_training_cloud_warns_and_on_another_does_not(trained):
    folder = trained[0]
    model = str(folder / "run" / "model.keras")
    assert read_metadata(model)["loss"]["training_clouds"] == [str((folder / "scene.las").resolve())]
    assert load_bundle(model, with_model=False).loss_info.training_clouds == [str((folder / "scene.las").resolve())]
    steps = [{"predict": "ModelLoader", "model_path": model}, EVAL]
    assert WARNING.format("scene.las") in _run(folder, "again", str(folder / "scene.las"), steps)
    assert not any("a cloud the model trained on" in w for w in _run(folder, "new", str(folder / "other.las"), steps))


def test_where_a_model_trained_is_not_part_of_its_fingerprint(trained):
    """The same model from a copy of its clouds elsewhere is the same model (a survey resumed on
    another node skips the tiles it did)."""
    from dataclasses import replace

    from vl3d_focal.models.model_file import bundle_fingerprint

    bundle = load_bundle(str(trained[0] / "run" / "model.keras"))
    elsewhere = replace(bundle, loss_info=replace(bundle.loss_info, training_clouds=["/mnt/copy/scene.las"]))
    assert bundle.loss_info.training_clouds and bundle_fingerprint(elsewhere) == bundle_fingerprint(bundle)
    assert bundle_fingerprint(replace(bundle, random_seed=4)) != bundle_fingerprint(bundle)  # the rest counts
