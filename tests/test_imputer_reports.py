"""Where a user sees what the imputers did (or did not do): the validation note of an imputer no
train step follows and the NaN error of a model trained without imputers, the model format of a
model with imputers, the left-out points in the warnings, the evaluation JSON and the run
record, the features computed once, and the spec forms (the train form's ``imputer`` string,
a step's ``out_pcloud`` in the editor schema)."""

from __future__ import annotations

import dataclasses
import json
import logging
import re

import laspy
import numpy as np
import pytest
from test_imputers import CLASSES, FOREST, _run, _scene_file, _spec

from vl3d_focal.config import check_spec, validate_spec
from vl3d_focal.config.schemas import generate_schemas, pipeline_validator
from vl3d_focal.data.imputers import REMOVAL, UNIVARIATE, Imputer
from vl3d_focal.errors import DataError
from vl3d_focal.models import model_file
from vl3d_focal.models.model_file import (
    FORMAT_VERSION,
    IMPUTER_FORMAT_VERSION,
    PLAIN_FORMAT_VERSION,
    bundle_fingerprint,
    bundle_metadata,
    check_metadata,
    load_bundle,
    read_metadata,
    save_bundle,
    stored_fingerprint,
)
from vl3d_focal.steps.imputers import NO_TRAINING_AFTER
from vl3d_focal.steps.predict import UNIMPUTED_MODEL

NOTE = (
    "accepted, no effect here: an imputer applies to the models trained after it, and no train step follows it (a "
    "model a predict step loads imputes as it was trained: with its own imputers, or none)"
)
WRITER = {"writer": "PredictiveModelWriter", "out_model": "*model/forest.model"}
REMOVE_NAN = {"imputer": REMOVAL, "fnames": ["score"], "target_val": "NaN"}


def test_an_imputer_no_train_step_follows_is_a_no_effect_note_at_its_path(tmp_path):
    assert NO_TRAINING_AFTER == NOTE
    imputer = {"imputer": UNIVARIATE}
    loader = {"predict": "ModelLoader", "model_path": str(tmp_path / "m.model")}
    for steps, at in (([CLASSES, FOREST, WRITER, imputer], 3), ([imputer, loader], 0)):
        spec = _spec([tmp_path / "a.las"], tmp_path / "out", steps)
        checked = check_spec(spec, base_dir=tmp_path, check_files=False)
        assert checked.issues == []
        assert [str(note) for note in checked.notes] == [f"$.sequential_pipeline[{at}]: {NOTE}"]
        strict = validate_spec(spec, base_dir=tmp_path, check_files=False, strict=True)
        assert [str(issue) for issue in strict] == [f"$.sequential_pipeline[{at}]: {NOTE}"]
    before = _spec([tmp_path / "a.las"], tmp_path / "out", [CLASSES, imputer, FOREST, WRITER, imputer, FOREST])
    notes = [str(note) for note in check_spec(before, base_dir=tmp_path, check_files=False).notes]
    assert notes == []  # each imputer is followed by a train step; two train steps write training/ and training_2/


def test_a_nan_at_prediction_says_the_model_was_trained_without_the_spec_s_imputers(tmp_path):
    clean = _scene_file(tmp_path, seed=11, fraction=0.0)
    test = _scene_file(tmp_path, seed=12, fraction=0.2)
    _run(tmp_path, "train", _spec([clean], tmp_path / "out", [CLASSES, FOREST, WRITER]))
    model = str(tmp_path / "out" / "model" / "forest.model")
    nan = int(np.isnan(np.asarray(laspy.read(test).score)).sum())
    for chunk_points in (None, 1000):  # in memory, then streamed: the whole cloud's count either way
        found = rf"NaN or infinite feature values \('score' at {nan} points\); expected finite values"
        loader = {"predict": "ModelLoader", "model_path": model, "chunk_points": chunk_points}
        steps = [{"imputer": UNIVARIATE}, loader]
        with pytest.raises(DataError) as imputed:
            _run(tmp_path, f"imputed_{chunk_points}", _spec([test], tmp_path / f"imp_{chunk_points}", steps))
        assert re.search(
            f"{found}; the model was trained without imputers, and an imputer step applies only to the models "
            "trained after it: retrain the model with the imputer step before its train step$",
            str(imputed.value),
        )
        assert str(imputed.value).endswith(UNIMPUTED_MODEL)
        with pytest.raises(DataError) as plain:  # no imputer step: the error as it was
            _run(tmp_path, f"plain_{chunk_points}", _spec([test], tmp_path / f"plain_{chunk_points}", [loader]))
        assert re.search(f"{found}$", str(plain.value))


def test_a_streamed_cloud_counts_the_nan_values_of_every_tile_as_in_memory(tmp_path, monkeypatch):
    """NaN values spread over the parts of a streamed cloud: its error counts every one of them, as
    the cloud in memory does, for a model without imputers (counted as the file is read, chunk by
    chunk) and one whose imputer leaves them (counted tile by tile once imputed)."""
    from vl3d_focal.data import features
    from vl3d_focal.data.features import NonFiniteFeatures
    from vl3d_focal.data.normalization import FeatureNormalizer
    from vl3d_focal.data.records import CloudRecord
    from vl3d_focal.inference import tile_imputation
    from vl3d_focal.inference.prediction import cloud_probabilities
    from vl3d_focal.inference.streaming import predict_streamed
    from vl3d_focal.io.las import read_cloud

    path = _scene_file(tmp_path, seed=18, fraction=0.05, sentinel=0.05)
    score = np.asarray(laspy.read(path).score)
    nan, parts = int(np.isnan(score).sum()), []

    def counted(values: np.ndarray, count=features.non_finite_counts) -> np.ndarray:
        parts.append(int(count(values).sum()))
        return count(values)

    monkeypatch.setattr(features, "non_finite_counts", counted)
    monkeypatch.setattr(tile_imputation, "non_finite_counts", counted)
    normalizer = FeatureNormalizer(fnames=["intensity", "score"], center=[0.0, 0.0], scale=[100.0, 10.0])
    sentinel = Imputer(UNIVARIATE, ("score",), target=-1.0, fills=(5.0,))  # fills the -1 values, not the NaN ones
    for imputers in ((), (sentinel,)):
        bundle = _stump(feature_names=["intensity", "score"], normalizer=normalizer, imputers=imputers)
        with pytest.raises(NonFiniteFeatures) as memory:
            cloud_probabilities(CloudRecord(path=path, cloud=read_cloud(path)), bundle, chunk_points=None)
        parts.clear()
        with pytest.raises(NonFiniteFeatures) as streamed:
            predict_streamed(
                CloudRecord(path=path, prefix=f"{tmp_path}/", num_points=len(score)), bundle, chunk_points=200
            )
        assert sum(parts) == nan and sum(1 for part in parts if part) > 1  # NaN values in several chunks, tiles
        assert f"('score' at {nan} points)" in str(streamed.value) and str(streamed.value) == str(memory.value)


def _stump(**changes) -> object:
    """A bundle whose model and metadata are fixed (no Keras weights): its fingerprint is too."""
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.data.normalization import FeatureNormalizer
    from vl3d_focal.models.bundle import ModelBundle
    from vl3d_focal.models.forest import ForestModel

    stump = ForestModel(
        left=[-1], right=[-1], feature=[0], threshold=[0.0], value=[[0.25, 0.75]], roots=[0], num_features=1
    )
    normalizer = FeatureNormalizer(fnames=["intensity"], center=[0.0], scale=[100.0])
    bundle = ModelBundle(
        model=stump,
        feature_names=["intensity"],
        normalizer=normalizer,
        field_spec=None,
        mapping=ClassMapping.from_values(["a", "b"]),
        class_names=["a", "b"],
        model_name="RandomForestClassifier",
    )
    return dataclasses.replace(bundle, **changes)


def test_a_model_with_imputers_is_written_in_format_2_and_one_without_as_before(tmp_path, monkeypatch):
    plain = _stump()
    meta = bundle_metadata(plain)
    assert meta["format_version"] == PLAIN_FORMAT_VERSION == 1 and "imputers" not in meta
    # the fingerprint the code before imputers gave this bundle (computed with that code)
    assert bundle_fingerprint(plain) == "93022b150a4f209618580888db94dc12d9e4ae3b64365db142fdaeebd5d262c8"
    imputers = (Imputer(REMOVAL, ("intensity",), target=0.0), Imputer(UNIVARIATE, ("intensity",), fills=(1.5,)))
    imputed = _stump(imputers=imputers)
    plain_file = save_bundle(plain, tmp_path / "plain.model")
    imputed_file = save_bundle(imputed, tmp_path / "imputed.model")
    assert read_metadata(plain_file)["format_version"] == 1 and stored_fingerprint(plain_file) == bundle_fingerprint(
        plain
    )
    assert read_metadata(imputed_file)["format_version"] == IMPUTER_FORMAT_VERSION == 2 < FORMAT_VERSION
    assert load_bundle(imputed_file).imputers == imputers and load_bundle(plain_file).imputers == ()
    monkeypatch.setattr(model_file, "FORMAT_VERSION", 1)  # a vl3d_focal from before the imputers
    assert check_metadata(read_metadata(plain_file), path=plain_file)["format_version"] == 1
    with pytest.raises(DataError, match="written in model format 2 by vl3d_focal .*reads formats 1..1: upgrade"):
        check_metadata(read_metadata(imputed_file), path=imputed_file)


def test_the_left_out_points_and_the_fitted_imputers_are_in_the_evaluation_and_the_run_record(tmp_path):
    train = _scene_file(tmp_path, seed=13, fraction=0.1)
    mean = {"imputer": UNIVARIATE, "fnames": ["intensity"], "target_val": 0, "strategy": "median"}
    evaluator = {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"}
    steps = [CLASSES, REMOVE_NAN, mean, FOREST, WRITER, {"predict": "PreviousModel"}, evaluator]
    state = _run(tmp_path, "train", _spec([train], tmp_path / "out", steps))
    las = laspy.read(train)
    left = int(np.isnan(np.asarray(las.score)).sum())
    evaluation = json.loads((tmp_path / "out" / "eval" / "evaluation.json").read_text())
    assert evaluation["left_out_points"] == left > 0
    assert f"{left} points left out by a RemovalImputer: their nearest kept point's class" in (
        (tmp_path / "out" / "eval" / "evaluation.txt").read_text()
    )
    warning = (
        f"{train}: {left} points left out by a RemovalImputer (a target value in a feature it names) took the "
        "prediction of their nearest kept point"
    )
    assert state.clouds[0].warnings.count(warning) == 1 and state.clouds[0].left_out_points == left
    record = json.loads((tmp_path / "out" / "report.json").read_text())
    intensity = np.asarray(las.intensity, dtype=np.float64)[~np.isnan(np.asarray(las.score))]
    fill = float(np.median(intensity[intensity != 0]))
    imputers = record["trainings"][0]["imputers"]
    assert imputers[0] == {"imputer": REMOVAL, "fnames": ["score"], "target_val": "NaN"}
    assert imputers[1]["fills"]["intensity"] == pytest.approx(fill)
    assert {key: imputers[1][key] for key in ("imputer", "fnames", "target_val", "strategy")} == {
        "imputer": UNIVARIATE,
        "fnames": ["intensity"],
        "target_val": 0.0,
        "strategy": "median",
    }
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<h3>Imputers</h3>" in html and f"median: intensity {fill:.6g}" in html
    assert "points left out (at prediction: their nearest kept point&#x27;s class)" in html


def test_a_streamed_survey_records_the_left_out_points_of_each_tile(tmp_path):
    train = _scene_file(tmp_path, seed=14, fraction=0.1)
    tests = [_scene_file(tmp_path, seed=seed, fraction=0.2) for seed in (15, 16)]
    _run(tmp_path, "train", _spec([train], tmp_path / "out", [CLASSES, REMOVE_NAN, FOREST, WRITER]))
    loader = {"predict": "ModelLoader", "model_path": str(tmp_path / "out" / "model" / "forest.model")}
    evaluator = {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json", "pictures": False}
    steps = [CLASSES, {**loader, "chunk_points": 1000}, evaluator]
    _run(tmp_path, "survey", _spec(tests, tmp_path / "survey", steps))
    survey = json.loads((tmp_path / "survey" / "survey.json").read_text())
    for path, tile in zip(tests, survey["tiles"]):
        left = int(np.isnan(np.asarray(laspy.read(path).score)).sum())
        message = f"{path}: {left} points left out by a RemovalImputer"
        assert [w for w in tile["warnings"] if "RemovalImputer" in w] == [
            f"{message} (a target value in a feature it names) took the prediction of their nearest kept point"
        ]
        evaluation = json.loads((tmp_path / "survey" / path.stem / "eval" / "evaluation.json").read_text())
        assert evaluation["left_out_points"] == left


def test_the_left_out_warning_is_logged_once_when_a_dl_model_evaluator_follows(tmp_path, caplog):
    from helpers import random_bundle

    path = _scene_file(tmp_path, seed=17, fraction=0.2)
    bundle = dataclasses.replace(random_bundle(fnames=["intensity", "score"]), imputers=(Imputer(REMOVAL, ("score",)),))
    model = save_bundle(bundle, tmp_path / "pnet.model")
    steps = [
        {"predict": "ModelLoader", "model_path": str(model)},
        {"eval": "DLModelEvaluator", "pointwise_model_output_path": "*outputs.laz"},
    ]
    with caplog.at_level(logging.WARNING, logger="vl3d_focal"):
        state = _run(tmp_path, "dl", _spec([path], tmp_path / "dl", steps))
    left = int(np.isnan(np.asarray(laspy.read(path).score)).sum())
    logged = [r.getMessage() for r in caplog.records if "left out by a RemovalImputer" in r.getMessage()]
    assert logged == [
        f"{path}: {left} points left out by a RemovalImputer (a target value in a feature it names) took the "
        "prediction of their nearest kept point"
    ]
    assert state.clouds[0].warnings == logged


def test_mined_features_are_computed_once_with_imputers(tmp_path, monkeypatch):
    import vl3d_focal.data.features as features

    calls = []
    compute = features.compute_chain

    def counted(*args, **kwargs):
        calls.append(args[0].miner)
        return compute(*args, **kwargs)

    monkeypatch.setattr(features, "compute_chain", counted)
    path = _scene_file(tmp_path, seed=18, fraction=0.1)
    miner = {"miner": "GeometricFeatures", "k": 16, "fnames": ["planarity"]}
    forest = {**FOREST, "fnames": ["intensity", "score", "planarity_k16"]}
    for name, imputers in (("removal", [REMOVE_NAN]), ("univariate", [{"imputer": UNIVARIATE}])):
        calls.clear()
        steps = [CLASSES, miner, *imputers, forest, {"predict": "PreviousModel"}]
        _run(tmp_path, name, _spec([path], tmp_path / name, steps))  # training, then prediction
        assert calls == ["GeometricFeatures"]


def test_the_train_form_s_imputer_string_is_one_error_at_its_key():
    doc = {
        "train": "RandomForestClassifier",
        "in_pcloud": "a.las",
        "out_model": "out/m.model",
        "fnames": ["intensity"],
        "model_args": {"n_estimators": 4},
        "imputer": "UnivariateImputer",
    }
    issues = check_spec(doc, check_files=False).issues
    assert [str(issue) for issue in issues] == [
        '$.imputer: expected an object, a step of its own run before the train step, such as {"imputer": '
        '"UnivariateImputer", "fnames": ["AUTO"], "target_val": "NaN", "strategy": "mean"}; got string '
        '"UnivariateImputer"'
    ]
    doc.update(imputer={"imputer": REMOVAL, "out_pcloud": "x.laz"}, out_pcloud="y.laz")  # no cloud written there
    message = (
        "unknown key 'out_pcloud': the single-component train form writes its model (out_model) and no cloud; "
        "write clouds with the pipeline form"
    )
    assert [str(i) for i in check_spec(doc, check_files=False).issues] == [
        f"$.imputer.out_pcloud: {message}",
        f"$.out_pcloud: {message}",
    ]


def test_the_editor_schema_takes_a_step_s_out_pcloud_but_a_writer_s(tmp_path):
    defs = generate_schemas()["pipeline.schema.json"]["$defs"]
    steps = {name: schema for name, schema in defs.items() if "." in name and not name.startswith("model_args.")}
    steps["train_step"] = defs["train_step"]
    with_it = sorted(name for name, schema in steps.items() if "out_pcloud" in schema["properties"])
    assert [name for name in steps if name not in with_it] == [
        "writer.PredictiveModelWriter",
        "writer.ModelWriter",
        "writer.PredictivePipelineWriter",
        "writer.PredictionsWriter",
    ]
    assert "out_pcloud" in defs["writer.Writer"]["properties"]  # its own
    habit = defs["imputer.RemovalImputer"]["properties"]["out_pcloud"]
    assert habit["type"] == "string" and habit["description"].startswith("VL3D's habit: the cloud as the pipeline")
    assert defs["miner.GeometricFeatures"]["properties"]["out_pcloud"]["type"] == ["string", "null"]  # its own
    assert defs["imputer_step"]["description"] == "An imputer step."
    assert (
        defs["eval_step"]["description"] == "An eval step." and defs["predict_step"]["description"] == "A predict step."
    )
    miner = {"miner": "GeometricFeatures", "k": 16, "fnames": ["planarity"], "out_pcloud": "*mined.laz"}
    spec = _spec([tmp_path / "a.las"], tmp_path / "out", [miner, {"imputer": REMOVAL, "out_pcloud": "*i.laz"}])
    assert list(pipeline_validator().iter_errors(spec)) == []  # as an editor sees it
    checked = check_spec(spec, check_files=False)
    assert [next(iter(step)) for step in checked.pipeline["sequential_pipeline"]] == [
        "miner",
        "writer",
        "imputer",
        "writer",
    ]
    spec["sequential_pipeline"][1]["out_pcloud"] = ["*i.laz"]  # not a path: not rewritten, refused where it is
    assert [str(i) for i in check_spec(spec, check_files=False).issues] == [
        '$.sequential_pipeline[1].out_pcloud: expected string; got array ["*i.laz"]'
    ]
