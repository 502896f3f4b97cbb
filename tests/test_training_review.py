"""A practitioner's review of training (tiny synthetic clouds, forests or one epoch): no survey
record for a run that only trains on several clouds, the imbalance hint, the class-weight
strategy named in the log and described without the parameters it does not use, the point-wise
prediction line, the training's time left, the ignored codes the writer relabels."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import laspy
import numpy as np
import pytest

from vl3d_focal.config import load_spec
from vl3d_focal.config.checks import is_survey
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.losses.class_weights import describe_class_weight
from vl3d_focal.runner.outputs import output_files
from vl3d_focal.runner.pipeline import execute_pipeline
from vl3d_focal.training.callbacks import TrainingProgress
from vl3d_focal.training.imbalance import imbalance_note
from vl3d_focal.training.targets import plan_loss

CLASSES = [
    {"name": "ground", "codes": [2]},
    {"name": "vegetation", "codes": [3, 4, 5]},
    {"name": "building", "codes": [6]},
    {"name": "pole", "codes": [64]},
    {"name": "vehicle", "codes": [68]},
]
MAPPING = {"class_mapping": "LASClassMapping", "classes": CLASSES, "ignore_codes": [0, 7]}
FOREST = {
    "train": "RandomForestClassifier",
    "random_seed": 1,
    "fnames": ["intensity", "height_above_ground"],
    "model_args": {"num_classes": 5, "n_estimators": 3, "max_depth": 4},
}


@pytest.fixture(scope="module")
def tiles(tmp_path_factory) -> list[Path]:
    """Two small synthetic tiles (their noise points have code 7)."""
    root = tmp_path_factory.mktemp("tiles")
    paths = []
    for seed in (1, 2):
        path = root / f"tile_{seed}.las"
        generate_urban_scene(seed=seed, size_m=20.0, density=4.0).write(path)
        paths.append(path)
    return paths


def _run(folder: Path, inputs: list[Path], steps: list[dict]):
    folder.mkdir(exist_ok=True)
    spec = {"in_pcloud": [str(p) for p in inputs], "out_pcloud": [f"{folder / 'out'}/*"], "sequential_pipeline": steps}
    (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    loaded = load_spec(folder / "spec.json")
    return loaded, execute_pipeline(loaded)


def test_training_on_several_clouds_writes_no_survey_record(tiles, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    spec, _ = _run(tmp_path, tiles, [MAPPING, FOREST, {"writer": "PredictiveModelWriter", "out_model": "*model.keras"}])
    assert not is_survey(spec)
    assert not (tmp_path / "out" / "survey.json").exists() and not (tmp_path / "out" / "survey.geojson").exists()
    assert (tmp_path / "out" / "model.keras").is_file()
    assert not any(r.getMessage().startswith("survey:") for r in caplog.records)
    assert "survey.json" not in {p.name for p in output_files(spec)}
    # the imbalanced labels (poles and vehicles are rare) and no class weight: the hint, naming the rarest
    counts = np.zeros(256, dtype=np.int64)
    for path in tiles:
        counts += np.bincount(np.asarray(laspy.read(path).classification), minlength=256)
    per_class = np.array([sum(counts[c] for c in entry["codes"]) for entry in CLASSES])
    hints = [r.getMessage() for r in caplog.records if r.getMessage().startswith("imbalanced training labels")]
    assert hints == [imbalance_note(class_names=[c["name"] for c in CLASSES], counts=per_class, where="model_args")]
    rarest = CLASSES[int(np.argmin(np.where(per_class > 0, per_class, np.inf)))]["name"]
    share = 100.0 * per_class[per_class > 0].min() / per_class.sum()
    assert f"(rarest: {rarest} {share:.2g}%" in hints[0] and '"class_weight": "balanced" in model_args' in hints[0]
    # with a predict step over the clouds, it is a survey
    assert is_survey({**spec, "sequential_pipeline": [*spec["sequential_pipeline"], {"predict": "PreviousModel"}]})


def test_the_ign_training_example_on_two_tiles_is_no_survey(tmp_path):
    spec = json.loads((Path(__file__).parents[1] / "examples" / "ign_train.json").read_text())
    spec["in_pcloud"] = ["a.laz", "b.laz"]
    assert not is_survey(spec)


def test_forest_prediction_is_point_wise_and_the_ignored_codes_relabelled_are_logged(tiles, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    writer = {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"}
    _run(tmp_path, tiles[:1], [MAPPING, FOREST, {"predict": "PreviousModel"}, writer])
    messages = [r.getMessage() for r in caplog.records]
    given = np.asarray(laspy.read(tiles[0]).classification)
    assert f"{tiles[0].name}: predicted {len(given)} points point-wise (a model without receptive fields)" in " ".join(
        messages
    )
    ignored = {code: int(np.sum(given == code)) for code in (0, 7) if np.any(given == code)}
    assert ignored.get(7, 0) > 0  # the scene's noise
    line = (
        f"{tmp_path / 'out' / 'predicted.laz'}: {sum(ignored.values())} points with ignored codes {ignored} were "
        "given predicted classes; list them in ClassifiedPcloudWriter's keep_codes to keep them"
    )
    assert line in messages
    caplog.clear()
    _run(
        tmp_path / "kept", tiles[:1], [MAPPING, FOREST, {"predict": "PreviousModel"}, {**writer, "keep_codes": [0, 7]}]
    )
    written = np.asarray(laspy.read(tmp_path / "kept" / "out" / "predicted.laz").classification)
    np.testing.assert_array_equal(written[given == 7], 7)
    assert not any("were given predicted classes" in r.getMessage() for r in caplog.records)


def test_the_class_weight_log_names_the_strategy_and_the_hint_needs_no_weights(caplog):
    caplog.set_level(logging.INFO, logger="vl3d_focal.training.targets")
    names, counts = ["ground", "pole", "car"], np.array([900, 10, 90])
    loss = {"function": "class_weighted_focal_categorical_crossentropy"}
    weight = {"strategy": "balanced", "on_absent_class": "zero", "beta": 0.999, "k": 1.02}
    plan = plan_loss(
        loss_spec={**loss, "class_weight": weight},
        model_handling={},
        class_names=names,
        counts=counts,
        from_logits=True,
    )
    np.testing.assert_allclose(plan.class_weight, 1000.0 / (3 * counts.astype(np.float64)))
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith(
        "class weights (balanced, from loss, counted on the training clouds (before any validation split): "
    )
    assert not any(line.startswith("imbalanced") for line in lines)
    caplog.clear()
    plan_loss(loss_spec=loss, model_handling={}, class_names=names, counts=counts, from_logits=True)
    assert [r.getMessage() for r in caplog.records] == [
        "imbalanced training labels: the largest class has 90x the points of the smallest (rarest: pole 1%) and no "
        'class weights are given; consider "class_weight": "balanced" in model_args.compilation_args.loss'
    ]
    assert describe_class_weight(weight).startswith("balanced, on_absent_class=zero: N / (C n_c)")
    assert describe_class_weight({**weight, "strategy": "effective_number"}).startswith(
        "effective_number, on_absent_class=zero, beta=0.999: "
    )
    assert imbalance_note(class_names=names, counts=np.array([100, 10, 0]), where="x") is None  # 10x: not above


def test_the_training_progress_estimates_the_time_left(caplog):
    caplog.set_level(logging.INFO, logger="vl3d_focal.training.callbacks")
    ticks = iter([100.0, 104.0, 110.0, 115.0])
    progress = TrainingProgress(epochs=6, early_stopping=True, clock=lambda: next(ticks))
    progress.on_train_begin()
    for epoch in (3, 4, 5):  # resumed after 3 epochs: the mean of this run's epochs
        progress.on_epoch_end(epoch)
    assert [r.getMessage() for r in caplog.records] == [
        "epoch 4/6: 4 s elapsed; about 8 s left (an estimate: 2 epochs x 4 s, the mean epoch time; "
        "early stopping may end it sooner)",
        "epoch 5/6: 10 s elapsed; about 5 s left (an estimate: 1 epoch x 5 s, the mean epoch time; "
        "early stopping may end it sooner)",
        "epoch 6/6: 15 s elapsed",
    ]
